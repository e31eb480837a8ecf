"""The store's SQL climbs (warehouse.queries.people, linear in a person's hits) equal the
embedded climb (analytics.climb) person by person: the level and the counted chain's time on
each rung, on random hits crowded with ties, repeats, hits out of order and moves of exactly
the window; on the two-shard 18.16 cluster and on current ClickHouse (chdb)."""

import random

import pytest

from tests.clickhouse_fixtures import on_current_clickhouse
from yesladder.analytics.climb import Hit, climb
from yesladder.events import EventName
from yesladder.warehouse import schema
from yesladder.warehouse.client import connect, insert
from yesladder.warehouse.queries import Filter, Plan, people
from yesladder.warehouse.store import ClickHouseStore

pytestmark = pytest.mark.django_db(transaction=True)
RUNGS = 5
VERSIONS = {7: 50, 8: 500}  # version id -> window (µs): two ladders, two windows


def crowd(rng: random.Random) -> tuple[list[tuple], dict]:
    """Rows of events_local, and each (version, person)'s hits (a click is no hit: someone
    may have rows in a version and no climb there)."""
    rows, hits = [], {}
    for n in range(120):
        person = f"p{n}"
        for _ in range(rng.randrange(1, 14)):
            version = rng.choice(list(VERSIONS))
            rung = rng.randrange(RUNGS)
            at = 1_000_000 + rng.choice([rng.randrange(40), rng.randrange(1200), 50, 100, 500])
            name = rng.choice([EventName.STEP_VIEWED, EventName.STEP_COMPLETED])
            rows.append(_row(person, len(rows) + 1, version, name, f"s{rung}", at))
            hits.setdefault((version, person), []).append(Hit(at, rung))
        rows.append(_row(person, len(rows) + 1, 7, EventName.CTA_CLICKED, "s1", 1_000_000))
    return rows, hits


def _row(person: str, event_id: int, version: int, name: str, step: str, at: int) -> tuple:
    values = dict(funnel_id=1, person=person, event_id=event_id, version_id=version,
                  visitor=person, name=str(name), label="", step=step, at=at, opted=0,
                  engaged=0, revenue=0, source="", medium="", campaign="", tier="",
                  shipped=1, deleted=0)  # fmt: skip
    return tuple(values[c] for c in schema.EVENT_COLUMNS)


def plan() -> Plan:
    found = Plan(1, RUNGS, windows=dict(VERSIONS))
    for version in VERSIONS:
        found.arrivals.update({f"{version}:s{k}": k for k in range(RUNGS)})
    return found


def expected(hits: dict) -> dict:
    found = {}
    for key, found_hits in hits.items():
        best = climb(found_hits, RUNGS, VERSIONS[key[0]]).best
        if best:
            found[key] = (len(best), list(best))
    return found


@pytest.mark.parametrize("seed", range(4))
def test_the_sql_climb_equals_the_embedded_climb(clickhouse, seed):
    rows, hits = crowd(random.Random(seed))
    into = schema.insert_sql(clickhouse.database, "events", clickhouse.cluster,
                             schema.EVENT_COLUMNS)  # fmt: skip
    insert(connect(clickhouse), clickhouse, into, rows)
    params: dict = {}
    sql = (f"SELECT version_id, person, level, times FROM "  # noqa: S608
           f"({people(plan(), Filter(), clickhouse.database, params)})")  # fmt: skip
    want = expected(hits)
    for found in (ClickHouseStore(clickhouse)._run(sql, params),
                  on_current_clickhouse(clickhouse, sql, params)):  # fmt: skip
        got = {(v, p): (level, list(times)) for v, p, level, times in found if level}
        assert got == want
