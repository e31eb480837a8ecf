"""One funnel's report: per rung counts, rates, times, benchmarks, diagnosis, what-if, the
seeds' metrics, a breakdown and money. The CLI, the dashboard and the exports all render this
one frozen result (docs/analytics.md has the semantics)."""

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from decimal import Decimal

from yesladder.analytics import verdicts
from yesladder.analytics.rules import rungs_of
from yesladder.analytics.store import DIMENSIONS, Marks, Query, SqlStore, Store, Tally
from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.funnels.spec.schema import FunnelSpec, Quiz

TOUCHES = ("first", "last")
NO_SCORE = "no score"  # the tier of a person who has not finished a scored quiz
# Days are compared as midnights and the day after `until`: years outside this range are typing
# mistakes, and the last day of year 9999 has no day after it.
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


class ReportError(ValueError):
    """A report asked for something that does not exist; the message says what to ask."""


@dataclass(frozen=True)
class Rung:
    key: str
    title: str
    reached: int
    from_previous: float | None
    from_start: float
    dropped: int  # reached this rung and not the next
    interval: tuple[float, float] | None  # 95 % interval of from_previous
    benchmark: tuple[float, float] | None
    verdict: str
    median_seconds: int | None  # to the next rung, for those who took it
    p90_seconds: int | None
    ctr: float | None  # of those who saw it, the share who clicked its call to action
    viewed: int


@dataclass(frozen=True)
class Side:
    """An optional step: how many of those who entered took it."""

    key: str
    title: str
    people: int
    share: float


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None
    count: int
    of: int
    interval: tuple[float, float] | None


@dataclass(frozen=True)
class Group:
    """One row of a breakdown."""

    name: str
    entered: int
    reached: tuple[int, ...]
    converted: int
    leads: int
    revenue: int
    clicks: int | None  # bought
    cost: int | None
    cost_per_lead: int | None
    cost_per_acquisition: int | None
    earnings_per_click: int | None
    roi: float | None

    @property
    def conversion(self) -> float | None:
        return self.converted / self.entered if self.entered else None


@dataclass(frozen=True)
class Report:
    funnel: str
    name: str
    version: str  # "v3" or "all versions"
    since: dt.date | None
    until: dt.date | None
    touch: str
    by: str | None
    currency: str
    entered: int
    rungs: tuple[Rung, ...]
    sides: tuple[Side, ...]
    metrics: tuple[Metric, ...]
    diagnoses: tuple[verdicts.Diagnosis, ...]
    what_ifs: tuple[verdicts.WhatIf, ...]
    bottleneck: verdicts.WhatIf | None
    groups: tuple[Group, ...]
    revenue: int
    # With a scored quiz on the ladder: each tier's people and how they climbed on (first the
    # tiers as the spec orders them, then "" for those with no score yet).
    tiers: tuple[Group, ...] = ()

    @property
    def converted(self) -> int:
        return self.rungs[-1].reached if self.rungs else 0


def build(
    funnel_key: str,
    version: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    by: str | None = None,
    touch: str = "first",
    store: Store | None = None,
) -> Report:
    """The report, or ReportError naming the argument that cannot be answered."""
    funnel, chosen = _funnel(funnel_key, version)
    if by is not None and by not in DIMENSIONS:
        raise ReportError(f"--by: choose one of {', '.join(DIMENSIONS)}, not {by!r}")
    if touch not in TOUCHES:
        raise ReportError(f"--touch: choose first or last, not {touch!r}")
    for name, day in (("--since", since), ("--until", until)):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise ReportError(f"{name}: a day from {FIRST_DAY} to {LAST_DAY}")
    if since and until and since > until:
        raise ReportError("--since: the range starts after it ends")
    spec = (chosen or funnel.current_version()).spec
    store = store or SqlStore()
    # By variant, a version is counted with its experiments' variant ladders beside it.
    query = Query(funnel.pk, chosen.pk if chosen else None, since, until, by, touch,
                  with_variants=by == "variant")  # fmt: skip
    # The breakdown first: a store may answer it and the overview in one pass.
    grouped = store.tallies(query) if by else []
    tallies, marks = store.tallies(replace(query, by=None)), store.marks(query)
    rungs = _rungs(spec, tallies, store.gaps(query), marks)
    entered = rungs[0].reached if rungs else 0
    revenue = sum(t.revenue for t in tallies)
    gains = _what_ifs(rungs, entered, revenue)
    groups = _groups(spec, grouped, store, query, len(rungs)) if by else []
    return Report(
        funnel=funnel.key, name=spec.name,
        version=f"v{chosen.number}" if chosen else "all versions",
        since=since, until=until, touch=touch, by=by, currency=spec.currency,
        entered=entered, rungs=tuple(rungs), sides=tuple(_sides(spec, marks, entered)),
        metrics=tuple(_metrics(tallies, rungs, entered)),
        diagnoses=tuple(_diagnoses(spec, rungs)), what_ifs=tuple(gains),
        bottleneck=verdicts.bottleneck(gains),
        groups=tuple(groups), revenue=revenue,
        tiers=_tiers(spec, groups if by == "tier" else None, store, query, len(rungs)),
    )  # fmt: skip


