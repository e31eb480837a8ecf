"""When an event step's sessions take place, in UTC. Pure module (no Django).

A session's `start` is a wall time in its own zone; a repeating session (`every: 7d`) repeats on
that wall clock, so a weekly 18:00 webinar stays at 18:00 local across daylight-saving changes.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from yesladder.funnels.spec.schema import Event, Session

UTC = dt.UTC
UPCOMING_REPEATS = 3  # how many dates of a repeating session the page offers


@dataclass(frozen=True, order=True)
class Occurrence:
    start: dt.datetime  # UTC
    end: dt.datetime
    capacity: int | None


def utc_start(session: Session, wall: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(session.timezone)
    local = wall if wall.tzinfo else wall.replace(tzinfo=zone)
    return local.astimezone(UTC)


def occurrences(session: Session, now: dt.datetime) -> list[Occurrence]:
    """The session's dates that have not ended yet (a repeating one: the next few)."""
    length = dt.timedelta(minutes=session.duration)
    first = session.start
    walls = [first]
    if session.every:
        zone = ZoneInfo(session.timezone)
        local_now = now.astimezone(zone).replace(tzinfo=None)
        base = (first.astimezone(zone) if first.tzinfo else first).replace(tzinfo=None)
        skipped = max(0, (local_now - length - base) // session.every)
        walls = [base + (skipped + i) * session.every for i in range(UPCOMING_REPEATS + 1)]
    found = [
        Occurrence(start, start + length, session.capacity)
        for start in (utc_start(session, wall) for wall in walls)
        if start + length > now
    ]
    return found[: UPCOMING_REPEATS if session.every else 1]


def upcoming(step: Event, now: dt.datetime) -> list[Occurrence]:
    """Every date the page offers, soonest first."""
    return sorted(o for session in step.sessions for o in occurrences(session, now))


def find(step: Event, start: dt.datetime, now: dt.datetime) -> Occurrence | None:
    """The offered date that starts at `start` (UTC), if the step offers it."""
    return next((o for o in upcoming(step, now) if o.start == start), None)
