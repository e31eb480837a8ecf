"""An experiment's results, read from per-person progress and the exposures, never from the
event log: one grouped query per experiment, whatever the number of people.

Each variant is counted on its own ladder (the version its people walk): every rung reached
(the report's window semantics: Progress), the macro conversion, revenue per exposed person
(paid minus refunded, Progress.revenue), time to convert; guardrails per exposed person; the
breakdown by first-touch source. `stats.analyse` turns the counts into the decision.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from statistics import median

from django.db import connection
from django.utils import timezone

from yesladder.analytics.models import Progress
from yesladder.events import EventName
from yesladder.experiments import guardrails, stats
from yesladder.experiments.assignment import Live, live
from yesladder.experiments.models import Experiment, Exposure
from yesladder.funnels.models import Funnel
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

    @property
    def converted(self) -> int:
        return self.reached[self.macro_rung] if self.ladder else 0

    @property
    def rate(self) -> float:
        return self.converted / self.exposed if self.exposed else 0.0


@dataclass
class Results:
    funnel: str
    experiment: Experiment
    name: str
    currency: str
    variants: list[Variant]  # control first
    analysis: stats.Analysis
    revenue: tuple[stats.Comparison, ...]
    rungs: dict[str, tuple[stats.Comparison, ...]]  # step key (in every ladder) -> comparisons
    guardrails: tuple[str, ...]

    @property
    def sentence(self) -> str:
        return stats.sentence(self.analysis.decision)


def find(funnel_key: str, key: str, number: int | None = None) -> tuple[Funnel, Live]:
    funnel = Funnel.objects.filter(key=funnel_key).first()
    if funnel is None:
        raise ResultsError(f"no funnel called {funnel_key!r}")
    versions = funnel.versions.filter(variant="").order_by("-number")
    if number is not None:
        versions = versions.filter(number=number)
    for version in versions:
        found = next((x for x in live(version) if x.spec.key == key), None)
        if found:
            return funnel, found
    raise ResultsError(f"funnel {funnel_key!r} has no experiment {key!r}")


def results(funnel_key: str, key: str, people_per_day: float | None = None) -> Results:
    funnel, current = find(funnel_key, key)
    spec = current.spec
    order = [spec.control] + [v.key for v in spec.variants if v.key != spec.control]
    variants = {k: _variant(current, k) for k in order}
    _count(current, variants)
    _harm(current, variants)
    listed = [variants[k] for k in order]
    primary = [stats.Totals.rate(v.exposed, v.converted) for v in listed]
    harm = {name: [stats.Totals.rate(v.exposed, min(v.harmed.get(name, 0), v.exposed))
                   for v in listed] for name in spec.guardrails}  # fmt: skip
    planned, daily = _plan(spec, len(listed), people_per_day, current)
    analysis = stats.analyse(
        order, [variants[k].weight for k in order], primary, harm,
        primary_name="conversion", planned=planned, people_per_day=daily,
    )  # fmt: skip
    revenue = stats.compare_metric(
        order, [stats.Totals.per_person(v.exposed, v.revenue, v.revenue_squares) for v in listed]
    )
    return Results(
        funnel.key, current.row, spec.name, current.versions[spec.control].spec.currency,
        listed, analysis, revenue, _rungs(listed), tuple(spec.guardrails),
    )  # fmt: skip


def _variant(current: Live, key: str) -> Variant:
    ladder = current.versions[key].spec.ladder()
    macro = next((i for i, s in enumerate(ladder) if s.macro), len(ladder) - 1)
    weight = current.spec.variant(key).weight
    pairs = [(s.key, s.title) for s in ladder]
    return Variant(key, weight, current.versions[key].pk, pairs, macro)


def _count(current: Live, variants: dict[str, Variant]) -> None:
    """One grouped query: the counted exposures joined to their progress on their ladder."""
    quote = connection.ops.quote_name
    x, p = quote(Exposure._meta.db_table), quote(Progress._meta.db_table)
    # Table names from the models; every value is a parameter.
    sql = (
        f"SELECT x.variant, COALESCE(p.source, ''), COALESCE(p.level, 0), COUNT(*), "  # noqa: S608
        f"COALESCE(SUM(p.revenue), 0), COALESCE(SUM(p.revenue * p.revenue), 0) "
        f"FROM {x} x LEFT JOIN {p} p ON p.version_id = x.version_id AND p.person = x.person "
        f"WHERE x.experiment_id = %s AND x.counted "
        f"GROUP BY x.variant, COALESCE(p.source, ''), COALESCE(p.level, 0)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [current.row.pk])
        rows = cursor.fetchall()
    for key, source, level, people, revenue, squares in rows:
        v = variants.get(key)
        if v is None:  # a variant removed from the spec cannot be: specs are versions
            continue
        v.exposed += people
        v.levels[level] += people
        v.revenue += int(revenue)
        v.revenue_squares += int(squares)
        mine = v.sources.setdefault(source or "(direct)", [0, 0])
        mine[0] += people
        mine[1] += people if level > v.macro_rung else 0
    for v in variants.values():
        v.days_to_convert = _days_to_convert(current, v)


def _days_to_convert(current: Live, v: Variant) -> float | None:
    """The median days from the first rung to the macro step, over those who converted."""
    people = Exposure.objects.filter(experiment=current.row, counted=True, variant=v.key).values(
        "person"
    )
    gaps = Progress.objects.filter(
        version_id=v.version_id, level__gt=v.macro_rung, person__in=people
    ).values_list("gaps", flat=True)
    days = [sum(g[: v.macro_rung]) / 86400 for g in gaps.iterator() if g]
    return median(days) if days else None


def _harm(current: Live, variants: dict[str, Variant]) -> None:
    """Per variant, exposed people who came to each guardrail's harm."""
    exposures = Exposure.objects.filter(experiment=current.row, counted=True)
    leads = defaultdict(set)
    for variant, lead in exposures.filter(lead__isnull=False).values_list("variant", "lead_id"):
        leads[variant].add(lead)
    versions = [v.version_id for v in variants.values()]
    refunded = Event.objects.filter(name=EventName.REFUNDED, funnel_version_id__in=versions)
    refunded_people = defaultdict(set)
    for version_id, lead, visitor in refunded.values_list("funnel_version_id", "lead_id",
                                                          "visitor_id"):  # fmt: skip
        refunded_people[version_id].add(f"l{lead}" if lead else f"v{visitor.hex}")
    for v in variants.values():
        v.harmed["refunds"] = len(refunded_people[v.version_id])
        for name in ("unsubscribes", "bounces", "complaints"):
            found = guardrails.harmed(name, leads[v.key])
            v.harmed[name] = len(found) if found is not None else 0


