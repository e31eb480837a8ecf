"""Talking to ClickHouse: one client per call site, every failure turned into WarehouseError
with a message a person can act on (never a traceback).

Values always travel as parameters: clickhouse-driver substitutes `%(name)s` on the client,
escaping each value for its type; SQL text is only ever built from our own names and numbers.
"""

import re
from collections.abc import Iterable
from dataclasses import replace

from clickhouse_driver import Client
from clickhouse_driver import errors as ch_errors

from yesladder.warehouse.config import Settings

CONNECT_SECONDS = 3
QUERY_SECONDS = 300
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
        connect_timeout=CONNECT_SECONDS, send_receive_timeout=QUERY_SECONDS,
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
        client.execute(sql, list(rows), settings={"insert_distributed_sync": 1})
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
    return text[0][:300] if text else type(value).__name__


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
        raise WarehouseError(f"YESLADDER_CLICKHOUSE_CLUSTER: {settings.host}:{settings.port} "
                             f"has no cluster {settings.cluster!r} in remote_servers")  # fmt: skip
    return [replace(settings, host=host, port=port) for _, host, port in rows]