def _funnel(key: str, number: int | None) -> tuple[Funnel, FunnelVersion | None]:
    funnel = Funnel.objects.filter(key=key).first()
    if funnel is None:
        known = ", ".join(Funnel.objects.values_list("key", flat=True)) or "none yet"
        raise ReportError(f"no funnel called {key!r}; known: {known} (yesladder load FILE)")
    if funnel.current_version() is None:
        raise ReportError(f"funnel {key!r} has no stored version")
    if number is None:
        return funnel, None
    chosen = funnel.versions.current().filter(number=number).first()
    if chosen is None:
        raise ReportError(f"--only-version: funnel {key!r} has no version {number}")
    return funnel, chosen


def titles(spec: FunnelSpec) -> list[tuple[str, str]]:
    """The rungs as a report names them: the ladder's steps (and attendance where a step
    counts it), then the conversion."""
    return [(r.key, r.title) for r in rungs_of(spec)]


def reached_counts(levels: Counter, rungs: int) -> list[int]:
    """People who reached each rung: everyone whose climb stopped there or higher."""
    return [sum(n for level, n in levels.items() if level > i) for i in range(rungs)]


def _rungs(
    spec: FunnelSpec, tallies: list[Tally], times: list[Counter], marks: Marks
) -> list[Rung]:
    named = titles(spec)
    steps = [s.key for s in spec.ladder()]
    levels = Counter()
    for t in tallies:
        levels[min(t.level, len(named))] += t.people
    reached = reached_counts(levels, len(named))
    result = []
    for i, (key, title) in enumerate(named):
        previous = reached[i - 1] if i else None
        # Seed 003's ranges are for moves between steps: attending and paying have none.
        step = steps.index(key) if key in steps else 0
        expected = verdicts.benchmark(spec, step, key) if step else None
        median, p90 = _percentiles(times[i] if i < len(times) else Counter())
        result.append(Rung(
            key=key, title=title, reached=reached[i],
            from_previous=_share(reached[i], previous) if i else None,
            from_start=_share(reached[i], reached[0]) or 0.0,
            dropped=reached[i] - reached[i + 1] if i + 1 < len(reached) else 0,
            interval=verdicts.wilson(reached[i], previous) if previous else None,
            benchmark=expected, verdict=verdicts.verdict(reached[i], previous or 0, expected),
            median_seconds=median, p90_seconds=p90,
            ctr=_share(marks.clicked[i], marks.viewed[i]), viewed=marks.viewed[i],
        ))  # fmt: skip
    return result


def _share(part: int, whole: int | None) -> float | None:
    return part / whole if whole else None


