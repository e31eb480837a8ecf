"""The funnel report at scale, and what keeping journeys current costs the event log's writes.

    uv run python bench/analytics.py [--visitors 1000000] [--events-per-visitor 10]
        [--days 30] [--sources 20] [--chunk 5000] [--database-url postgres://...] [--no-chdb]

Generates a crowd on a five-step funnel (guide, checklist, score, call, program; paying for the
program is the sixth rung) from 20 sources over 30 days, and writes its events in time order
through the event log's bulk write path: each chunk of events is inserted and counted into
Progress and the per-day rollups (through the event log's door, tracking.services.written,
which reaches analytics.progress.on_events) in one transaction, as the
tracking API's batches are. Then times the full report with the breakdown by source, and the
same ordered-window funnel with ClickHouse's windowFunnel (chdb, the embedded ClickHouse) over a
MergeTree table of the same events sorted by (person, time), and checks the counts are equal.

A fresh data directory (SQLite) in a temporary folder, or the given PostgreSQL database
(flushed first). Needs about 4 GB of memory and, at the default size, 15-30 minutes.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WINDOW_DAYS = 14
STEPS = ["guide", "checklist", "score", "call", "program"]
CONVERTED = len(STEPS)  # the sixth rung: paying for the program
GO_ON = [0.55, 0.45, 0.6, 0.5, 0.4]  # chance to take the next rung from each one
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
]
# Event kinds in the generated log: arrivals on a rung, and what people do on a page.
VIEWED, CLICKED, READ, VIDEO, PAID, PAY = range(6)
FUNNEL = """
funnel: bench
name: Benchmark ladder
window: 14d
steps:
  - {key: guide, kind: content, title: Guide, value: A short read, cta: Get the checklist,
     body: "# Guide"}
  - {key: checklist, kind: magnet, title: Checklist, value: A checklist, cta: Send it,
     ask: {fields: [email]}, asset: {name: Checklist, url: "https://example.com/c.pdf"}}
  - key: score
    kind: quiz
    title: Score
    value: Your score
    cta: Show my score
    questions:
      - key: q1
        text: "Question?"
        options: [{key: a, label: A, scores: {high: 1}}, {key: b, label: B, scores: {low: 1}}]
    outcomes: [{key: high, title: High, body: High.}, {key: low, title: Low, body: Low.}]
  - {key: call, kind: booking, title: Call, value: A plan in 15 minutes, cta: Pick a slot,
     timezone: Europe/Berlin, availability: {mon: ["09:00-12:00"]},
     agenda: {will: [Review your score], will_not: [No pitch]},
     hosts: [{name: Ann, email: ann@example.com}]}
  - {key: program, kind: offer, title: Program, value: The program, cta: Start, price: 290,
     guarantee: {days: 30}, macro: true}
