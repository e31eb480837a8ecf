"""Talking to ClickHouse: one client per call site, every failure turned into WarehouseError
with a message a person can act on (never a traceback).

Values always travel as parameters: clickhouse-driver substitutes `%(name)s` on the client,
escaping each value for its type; SQL text is only ever built from our own names and numbers.
"""

import math
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from yesladder.warehouse.config import Settings
from yesladder.warehouse.schema import TABLES

# The server names the replica it could not reach ("... host:port ...") in these errors.
UNREACHABLE_CODES = {209, 210, 279}  # socket timeout, network error, all connection tries failed
ADDRESS = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}:\d+|\[[0-9a-f:]+\]:\d+|[\w.-]+:\d{2,5}")


class WarehouseError(RuntimeError):
    """ClickHouse could not answer; the message says which server and what to do."""


class Unreachable(WarehouseError):
    """No answer at all from one server (down, wrong address, network)."""


def connect(settings: Settings, database: bool = True) -> Client:
    return Client(
        settings.host, port=settings.port, user=settings.user, password=settings.password,
        database=settings.database if database else "default", secure=settings.secure,
        # Short on purpose (YESLADDER_CLICKHOUSE_CONNECT_TIMEOUT, _TIMEOUT): a server that is
        # frozen or speaks another protocol is given up in seconds. The read timeout bounds
        # each wait for the next packet; a long query keeps sending progress meanwhile.
        connect_timeout=settings.connect_timeout, send_receive_timeout=settings.timeout,
        sync_request_timeout=settings.timeout,
        client_name="yesladder",
    )  # fmt: skip


def run(client: Client, settings: Settings, sql: str, params: dict | None = None,
        *, query_settings: dict | None = None) -> list[tuple]:  # fmt: skip
    try:
        return client.execute(sql, params or {}, settings=query_settings or {})
    except ch_errors.ServerException as exc:
        raise WarehouseError(explain(settings, exc.code, exc.message)) from None
    except (ch_errors.Error, OSError, EOFError) as exc:
        raise Unreachable(
            f"ClickHouse at {settings.host}:{settings.port} is not answering ({_first(exc)}); "
            "check YESLADDER_CLICKHOUSE_URL and that the server runs"
        ) from None


def insert(client: Client, settings: Settings, sql: str, rows: Iterable[tuple]) -> None:
    try:
        # A Distributed table answers an insert only when every shard has its rows: the
        # checkpoint never moves past rows still queued on one server. No check of each value's
        # type (a third of shipping's time): warehouse.shipping builds every value of its
        # column's type from columns that are never null.
        client.execute(sql, list(rows), settings={
            "insert_distributed_sync": 1,
            # The server gives up on a shard that does not answer as soon as we do.
            "insert_distributed_timeout": max(1, math.ceil(settings.timeout)),
        })  # fmt: skip
    except ch_errors.ServerException as exc:
        raise WarehouseError(explain(settings, exc.code, exc.message)) from None
    except (ch_errors.Error, OSError, EOFError) as exc:
        raise Unreachable(f"ClickHouse at {settings.host}:{settings.port} is not answering "
                             f"({_first(exc)})") from None  # fmt: skip


def explain(settings: Settings, code: int, message: str) -> str:
    first = _first(message)
    if code in UNREACHABLE_CODES:
        found = ADDRESS.findall(message)
        shard = found[0] if found else "a shard"
        return (f"a shard of cluster {settings.cluster or '(none)'} is down: {shard} is not "
                f"answering (ClickHouse error {code}: {first})")  # fmt: skip
    if code == 81:  # unknown database
        return (f"ClickHouse at {settings.where()}: no database {settings.database!r}; run "
                "`yesladder clickhouse init`")  # fmt: skip
    if code == 60:  # unknown table
        return f"ClickHouse at {settings.where()}: tables missing; run `yesladder clickhouse init`"
    return f"ClickHouse at {settings.where()} refused the query (error {code}: {first})"


def _first(value) -> str:
    text = str(value).strip().splitlines()
    first = text[0].removesuffix("Stack trace:").strip() if text else type(value).__name__
    return first[:300]


AUTH_CODES = {192, 193, 194, 195, 516}  # unknown user, wrong / required password, address, auth


