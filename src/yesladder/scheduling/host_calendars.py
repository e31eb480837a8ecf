"""Reading a host's own calendar (an ICS feed or a CalDAV calendar) for the times it is busy.

Reads are kept a few minutes (Django's cache: per process by default), so a page of slots does
not call the calendar server for every visitor; a read that fails keeps the last good one and
says so, and once that is older than the source's `stale_after` the host is taken as busy
for the whole window: a slot that cannot be checked is never offered.
"""

import datetime as dt
import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass

import caldav
from django.core.cache import cache

from yesladder.funnels.spec.schema import BusySource
from yesladder.scheduling import busy

logger = logging.getLogger(__name__)
FRESH = dt.timedelta(minutes=5)
TIMEOUT = 4  # seconds: a slow calendar server must not hold the visitor's page long
MAX_BYTES = 5_000_000


class SourceFailed(Exception):
    pass


@dataclass(frozen=True)
class Read:
    intervals: list[busy.Interval]
    problem: str = ""  # why the last read failed, shown to the visitor as "may be incomplete"
    blocked: bool = False  # nothing good recent enough: the host offers no slot


def _key(source: BusySource) -> str:
    digest = hashlib.sha256(source.model_dump_json().encode()).hexdigest()[:32]
    return f"yesladder:busy:{digest}"


def host_busy(source: BusySource, zone: str, now: dt.datetime, until: dt.datetime) -> Read:
    kept = cache.get(_key(source)) or {}
    checked = kept.get("checked")
    if checked is None or now - dt.datetime.fromisoformat(checked) >= FRESH:
        kept = _refresh(source, zone, now, until, kept)
    good = kept.get("good")
    intervals = [(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b))
                 for a, b in kept.get("intervals", [])]  # fmt: skip
    stale = good is None or now - dt.datetime.fromisoformat(good) > source.stale_after
    return Read(intervals, kept.get("problem", ""), blocked=stale)


def last_problem(source: BusySource) -> str:
    """What the last read said, without reading again."""
    return (cache.get(_key(source)) or {}).get("problem", "")


def _refresh(source: BusySource, zone: str, now, until, kept: dict) -> dict:
    kept = {**kept, "checked": now.isoformat()}
    try:
        found = busy.busy_times(fetch(source, now, until), now, until, zone)
    except (SourceFailed, busy.Unreadable) as exc:
        logger.warning("the calendar %s could not be read: %s", source.ics or source.caldav, exc)
        kept["problem"] = str(exc)
    else:
        kept.update(good=now.isoformat(), problem="",
                    intervals=[(a.isoformat(), b.isoformat()) for a, b in found])  # fmt: skip
    cache.set(_key(source), kept, timeout=int(source.stale_after.total_seconds()) + 86400)
    return kept


def fetch(source: BusySource, start: dt.datetime, end: dt.datetime) -> list[bytes]:
    """The calendar's data as iCalendar documents; SourceFailed with a short reason."""
    try:
        if source.ics:
            request = urllib.request.Request(source.ics, headers={"User-Agent": "yesladder"})  # noqa: S310 (http and https only: the spec)
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                return [answer.read(MAX_BYTES)]
        password = os.environ.get(source.password_env or "", "")
        with caldav.DAVClient(url=source.caldav, username=source.user, password=password,
                              timeout=TIMEOUT) as client:  # fmt: skip
            found = client.calendar(url=source.caldav).search(start=start, end=end, event=True)
            return [event.data.encode() for event in found]
    except Exception as exc:  # network, HTTP, XML: each library raises its own kinds
        raise SourceFailed(f"{type(exc).__name__}: {str(exc)[:200]}") from None
