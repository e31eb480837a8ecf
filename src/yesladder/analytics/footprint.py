"""Where one person's progress counts in the per-day rollups a report reads (pure: no I/O).

A person who entered a funnel version on some day counts once in each breakdown's group at
the level they stopped, once per rung they saw or clicked, and once per move up the ladder
they took. When their progress changes, the rollups change by the difference between the two
footprints (analytics.rollups applies it), so the rollups always equal a count over the rows.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

SOLO_AD_MEDIUMS = ("solo_ad", "solo-ad", "soload", "solo")
EVERYONE = ""  # the dimension of the rows that count everyone, not one breakdown's groups
# A breakdown and its rows' dimension for first-touch and last-touch attribution.
DIMENSIONS = {
    "source": ("source", "last_source"),
    "medium": ("medium", "last_medium"),
    "campaign": ("campaign", "last_campaign"),
    "vendor": ("vendor", "last_vendor"),  # the source of solo-ad traffic
    "version": (EVERYONE, EVERYONE),  # every row carries its version
    "variant": (EVERYONE, EVERYONE),  # and its version says which experiment variant it is
    "cohort": ("cohort", "cohort"),
    "device": ("device", "device"),
    "tier": ("tier", "tier"),  # their latest scored quiz's tier; "" before any
}
MARKS = ("viewed", "clicked", "optional")

# The precision a time to the next rung is kept at: the precision the report shows it with.
# Each bound is a multiple of the unit above it, so kept times stay in their band.
TIME_UNITS = ((120, 1), (7_200, 60), (172_800, 360))
LONG_TIME_UNIT = 8_640  # a tenth of a day

Key = tuple  # (table, *the table's key columns)


def kept_seconds(seconds: int) -> int:
    """Seconds cut to the report's precision: exact under 2 minutes, whole minutes under 2
    hours, tenths of an hour under 2 days, tenths of a day beyond."""
    unit = next((u for bound, u in TIME_UNITS if seconds < bound), LONG_TIME_UNIT)
    return seconds - seconds % unit


@dataclass(frozen=True)
class Footprint:
    """What of one Progress row the rollups count."""

    funnel_id: int
    version_id: int
    day: dt.date
    level: int
    opted_in: bool
    engaged: bool
    revenue: int
    groups: tuple[tuple[str, str], ...]  # (dimension, value) for every breakdown
    viewed: int
    clicked: int
    optional: int
    gaps: tuple[int, ...]

    def counts(self) -> dict[Key, tuple[int, ...]]:
        base = (self.funnel_id, self.version_id, self.day)
        found: dict[Key, tuple[int, ...]] = {}
        tally = (1, int(self.opted_in), int(self.engaged), self.revenue)
        for dimension, value in self.groups:
            found[("tally", *base, dimension, value, self.level)] = tally
        for mark, bits in zip(MARKS, (self.viewed, self.clicked, self.optional), strict=True):
            for position in positions(bits):
                found[("mark", *base, mark, position)] = (1,)
        for rung, seconds in enumerate(self.gaps):
            found[("move", *base, rung, kept_seconds(seconds))] = (1,)
        return found


@dataclass(frozen=True)
class Standing:
    """What of one stored Progress row the rollups of layers above read (experiments keeps its
    per-variant rollups from it): who, where they came from, how far they went, what they paid."""

    version_id: int
    person: str
    source: str
    level: int
    revenue: int
    gaps: tuple[int, ...]


def standing(row) -> Standing:
    return Standing(row.version_id, row.person, row.source, row.level, row.revenue,
                    tuple(row.gaps))  # fmt: skip


def footprint(row) -> Footprint | None:
    """The row's footprint, or None when it counts nowhere: not yet on the first rung, or
    excluded by one of the funnel's exclusion events."""
    if row.level < 1 or row.excluded or row.entered_at is None:
        return None
    return Footprint(
        funnel_id=row.funnel_id, version_id=row.version_id,
        day=row.entered_at.astimezone(dt.UTC).date(), level=row.level,
        opted_in=row.opted_in, engaged=row.engaged, revenue=row.revenue,
        groups=groups(row), viewed=row.viewed, clicked=row.clicked, optional=row.optional,
        gaps=tuple(row.gaps),
    )  # fmt: skip


def groups(row) -> tuple[tuple[str, str], ...]:
    found = [(EVERYONE, ""), ("device", row.device or ""), ("tier", row.tier),
             ("cohort", row.cohort.isoformat() if row.cohort else "")]  # fmt: skip
    for prefix, (source, medium, campaign) in (
        ("", (row.source, row.medium, row.campaign)),
        ("last_", (row.last_source, row.last_medium, row.last_campaign)),
    ):
        found += [(f"{prefix}source", source), (f"{prefix}medium", medium),
                  (f"{prefix}campaign", campaign)]  # fmt: skip
        if medium.lower() in SOLO_AD_MEDIUMS:
            found.append((f"{prefix}vendor", source))
    return tuple(found)


Change = dict[Key, tuple[int, ...]]


def difference(before: Footprint | None, after: Footprint | None) -> Change:
    """What the rollups gain (positive) and lose (negative) when `before` becomes `after`."""
    if before == after:
        return {}
    change: Change = {}
    for sign, side in ((-1, before), (1, after)):
        for key, values in (side.counts() if side else {}).items():
            old = change.get(key, (0,) * len(values))
            change[key] = tuple(o + sign * v for o, v in zip(old, values, strict=True))
    return {key: values for key, values in change.items() if any(values)}


def add(total: Change, change: Change) -> None:
    for key, values in change.items():
        old = total.get(key)
        total[key] = (
            values if old is None else tuple(a + b for a, b in zip(old, values, strict=True))
        )


def positions(bits: int) -> Iterable[int]:
    position = 0
    while bits:
        if bits & 1:
            yield position
        bits >>= 1
        position += 1
