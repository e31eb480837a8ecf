"""Which call slots a booking step offers: weekly opening hours in the host's time zone, minus
days off, bookings and their buffers, between the minimum notice and the horizon.

Pure module (no Django). Slots are generated on the host's wall clock and converted to UTC one
by one, so a daylight-saving change moves nothing: 09:00 in New York stays 09:00 local on both
sides of the change. A wall time that does not exist (the hour skipped in spring) is never
offered; a wall time that exists twice (the hour repeated in autumn) is offered once, the first.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from yesladder.funnels.spec.schema import Booking

UTC = dt.UTC
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, order=True)
class Slot:
    start: dt.datetime  # UTC
    end: dt.datetime  # UTC


@dataclass(frozen=True)
class Busy:
    """A booked call of one host (UTC)."""

    host: str
    start: dt.datetime
    end: dt.datetime


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _local_starts(step: Booking, day: dt.date) -> Iterable[dt.datetime]:
    """Each slot start of one day in the host's zone, as an aware UTC time."""
    zone = ZoneInfo(step.timezone)
    midnight = dt.datetime.combine(day, dt.time(0))
    for window in step.availability.get(WEEKDAYS[day.weekday()], []):
        opens, closes = (_minutes(part) for part in window.split("-"))
        for start in range(opens, closes - step.duration + 1, step.duration):
            wall = midnight + dt.timedelta(minutes=start)
            instant = wall.replace(tzinfo=zone).astimezone(UTC)
            if instant.astimezone(zone).replace(tzinfo=None) == wall:  # skipped hour: no slot
                yield instant


def candidate_slots(step: Booking, now: dt.datetime) -> list[Slot]:
    """Every slot inside notice and horizon on an open day, taken or not."""
    zone = ZoneInfo(step.timezone)
    earliest, latest = now + step.notice, now + step.horizon
    length = dt.timedelta(minutes=step.duration)
    day, last_day = earliest.astimezone(zone).date(), latest.astimezone(zone).date()
    slots = []
    while day <= last_day:
        if day not in step.exceptions:
            slots += [
                Slot(start, start + length)
                for start in _local_starts(step, day)
                if earliest <= start <= latest
            ]
        day += dt.timedelta(days=1)
    return slots


def clashes(step: Booking, slot: Slot, busy: Busy) -> bool:
    """A call keeps its buffers free: the gap between two calls is at least the buffer after
    the first plus the buffer before the second."""
    before, after = (dt.timedelta(minutes=m) for m in (step.buffer_before, step.buffer_after))
    return slot.start - before < busy.end + after and busy.start - before < slot.end + after


def free_hosts(step: Booking, slot: Slot, busy: Sequence[Busy]) -> list[str]:
    """The hosts (by email, in the spec's order) who can take this slot."""
    taken = {b.host for b in busy if clashes(step, slot, b)}
    return [email for email in host_emails(step) if email not in taken]


def host_emails(step: Booking) -> list[str]:
    """Hosts are known by their email, in lower case, as stored."""
    return [h.email.lower() for h in step.hosts]


def open_slots(step: Booking, now: dt.datetime, busy: Sequence[Busy]) -> list[Slot]:
    """The slots a visitor can pick: at least one host is free."""
    return [s for s in candidate_slots(step, now) if free_hosts(step, s, busy)]


def next_host(candidates: Sequence[str], load: dict[str, int]) -> str:
    """Round robin: the free host with the fewest upcoming calls; ties go to the one listed
    first."""
    return min(candidates, key=lambda email: (load.get(email, 0), candidates.index(email)))
