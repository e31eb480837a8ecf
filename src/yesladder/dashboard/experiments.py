"""The experiments page of a funnel: what the template shows, computed once per request."""

from dataclasses import dataclass

from django.urls import reverse

from yesladder.analytics.chart import Bar, FunnelChart
from yesladder.dashboard.reports import counted
from yesladder.experiments import emails, preview
from yesladder.experiments.assignment import live
from yesladder.experiments.planning import candidates, uplift_to_find
from yesladder.experiments.results import Judged, Results, results
from yesladder.funnels.models import Funnel


@dataclass(frozen=True)
class RungRow:
    title: str
    reached: int
    share: float  # of the variant's exposed people
    uplift: str  # against control, with its interval; "" for control or a rung it lacks
    preview: str  # a signed link showing the rung's page of this variant, counted nowhere


@dataclass(frozen=True)
class VariantColumn:
    key: str
    control: bool
    exposed: int
    converted: int
    rate: str
    chance: str
    interval: str
    revenue: str
    rungs: tuple[RungRow, ...]
    chart: str  # the address of its ladder drawn as the report's funnel chart (SVG)


@dataclass(frozen=True)
class MetricCell:
    variant: str
    value: str
    chance: str  # "" for control
    uplift: str
    p_value: str


@dataclass(frozen=True)
class MetricRow:
    name: str
    primary: bool  # the decision follows it
    cells: tuple[MetricCell, ...]


@dataclass(frozen=True)
class PlanRow:
    metric: str
    judged: bool  # the metric the test is judged on
    rate: str  # the control's so far
    people: str  # per variant
    days: str


@dataclass(frozen=True)
class ExperimentPage:
    key: str
    name: str
    state: str
    version: int
    split: str  # the split check, said first
    split_broken: bool
    warnings: tuple[str, ...]  # guardrails a variant raises
    decision: str
    variants: tuple[VariantColumn, ...]
    metric: str
    metrics: tuple[MetricRow, ...]
    likely_worse: tuple[str, ...]  # said above the decision, with the stop button
    uplift: float  # percent: what the planner sizes each metric for
    planner: tuple[PlanRow, ...]  # how long each metric would take at today's traffic
    bandit: bool
    periods: tuple[tuple[str, ...], ...]  # a bandit's weights over time: from, each weight


def experiment_pages(funnel: Funnel) -> tuple[list[ExperimentPage], str]:
    """The pages of the funnel's live experiments, and where their numbers come from (see
    reports.counted): exposures and conversions from ClickHouse when it keeps up."""
    current = funnel.current_version()
    if current is None:
        return [], ""
    return counted(lambda store: [_page(results(funnel.key, x.spec.key, store=store))
                                  for x in live(current)])  # fmt: skip


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _interval(c) -> str:
    if c is None or c.bayesian is None:
        return ""
    low, high = c.bayesian.uplift_interval
    return f"{c.bayesian.uplift:+.1%} ({low:+.1%} to {high:+.1%})"


def _checks(r: Judged) -> tuple[str, bool, tuple[str, ...]]:
    """The split check and the guardrails a variant raises, said before any result."""
    srm = r.analysis.srm
    warnings = tuple(
        f"{c.variant} raises {name}: {_interval(c)} against control"
        for name, comparisons in r.analysis.guardrails.items()
        for c in comparisons
        if c.settled() < 0
    )
    split = f"Split check: p = {srm.p_value:.3g}" + (
        " — the variants did not get their share of people" if srm.flagged else " (fine)"
    )
    return split, srm.flagged, warnings


def _page(r: Results) -> ExperimentPage:
    primary = {c.variant: c for c in r.analysis.primary}
    split, broken, warnings = _checks(r)
    return ExperimentPage(
        r.experiment.key, r.name, r.experiment.state, r.experiment.version.number, split,
        broken, warnings, r.sentence,
        tuple(_column(r, v, primary.get(v.key)) for v in r.variants),
        r.metric, tuple(_metric(r, name) for name in r.metrics), tuple(r.likely_worse()),
        uplift_to_find(r), _planner(r), r.spec.bandit is not None, _weights(r),
    )  # fmt: skip


