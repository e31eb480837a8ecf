"""An experiment's results, read from the per-variant rollups (experiments.rollup: kept from
per-person progress and the exposures), never from the event log: a few rows per experiment,
whatever the number of people.

Each variant is counted on its own ladder (the version its people walk): every rung reached
(the report's window semantics: Progress), the macro conversion, revenue per exposed person
(paid minus refunded, Progress.revenue), time to convert; guardrails per exposed person; the
breakdown by first-touch source. `stats.analyse` turns the counts into the decision.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from django.db.models import Q
from django.utils import timezone

from yesladder.analytics.rules import person, step_rungs
from yesladder.events import EventName
from yesladder.experiments import bandit, guardrails, stats
from yesladder.experiments.assignment import Live, live
from yesladder.experiments.models import Experiment, Exposure, VariantMove, VariantTally
from yesladder.funnels.models import Funnel
from yesladder.funnels.spec.experiments import Experiment as ExperimentSpec
from yesladder.funnels.spec.experiments import Happened, Metric, Reached, metric_name
from yesladder.tracking.models import Event


class ResultsError(LookupError):
    pass


@dataclass
class Variant:
    key: str
    weight: float
    version_id: int
    ladder: list[tuple[str, str]]  # (step key, title) of the rungs of its own ladder
    macro_rung: int  # index of the macro step in `ladder`
    exposed: int = 0
    levels: Counter = field(default_factory=Counter)
    revenue: int = 0  # minor units
    revenue_squares: int = 0
    harmed: dict[str, int] = field(default_factory=dict)
    sources: dict[str, list[int]] = field(default_factory=dict)  # source -> [exposed, converted]
    days_to_convert: float | None = None

    @property
    def reached(self) -> list[int]:
        return [sum(n for level, n in self.levels.items() if level > i)
                for i in range(len(self.ladder))]  # fmt: skip

    def reached_step(self, key: str) -> int:
        """People who reached this step of the variant's ladder (0 if its ladder lacks it:
        lint YL033 refuses judging a test on such a step)."""
        keys = [k for k, _ in self.ladder]
        return self.reached[keys.index(key)] if key in keys else 0

    @property
    def converted(self) -> int:
        return self.reached[self.macro_rung] if self.ladder else 0

    @property
    def rate(self) -> float:
        return self.converted / self.exposed if self.exposed else 0.0


class Judged:
    """What every test's results share: the analysis on its metrics, said the same way on the
    page and in the CLI (a ladder experiment's Results, an email test's)."""

    analysis: stats.Analysis
    metric: str  # the primary metric's name: the decision follows it
    metrics: dict[str, list[stats.Totals]]  # per variant, control first; the primary first
    currency: str  # of a value per person
    # what the page offers for a variant very likely worse
    remedy = ("stopping the experiment sends new people to the ladder as written (people "
              "already in it stay)")  # fmt: skip

    @property
    def secondary(self) -> tuple[str, ...]:
        return tuple(self.metrics)[1:]

    @property
    def sentence(self) -> str:
        return stats.sentence(self.analysis.decision)

    def comparisons(self, metric: str) -> dict[str, stats.Comparison]:
        """Each variant's comparison with control on one of the experiment's metrics."""
        found = self.analysis.primary if metric == self.metric else self.analysis.secondary[metric]
        return {c.variant: c for c in found}

    def shown(self, metric: str, totals: stats.Totals) -> str:
        """One variant's figure on a metric: people and share for a rate, else per person."""
        if totals.binary:
            share = totals.mean if totals.n else 0.0
            return f"{totals.sum:g} ({share:.1%})"
        return f"{totals.mean / 100:,.2f} {self.currency} per person"

    def likely_worse(self) -> list[str]:
        """What the page says above the decision for each variant very likely worse."""
        return [f"{key} is very likely worse on {self.metric}: {self.remedy}"
                for key in self.analysis.likely_worse]  # fmt: skip


@dataclass
class Results(Judged):
    funnel: str
    experiment: Experiment
    name: str
    currency: str
    variants: list[Variant]  # control first
    analysis: stats.Analysis
    revenue: tuple[stats.Comparison, ...]
    rungs: dict[str, tuple[stats.Comparison, ...]]  # step key (in every ladder) -> comparisons
    guardrails: tuple[str, ...]
    metric: str
    metrics: dict[str, list[stats.Totals]]
    people_per_day: float | None  # today's traffic into the experiment
    min_conversions: int
    periods: list[bandit.Period]  # the weights over time (one period unless a bandit)

    @property
    def spec(self) -> ExperimentSpec:
        """The experiment as its version's spec declares it."""
        return self.experiment.version.spec.experiment(self.experiment.key)


def find(funnel_key: str, key: str, number: int | None = None) -> tuple[Funnel, Live]:
    funnel = Funnel.objects.filter(key=funnel_key).first()
    if funnel is None:
        raise ResultsError(f"no funnel called {funnel_key!r}")
    versions = funnel.versions.current()
    if number is not None:
        versions = versions.filter(number=number)
    for version in versions:
        found = next((x for x in live(version) if x.spec.key == key), None)
        if found:
            return funnel, found
    raise ResultsError(f"funnel {funnel_key!r} has no experiment {key!r}")


