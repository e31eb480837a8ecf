"""The ClickHouse store at scale: shipping, and the report from one shard and from several,
beside the embedded engine and chdb's windowFunnel on the same events.

    uv run python bench/clickhouse.py [--visitors 100000] [--events-per-visitor 10]
        [--shards 2] [--no-embedded] [--runs 3] [--days 30] [--sources 20] [--chunk 5000]
        [--memory-gb 8]

Starts a cluster of `--shards` clickhouse-server processes on loopback, as the tests do
(warehouse.localcluster; the Debian package's server), and makes the crowd of
bench/analytics.py (a five-step funnel, 20 sources, 30 days) in a fresh SQLite data
directory. With the embedded engine (the default) the events go through the event log's bulk
write, so progress and rollups are kept as in production; `--no-embedded` only loads them, as
a bulk load would (`bulk_load`: prepared statements in large transactions, the event table's
secondary indexes built afterwards, no rollups, so the embedded report is not timed): at 100M
events the event log's own write path would take longer than the rest together. Then:

- ships everything with the code of `yesladder clickhouse sync` (warehouse.shipping.Shipper)
  into the sharded tables, and reports events/s;
- lays the shipped rows out again on 1 … `--shards` shards (each shard the people whose
  cityHash64(person) falls to it, copied by the servers themselves), and times the full report
  with the by-source breakdown from each layout (first, then the median of `--runs`);
- copies the shipped rows into chdb (current ClickHouse, in process) and times the same report
  there (our SQL), beside chdb's windowFunnel on that copy (the store's own table: person,
  name, step, time) and on a bare four-column table of the crowd (person, time, rung, source);
- times the embedded engine's report;
- checks that every engine counts the same people in every (source, level) cell.

Needs clickhouse-server (apt-get install clickhouse-server).
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analytics  # noqa: E402 (bench/analytics.py: the crowd, its writing and chdb)


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--events-per-visitor", type=int, default=10)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--no-embedded", action="store_true",
                        help="insert the events only; no embedded report")  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="warm runs of each report")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=5_000, help="events per transaction")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory-gb", type=float, default=8,
                        help="what one query may take on each server (half of it in memory "
                        "before a GROUP BY goes on on disk)")  # fmt: skip
    return parser.parse_args()


def timed(run, runs: int) -> tuple[float, float, object]:
    """The first run's seconds, the median of `runs` more, and the first run's answer."""
    t0 = time.perf_counter()
    answer = run()
    first = time.perf_counter() - t0
    warm = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        warm.append(time.perf_counter() - t0)
    return first, statistics.median(warm) if warm else first, answer


def bulk_load(crowd) -> None:
    """The crowd's visitors and events straight into SQLite's tables, as a bulk load of a
    history would: one prepared statement per table in transactions of a million rows,
    without the event table's secondary indexes while it fills (none serves shipping, which
    reads by id; they are built at the end, as they would be after a restore)."""
    from django.db import connection
    from rich.progress import Progress

    from yesladder.funnels.models import current_version
    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import parse_spec
    from yesladder.leads.models import Visitor
    from yesladder.tracking.models import Event

    if connection.vendor != "sqlite":
        sys.exit("--no-embedded loads SQLite only")
    load_funnel(parse_spec(analytics.FUNNEL, "bench.yaml"))
    version = current_version("bench").pk
    rng = np.random.default_rng(1)
    ids = _visitor_ids(rng, crowd)
    t0 = time.perf_counter()
    with connection.cursor() as cursor, Progress(transient=True) as bar:
        for pragma in ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-2000000"):
            cursor.execute(f"PRAGMA {pragma}")
        indexes = _drop_indexes(cursor, Event._meta.db_table)
        task = bar.add_task("visitors", total=len(ids))
        for begin in range(0, len(ids), MILLION):
            _insert(cursor, Visitor, _visitor_rows(crowd, ids, begin, begin + MILLION))
            bar.advance(task, min(MILLION, len(ids) - begin))
        task = bar.add_task("events", total=len(crowd))
        for begin in range(0, len(crowd), MILLION):
            _insert(cursor, Event, _event_rows(crowd, ids, version, begin, begin + MILLION))
            bar.advance(task, min(MILLION, len(crowd) - begin))
        loaded = time.perf_counter() - t0
        bar.add_task("indexes", total=None)
        for statement in indexes:
            cursor.execute(statement)
        cursor.execute("PRAGMA foreign_keys=ON")
    n = len(crowd)
    print(f"loaded {len(ids):,} visitors and {n:,} events into SQLite in {loaded:.0f} s "
          f"({n / loaded:,.0f} events/s), indexes in {time.perf_counter() - t0 - loaded:.0f} s",
          flush=True)  # fmt: skip


MILLION = 1_000_000


def _visitor_ids(rng, crowd) -> list[str]:
    raw = rng.bytes(16 * len(crowd.first))
    return [raw[i : i + 16].hex() for i in range(0, len(raw), 16)]


def _drop_indexes(cursor, table: str) -> list[str]:
    """Drop the table's own indexes (not the primary key's or a unique column's); return the
    statements that build them again."""
    cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                   "AND sql IS NOT NULL", [table])  # fmt: skip
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def _insert(cursor, model, rows: tuple[list[str], list]) -> None:
    """One transaction: the rows (values for `columns`; every other column its default)."""
    from django.db import connection

    columns, values = rows
    fields = [f for f in model._meta.concrete_fields if f.column not in columns]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in fields]
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in [*columns, *(f.column for f in fields)])
    marks = ", ".join(["%s"] * (len(columns) + len(fields)))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})"  # noqa: S608
    cursor.execute("BEGIN")
    cursor.executemany(sql, [(*row, *defaults) for row in values])
    cursor.execute("COMMIT")


def _stamp(micros: np.ndarray, start: dt.datetime) -> list[str]:
    """Times as Django keeps them in SQLite: UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    base = np.datetime64(start.replace(tzinfo=None), "us")
    return [s.replace("T", " ") for s in np.datetime_as_string(base + micros, unit="us").tolist()]