def ask(settings: Settings, number: int | None = None) -> str:
    """Nothing ("") when this server answers the native protocol as the settings' user, else
    what is wrong with it, naming it (shard `number` when given): refused, silent, another protocol
    (ClickHouse's HTTP port), the user refused."""
    name = f"ClickHouse at {settings.host}:{settings.port}"
    if number is not None:
        name = f"shard {number} ({settings.host}:{settings.port})"
    try:
        connect(settings, database=False).execute("SELECT 1")
        return ""
    except ch_errors.ServerException as exc:
        if exc.code in AUTH_CODES:
            return (f"{name} refused user {settings.user!r} (ClickHouse error {exc.code}: "
                    f"{_first(exc.message)}); check the user and password in "
                    "YESLADDER_CLICKHOUSE_URL")  # fmt: skip
        return f"{name} refused a plain query (ClickHouse error {exc.code}: {_first(exc.message)})"
    except (ch_errors.Error, OSError, EOFError) as exc:
        if _speaks_http(settings):
            return (f"{name} speaks HTTP, not ClickHouse's native protocol (is it the HTTP "
                    "port?); give the native port, usually 9000: YESLADDER_CLICKHOUSE_URL="
                    f"clickhouse://{settings.host}:9000/{settings.database}")  # fmt: skip
        text = str(exc).lower()
        if isinstance(exc, ch_errors.SocketTimeoutError) or "timed out" in text:
            return (f"{name} is not answering: no reply within "
                    f"{settings.connect_timeout:g} s to connect / {settings.timeout:g} s to "
                    "answer (frozen, overloaded or firewalled)")  # fmt: skip
        if "refused" in text:
            return f"{name} is not answering: connection refused (is the server running?)"
        return f"{name} is not answering ({_first(exc)})"


def _speaks_http(settings: Settings) -> bool:
    """Whether the port answers an HTTP request (a URL with ClickHouse's HTTP port 8123)."""
    import socket

    try:
        with socket.create_connection((settings.host, settings.port),
                                      settings.connect_timeout) as sock:  # fmt: skip
            sock.settimeout(min(settings.timeout, 2.0))
            sock.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
            return sock.recv(5) == b"HTTP/"
    except OSError:
        return False


def check(settings: Settings, tables: bool = True) -> tuple[list[Settings], list[str]]:
    """Ask every server of the store before saying anything about it: the shards, and what is
    wrong, one line per server that is unreachable or misconfigured (address, protocol, user,
    cluster, and with `tables` the database and tables); no problems: every shard answered
    (and has the tables)."""
    problem = ask(settings)
    if problem:
        return [], [problem]
    try:
        servers = shards(settings)
    except WarehouseError as exc:
        return [], [str(exc)]
    with ThreadPoolExecutor(len(servers)) as pool:
        found = list(pool.map(lambda n: _tables_on(servers[n], n + 1 if settings.cluster else None,
                                                   tables), range(len(servers))))  # fmt: skip
    return servers, [p for p in found if p]


def _tables_on(server: Settings, number: int | None, tables: bool) -> str:
    problem = ask(server, number)
    if problem or not tables:
        return problem
    name = f"shard {number} ({server.host}:{server.port})" if number else server.where()
    try:
        names = {r[0] for r in run(connect(server, database=False), server,
                                   "SELECT name FROM system.tables WHERE database = %(db)s",
                                   {"db": server.database})}  # fmt: skip
        databases = run(connect(server, database=False), server,
                        "SELECT count() FROM system.databases WHERE name = %(db)s",
                        {"db": server.database})[0][0]  # fmt: skip
    except WarehouseError as exc:
        return f"{name}: {exc}"
    if not databases:
        return f"{name}: no database {server.database!r}; run `yesladder clickhouse init`"
    wanted = {f"{t}_local" for t in TABLES} | (set(TABLES) if server.cluster else set())
    missing = sorted(wanted - names)
    if missing:
        return (f"{name}: tables missing in {server.database!r} ({', '.join(missing)}); run "
                "`yesladder clickhouse init`")  # fmt: skip
    return ""


def shards(settings: Settings) -> list[Settings]:
    """Every server that keeps rows: the cluster's shards (one replica each is enough for DDL
    here: replicated setups run it on each replica themselves), or the one server."""
    if not settings.cluster:
        return [settings]
    client = connect(settings, database=False)
    rows = run(client, settings,
               "SELECT shard_num, host_address, port FROM system.clusters WHERE cluster = "
               "%(cluster)s ORDER BY shard_num, replica_num",
               {"cluster": settings.cluster})  # fmt: skip
    if not rows:
        known = [r[0] for r in run(client, settings,
                                   "SELECT DISTINCT cluster FROM system.clusters")]  # fmt: skip
        raise WarehouseError(f"YESLADDER_CLICKHOUSE_CLUSTER: {settings.host}:{settings.port} "
                             f"has no cluster {settings.cluster!r} in remote_servers (it has: "
                             f"{', '.join(known) or 'none'})")  # fmt: skip
    return [replace(settings, host=host, port=port) for _, host, port in rows]