"""


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=1_000_000)
    parser.add_argument("--events-per-visitor", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sources", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=5_000, help="events per transaction")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-chdb", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--again",
        metavar="DATA_DIR",
        default="",
        help="time the report again on what an earlier run of the same "
        "size wrote (its data directory; with --database-url, that database)",
    )
    return parser.parse_args()


def setup(database_url: str, again: str) -> None:
    os.environ["YESLADDER_HOME"] = again or tempfile.mkdtemp(prefix="yesladder-bench-")
    os.environ.pop("DATABASE_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yesladder.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if again:
        return
    call_command("migrate", verbosity=0)
    if database_url:
        call_command("flush", interactive=False, verbosity=0)
    print(f"data directory: {os.environ['YESLADDER_HOME']}", flush=True)


# --- the crowd -------------------------------------------------------------------------------


class Crowd:
    """Every generated event as columns (numpy), in time order. Made a block of people at a
    time with array operations, so 10 million visitors take seconds, not an hour."""

    BLOCK = 500_000  # people per block: bounds the temporary arrays

    def __init__(self, args, start: dt.datetime):
        rng = np.random.default_rng(args.seed)
        n = args.visitors
        self.start = start
        span = args.days * 86_400 * 1_000_000
        self.first = rng.integers(0, span, n, dtype=np.int64)  # first visit, µs after start
        weights = 1 / np.arange(1, args.sources + 1)  # a few big sources, a long tail
        self.source = rng.choice(args.sources, n, p=weights / weights.sum()).astype(np.int16)
        self.agent = rng.choice(len(AGENTS), n, p=[0.45, 0.45, 0.1]).astype(np.int8)
        parts = [self._climb(rng, np.arange(b, min(b + self.BLOCK, n)), args.events_per_visitor)
                 for b in range(0, n, self.BLOCK)]  # fmt: skip
        at, who, kind, rung = (np.concatenate([p[i] for p in parts]) for i in range(4))
        order = np.lexsort((kind, at))
        self.at, self.who, self.kind, self.rung = at[order], who[order], kind[order], rung[order]

    def _climb(self, rng, people: np.ndarray, events: int) -> tuple:
        """Each person's arrivals, clicks and payment (a fixed slot each: view and click on
        rungs 0-4, the payment, the view of the sixth rung), then reading and watching that
        fill the rest up to `events`, each a second after the i-th of those."""
        p = len(people)
        go_on = rng.random((p, CONVERTED)) < np.array(GO_ON)
        level = np.where(go_on.all(1), CONVERTED, go_on.argmin(1))  # rungs climbed
        # Most take the next rung within hours; some come back after the window closed.
        gaps = rng.exponential(6 * 3_600_000_000, (p, CONVERTED)).astype(np.int64) + 30_000_000
        arrive = self.first[people, None] + np.concatenate(
            [np.zeros((p, 1), np.int64), np.cumsum(gaps, 1)], 1)  # fmt: skip
        slots = 2 * CONVERTED + 2
        at = np.empty((p, slots), np.int64)
        at[:, 0:10:2], at[:, 1:10:2] = arrive[:, :CONVERTED], arrive[:, :CONVERTED] + 20_000_000
        at[:, 10], at[:, 11] = arrive[:, CONVERTED] - 1, arrive[:, CONVERTED]
        kind = np.array([VIEWED, CLICKED] * CONVERTED + [PAID, VIEWED], np.int8)
        rung = np.array([r for r in range(CONVERTED) for _ in (0, 1)] + [CONVERTED - 1, CONVERTED],
                        np.int8)  # fmt: skip
        made = 2 * level + 1 + (level == CONVERTED)  # the slots each person filled
        i = np.arange(events - 1)
        base = i[None, :] % made[:, None]  # the filler's own event among the made ones
        fill_at = np.take_along_axis(at, base, 1) + 1_000_000 * (i + 1)
        keep = np.concatenate([np.arange(slots)[None, :] < made[:, None],
                               i[None, :] < (events - made)[:, None]], 1)  # fmt: skip
        return (
            np.concatenate([at, fill_at], 1)[keep],
            np.repeat(people.astype(np.int32), keep.sum(1)),
            np.concatenate([np.broadcast_to(kind, (p, slots)),
                            np.broadcast_to((READ + i % 2).astype(np.int8), (p, events - 1))],
                           1)[keep],
            np.concatenate([np.broadcast_to(rung, (p, slots)), rung[base]], 1)[keep],
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.at)


def kinds() -> dict[tuple[int, int], tuple]:
    """(kind, rung) -> the event's name, step and properties."""
    from yesladder.events import EventName

    names = {VIEWED: (EventName.STEP_VIEWED, {}), CLICKED: (EventName.CTA_CLICKED, {}),
             READ: (EventName.READ_PROGRESS, {"seconds": 320}),
             VIDEO: (EventName.VIDEO_PROGRESS, {"percent": 50}),
             PAID: (EventName.PAID, {"amount": 795})}  # fmt: skip
    found = {(k, r): (name, STEPS[r], p) for k, (name, p) in names.items() for r in range(5)}
    found[(VIEWED, CONVERTED)] = (EventName.CONVERTED, STEPS[-1], {})
    return found


# --- writing it through the event log --------------------------------------------------------


