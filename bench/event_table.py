"""What SQLite itself can take into the event table, with no Python per event and no HTTP.

    uv run python bench/event_table.py [--events 200000] [--visitors 10000] [--seconds 5]

Makes a fresh data directory (`yesladder migrate`), 10,000 visitors and a history of 200,000
events, then inserts events the way the tracking API does (one multi-row INSERT .. ON CONFLICT
(message_id) DO NOTHING RETURNING per transaction, random message ids as Segment's libraries
make them, visitors in turn) straight through the sqlite3 module, in transactions of 1 and of
100 events. Then with time-ordered message ids (UUIDv7-like), and on a copy without the
(visitor, occurred_at) index: what each index on a random key costs. This is the floor under
the tracking API's figures: everything the API does per request (HTTP, JSON, validation,
visitors, journeys) comes on top.
"""

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid

COLUMNS = ("message_id", "name", "label", "site_id", "visitor_id", "lead_id",
           "funnel_version_id", "step_key", "properties", "occurred_at", "received_at", "is_bot",
           "future_timestamp")  # fmt: skip
TIMELINE = "tracking_ev_visitor_624278_idx"  # each visitor's events in time: their timeline


def setup(home: str, visitors: int, events: int) -> str:
    os.environ.update(YESLADDER_HOME=home, DJANGO_SETTINGS_MODULE="yesladder.settings")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from yesladder.leads.models import Visitor
    from yesladder.tracking.models import Site

    call_command("migrate", verbosity=0)
    site = Site.objects.create(name="bench")
    Visitor.objects.bulk_create(
        [Visitor(site=site, anonymous_id=f"v{n}") for n in range(visitors)], batch_size=2000
    )
    path = os.path.join(home, "yesladder.sqlite3")
    db = connect(path)
    ids = [row[0] for row in db.execute("SELECT id FROM leads_visitor")]
    done = 0
    while done < events:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(insert_sql(1), (event(site.pk, ids) for _ in range(10_000)))
        db.execute("COMMIT")
        done += 10_000
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")  # as settings.py opens it
    return db


def insert_sql(rows: int) -> str:
    values = ", ".join(["(" + ", ".join(["?"] * len(COLUMNS)) + ")"] * rows)
    return (f"INSERT INTO tracking_event ({', '.join(COLUMNS)}) VALUES {values} "  # noqa: S608
            "ON CONFLICT (message_id) DO NOTHING RETURNING message_id")  # fmt: skip


_counter = [0]


def event(site_id: int, visitors: list[str], ordered: bool = False) -> tuple:
    _counter[0] += 1
    n = _counter[0]
    when = f"2026-11-21 12:{n // 60_000_000 % 60:02d}:{n // 1_000_000 % 60:02d}.{n % 1_000_000:06d}"
    message_id = f"{n:012d}-{uuid.uuid4().hex[:24]}" if ordered else str(uuid.uuid4())
    return (f"{site_id}:{message_id}", "tracked", "Scrolled", site_id,
            visitors[(n * 7919) % len(visitors)], None, None, "", '{"depth": 50}', when,
            "2026-11-21 12:00:00", False, False)  # fmt: skip


def measure(path: str, batch: int, seconds: float, ordered: bool) -> tuple[float, float]:
    """Events per second and the p99 of one transaction in ms (checkpoints included). Only the
    transactions are timed: each one's parameters are made before its clock starts."""
    db = connect(path)
    site = db.execute("SELECT id FROM tracking_site").fetchone()[0]
    visitors = [row[0] for row in db.execute("SELECT id FROM leads_visitor")]
    sql, times = insert_sql(batch), []
    while sum(times) < seconds:
        params = [value for _ in range(batch) for value in event(site, visitors, ordered)]
        begun = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute(sql, params).fetchall()
        db.execute("COMMIT")
        times.append(time.perf_counter() - begun)
    db.close()
    rate = len(times) * batch / sum(times)
    times.sort()
    return rate, times[int(len(times) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="history before measuring")
    parser.add_argument("--visitors", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        print(f"Preparing {args.visitors:,} visitors and {args.events:,} events ...",
              file=sys.stderr)  # fmt: skip
        shipped = setup(home, args.visitors, args.events)
        print("| event table | message ids | events per transaction | events/s | p99 ms |")
        print("|---|---|---:|---:|---:|")
        for label, drop in [("as shipped", ""), ("without (visitor, occurred_at)", TIMELINE)]:
            for ordered in (False, True):
                copy = os.path.join(home, "copy", "yesladder.sqlite3")
                shutil.rmtree(os.path.dirname(copy), ignore_errors=True)  # with its -wal, -shm
                os.mkdir(os.path.dirname(copy))
                shutil.copy(shipped, copy)
                if drop:
                    connect(copy).execute(f"DROP INDEX {drop}")
                for batch in (1, 100):
                    rate, p99 = measure(copy, batch, args.seconds, ordered)
                    print(f"| {label} | {'time-ordered' if ordered else 'random'} | {batch} | "
                          f"{rate:,.0f} | {p99:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
