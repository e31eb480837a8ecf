"""Where report numbers come from: one interface, so an analytical engine (ClickHouse) can be
added as another store without touching the report, the CLI or the views.

A store answers with sufficient statistics only (counts per group and rung, sums, the
distribution of gaps); analytics.report turns them into rates, intervals and verdicts.
"""

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from django.db.models import Count, Q, Sum

from yesladder.analytics.models import Progress, TrafficCost

# What a report may be broken down or filtered by: an allowlist (threat 24), mapped to the
# columns for first-touch and last-touch attribution.
DIMENSIONS = {
    "source": ("source", "last_source"),
    "medium": ("medium", "last_medium"),
    "campaign": ("campaign", "last_campaign"),
    "vendor": ("source", "last_source"),  # a solo-ad vendor is the source of solo-ad traffic
    "version": ("version__number", "version__number"),
    "cohort": ("cohort", "cohort"),
    "device": ("device", "device"),
}
SOLO_AD_MEDIUMS = ("solo_ad", "solo-ad", "soload", "solo")


@dataclass(frozen=True)
class Query:
    funnel_id: int
    version_id: int | None = None  # None: every version
    since: dt.date | None = None  # people who entered on or after this day (UTC)
    until: dt.date | None = None  # ... and on or before this one
    by: str | None = None  # one of DIMENSIONS
    touch: str = "first"  # first or last: which visit a person is credited to
    where: tuple[tuple[str, str], ...] = ()  # (dimension, value) filters

    def column(self, dimension: str) -> str:
        return DIMENSIONS[dimension][0 if self.touch == "first" else 1]


@dataclass(frozen=True)
class Tally:
    """People in one group who stopped at one rung, with what they did on the way."""

    group: str
    level: int
    people: int
    opted_in: int
    engaged: int
    revenue: int  # minor units


@dataclass
class Marks:
    """Per rung: how many people saw it at all and clicked its call to action (CTR)."""

    viewed: Counter = field(default_factory=Counter)
    clicked: Counter = field(default_factory=Counter)
    optional: Counter = field(default_factory=Counter)


class Store(Protocol):
    def tallies(self, query: Query) -> list[Tally]: ...
    def marks(self, query: Query) -> Marks: ...
    def gaps(self, query: Query) -> list[Counter]: ...
    def costs(self, query: Query) -> dict[tuple[str, str], tuple[int, int]]: ...


class SqlStore:
    """The Progress table on the embedded SQLite file or PostgreSQL, through the ORM."""

    def people(self, query: Query):
        rows = Progress.objects.filter(funnel_id=query.funnel_id, level__gte=1, excluded=False)
        if query.version_id:
            rows = rows.filter(version_id=query.version_id)
        if query.since:
            rows = rows.filter(entered_at__gte=_start(query.since))
        if query.until:
            rows = rows.filter(entered_at__lt=_start(query.until + dt.timedelta(days=1)))
        for dimension, value in query.where:
            rows = rows.filter(**{query.column(dimension): value})
        if query.by == "vendor":
            rows = rows.filter(**{f"{query.column('medium')}__in": SOLO_AD_MEDIUMS})
        return rows

    def tallies(self, query: Query) -> list[Tally]:
        group = query.column(query.by) if query.by else None
        fields = [group, "level"] if group else ["level"]
        found = (
            self.people(query)
            .values(*fields)
            .annotate(people=Count("id"), opted_in=Count("id", filter=Q(opted_in=True)),
                      engaged=Count("id", filter=Q(engaged=True)), revenue=Sum("revenue"))
            .order_by()
        )  # fmt: skip
        return [
            Tally(str(row[group]) if group and row[group] is not None else "", row["level"],
                  row["people"], row["opted_in"], row["engaged"], row["revenue"] or 0)
            for row in found
        ]  # fmt: skip

    def marks(self, query: Query) -> Marks:
        marks = Marks()
        found = self.people(query).values("viewed", "clicked", "optional").annotate(n=Count("id"))
        for row in found.order_by():
            for counter, bits in ((marks.viewed, row["viewed"]), (marks.clicked, row["clicked"]),
                                  (marks.optional, row["optional"])):  # fmt: skip
                for bit in _bits(bits):
                    counter[bit] += row["n"]
        return marks

    def gaps(self, query: Query) -> list[Counter]:
        """Per move up the ladder, how many people took how many seconds."""
        result: list[Counter] = []
        for gaps in self.people(query).filter(level__gte=2).values_list("gaps", flat=True):
            for i, seconds in enumerate(gaps):
                while len(result) <= i:
                    result.append(Counter())
                result[i][seconds] += 1
        return result

    def costs(self, query: Query) -> dict[tuple[str, str], tuple[int, int]]:
        """Per source and currency: clicks bought and money paid (minor units)."""
        rows = TrafficCost.objects.all()
        if query.since:
            rows = rows.filter(day__gte=query.since)
        if query.until:
            rows = rows.filter(day__lte=query.until)
        found = rows.values("source", "currency").annotate(c=Sum("clicks"), m=Sum("cost"))
        return {(row["source"], row["currency"]): (row["c"], row["m"]) for row in found.order_by()}


def _start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _bits(value: int):
    bit = 0
    while value:
        if value & 1:
            yield bit
        value >>= 1
        bit += 1