class CountingStore(Protocol):
    """An analytical engine that counts an experiment's exposed people itself: the rows of
    `_rollups`, from its own copy of the exposures and events."""

    def variant_counts(self, funnel_id: int, experiment_id: int, macros: dict[int, int]
                       ) -> tuple[list[tuple], list[tuple]]: ...  # fmt: skip


def results(funnel_key: str, key: str, people_per_day: float | None = None,
            store: CountingStore | None = None) -> Results:  # fmt: skip
    """The results and the decision; exposures and conversions counted by `store` (an
    analytical engine: seams.ENGINES) or, by default, the per-variant rollups."""
    funnel, current = find(funnel_key, key)
    spec = current.spec
    order = [spec.control] + [v.key for v in spec.variants if v.key != spec.control]
    variants = {k: _variant(current, k) for k in order}
    if store is None:
        _count(variants, *_rollups(current))
    else:
        macros = {v.version_id: v.macro_rung for v in variants.values()}
        _count(variants, *store.variant_counts(funnel.pk, current.row.pk, macros))
    _harm(current, variants)
    listed = [variants[k] for k in order]
    happened = _happened(current, listed, [m.event for m in spec.metrics()
                                           if isinstance(m, Happened)])  # fmt: skip
    metrics = {metric_name(m): _totals(m, listed, happened) for m in spec.metrics()}
    primary, *secondary = metrics
    harm = {name: [stats.Totals.rate(v.exposed, min(v.harmed.get(name, 0), v.exposed))
                   for v in listed] for name in spec.guardrails}  # fmt: skip
    planned, daily = _plan(spec, listed, people_per_day, current)
    found = bandit.periods(current)
    weights = [variants[k].weight for k in order]
    if spec.bandit:
        metrics[primary], weights = _weighted(current, listed, found)
    analysis = stats.analyse(
        order, weights, metrics[primary], harm,
        secondary={name: metrics[name] for name in secondary}, primary_name=primary,
        planned=planned, people_per_day=daily, min_count=spec.min_conversions,
    )  # fmt: skip
    revenue = stats.compare_metric(order, _totals("revenue", listed, {}))
    return Results(
        funnel.key, current.row, spec.name, current.versions[spec.control].spec.currency,
        listed, analysis, revenue, _rungs(listed), tuple(spec.guardrails), primary, metrics,
        daily, spec.min_conversions, found,
    )  # fmt: skip


def _weighted(current: Live, listed: list[Variant], found: list[bandit.Period]):
    """A bandit's primary metric, each period's people weighted by the period's share, and the
    split each variant should have had by each period's weights."""
    order = [v.key for v in listed]
    steps = bandit.metric_steps(current, {v.key: [k for k, _ in v.ladder] for v in listed},
                                {v.key: v.macro_rung for v in listed})  # fmt: skip
    split = bandit.per_period(current, order, steps, found)
    people = [sum(t.n for t in row) for row in split]
    totals = [stats.Totals.weighted([row[i] for row in split], people) for i in range(len(order))]
    return totals, bandit.expected_split(found, people, order)


def _totals(metric: Metric, listed: list[Variant], happened: dict) -> list[stats.Totals]:
    """One metric per variant, per exposed person: the macro conversion, revenue, a rung of
    the variant's own ladder (the rollups' levels), or people who did an event."""
    if metric == "conversion":
        return [stats.Totals.rate(v.exposed, v.converted) for v in listed]
    if metric == "revenue":
        return [stats.Totals.per_person(v.exposed, v.revenue, v.revenue_squares) for v in listed]
    if isinstance(metric, Reached):
        return [stats.Totals.rate(v.exposed, v.reached_step(metric.reached)) for v in listed]
    return [stats.Totals.rate(v.exposed, min(happened.get((v.key, metric.event), 0), v.exposed))
            for v in listed]  # fmt: skip


def _happened(current: Live, listed: list[Variant], names: list[str]) -> dict[tuple, int]:
    """(variant, event) -> counted exposed people who did the event (a tracked site's own name
    or one of ours) on the variant's ladder. Read from the event log of those people: no
    rollup keeps arbitrary events, and only an experiment judged on one asks."""
    if not names:
        return {}
    exposures = Exposure.objects.filter(experiment=current.row, counted=True)
    who = {}  # every key a counted person's events may carry -> (variant, person)
    for variant, person_key, visitor, lead in exposures.values_list(
        "variant", "person", "visitor_id", "lead_id"
    ):
        for key in {person_key, person(lead, visitor.hex), person(None, visitor.hex)}:
            who[key] = (variant, person_key)
    found = defaultdict(set)
    rows = Event.objects.filter(Q(name__in=names) | Q(label__in=names),
                                funnel_version_id__in=[v.version_id for v in listed])  # fmt: skip
    for name, label, lead, visitor in rows.values_list("name", "label", "lead_id", "visitor_id"):
        seen = who.get(person(lead, visitor.hex)) or who.get(person(None, visitor.hex))
        if seen is not None:
            found[seen[0], label if label in names else name].add(seen[1])
    return {key: len(people) for key, people in found.items()}