def _visitor_rows(crowd, ids: list[str], begin: int, end: int):
    people = range(begin, min(end, len(ids)))
    created = _stamp(crowd.first[begin:end], crowd.start)
    sources = crowd.source[begin:end].tolist()
    agents = crowd.agent[begin:end].tolist()
    rows = [
        (ids[p], created[i], created[i], analytics.AGENTS[agents[i]], f"source-{sources[i]:02d}",
         "solo_ad" if sources[i] % 5 == 4 else "cpc", f"campaign-{sources[i]:02d}-{p % 3}")
        for i, p in enumerate(people)
    ]  # fmt: skip
    return ["id", "created_at", "last_seen_at", "user_agent", "utm_source", "utm_medium",
            "utm_campaign"], rows  # fmt: skip


def _event_rows(crowd, ids: list[str], version: int, begin: int, end: int):
    from django.db import connection

    table = {key: (str(name), step, connection.ops.adapt_json_value(p, None))
             for key, (name, step, p) in analytics.kinds().items()}  # fmt: skip
    at = _stamp(crowd.at[begin:end], crowd.start)
    what = zip(crowd.kind[begin:end].tolist(), crowd.rung[begin:end].tolist(), strict=True)
    received = str(dt.datetime.now(dt.UTC).replace(tzinfo=None))
    rows = [
        (f"bench:{begin + i:012d}", name, ids[who], version, step, properties, at[i], received)
        for i, (who, (name, step, properties)) in enumerate(
            zip(crowd.who[begin:end].tolist(), map(table.__getitem__, what), strict=True))
    ]  # fmt: skip
    return ["message_id", "name", "visitor_id", "funnel_version_id", "step_key", "properties",
            "occurred_at", "received_at"], rows  # fmt: skip


