"""Which slots a booking step offers (pure: scheduling.slots), checked against hand-worked
wall-clock times, including the weeks daylight saving starts and ends."""

import datetime as dt
from zoneinfo import ZoneInfo

from tests.conftest import funnel_dict
from yesladder.funnels.spec.schema import Booking
from yesladder.scheduling import slots

UTC = dt.UTC
NY = ZoneInfo("America/New_York")


def booking(**changes) -> Booking:
    data = {**funnel_dict()["steps"][3], "timezone": "America/New_York", "notice": "0m",
            "buffer_after": 0, **changes}  # fmt: skip
    return Booking.model_validate(data)


def local(slot: slots.Slot) -> str:
    return slot.start.astimezone(NY).strftime("%a %Y-%m-%d %H:%M")


def test_nine_oclock_stays_nine_oclock_across_the_spring_change():
    # DST starts in New York on Sunday 2026-03-08: Friday is UTC-5, Monday is UTC-4.
    step = booking(availability={"fri": ["09:00-09:30"], "mon": ["09:00-09:30"]}, horizon="5d")
    now = dt.datetime(2026, 3, 6, 5, 0, tzinfo=UTC)  # Friday 00:00 in New York
    offered = slots.open_slots(step, now, [])
    assert [local(s) for s in offered] == [
        "Fri 2026-03-06 09:00", "Fri 2026-03-06 09:15", "Mon 2026-03-09 09:00",
        "Mon 2026-03-09 09:15",
    ]  # fmt: skip
    assert [s.start.hour for s in offered] == [14, 14, 13, 13]  # UTC moves by the hour
    assert all(s.end - s.start == dt.timedelta(minutes=15) for s in offered)


def test_the_skipped_hour_is_never_offered_and_the_repeated_hour_once():
    step = booking(availability={"sun": ["01:00-04:00"]}, duration=30, horizon="3d")
    spring = slots.open_slots(step, dt.datetime(2026, 3, 7, 12, tzinfo=UTC), [])
    # 02:00-02:59 does not exist on 2026-03-08.
    assert [local(s)[-5:] for s in spring] == ["01:00", "01:30", "03:00", "03:30"]
    autumn = slots.open_slots(step, dt.datetime(2026, 10, 31, 12, tzinfo=UTC), [])
    # 01:00-01:59 happens twice on 2026-11-01; each wall time is offered once (the first).
    assert [local(s)[-5:] for s in autumn] == ["01:00", "01:30", "02:00", "02:30", "03:00", "03:30"]
    assert len({s.start for s in autumn}) == 6


def test_notice_horizon_and_days_off():
    step = booking(
        availability={"mon": ["09:00-10:00"], "tue": ["09:00-10:00"]},
        notice="1h", horizon="2d", exceptions=["2026-11-24"], duration=30,
    )  # fmt: skip
    now = dt.datetime(2026, 11, 23, 14, 10, tzinfo=UTC)  # Mon 09:10 New York
    # 09:00 is past, 09:30 inside the 1 h notice; Tuesday is a day off.
    assert slots.open_slots(step, now, []) == []
    later = now - dt.timedelta(hours=2)  # Mon 07:10: both Monday slots are open
    assert [local(s) for s in slots.open_slots(step, later, [])] == [
        "Mon 2026-11-23 09:00", "Mon 2026-11-23 09:30"]  # fmt: skip


def test_buffers_keep_the_gap_between_calls():
    step = booking(availability={"mon": ["09:00-11:00"]}, buffer_before=5, buffer_after=10)
    now = dt.datetime(2026, 11, 22, tzinfo=UTC)
    call = dt.datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 09:30 New York
    busy = [slots.Busy("ann@example.com", call, call + dt.timedelta(minutes=15))]
    starts = [local(s)[-5:] for s in slots.open_slots(step, now, busy)]
    # 09:15 would end at 09:30 (no 15-minute gap); 09:45 starts 0 min after; 10:00 has 15.
    assert starts[:3] == ["09:00", "10:00", "10:15"]


def test_round_robin_gives_the_slot_to_the_free_host_with_fewest_calls():
    step = booking(
        availability={"mon": ["09:00-10:00"]},
        hosts=[{"name": "Ann", "email": "ann@example.com"},
               {"name": "Bo", "email": "bo@example.com"}],
    )  # fmt: skip
    now = dt.datetime(2026, 11, 22, tzinfo=UTC)
    first = slots.candidate_slots(step, now)[0]
    busy = [slots.Busy("ann@example.com", first.start, first.end)]
    assert slots.free_hosts(step, first, busy) == ["bo@example.com"]
    assert first in slots.open_slots(step, now, busy)  # one host is still free
    both = busy + [slots.Busy("bo@example.com", first.start, first.end)]
    assert first not in slots.open_slots(step, now, both)
    assert slots.next_host(["ann@example.com", "bo@example.com"], {"ann@example.com": 2}) == (
        "bo@example.com"
    )
    assert slots.next_host(["ann@example.com", "bo@example.com"], {}) == "ann@example.com"
