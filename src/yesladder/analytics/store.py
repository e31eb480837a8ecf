"""Where report numbers come from: one interface, so an analytical engine (ClickHouse) can be
added as another store without touching the report, the CLI or the views.

A store answers with sufficient statistics only (counts per group and rung, sums, the
distribution of gaps); analytics.report turns them into rates, intervals and verdicts.
"""

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from django.db.models import Sum

from yesladder import seams
from yesladder.analytics.footprint import DIMENSIONS, EVERYONE
from yesladder.analytics.models import DayMark, DayMove, DayTally, TrafficCost
from yesladder.funnels.models import FunnelVersion

# Breakdowns read from the version a rollup row belongs to, not from a value of its own; the
# ladder as written is the variant "" (the control of each of its experiments).
GROUPS = {"version": "version__number", "variant": "version__variant"}


@dataclass(frozen=True)
class Engine:
    """An analytical engine beside the embedded one, registered by the app that brings it
    (warehouse: ClickHouse), so analytics never imports it."""

    open: Callable[[], tuple["Store", str]]  # the store, and a note when it is behind the log
    adhoc: Callable[..., str]  # (store, funnel key, steps, window, format): an ad-hoc funnel


def engine(name: str) -> Engine:
    """The engine called `name`; LookupError when the app that brings it is not installed."""
    found = seams.ENGINES.get(name)
    if found is None:
        raise LookupError(f"--engine {name}: that engine's app is not installed")
    return found


@dataclass(frozen=True)
class Query:
    funnel_id: int
    version_id: int | None = None  # None: every version
    since: dt.date | None = None  # people who entered on or after this day (UTC)
    until: dt.date | None = None  # ... and on or before this one
    by: str | None = None  # one of DIMENSIONS; None: everyone in one group
    touch: str = "first"  # first or last: which visit a person is credited to
    with_variants: bool = False  # the version's experiment variants too (`--by variant`)

    def dimension(self) -> str:
        """The rollup rows that answer this query's breakdown."""
        if self.by is None:
            return EVERYONE
        return DIMENSIONS[self.by][0 if self.touch == "first" else 1]


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


def version_ids(query: Query) -> list[int] | None:
    """The versions a query counts: None for every version; else the one asked for, and with
    `with_variants` the ladders of its experiments' variants (stored beside it)."""
    if query.version_id is None:
        return None
    if not query.with_variants:
        return [query.version_id]
    variants = FunnelVersion.objects.filter(base_id=query.version_id).values_list("pk", flat=True)
    return [query.version_id, *variants]


class Store(Protocol):
    def tallies(self, query: Query) -> list[Tally]: ...
    def marks(self, query: Query) -> Marks: ...
    def gaps(self, query: Query) -> list[Counter]: ...
    def costs(self, query: Query) -> dict[tuple[str, str], tuple[int, int]]: ...


class SqlStore:
    """The per-day rollups (analytics.rollups) on the embedded SQLite file or PostgreSQL: a
    report sums rows per day and group, never one row per person."""

    def rows(self, model, query: Query):
        rows = model.objects.filter(funnel_id=query.funnel_id)
        if (ids := version_ids(query)) is not None:
            rows = rows.filter(version_id__in=ids)
        if query.since:
            rows = rows.filter(day__gte=query.since)
        if query.until:
            rows = rows.filter(day__lte=query.until)
        return rows

    def tallies(self, query: Query) -> list[Tally]:
        group = GROUPS.get(query.by or "", "value")
        found = (
            self.rows(DayTally, query).filter(dimension=query.dimension())
            .values(group, "level")
            .annotate(p=Sum("people"), o=Sum("opted_in"), e=Sum("engaged"), r=Sum("revenue"))
            .order_by()
        )  # fmt: skip
        return [
            Tally(_group_name(query.by, row[group]), row["level"], row["p"], row["o"],
                  row["e"], row["r"])
            for row in found if row["p"]
        ]  # fmt: skip

    def marks(self, query: Query) -> Marks:
        marks = Marks()
        found = self.rows(DayMark, query).values("mark", "position").annotate(n=Sum("people"))
        for row in found.order_by():
            getattr(marks, row["mark"])[row["position"]] += row["n"]
        return marks

    def gaps(self, query: Query) -> list[Counter]:
        """Per move up the ladder, how many people took how many seconds."""
        result: list[Counter] = []
        found = self.rows(DayMove, query).values("rung", "seconds").annotate(n=Sum("people"))
        for row in found.order_by():
            while len(result) <= row["rung"]:
                result.append(Counter())
            if row["n"]:
                result[row["rung"]][row["seconds"]] += row["n"]
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


def _group_name(by: str | None, value) -> str:
    if not by:
        return ""
    return "as written" if by == "variant" and not value else str(value)
