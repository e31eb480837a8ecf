"""Reading a host's own calendar (an ICS feed or a CalDAV calendar) for the times it is busy.

The worker reads every source the current funnels name every few minutes (`refresh_due`, a
seams.Job) and keeps the result in a row; a page of slots only reads that row, so no visitor
waits for a slow calendar server. A read that fails keeps the last good one and says so; a
source never read yet, or whose last good read is older than its `stale_after`, makes the host
busy for the whole window: a slot that cannot be checked is never offered.
"""

import datetime as dt
import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass

import caldav
from django.db.models import Q
from django.utils import timezone

from yesladder.funnels.models import FunnelVersion, current_versions
from yesladder.funnels.spec.schema import Booking as BookingStep
from yesladder.funnels.spec.schema import BusySource
from yesladder.scheduling import busy
from yesladder.scheduling.models import CalendarRead

logger = logging.getLogger(__name__)
FRESH = dt.timedelta(minutes=5)
EVERY_SECONDS = 60  # the worker looks this often for reads older than FRESH
TIMEOUT = 4  # seconds: a slow calendar server must not hold the worker's round long
MAX_BYTES = 5_000_000
NOT_READ_YET = "not read yet"


class SourceFailed(Exception):
    pass


@dataclass(frozen=True)
class Read:
    intervals: list[busy.Interval]
    problem: str = ""  # why the last read failed, shown to the visitor as "may be incomplete"
    blocked: bool = False  # nothing good recent enough: the host offers no slot


def _address(source: BusySource) -> str:
    return source.ics or f"{source.caldav} as {source.user or ''}"


def _key(source: BusySource) -> str:
    """One read per calendar, whatever else the spec says about it (`stale_after` is the
    reader's business), so every version naming the calendar shares it."""
    return hashlib.sha256(f"{_address(source)}|{source.password_env}".encode()).hexdigest()


def host_busy(source: BusySource, now: dt.datetime) -> Read:
    """The calendar's busy times as the worker last read them (no read here)."""
    kept = CalendarRead.objects.filter(key=_key(source)).first()
    if kept is None:
        return Read([], NOT_READ_YET, blocked=True)
    intervals = [(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b))
                 for a, b in kept.intervals]  # fmt: skip
    stale = kept.good_at is None or now - kept.good_at > source.stale_after
    return Read(intervals, kept.problem, blocked=stale)


def last_problem(source: BusySource) -> str:
    """What the last read said (or that there was none yet)."""
    kept = CalendarRead.objects.filter(key=_key(source)).values_list("problem", flat=True)
    return next(iter(kept), NOT_READ_YET)


def sources(now: dt.datetime) -> dict[str, tuple[BusySource, str, dt.datetime]]:
    """Every calendar the current versions (and their experiments' variants) name: its key ->
    (source, the step's zone, the end of the longest window it is read for)."""
    current = [v.pk for v in current_versions()]
    versions = FunnelVersion.objects.filter(Q(pk__in=current) | Q(base__in=current))
    found: dict[str, tuple[BusySource, str, dt.datetime]] = {}
    for version in versions:
        for step in version.spec.steps:
            if not isinstance(step, BookingStep):
                continue
            until = now + step.horizon + dt.timedelta(days=1)
            for host in step.hosts:
                if host.busy is not None:
                    key = _key(host.busy)
                    known = found.get(key)
                    if known is None or known[2] < until:
                        found[key] = (host.busy, step.timezone, until)
    return found


def refresh_due(now: dt.datetime | None = None) -> int:
    """The worker's job: read again every calendar whose last try is older than FRESH.
    Returns how many were read."""
    now = now or timezone.now()
    wanted = sources(now)
    checked = dict(CalendarRead.objects.filter(key__in=wanted).values_list("key", "checked_at"))
    due = [k for k in wanted if k not in checked or now - checked[k] >= FRESH]
    for key in due:
        refresh(*wanted[key], now=now)
    return len(due)


def refresh(source: BusySource, zone: str, until: dt.datetime, now: dt.datetime) -> None:
    """Read one calendar now; a failure keeps the last good read and says why."""
    kept = CalendarRead.objects.filter(key=_key(source)).first() or CalendarRead(
        key=_key(source), address=_address(source)[:2000]
    )
    kept.checked_at = now
    try:
        found = busy.busy_times(fetch(source, now, until), now, until, zone)
    except (SourceFailed, busy.Unreadable) as exc:
        logger.warning("the calendar %s could not be read: %s", source.ics or source.caldav, exc)
        kept.problem = str(exc)[:300]
    else:
        kept.good_at, kept.problem = now, ""
        kept.intervals = [(a.isoformat(), b.isoformat()) for a, b in found]
    kept.save()


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