def percentile(counts: Counter, fraction: float) -> int | None:
    """The nearest-rank percentile of a distribution given as value -> how many."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, -(-int(fraction * total * 1_000_000) // 1_000_000))  # ceil, exact for .5/.9
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return None


def _percentiles(counts: Counter) -> tuple[int | None, int | None]:
    return percentile(counts, 0.5), percentile(counts, 0.9)


def _sides(spec: FunnelSpec, marks: Marks, entered: int) -> list[Side]:
    optional = [s for s in spec.steps if s.optional]
    return [Side(s.key, s.title, marks.optional[i], _share(marks.optional[i], entered) or 0.0)
            for i, s in enumerate(optional)]  # fmt: skip


def _metrics(tallies: list[Tally], rungs: list[Rung], entered: int) -> list[Metric]:
    def metric(name: str, count: int, of: int) -> Metric:
        return Metric(
            name, _share(count, of), count, of, verdicts.wilson(count, of) if of else None
        )

    viewed = sum(r.viewed for r in rungs)
    clicked = sum(round((r.ctr or 0) * r.viewed) for r in rungs)
    last = rungs[-1].reached if rungs else 0
    return [
        metric("micro-to-macro conversion", last, entered),
        metric("click-through on calls to action", clicked, viewed),
        metric("opt-in rate", sum(t.opted_in for t in tallies), entered),
        metric("engagement rate", sum(t.engaged for t in tallies), entered),
    ]


def _diagnoses(spec: FunnelSpec, rungs: list[Rung]) -> list[verdicts.Diagnosis]:
    steps = {s.key: s for s in spec.steps}
    found = []
    for before, rung in zip(rungs, rungs[1:], strict=False):
        if rung.verdict in ("below", "above") and rung.key in steps and before.key in steps:
            found.append(verdicts.diagnose(spec, steps[before.key], steps[rung.key], rung.verdict))
    return found


def _what_ifs(rungs: list[Rung], entered: int, revenue: int) -> list[verdicts.WhatIf]:
    moves = rungs[1:]
    if not moves or entered == 0:
        return []
    converted = rungs[-1].reached
    each = Decimal(revenue) / converted if converted else Decimal(0)
    return verdicts.what_if(
        entered, [r.from_previous or 0.0 for r in moves], [r.benchmark for r in moves],
        [r.key for r in moves], each,
    )  # fmt: skip


def _groups(spec, tallies, store: Store, query: Query, rungs: int) -> list[Group]:
    by_group: dict[str, list[Tally]] = defaultdict(list)
    for t in tallies:
        by_group[t.group].append(t)
    costs = store.costs(query) if query.by in ("source", "vendor") else {}
    result = []
    for name, theirs in by_group.items():
        levels = Counter()
        for t in theirs:
            levels[min(t.level, rungs)] += t.people
        reached = reached_counts(levels, rungs)
        clicks, cost = costs.get((name, spec.currency), (None, None))
        result.append(_group(name, reached, theirs, clicks, cost))
    return sorted(result, key=lambda g: (-g.entered, g.name))


def tier_titles(spec: FunnelSpec) -> dict[str, str]:
    """Each tier of the ladder's scored quizzes by its key, in the spec's order (the first
    quiz's title wins when two quizzes share a key)."""
    found: dict[str, str] = {}
    for step in spec.steps:
        if isinstance(step, Quiz) and step.scored():
            for tier in step.tiers:
                found.setdefault(tier.key, tier.title)
    return found


def _tiers(spec: FunnelSpec, found: list[Group] | None, store: Store, query: Query,
           rungs: int) -> tuple[Group, ...]:  # fmt: skip
    """The groups of `--by tier` (`found` when that is the breakdown asked for)."""
    titles = tier_titles(spec)
    if not titles:
        return ()
    if found is None:
        found = _groups(spec, store.tallies(replace(query, by="tier")), store, query, rungs)
    titles[""] = NO_SCORE
    place = {key: i for i, key in enumerate(titles)}
    ordered = sorted(found, key=lambda g: (place.get(g.name, len(place)), g.name))
    return tuple(replace(g, name=titles.get(g.name, g.name)) for g in ordered)


def _group(name: str, reached: list[int], theirs: list[Tally], clicks, cost) -> Group:
    leads = sum(t.opted_in for t in theirs)
    revenue = sum(t.revenue for t in theirs)
    converted = reached[-1] if reached else 0
    return Group(
        name=name, entered=reached[0] if reached else 0, reached=tuple(reached),
        converted=converted, leads=leads, revenue=revenue, clicks=clicks, cost=cost,
        cost_per_lead=_per(cost, leads), cost_per_acquisition=_per(cost, converted),
        earnings_per_click=_per(revenue, clicks) if cost is not None else None,
        roi=(revenue - cost) / cost if cost else None,
    )  # fmt: skip


def _per(amount: int | None, count: int | None) -> int | None:
    if amount is None or not count:
        return None
    return int((Decimal(amount) / count).to_integral_value())
