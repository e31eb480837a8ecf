"""The per-day rollups a report reads always equal a count over the Progress rows, whatever
way the rows changed: steps in order, late events, stitching, exclusions, erasure, recounts."""

import datetime as dt
import random

import pytest

from tests.conftest import funnel_dict, sourced_from
from tests.test_analytics_progress import T0, person
from yesladder.analytics import progress
from yesladder.analytics.footprint import Footprint, add, difference, footprint, kept_seconds
from yesladder.analytics.models import DayMark, DayMove, DayTally, Progress
from yesladder.analytics.report import build
from yesladder.dashboard.privacy import erase
from yesladder.events import EventName
from yesladder.funnels.models import current_version
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.tracking.identity import stitch
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db
STEPS = ["guide", "checklist", "score", "call", "program"]


def test_times_are_kept_at_the_precision_the_report_shows():
    assert [kept_seconds(s) for s in (0, 59, 119, 120, 179, 7199, 7200, 7559, 172_799)] == [
        0, 59, 119, 120, 120, 7140, 7200, 7200, 172_440,
    ]  # fmt: skip
    assert kept_seconds(172_800 + 8_639) == 172_800
    assert all(kept_seconds(kept_seconds(s)) == kept_seconds(s) for s in range(0, 400_000, 7))


def _footprint(**changes) -> Footprint:
    fields = dict(funnel_id=1, version_id=2, day=dt.date(2026, 10, 5), level=2, opted_in=True,
                  engaged=False, revenue=0, groups=(("", ""), ("source", "ads")), viewed=0b11,
                  clicked=0b1, optional=0, gaps=(130,))  # fmt: skip
    return Footprint(**(fields | changes))


def test_a_move_up_one_rung_moves_the_person_between_tallies():
    change = difference(_footprint(), _footprint(level=3, viewed=0b111, gaps=(130, 45)))
    day = dt.date(2026, 10, 5)
    assert change == {
        ("tally", 1, 2, day, "", "", 2): (-1, -1, 0, 0),
        ("tally", 1, 2, day, "", "", 3): (1, 1, 0, 0),
        ("tally", 1, 2, day, "source", "ads", 2): (-1, -1, 0, 0),
        ("tally", 1, 2, day, "source", "ads", 3): (1, 1, 0, 0),
        ("mark", 1, 2, day, "viewed", 2): (1,),
        ("move", 1, 2, day, 1, 45): (1,),
    }
    assert difference(_footprint(), _footprint()) == {}
    assert difference(None, None) == {}


def _counted_from_rows() -> dict:
    expected: dict = {}
    for row in Progress.objects.all():
        add(expected, difference(None, footprint(row)))
    return {key: values for key, values in expected.items() if any(values)}


def _kept() -> dict:
    found = {}
    for row in DayTally.objects.all():
        key = ("tally", row.funnel_id, row.version_id, row.day, row.dimension, row.value,
               row.level)  # fmt: skip
        found[key] = (row.people, row.opted_in, row.engaged, row.revenue)
    for row in DayMark.objects.all():
        found[("mark", row.funnel_id, row.version_id, row.day, row.mark, row.position)] = (
            row.people,
        )
    for row in DayMove.objects.all():
        found[("move", row.funnel_id, row.version_id, row.day, row.rung, row.seconds)] = (
            row.people,
        )
    return {key: values for key, values in found.items() if any(values)}


def _random_traffic(version, rng: random.Random) -> list:
    people = [person(rng.choice(["ads", "partner", ""]),
                     medium=rng.choice(["cpc", "solo_ad"])) for _ in range(25)]  # fmt: skip
    for _ in range(220):
        visitor = rng.choice(people)
        name = rng.choice([EventName.STEP_VIEWED] * 5 + [EventName.CTA_CLICKED,
                          EventName.OPTED_IN, EventName.PAID, EventName.REFUNDED,
                          EventName.READ_PROGRESS, EventName.QUIZ_COMPLETED])  # fmt: skip
        minutes = rng.randrange(0, 3 * 24 * 60)  # days apart: people enter on several days
        # A result retaken (or reported late) moves its person to another tier.
        tier = {"score": 40, "tier": rng.choice(["leaky", "strong"])}
        record(name, visitor, version, rng.choice(STEPS), {"amount": 700, "seconds": 400, **tier},
               occurred_at=T0 + dt.timedelta(minutes=minutes))  # fmt: skip
    return people


@pytest.mark.parametrize("seed", range(3))
def test_rollups_equal_a_count_over_the_rows_after_any_history(seed):
    data = funnel_dict()
    data["exclude"] = [{"event": "refunded"}]
    load_funnel(sourced_from(data))
    version = current_version(data["funnel"])
    rng = random.Random(seed)
    people = _random_traffic(version, rng)
    assert _kept() == _counted_from_rows()
    leads = [Lead.objects.create(email=f"p{i}@example.com") for i in range(4)]
    for visitor in people[:8]:  # two devices per lead: histories merge
        stitch(visitor, leads[people.index(visitor) % 4])
    _random_traffic(version, rng)
    assert _kept() == _counted_from_rows()
    erase(leads[0])
    assert _kept() == _counted_from_rows()
    before = [build(data["funnel"], by=by) for by in ("source", "tier")]
    progress.recount_all(data["funnel"])
    assert _kept() == _counted_from_rows()
    assert [build(data["funnel"], by=by) for by in ("source", "tier")] == before
    assert {g.name for g in before[1].groups} <= {"", "leaky", "strong"}