def write(crowd: Crowd, args, version, react: bool = True) -> dict:
    from django.db import transaction
    from rich.progress import Progress as Bar

    from yesladder.leads.models import Visitor
    from yesladder.tracking.models import Event
    from yesladder.tracking.services import written

    visitors: dict[int, Visitor] = {}
    table, start = kinds(), crowd.start
    created = Visitor._meta.get_field("created_at")
    created.auto_now_add = False  # the crowd's visitors arrived over the past days
    spent = Counter()
    with Bar(transient=True) as bar:
        task = bar.add_task("events", total=len(crowd))
        for begin in range(0, len(crowd), args.chunk):
            end = min(begin + args.chunk, len(crowd))
            fresh = _visitors(crowd, begin, end, visitors, args)
            what = zip(crowd.kind[begin:end].tolist(), crowd.rung[begin:end].tolist(), strict=True)
            events = [
                Event(name=name, visitor=visitors[who], funnel_version=version, step_key=step,
                      properties=properties, occurred_at=start + dt.timedelta(microseconds=at))
                for who, at, (name, step, properties) in zip(
                    crowd.who[begin:end].tolist(), crowd.at[begin:end].tolist(),
                    map(table.__getitem__, what), strict=True)
            ]  # fmt: skip
            with transaction.atomic():
                t0 = time.perf_counter()
                Visitor.objects.bulk_create(fresh)
                insert(events)
                t1 = time.perf_counter()
                if react:
                    written(events)  # the event log's door: progress and rollups react
                t2 = time.perf_counter()
            spent["events"] += t1 - t0
            spent["progress"] += t2 - t1
            bar.advance(task, end - begin)
    return spent


def _visitors(crowd, begin, end, visitors, args) -> list:
    from yesladder.leads.models import Visitor

    fresh = []
    for person in map(int, np.unique(crowd.who[begin:end])):
        if person in visitors:
            continue
        source = int(crowd.source[person])
        visitors[person] = visitor = Visitor(
            created_at=crowd.start + dt.timedelta(microseconds=int(crowd.first[person])),
            user_agent=AGENTS[crowd.agent[person]], utm_source=f"source-{source:02d}",
            utm_medium="solo_ad" if source % 5 == 4 else "cpc",
            utm_campaign=f"campaign-{source:02d}-{person % 3}",
        )  # fmt: skip
        fresh.append(visitor)
    return fresh


