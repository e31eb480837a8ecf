"""Times as the visitor reads them: the zone they chose or their browser reported, instants
shown in it, the picker's list of zones, open slots grouped by the visitor's day. Shared by the
step pages (steps.kinds.time_and_money) and the booking and seat pages (scheduling.views)."""

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from itertools import groupby
from urllib.parse import unquote

from django.http import HttpRequest

ZONE_COOKIE = "yl_tz"


def visitor_zone(request: HttpRequest, fallback: str) -> str:
    """The zone the visitor reads times in: chosen on the page (?tz=), else what their
    browser reported (a cookie set by steps.js), else the host's."""
    # steps.js writes the cookie with encodeURIComponent (Europe%2FBerlin); Django keeps it so.
    cookie = unquote(request.COOKIES.get(ZONE_COOKIE, "")[:200])
    for candidate in (request.GET.get("tz", ""), cookie):
        candidate = candidate.strip()[:64]
        if candidate:
            try:
                zoneinfo.ZoneInfo(candidate)
                return candidate
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                continue  # "America" is a directory of zones, not one: OSError
    return fallback


class ShownInZone(dt.datetime):
    """A datetime already in the visitor's zone. Templates show it as it is: Django's `date`
    filter would otherwise convert an aware datetime back to the server's zone (UTC)."""

    convert_to_local_time = False  # read by django.utils.timezone.template_localtime


@dataclass(frozen=True)
class LocalTime:
    """A UTC instant as the visitor reads it, and the value a form posts back."""

    start: dt.datetime
    value: str

    @classmethod
    def of(cls, instant: dt.datetime, zone: str) -> "LocalTime":
        local = instant.astimezone(zoneinfo.ZoneInfo(zone))
        shown = ShownInZone(
            *local.timetuple()[:6], local.microsecond, local.tzinfo, fold=local.fold
        )
        return cls(shown, instant.isoformat())


def posted_time(request: HttpRequest) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat(request.POST.get("start", "")[:40])
        return value.astimezone(dt.UTC) if value.tzinfo else None
    except (ValueError, OverflowError):  # year 1 with an offset overflows in UTC
        return None


# The picker's list: the zones most visitors live in, plus the page's, the host's and UTC.
COMMON_ZONES = (
    "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York",
    "America/Sao_Paulo", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid",
    "Europe/Istanbul", "Africa/Lagos", "Africa/Johannesburg", "Asia/Dubai", "Asia/Kolkata",
    "Asia/Singapore", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip


def zone_choices(zone: str, host_zone: str) -> list[str]:
    return sorted({zone, host_zone, "UTC", *COMMON_ZONES})


def slot_days(open_slots, zone: str) -> list[dict]:
    """Open slots grouped by the visitor's calendar day."""
    local = [LocalTime.of(s.start, zone) for s in open_slots]
    return [
        {"day": day, "slots": list(times)}
        for day, times in groupby(local, key=lambda t: t.start.date())
    ]
