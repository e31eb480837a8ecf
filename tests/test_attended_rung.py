"""A call or session attended is a rung of the report when its step says `attended: true`:
the rung after the step, or the conversion on the macro step. Both engines count it the same
(ClickHouse 18.16 and current ClickHouse through chdb)."""

import datetime as dt
from collections import Counter

import pytest

from tests.clickhouse_fixtures import on_current_clickhouse
from tests.conftest import funnel_dict, sourced_from
from yesladder.analytics.report import build
from yesladder.events import EventName
from yesladder.funnels.models import current_version
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import SpecError
from yesladder.leads.services import new_visitor
from yesladder.tracking.services import record

T0 = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)
CLIMBS = {
    # who: the events of their climb, a minute apart
    "attended": [("guide",), ("checklist",), ("score",), ("call",),
                 (EventName.CALL_ATTENDED, "call")],
    "no-show": [("guide",), ("checklist",), ("score",), ("call",),
                (EventName.CALL_NO_SHOW, "call")],
    "paid after the call": [("guide",), ("checklist",), ("score",), ("call",),
                            (EventName.CALL_ATTENDED, "call"), ("program",),
                            (EventName.CONVERTED, "program")],
    "offer seen before the call": [("guide",), ("checklist",), ("score",), ("call",),
                                   ("program",), (EventName.CALL_ATTENDED, "call")],
    "attended another step": [("guide",), ("checklist",), ("score",), ("call",),
                              (EventName.CALL_ATTENDED, "score")],
}  # fmt: skip


def load(**call) -> object:
    data = funnel_dict()
    next(s for s in data["steps"] if s["key"] == "call").update(call)
    if call.get("macro"):
        data["steps"] = [s for s in data["steps"] if s["key"] != "program"]
    load_funnel(sourced_from(data))
    return current_version("clean")


def climb(version, events) -> None:
    visitor = new_visitor("Mozilla/5.0 (X11; Linux x86_64)", "https://e.com/", "", {})
    for minute, event in enumerate(events):
        name, step = event if len(event) == 2 else (EventName.STEP_VIEWED, event[0])
        at = T0 + dt.timedelta(minutes=minute)
        record(name, visitor, version, step, occurred_at=at)


def reached(report) -> dict[str, int]:
    return {r.key: r.reached for r in report.rungs}


@pytest.mark.django_db
def test_attending_the_call_is_the_rung_after_booking():
    version = load(attended=True)
    for events in CLIMBS.values():
        climb(version, events)
    report = build("clean")
    assert [(r.key, r.title) for r in report.rungs][3:] == [
        ("call", "Call"), ("call:attended", "Attended: Call"), ("program", "Program"),
        ("converted", "Converted: Program"),
    ]  # fmt: skip
    # The offer seen before the call counts only once they come back after it.
    assert reached(report) == {"guide": 5, "checklist": 5, "score": 5, "call": 5,
                               "call:attended": 3, "program": 1, "converted": 1}  # fmt: skip
    assert report.rungs[4].benchmark is None  # seed 003's ranges are for moves between steps


@pytest.mark.django_db
def test_without_attended_the_ladder_is_unchanged():
    version = load()
    for events in CLIMBS.values():
        climb(version, events)
    assert reached(build("clean")) == {"guide": 5, "checklist": 5, "score": 5, "call": 5,
                                       "program": 2, "converted": 1}  # fmt: skip


@pytest.mark.django_db
def test_on_the_macro_step_attending_is_the_conversion():
    version = load(attended=True, macro=True)
    climb(version, CLIMBS["no-show"] + [(EventName.CONVERTED, "call")])  # booked, never came
    climb(version, CLIMBS["attended"])
    report = build("clean")
    assert report.rungs[-1].title == "Converted: attended Call"
    assert reached(report)["converted"] == 1 and report.converted == 1


def test_an_optional_step_cannot_count_attendance():
    data = funnel_dict()
    next(s for s in data["steps"] if s["key"] == "call").update(attended=True, optional=True)
    with pytest.raises(SpecError, match="is optional, so its `attended` cannot be a rung"):
        sourced_from(data)


@pytest.mark.parametrize("macro", [False, True])
@pytest.mark.django_db(transaction=True)
def test_clickhouse_counts_attendance_as_the_embedded_engine_does(clickhouse, macro):
    from dataclasses import asdict

    from yesladder.warehouse import queries
    from yesladder.warehouse.shipping import Shipper
    from yesladder.warehouse.store import ClickHouseStore, _read_overview, plan_for

    version = load(attended=True, macro=macro)
    for events in CLIMBS.values():
        climb(version, events + [(EventName.CONVERTED, "call")] if macro else events)
    Shipper(clickhouse, settle=0).sync()
    store = ClickHouseStore(clickhouse)
    assert asdict(build("clean", store=store)) == asdict(build("clean"))
    plan = plan_for(version.funnel_id, None)
    sql, params = queries.overview(plan, queries.Filter(), clickhouse.database)
    current = [(*row[:-1], tuple(row[-1])) for row in on_current_clickhouse(clickhouse, sql,
                                                                            params)]  # fmt: skip
    levels = []
    for rows in (current, store._run(sql, params)):  # the cluster answers per shard
        found = Counter()
        for tally in _read_overview(rows, plan)[0]:
            found[tally.level] += tally.people
        levels.append(found)
    # Converted on the macro step: those who came to the call (3 of 5), never the booking.
    assert levels[0] == levels[1] == ({4: 2, 5: 3} if macro else {4: 2, 5: 2, 7: 1})