def insert(events: list) -> None:
    """One statement run for every event, as the tracking API's bulk write does (the ORM's
    bulk_create would spend more here than the database)."""
    from django.db import connection

    from yesladder.tracking.models import Event

    ops = connection.ops
    columns = ["message_id", "name", "label", "visitor_id", "funnel_version_id", "step_key",
               "properties", "occurred_at", "received_at", "is_bot",
               "future_timestamp"]  # fmt: skip
    sql = (f"INSERT INTO {ops.quote_name(Event._meta.db_table)} "  # noqa: S608
           f"({', '.join(map(ops.quote_name, columns))}) "
           f"VALUES ({', '.join(['%s'] * len(columns))})")  # fmt: skip
    uuid = Event._meta.get_field("visitor").target_field
    now = ops.adapt_datetimefield_value(dt.datetime.now(dt.UTC))
    rows = [
        (e.message_id, e.name, "", uuid.get_db_prep_value(e.visitor_id, connection),
         e.funnel_version_id, e.step_key, ops.adapt_json_value(e.properties, None),
         ops.adapt_datetimefield_value(e.occurred_at), now, False, False)
        for e in events
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# --- the report, and ClickHouse's windowFunnel -----------------------------------------------


def time_report(runs: int = 5) -> tuple[float, list[float], object]:
    from yesladder.analytics.report import build

    t0 = time.perf_counter()
    report = build("bench", by="source")
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(runs):
        t0 = time.perf_counter()
        build("bench", by="source")
        warm.append(time.perf_counter() - t0)
    return cold, warm, report


def ours(report) -> Counter:
    """People per (source, level), from the report's breakdown."""
    found = Counter()
    for group in report.groups:
        steps = zip(group.reached, (*group.reached[1:], 0), strict=True)
        for level, (here, above) in enumerate(steps, 1):
            if here - above:
                found[(group.name, level)] = here - above
    return found


def clickhouse(crowd: Crowd) -> tuple[float, list[float], Counter]:
    import chdb.session
    import pandas as pd

    arrivals = crowd.kind == VIEWED
    frame = pd.DataFrame({  # noqa: F841 (chdb reads it by name: Python(frame))
        "person": crowd.who.astype(np.uint32), "t": crowd.at.astype(np.uint64),
        "rung": np.where(arrivals, crowd.rung, -1).astype(np.int8),
        "source": crowd.source[crowd.who].astype(np.uint16),
    })  # fmt: skip
    session = chdb.session.Session()
    session.query("CREATE DATABASE IF NOT EXISTS bench")
    session.query(
        "CREATE TABLE bench.events (person UInt32, t UInt64, rung Int8, source UInt16) "
        "ENGINE = MergeTree ORDER BY (person, t)"
    )
    session.query("INSERT INTO bench.events SELECT * FROM Python(frame)")
    window = WINDOW_DAYS * 86_400 * 1_000_000
    conditions = ", ".join(f"rung = {i}" for i in range(CONVERTED + 1))
    sql = (
        f"SELECT source, level, count() FROM (SELECT person, any(source) AS source, "  # noqa: S608
        f"windowFunnel({window})(t, {conditions}) AS level FROM bench.events GROUP BY person) "
        f"WHERE level > 0 GROUP BY source, level ORDER BY source, level"
    )
    t0 = time.perf_counter()
    result = session.query(sql, "CSV")
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        session.query(sql, "CSV")
        warm.append(time.perf_counter() - t0)
    found = Counter()
    for line in str(result).strip().splitlines():
        source, level, count = (int(x) for x in line.split(","))
        found[(f"source-{source:02d}", level)] = count
    return cold, warm, found


def ingest(crowd: Crowd, args, react: bool = True) -> None:
    from django.db import connection

    from yesladder.funnels.models import current_version
    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import parse_spec

    load_funnel(parse_spec(FUNNEL, "bench.yaml"))
    t0 = time.perf_counter()
    spent = write(crowd, args, current_version("bench"), react)
    wall = time.perf_counter() - t0
    n = len(crowd)
    print(f"\n{connection.vendor}: wrote {n:,} events in {wall:.0f} s ({n / wall:,.0f} events/s)")
    print(f"  inserting events:          {spent['events']:.0f} s "
          f"({spent['events'] / n * 1e6:.1f} µs per event)")  # fmt: skip
    print(f"  keeping journeys current:  {spent['progress']:.0f} s "
          f"({spent['progress'] / n * 1e6:.1f} µs per event)")  # fmt: skip


def main() -> None:
    args = arguments()
    setup(args.database_url, args.again)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    t0 = time.perf_counter()
    crowd = Crowd(args, start)
    print(f"generated {len(crowd):,} events for {args.visitors:,} visitors "
          f"in {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
    if not args.again:
        ingest(crowd, args)
    cold, warm, report = time_report()
    print(f"full report by source: first {cold * 1000:.0f} ms, then median "
          f"{statistics.median(warm) * 1000:.0f} ms ({report.entered:,} entered, "
          f"{report.converted:,} converted, {len(report.groups)} sources)")  # fmt: skip
    if args.no_chdb:
        return
    ch_cold, ch_warm, theirs = clickhouse(crowd)
    print(f"chdb windowFunnel by source: first {ch_cold * 1000:.0f} ms, then median "
          f"{statistics.median(ch_warm) * 1000:.0f} ms")  # fmt: skip
    print(f"ours / chdb (medians): {statistics.median(warm) / statistics.median(ch_warm):.2f}")
    mine = ours(report)
    if mine == theirs:
        print(f"counts identical: {sum(mine.values()):,} people in {len(mine)} (source, level)")
    else:
        wrong = sorted(set(mine) | set(theirs), key=str)
        for key in wrong:
            if mine[key] != theirs[key]:
                print(f"  DIFFERENT {key}: ours {mine[key]}, chdb {theirs[key]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