def ship(settings) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from yesladder.tracking.models import Event
    from yesladder.warehouse import services
    from yesladder.warehouse.client import shards
    from yesladder.warehouse.shipping import Shipper

    services.init(settings)
    total = Event.objects.count()
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())  # fmt: skip
    t0 = time.perf_counter()
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("shipping", total=total)
        done = Shipper(settings, settle=0).sync(lambda n: bar.advance(task, n))
    wall = time.perf_counter() - t0
    print(f"shipped {done.events:,} events to {len(shards(settings))} shards in "
          f"{wall:.0f} s ({done.events / wall:,.0f} events/s)", flush=True)  # fmt: skip


def layout(settings, servers: list, k: int):
    """A store over the first k servers holding every shipped row, split by person as the
    Distributed table splits them (database yesladder_k{k}); the servers copy the rows."""
    from yesladder.warehouse import schema
    from yesladder.warehouse.client import connect, run
    from yesladder.warehouse.store import ClickHouseStore

    if k == len(servers):
        return ClickHouseStore(settings)
    db = f"yesladder_k{k}"
    chosen = [replace(s, database=db, cluster="") for s in servers[:k]]
    for i, server in enumerate(chosen):
        client = connect(server, database=False)
        for statement in schema.statements(db, ""):
            run(client, server, statement)
        for name in schema.TABLES:
            mine = f"modulo(cityHash64(person), {k}) = {i}"
            run(client, server, f"INSERT INTO {db}.{name}_local SELECT * "  # noqa: S608
                f"FROM {settings.database}.{name} WHERE {mine}")  # fmt: skip
    store = ClickHouseStore(replace(settings, database=db, cluster=""))
    store._shards = chosen  # the k servers answer together, each for its own people
    return store


def report_on(store):
    from yesladder.analytics.report import build

    def run():
        fresh = type(store)(store.settings)  # no overview cached between runs
        fresh._shards = store._shards
        return build("bench", by="source", store=fresh)

    return run


def on_chdb(cluster, settings):
    """A store over a chdb session holding a copy of every row shipped to the cluster (each
    server's local tables, read over its HTTP port): the report's SQL on current ClickHouse."""
    import json

    import chdb.session
    from clickhouse_driver import Client

    from yesladder.warehouse import schema
    from yesladder.warehouse.store import ClickHouseStore

    session, db = chdb.session.Session(), settings.database
    for statement in schema.statements(db, ""):
        session.query(statement)
    for node in cluster.nodes:
        for name in schema.TABLES:
            query = f"SELECT * FROM {db}.{name}_local FORMAT TabSeparated"  # noqa: S608
            url = f"http://127.0.0.1:{node.http_port}/?query={urllib.parse.quote_plus(query)}"
            session.query(f"INSERT INTO {db}.{name}_local "  # noqa: S608
                          f"SELECT * FROM url('{url}', TabSeparated)")  # fmt: skip
    offline = Client("localhost")  # only its parameter substitution, as the server's

    class OnChdb(ClickHouseStore):
        def _run(self, sql: str, params: dict) -> list[tuple]:
            text = offline.substitute_params(sql, params, None)
            found = session.query(f"{text} SETTINGS optimize_move_to_prewhere = 0, "
                                  "output_format_json_quote_64bit_integers = 0",
                                  "JSONCompact")  # fmt: skip
            return [tuple(row) for row in json.loads(str(found))["data"]]

    store = OnChdb(settings)
    store._shards = [settings]
    return session, store


