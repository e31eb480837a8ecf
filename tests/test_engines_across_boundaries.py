"""A history moved back across a week, a month or a year boundary (`yesladder simulate` spreads
its crowd this way) is counted the same by the embedded engine, the ClickHouse cluster and
current ClickHouse (chdb): the weekly cohort and the days of the moved people follow the move.

Caught on Monday 7 December 2026: the embedded engine kept the first touch of a moved person's
Progress row, so its cohort stayed in the week the history had left, while ClickHouse (which
reads the moved visitor again) put it in the week before. The moments here are fixed, so the
test does not depend on the day it runs."""

import datetime as dt
import random
from collections import Counter

import pytest
import time_machine

from tests.clickhouse_fixtures import on_current_clickhouse
from tests.test_warehouse_report import AGENTS, SOURCES, TIERS, funnel, reports_equal
from yesladder.analytics.report import build
from yesladder.events import EventName
from yesladder.leads.models import Lead
from yesladder.leads.services import new_visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.services import move_back_in_time, record
from yesladder.warehouse import queries
from yesladder.warehouse.shipping import Shipper
from yesladder.warehouse.store import ClickHouseStore, plan_for

pytestmark = pytest.mark.django_db(transaction=True)
LADDER = ["guide", "checklist", "score", "call", "program"]
UTC = dt.UTC

# (what is crossed, when the crowd walks, how far its history is moved back)
BOUNDARIES = [
    ("week", dt.datetime(2026, 12, 7, 0, 3, tzinfo=UTC), dt.timedelta(days=1, minutes=7)),
    ("month", dt.datetime(2027, 3, 1, 0, 3, tzinfo=UTC), dt.timedelta(hours=2)),
    ("year", dt.datetime(2027, 1, 1, 0, 3, tzinfo=UTC), dt.timedelta(days=5)),
]


def walk(rng: random.Random, version, people: int, at: dt.datetime) -> list:
    """People who arrive a minute apart from `at` and climb a few rungs within minutes; some
    give their email (a lead's first touch is its earliest device)."""
    crowd, leads = [], []
    for n in range(people):
        with time_machine.travel(at + dt.timedelta(minutes=n), tick=False):
            source, medium = rng.choice(SOURCES)
            visitor = new_visitor(rng.choice(AGENTS[:2]), "https://example.com/", "",
                                  {"utm_source": source, "utm_medium": medium})  # fmt: skip
        crowd.append(visitor)
        moment = at + dt.timedelta(minutes=n)
        for step in LADDER[: rng.randrange(1, 6)]:
            moment += dt.timedelta(seconds=rng.randrange(0, 300))
            record(EventName.STEP_VIEWED, visitor, version, step, occurred_at=moment)
        if rng.random() < 0.5:  # a result: a lead's latest decides their tier
            record(EventName.QUIZ_COMPLETED, visitor, version, "score",
                   {"score": 50, "tier": rng.choice(TIERS)}, occurred_at=moment)  # fmt: skip
        if rng.random() < 0.4:
            if leads and rng.random() < 0.3:
                lead = rng.choice(leads)  # a second device of someone known
            else:
                lead = Lead.objects.create(email=f"p{n}@example.com")
                leads.append(lead)
            visitor.refresh_from_db()
            stitch(visitor, lead)
    return crowd


def by_group(rows: list[tuple]) -> Counter:
    """The breakdown's rows summed per group and level over the shards."""
    found = Counter()
    for group, level, people, *_ in rows:
        found[(group, level)] += people
    return found


@pytest.mark.parametrize(("crossed", "at", "by"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_a_history_moved_across_a_boundary_counts_the_same_everywhere(clickhouse, crossed, at,
                                                                      by):  # fmt: skip
    rng = random.Random(crossed)
    version = funnel()
    crowd = walk(rng, version, 16, at)
    Shipper(clickhouse, settle=0).sync()
    moved = crowd[::3]
    for visitor in moved:
        move_back_in_time(visitor.pk, by)
    Shipper(clickhouse, settle=0).sync()

    for touch in ("first", "last"):
        cohorts = build("clean", store=None, by="cohort", touch=touch)
        weeks = {g.name for g in cohorts.groups}
        assert weeks == {
            (m - dt.timedelta(days=m.weekday())).date().isoformat() for m in (at, at - by)
        }, weeks  # the moved people left the week they walked in
    reports_equal(clickhouse, version, seed=0)
    for case in ({"by": "cohort", "touch": "first"}, {"since": (at - by).date(),
                                                       "until": (at - by).date()}):  # fmt: skip
        ours = build("clean", store=None, **case)
        theirs = build("clean", store=ClickHouseStore(clickhouse), **case)
        assert theirs == ours, case

    plan = plan_for(version.funnel_id, None)
    sql, params = queries.breakdown(plan, queries.Filter(), "cohort", "first", clickhouse.database)
    cluster = ClickHouseStore(clickhouse)._run(sql, params)
    assert by_group(on_current_clickhouse(clickhouse, sql, params)) == by_group(cluster)
