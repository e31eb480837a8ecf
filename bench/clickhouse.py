"""The ClickHouse store at scale: shipping, and the report from one shard and from several,
beside the embedded engine and chdb's windowFunnel on the same events.

    uv run python bench/clickhouse.py [--visitors 100000] [--events-per-visitor 10]
        [--shards 2] [--no-embedded] [--runs 3] [--days 30] [--sources 20] [--chunk 5000]

Starts a cluster of `--shards` clickhouse-server processes on loopback, as the tests do
(warehouse.localcluster; the Debian package's server), and makes the crowd of
bench/analytics.py (a five-step funnel, 20 sources, 30 days) in a fresh SQLite data
directory. With the embedded engine (the default) the events go through the event log's bulk
write, so progress and rollups are kept as in production; `--no-embedded` only inserts them
(the embedded report is then not timed: the write path is the slow part at 10M events).
Then:

- ships everything with the code of `yesladder clickhouse sync` (warehouse.shipping.Shipper)
  into the sharded tables, and reports events/s;
- lays the shipped rows out again on 1 … `--shards` shards (each shard the people whose
  cityHash64(person) falls to it, copied by the servers themselves), and times the full report
  with the by-source breakdown from each layout (first, then the median of `--runs`);
- times the embedded engine's report and chdb's windowFunnel on the same events;
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
from dataclasses import replace
from pathlib import Path

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


def ship(settings) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from yesladder.tracking.models import Event
    from yesladder.warehouse import services
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
    print(f"shipped {done.events:,} events to {len(services.shards(settings))} shards in "
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


def agree(name: str, mine, theirs) -> bool:
    if mine == theirs:
        print(f"  {name}: counts identical ({sum(mine.values()):,} people in {len(mine)} "
              f"(source, level) cells)")  # fmt: skip
        return True
    for key in sorted(set(mine) | set(theirs), key=str):
        if mine[key] != theirs[key]:
            print(f"  DIFFERENT {name} {key}: {mine[key]} against {theirs[key]}")
    return False


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
    analytics.ingest(crowd, args, react=embedded)
    counts, ok = {}, True
    with local_cluster(Path(tempfile.mkdtemp(prefix="yesladder-ch-")), args.shards) as cluster:
        settings = parse(cluster.nodes[0].url, cluster.name)
        ship(settings)
        servers = shards(settings)
        for k in range(1, args.shards + 1):
            first, median, report = timed(report_on(layout(settings, servers, k)), args.runs)
            print(f"ClickHouse 18.16, {k} shard(s): report by source first {first:.2f} s, "
                  f"median {median:.2f} s ({report.entered:,} entered, "
                  f"{report.converted:,} converted)", flush=True)  # fmt: skip
            counts[f"ClickHouse on {k} shard(s)"] = analytics.ours(report)
    if embedded:
        cold, warm, report = analytics.time_report(args.runs)
        print(f"embedded (SQLite): report by source first {cold:.2f} s, median "
              f"{statistics.median(warm):.2f} s", flush=True)  # fmt: skip
        counts["embedded"] = analytics.ours(report)
    ch_cold, ch_warm, theirs = analytics.clickhouse(crowd)
    print(f"chdb windowFunnel by source: first {ch_cold:.2f} s, median "
          f"{statistics.median(ch_warm):.2f} s", flush=True)  # fmt: skip
    print(f"load (uptime): {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    for name, mine in counts.items():
        ok = agree(f"{name} / chdb", mine, theirs) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