def funnel_on_chdb(session, db: str, runs: int) -> tuple[float, float, object]:
    """chdb's windowFunnel over the store's own copy: the people per source and level."""
    from yesladder.warehouse.queries import ARRIVALS

    arrivals = ", ".join(f"'{name}'" for name in ARRIVALS)
    steps = [f"name IN ({arrivals}) AND step = '{key}'" for key in analytics.STEPS]
    window = analytics.WINDOW_DAYS * 86_400 * 1_000_000
    sql = (f"SELECT source, level, count() FROM (SELECT person, any(source) AS source, "  # noqa: S608
           f"windowFunnel({window})(at, {', '.join(steps)}, name = 'converted') AS level "
           f"FROM {db}.events_local GROUP BY person) WHERE level > 0 "
           "GROUP BY source, level")  # fmt: skip

    def run() -> Counter:
        return Counter({(source, int(level)): int(n) for source, level, n in (
            line.split(",") for line in str(session.query(sql, "CSV")).replace('"', "")
            .strip().splitlines())})  # fmt: skip

    return timed(run, runs)


def agree(name: str, mine, theirs) -> bool:
    if mine == theirs:
        print(f"  {name}: counts identical ({sum(mine.values()):,} people in {len(mine)} "
              f"(source, level) cells)")  # fmt: skip
        return True
    for key in sorted(set(mine) | set(theirs), key=str):
        if mine[key] != theirs[key]:
            print(f"  DIFFERENT {name} {key}: {mine[key]} against {theirs[key]}")
    return False


def chdb_version() -> str:
    import chdb

    return chdb.__version__


def main() -> None:
    args = arguments()
    embedded = not args.no_embedded
    analytics.setup("", "")
    from yesladder.warehouse.client import shards
    from yesladder.warehouse.config import parse
    from yesladder.warehouse.localcluster import local_cluster, server_binary

    if server_binary() is None:
        sys.exit("clickhouse-server is not installed (apt-get install clickhouse-server)")
    print(f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    t0 = time.perf_counter()
    crowd = analytics.Crowd(args, dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    print(f"generated {len(crowd):,} events for {args.visitors:,} visitors in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    if embedded:
        analytics.ingest(crowd, args)
    else:
        bulk_load(crowd)
    counts, ok = {}, True
    root = Path(tempfile.mkdtemp(prefix="yesladder-ch-"))
    with local_cluster(root, args.shards, memory=int(args.memory_gb * 1e9)) as cluster:
        # Copying 100M rows between servers says nothing for minutes: no short timeout here.
        settings = parse(cluster.nodes[0].url, cluster.name, timeout=3600)
        ship(settings)
        servers = shards(settings)
        for k in range(1, args.shards + 1):
            first, median, report = timed(report_on(layout(settings, servers, k)), args.runs)
            print(f"ClickHouse 18.16, {k} shard(s): report by source first {first:.2f} s, "
                  f"median {median:.2f} s ({report.entered:,} entered, "
                  f"{report.converted:,} converted)", flush=True)  # fmt: skip
            counts[f"ClickHouse on {k} shard(s)"] = analytics.ours(report)
        session, store = on_chdb(cluster, settings)
    first, median, report = timed(report_on(store), args.runs)
    print(f"chdb (ClickHouse {chdb_version()}), the store's report: first {first:.2f} s, "
          f"median {median:.2f} s", flush=True)  # fmt: skip
    counts["the store's report on chdb"] = analytics.ours(report)
    first, median, found = funnel_on_chdb(session, settings.database, args.runs)
    print(f"chdb windowFunnel on the store's table: first {first:.2f} s, median {median:.2f} s",
          flush=True)  # fmt: skip
    counts["windowFunnel on the store's table"] = found
    if embedded:
        cold, warm, report = analytics.time_report(args.runs)
        print(f"embedded (SQLite): report by source first {cold:.2f} s, median "
              f"{statistics.median(warm):.2f} s", flush=True)  # fmt: skip
        counts["embedded"] = analytics.ours(report)
    ch_cold, ch_warm, theirs = analytics.clickhouse(crowd)
    print(f"chdb windowFunnel on a bare table: first {ch_cold:.2f} s, median "
          f"{statistics.median(ch_warm):.2f} s", flush=True)  # fmt: skip
    print(f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    for name, mine in counts.items():
        ok = agree(f"{name} / chdb", mine, theirs) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