def _weights(r: Results) -> tuple[tuple[str, ...], ...]:
    """A row per period: when it began, then each variant's weight."""
    return tuple((f"{p.started_at:%Y-%m-%d %H:%M}",
                  *(f"{p.weights.get(v.key, 0):.1f}%" for v in r.variants))
                 for p in r.periods)  # fmt: skip


def _planner(r: Results) -> tuple[PlanRow, ...]:
    return tuple(
        PlanRow(c.metric, c.metric == r.metric, _pct(c.baseline) if c.baseline else "–",
                f"{c.people_per_variant:,}" if c.days else "–", str(c.days) if c.days else "–")
        for c in candidates(r, uplift_to_find(r) / 100)
    )  # fmt: skip


def _metric(r: Judged, name: str) -> MetricRow:
    compared = r.comparisons(name)
    cells = []
    for v, totals in zip(r.variants, r.metrics[name], strict=True):
        c = compared.get(v.key)
        b = c.bayesian if c else None
        cells.append(MetricCell(
            v.key, r.shown(name, totals), _pct(b.chance_to_beat_control) if b else "",
            _interval(c), f"{c.p_value_adjusted:.3g}" if c and c.sequential else "",
        ))  # fmt: skip
    return MetricRow(name, name == r.metric, tuple(cells))


def _column(r: Results, v, c) -> VariantColumn:
    rows = []
    token = preview.token(v.version_id)
    for (key, title), reached in zip(v.ladder, v.reached, strict=True):
        compared = {x.variant: x for x in r.rungs.get(key, ())}.get(v.key)
        share = reached / v.exposed if v.exposed else 0.0
        link = reverse("steps:preview", args=[token, key])
        rows.append(RungRow(title, reached, share, _interval(compared), link))
    b = c.bayesian if c else None
    per_person = v.revenue / v.exposed / 100 if v.exposed else 0
    return VariantColumn(
        v.key, v is r.variants[0], v.exposed, v.converted, _pct(v.rate),
        _pct(b.chance_to_beat_control) if b else "", _interval(c),
        f"{per_person:,.2f} {r.currency}", tuple(rows),
        reverse("dashboard:experiment-chart", args=[r.funnel, r.experiment.key, v.key]),
    )  # fmt: skip


def variant_chart(funnel: Funnel, key: str, variant: str) -> FunnelChart:
    """One variant's ladder as the report draws a funnel: its exposed people, then each rung
    reached and the share of the rung before (LookupError: no such experiment or variant)."""
    found, _ = counted(lambda store: results(funnel.key, key, store=store))
    v = next((v for v in found.variants if v.key == variant), None)
    if v is None:
        raise LookupError(f"experiment {key!r} has no variant {variant!r}")
    counts = [v.exposed, *v.reached]
    labels = ["Exposed", *(title for _, title in v.ladder)]
    bars = tuple(
        Bar(label, n, (n / counts[i - 1] if counts[i - 1] else None) if i else None, None, "")
        for i, (label, n) in enumerate(zip(labels, counts, strict=True))
    )
    subtitle = f"{v.exposed} exposed · {v.converted} converted ({_pct(v.rate)})"
    return FunnelChart(f"{found.name}: {v.key}", bars, subtitle)


@dataclass(frozen=True)
class EmailTestPage:
    key: str
    name: str
    metric: str
    split: str
    split_broken: bool
    warnings: tuple[str, ...]
    likely_worse: tuple[str, ...]
    decision: str
    variants: tuple[tuple[str, ...], ...]  # key, weight, subject, then each count at send
    metrics: tuple[MetricRow, ...]


def email_pages(funnel: Funnel) -> list[EmailTestPage]:
    """The funnel's emails under test: counted at send, judged as the ladder experiments."""
    return [_email_page(emails.results(funnel.key, key)) for key in emails.under_test(funnel)]


def _email_page(r: emails.EmailResults) -> EmailTestPage:
    split, broken, warnings = _checks(r)
    counted = ("sent", "opened", "clicked", "next_rung", "unsubscribed")
    rows = tuple((v.key, f"{v.weight:g}%", v.subject, *(str(v.counts[c]) for c in counted))
                 for v in r.variants)  # fmt: skip
    return EmailTestPage(r.email, r.name, r.metric, split, broken, warnings,
                         tuple(r.likely_worse()), r.sentence, rows,
                         tuple(_metric(r, name) for name in r.metrics))  # fmt: skip