def _plan(spec, count: int, people_per_day: float | None, current: Live):
    daily = people_per_day or (spec.plan.daily if spec.plan and spec.plan.daily else None)
    if daily is None:
        first = Exposure.objects.filter(experiment=current.row).order_by("exposed_at").first()
        if first is not None:
            days = max((timezone.now() - first.exposed_at).total_seconds() / 86400, 1.0)
            daily = Exposure.objects.filter(experiment=current.row, counted=True).count() / days
    if spec.plan is None or not daily:
        return None, daily
    share = spec.traffic / 100
    planned = stats.plan(spec.plan.baseline / 100, spec.plan.uplift / 100, daily, count,
                         share=share)  # fmt: skip
    return planned, daily * share


def _rungs(listed: list[Variant]) -> dict[str, tuple[stats.Comparison, ...]]:
    """Per step every variant's ladder has: reached it, per exposed person, against control."""
    common = [k for k, _ in listed[0].ladder if all(k in dict(v.ladder) for v in listed)]
    found = {}
    for key in common:
        totals = []
        for v in listed:
            at = [k for k, _ in v.ladder].index(key)
            totals.append(stats.Totals.rate(v.exposed, v.reached[at]))
        found[key] = stats.compare_metric([v.key for v in listed], totals, min_count=0)
    return found