def _variant(current: Live, key: str) -> Variant:
    ladder, macro = step_rungs(current.versions[key].spec)
    weight = current.spec.variant(key).weight
    pairs = [(r.key, r.title) for r in ladder]
    return Variant(key, weight, current.versions[key].pk, pairs, macro)


def _rollups(current: Live) -> tuple[list[tuple], list[tuple]]:
    """The per-variant rollups (experiments.rollup): a few rows whatever the people."""
    tallies = VariantTally.objects.filter(experiment=current.row, people__gt=0).values_list(
        "variant", "source", "level", "people", "revenue", "revenue_squares"
    )
    moves = VariantMove.objects.filter(experiment=current.row, people__gt=0)
    return list(tallies), list(moves.values_list("variant", "seconds", "people"))


def _count(variants: dict[str, Variant], tallies: list[tuple], moves: list[tuple]) -> None:
    """Per variant: (variant, source, level, people, revenue, revenue squares) of exposed
    people, and (variant, seconds to convert, people)."""
    for key, source, level, people, revenue, squares in tallies:
        v = variants.get(key)
        if v is None:  # a variant removed from the spec cannot be: specs are versions
            continue
        v.exposed += people
        v.levels[level] += people
        v.revenue += revenue
        v.revenue_squares += squares
        mine = v.sources.setdefault(source or "(direct)", [0, 0])
        mine[0] += people
        mine[1] += people if level > v.macro_rung else 0
    times = defaultdict(list)
    for key, seconds, people in moves:
        times[key].append((seconds, people))
    for key, v in variants.items():
        middle = weighted_median(times[key])
        v.days_to_convert = None if middle is None else middle / 86400


def weighted_median(counts: list[tuple[int, int]]) -> float | None:
    """The median of values each counted `people` times."""
    total = sum(n for _, n in counts)
    if not total:
        return None
    wanted, found, passed = sorted({(total - 1) // 2, total // 2}), [], 0
    for value, n in sorted(counts):
        while wanted and wanted[0] < passed + n:
            found.append(value)
            wanted.pop(0)
        passed += n
    return sum(found) / len(found)


# The guardrails read from the event log: refunds, and trials cancelled (issue 31).
HARM_EVENTS = {EventName.REFUNDED: "refunds", EventName.TRIAL_CANCELLED: "cancellations"}


def _harm(current: Live, variants: dict[str, Variant]) -> None:
    """Per variant, exposed people who came to each guardrail's harm."""
    exposures = Exposure.objects.filter(experiment=current.row, counted=True)
    leads = defaultdict(set)
    for variant, lead in exposures.filter(lead__isnull=False).values_list("variant", "lead_id"):
        leads[variant].add(lead)
    versions = [v.version_id for v in variants.values()]
    people = defaultdict(set)  # (guardrail, version) -> people who came to that harm
    rows = Event.objects.filter(name__in=HARM_EVENTS, funnel_version_id__in=versions)
    for name, version_id, lead, visitor in rows.values_list(
        "name", "funnel_version_id", "lead_id", "visitor_id"
    ):
        people[HARM_EVENTS[name], version_id].add(person(lead, visitor.hex))
    for v in variants.values():
        for guardrail in HARM_EVENTS.values():
            v.harmed[guardrail] = len(people[guardrail, v.version_id])
        for name in ("unsubscribes", "bounces", "complaints"):
            found = guardrails.harmed(name, leads[v.key])
            v.harmed[name] = len(found) if found is not None else 0


def _plan(spec, listed: list[Variant], people_per_day: float | None, current: Live):
    """The plan and the experiment's people a day: the funnel's (given, or the spec's) times
    the experiment's share, or else the exposures' own pace (already the experiment's)."""
    daily = people_per_day or (spec.plan.daily if spec.plan and spec.plan.daily else None)
    share = spec.traffic / 100
    if daily is None:
        first = Exposure.objects.filter(experiment=current.row).order_by("exposed_at").first()
        if first is not None:
            days = max((timezone.now() - first.exposed_at).total_seconds() / 86400, 1.0)
            daily, share = sum(v.exposed for v in listed) / days, 1.0
    if not daily:
        return None, daily
    if spec.plan is None:
        return None, daily * share
    planned = stats.plan(spec.plan.baseline / 100, spec.plan.uplift / 100, daily, len(listed),
                         share=share)  # fmt: skip
    return planned, daily * share


def _rungs(listed: list[Variant]) -> dict[str, tuple[stats.Comparison, ...]]:
    """Per step every variant's ladder has: reached it, per exposed person, against control."""
    found = {}
    for key in common_steps(listed):
        totals = [stats.Totals.rate(v.exposed, v.reached_step(key)) for v in listed]
        found[key] = stats.compare_metric([v.key for v in listed], totals, min_count=0)
    return found


def common_steps(listed: list[Variant]) -> list[str]:
    """The steps every variant's ladder has, in the control's order."""
    return [k for k, _ in listed[0].ladder if all(k in dict(v.ladder) for v in listed)]
