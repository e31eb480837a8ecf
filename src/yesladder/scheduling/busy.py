"""A host's own calendar as busy times: the events of iCalendar data (an ICS feed, or what a
CalDAV server returned), recurring ones expanded, over a window. Pure module (no Django).

Each occurrence is read in its own zone (icalendar's TZID), an all-day event blocks that whole
day in the host's zone, an event marked free (TRANSP:TRANSPARENT) or cancelled blocks nothing.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import recurring_ical_events
from icalendar import Calendar

Interval = tuple[dt.datetime, dt.datetime]


class Unreadable(Exception):
    """The data is not iCalendar; the message says what was wrong."""


def busy_times(
    documents: list[bytes], start: dt.datetime, end: dt.datetime, zone: str
) -> list[Interval]:
    """Every busy occurrence that overlaps [start, end), in UTC, sorted."""
    found: list[Interval] = []
    for document in documents:
        try:
            calendar = Calendar.from_ical(document)
            occurrences = recurring_ical_events.of(calendar).between(start, end)
        except Exception as exc:  # the parsers raise many kinds on garbage
            raise Unreadable(f"not a calendar: {str(exc)[:200]}") from None
        for event in occurrences:
            if str(event.get("TRANSP", "")).upper() == "TRANSPARENT":
                continue
            if str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            begins = _instant(event.decoded("DTSTART"), zone)
            ends = _instant(event.decoded("DTEND"), zone) if "DTEND" in event else None
            if ends is None:
                length = event.decoded("DURATION") if "DURATION" in event else None
                ends = begins + (length or dt.timedelta(days=1 if _all_day(event) else 0))
            if ends > start and begins < end:
                found.append((begins, ends))
    return sorted(found)


def _all_day(event) -> bool:
    value = event.decoded("DTSTART")
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _instant(value: dt.date | dt.datetime, zone: str) -> dt.datetime:
    """A date is midnight in the host's zone; a floating time is the host's wall clock."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return value.astimezone(dt.UTC)
