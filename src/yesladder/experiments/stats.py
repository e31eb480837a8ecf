"""Experiment statistics: pure functions of sufficient statistics (docs/experiments.md).

Each variant is given as the people exposed, the metric's sum and its sum of squares (for a rate
the sum is the conversions), so results are computed from rollups, never from events, and cost
the same for a hundred people as for a million. The methods are GrowthBook's (gbstats 0.8 with
its defaults), so every figure can be checked against an independent implementation:

- Bayesian: the relative uplift as a normal posterior (delta method, flat prior), which gives the
  chance to beat control, the expected loss and a credible interval;
- sequential: confidence sequences (Waudby-Smith et al. 2023, the normal-mixture mSPRT) whose
  p-values stay valid however often people look; decisions are taken on those p-values only,
  Holm-adjusted across variants;
- sample-ratio mismatch: chi-square goodness of fit of the exposures against the weights.

No Django here: the experiments app feeds these functions and renders what they return.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from statistics import NormalDist

from scipy.optimize import brentq
from scipy.stats import chi2

ALPHA = 0.05
SRM_THRESHOLD = 0.001
# The sample size (both arms) at which a confidence sequence is tightest; GrowthBook's default.
# It must be fixed before the experiment starts: choosing it from the data breaks the guarantee.
TUNING = 5000
# No comparison settles before each arm has this many conversions (people, for a value per
# person): the intervals are normal approximations, too narrow with a handful of conversions.
# Simulated A/A tests at a 2 % rate read daily from the first day called a difference 4.7 % of
# the time (95 % interval up to 6.2 %) at alpha 5 %, 1.3 % with this floor (bench/experiments.py).
# GrowthBook's default minimum sample size.
MIN_CONVERSIONS = 150
# The standard normal, from the standard library: as exact as scipy's, and a tenth of the cost
# per call, which the peeking simulations (thousands of looks) feel.
STANDARD = NormalDist()


@dataclass(frozen=True)
class Totals:
    """One metric in one variant: people exposed, the metric's sum and its sum of squares."""

    n: int
    sum: float
    sum_squares: float
    binary: bool = False  # a rate: each person counts 0 or 1, so the variance is p(1 - p)
    # (mean, per-person variance) of an estimate weighted over a bandit's periods; the counts
    # above stay the arm's own (the minimum reads them)
    pooled: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n: people exposed cannot be negative ({self.n})")
        if self.binary and not 0 <= self.sum <= self.n:
            raise ValueError(f"sum: conversions must be between 0 and n ({self.sum} of {self.n})")

    @classmethod
    def rate(cls, exposed: int, converted: int) -> "Totals":
        return cls(exposed, converted, converted, binary=True)

    @classmethod
    def per_person(cls, exposed: int, total: float, total_squares: float) -> "Totals":
        """A value per exposed person (revenue in minor units, say): its sum and sum of squares."""
        return cls(exposed, total, total_squares)

    @classmethod
    def weighted(cls, periods: Sequence["Totals"], people: Sequence[int]) -> "Totals":
        """One arm over a bandit's periods, each period's mean weighted by its share of all
        the people of that period (every arm), as GrowthBook's bandits weigh them: the
        allocation changed between periods, and a plain sum would let a period where an arm
        got more people (and a different mix of them) pull its mean. The estimate's variance
        is the sum of each period's, times its weight squared."""
        kept = [(t, n) for t, n in zip(periods, people, strict=True) if t.n and n]
        everyone = sum(n for _, n in kept)
        n = sum(t.n for t, _ in kept)
        total = sum(t.sum for t, _ in kept)
        if not everyone or not n:
            return cls(n, total, sum(t.sum_squares for t, _ in kept), periods[0].binary)
        mean = sum(n_p / everyone * t.mean for t, n_p in kept)
        variance_of_mean = sum((n_p / everyone) ** 2 * t.variance / t.n for t, n_p in kept)
        squares = sum(t.sum_squares for t, _ in kept)
        return cls(n, total, squares, periods[0].binary, (mean, variance_of_mean * n))

    @property
    def mean(self) -> float:
        if self.pooled is not None:
            return self.pooled[0]
        return self.sum / self.n if self.n else 0.0

    @property
    def count(self) -> float:
        """What the minimum before a decision counts: conversions for a rate, else people."""
        return self.sum if self.binary else self.n

    @property
    def variance(self) -> float:
        """Per person; p(1 - p) for a rate, without n - 1 correction, exactly as gbstats."""
        if self.pooled is not None:
            return self.pooled[1]
        if self.binary:
            return self.mean * (1 - self.mean)
        if self.n <= 1:
            return 0.0
        return (self.sum_squares - self.sum**2 / self.n) / (self.n - 1)


@dataclass(frozen=True)
class Uplift:
    """The relative uplift (variant - control) / control as a normal: its mean and deviation."""

    mean: float
    sd: float
    people: int  # in both arms: the clock of the sequential test


def uplift(control: Totals, variant: Totals) -> Uplift | None:
    """The delta-method estimate of the relative uplift, or None when there is nothing to compare
    yet (an empty arm, a control at zero, an arm without variance): no number beats a made-up one.
    """
    if min(control.n, variant.n) == 0 or control.mean == 0:
        return None
    if min(control.variance, variant.variance) <= 0:
        return None
    c, v = control.mean, variant.mean
    variance = variant.variance / (c**2 * variant.n) + control.variance * v**2 / (c**4 * control.n)
    return Uplift((v - c) / c, math.sqrt(variance), control.n + variant.n)


@dataclass(frozen=True)
class Bayesian:
    """What the posterior of the relative uplift says, oriented so that higher is better."""

    chance_to_beat_control: float
    expected_loss: float  # what choosing the variant loses on average, relative to control
    control_loss: float  # the same for keeping control
    uplift: float
    uplift_interval: tuple[float, float]  # credible interval at 1 - alpha


def bayesian(u: Uplift, *, lower_is_better: bool = False, alpha: float = ALPHA) -> Bayesian:
    """Chance to beat control, expected losses and the credible interval under a flat prior.

    Expected losses are E[max(-x, 0)] and E[max(x, 0)] of the normal posterior, in closed form
    (the means of its two truncated halves, as gbstats computes them with scipy's truncnorm).
    For a metric where lower is better (refunds), the roles of the two losses swap.
    """
    z = u.mean / u.sd
    loss_if_down = u.sd * STANDARD.pdf(z) - u.mean * STANDARD.cdf(-z)
    loss_if_up = loss_if_down + u.mean
    chance_up = STANDARD.cdf(z)
    half = STANDARD.inv_cdf(1 - alpha / 2) * u.sd
    if lower_is_better:
        chance_up, loss_if_down, loss_if_up = 1 - chance_up, loss_if_up, loss_if_down
    return Bayesian(chance_up, loss_if_down, loss_if_up, u.mean, (u.mean - half, u.mean + half))


@dataclass(frozen=True)
class Sequential:
    """An always-valid p-value and the confidence sequence for the relative uplift at that look."""

    p_value: float
    interval: tuple[float, float]


def _rho_squared(alpha: float, tuning: float) -> float:
    """The mixture's spread that makes the sequence tightest at `tuning` people (eq. 161)."""
    return (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning


def _half_width(people: int, sd: float, alpha: float, tuning: float) -> float:
    """Half the width of the confidence sequence after `people` (eq. 9 of Waudby-Smith et al.)."""
    r2 = _rho_squared(alpha, tuning)
    spread = people * r2 + 1
    return (
        sd
        * math.sqrt(people)
        * math.sqrt(2 * spread * math.log(math.sqrt(spread) / alpha) / (people**2 * r2))
    )


def sequential(u: Uplift, *, alpha: float = ALPHA, tuning: float = TUNING) -> Sequential:
    """The mixture likelihood ratio against "no uplift" (eq. 155), its inverse a p-value that
    holds at every look: the chance it ever drops below alpha under no uplift is at most alpha.
    p <= alpha exactly when the interval excludes zero. Computed in logs: no overflow.
    """
    r2 = _rho_squared(alpha, tuning)
    spread = u.people * r2 + 1
    statistic = u.mean**2 * u.people / u.sd**2
    log_evidence = r2 * statistic / (2 * spread) - 0.5 * math.log(spread)
    p_value = math.exp(-log_evidence) if log_evidence > 0 else 1.0
    half = _half_width(u.people, u.sd, alpha, tuning)
    return Sequential(p_value, (u.mean - half, u.mean + half))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values: the family-wise error stays at alpha across the comparisons.

    Holm only needs each p-value to be valid, not independence; and because it is monotone in
    the p-values, rejecting on the current always-valid p-values at any look rejects no more than
    Holm on their all-time minima would, which are valid p-values: the guarantee holds under
    peeking too.
    """
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Comparison:
    """One variant against control on one metric; the parts are None when not estimable yet."""

    variant: str
    lower_is_better: bool
    uplift: Uplift | None
    bayesian: Bayesian | None
    sequential: Sequential | None
    enough: bool = False  # both arms reached the minimum count a decision needs
    p_value_adjusted: float = 1.0  # Holm across the variants on this metric

    def settled(self, alpha: float = ALPHA) -> int:
        """+1 significantly better than control, -1 significantly worse, 0 not settled."""
        if self.uplift is None or not self.enough or self.p_value_adjusted > alpha:
            return 0
        up = 1 if self.uplift.mean > 0 else -1
        return -up if self.lower_is_better else up


def compare_metric(
    variants: Sequence[str],
    totals: Sequence[Totals],
    *,
    lower_is_better: bool = False,
    alpha: float = ALPHA,
    tuning: float = TUNING,
    min_count: float = MIN_CONVERSIONS,
) -> tuple[Comparison, ...]:
    """Every variant against control (the first) on one metric, Holm-adjusted across variants.

    The family is every variant, estimable or not (p = 1 until it is): it does not grow the day
    a variant becomes estimable. One below the minimum count keeps its p-value in the family but
    cannot settle (which can only make Holm reject less, never more).
    """
    if len(variants) != len(totals) or len(variants) < 2:
        raise ValueError("totals: one per variant, control first, at least two variants")
    found = []
    for key, variant in zip(variants[1:], totals[1:], strict=True):
        u = uplift(totals[0], variant)
        b = bayesian(u, lower_is_better=lower_is_better, alpha=alpha) if u else None
        s = sequential(u, alpha=alpha, tuning=tuning) if u else None
        enough = min(totals[0].count, variant.count) >= min_count
        found.append(Comparison(key, lower_is_better, u, b, s, enough))
    adjusted = holm([_p_value(c) for c in found])
    return tuple(replace(c, p_value_adjusted=p) for c, p in zip(found, adjusted, strict=True))


def _p_value(c: Comparison) -> float:
    return c.sequential.p_value if c.sequential else 1.0


def compare_secondary(
    variants: Sequence[str],
    metrics: Mapping[str, Sequence[Totals]],
    *,
    alpha: float = ALPHA,
    tuning: float = TUNING,
    min_count: float = MIN_CONVERSIONS,
) -> dict[str, tuple[Comparison, ...]]:
    """Every variant against control on each secondary metric, each with its own statistics,
    Holm-adjusted across the whole family (every metric, every variant): looking at five
    secondary metrics is five more chances of a false call, and Holm keeps them all at alpha.
    """
    options = {"alpha": alpha, "tuning": tuning, "min_count": min_count}
    found = {name: compare_metric(variants, totals, **options) for name, totals in metrics.items()}
    family = [(name, i) for name, comparisons in found.items() for i in range(len(comparisons))]
    adjusted = holm([_p_value(found[name][i]) for name, i in family])
    for (name, i), p in zip(family, adjusted, strict=True):
        row = list(found[name])
        row[i] = replace(row[i], p_value_adjusted=p)
        found[name] = tuple(row)
    return found


@dataclass(frozen=True)
class Srm:
    """Sample-ratio mismatch: did the variants get the people their weights say?"""

    p_value: float
    flagged: bool
    expected: tuple[float, ...]


def srm(
    exposed: Sequence[int], weights: Sequence[float], *, threshold: float = SRM_THRESHOLD
) -> Srm:
    """Chi-square goodness of fit of the exposures against the weights (k - 1 degrees of freedom).

    A mismatch means people went missing or were counted twice somewhere (a redirect that loses
    one variant's visitors, bots on one side): then every other figure is biased, so it is shown
    before any result. The threshold is strict (0.001) because the check runs at every look.
    """
    if len(exposed) != len(weights) or len(exposed) < 2:
        raise ValueError("weights: one per variant, at least two variants")
    if min(weights) <= 0:
        raise ValueError("weights: every variant needs a positive weight")
    total = sum(exposed)
    expected = tuple(w / sum(weights) * total for w in weights)
    if total == 0:
        return Srm(1.0, False, expected)
    statistic = sum((o - e) ** 2 / e for o, e in zip(exposed, expected, strict=True))
    p_value = float(chi2.sf(statistic, len(exposed) - 1))
    return Srm(p_value, p_value < threshold, expected)


@dataclass(frozen=True)
class Plan:
    """How many people an experiment needs to find the smallest uplift worth finding."""

    people_per_variant: int  # for the sequential test the decisions are taken with
    total_people: int
    days: int
    fixed_horizon_people_per_variant: int  # for a test looked at only once: the price of peeking


def _unit_variance(baseline_rate: float, min_uplift: float) -> float:
    """The relative uplift's variance times the people per arm (delta method, as `uplift`)."""
    p1, p2 = baseline_rate, baseline_rate * (1 + min_uplift)
    return p2 * (1 - p2) / p1**2 + p1 * (1 - p1) * p2**2 / p1**4


def plan(
    baseline_rate: float,
    min_uplift: float,
    people_per_day: float,
    variants: int = 2,
    *,
    alpha: float = ALPHA,
    power: float = 0.8,
    share: float = 1.0,
    tuning: float = TUNING,
) -> Plan:
    """People per variant, in all, and days at `people_per_day` with `share` of them in the test.

    Sized for the test the decisions use: the smallest n per variant at which an uplift of
    `min_uplift` would put the estimate above the confidence sequence's half-width with
    probability `power` at that look (a lower bound: it may cross earlier). Alpha is split over
    the comparisons with control (Bonferroni, which is Holm's first step).
    """
    _check_plan(baseline_rate, min_uplift, people_per_day, variants, alpha, power, share)
    a = alpha / (variants - 1)
    v = _unit_variance(baseline_rate, min_uplift)
    z_power = STANDARD.inv_cdf(power)

    def shortfall(n: float) -> float:
        sd = math.sqrt(v / n)
        return _half_width(2 * n, sd, a, tuning) + z_power * sd - min_uplift

    high = 1000.0
    while shortfall(high) > 0:
        high *= 2
    per_variant = math.ceil(brentq(shortfall, 2.0, high))
    fixed = math.ceil((STANDARD.inv_cdf(1 - a / 2) + z_power) ** 2 * v / min_uplift**2)
    total = per_variant * variants
    return Plan(per_variant, total, math.ceil(total / (people_per_day * share)), fixed)


def _check_plan(baseline_rate, min_uplift, people_per_day, variants, alpha, power, share) -> None:
    checks = {
        "baseline_rate": (baseline_rate, 0 < baseline_rate < 1),
        "min_uplift": (min_uplift, min_uplift > 0 and baseline_rate * (1 + min_uplift) < 1),
        "people_per_day": (people_per_day, people_per_day > 0),
        "variants": (variants, variants >= 2),
        "alpha": (alpha, 0 < alpha < 1),
        "power": (power, 0 < power < 1),
        "share": (share, 0 < share <= 1),
    }
    for name, (value, ok) in checks.items():
        if not ok:
            raise ValueError(f"{name}: out of range ({value})")


class Verdict(StrEnum):
    """What to do with the experiment now; `decide` says in which order they are considered."""

    KEEP_RUNNING = "keep_running"
    VARIANT_WINS = "variant_wins"
    CONTROL_WINS = "control_wins"  # every variant is significantly worse than control
    STOP_FOR_HARM = "stop_for_harm"  # a variant raises a guardrail (refunds, unsubscribes...)
    CHECK_SPLIT = "check_split"  # sample-ratio mismatch: no result can be trusted
    NO_DIFFERENCE = "no_difference"  # the planned people came and nothing settled


@dataclass(frozen=True)
class Decision:
    """A verdict and what it rests on; `sentence` says it in plain words."""

    verdict: Verdict
    variant: str | None = None  # the winner, or the variant doing harm
    metric: str | None = None  # the metric the verdict rests on
    interval: tuple[float, float] | None = None  # the confidence sequence behind it
    days_left: float | None = None  # at today's traffic, to the planned number of people
    # What a test still below the minimum waits for: each arm's count on the primary metric
    # (control first), the minimum each needs, and the days until the slowest arm has it at
    # today's traffic (None: no arm's pace is known yet).
    waiting: tuple[tuple[str, float], ...] = ()
    min_count: float = MIN_CONVERSIONS
    unit: str = "conversions"  # or "people", for a value per person
    days_to_minimum: float | None = None


@dataclass(frozen=True)
class Analysis:
    """An experiment at one look: the split first, then the comparisons and the decision."""

    variants: tuple[str, ...]  # control first
    srm: Srm
    primary: tuple[Comparison, ...]  # one per variant after control
    guardrails: Mapping[str, tuple[Comparison, ...]]  # by guardrail name, the same way
    decision: Decision
    # by name: each variant against control, Holm-adjusted across every secondary comparison
    secondary: Mapping[str, tuple[Comparison, ...]] = field(default_factory=dict)
    # variants very likely worse than control on the primary metric before the minimum lets
    # anything settle: the page offers to stop them rather than wait for the proof
    likely_worse: tuple[str, ...] = ()


def analyse(
    variants: Sequence[str],
    weights: Sequence[float],
    primary: Sequence[Totals],
    guardrails: Mapping[str, Sequence[Totals]] | None = None,
    *,
    secondary: Mapping[str, Sequence[Totals]] | None = None,
    primary_name: str = "conversion",
    planned: Plan | None = None,
    people_per_day: float | None = None,
    alpha: float = ALPHA,
    tuning: float = TUNING,
    min_count: float = MIN_CONVERSIONS,
) -> Analysis:
    """An experiment at one look: the split check, every variant against control on the primary
    metric and on each guardrail (a metric where an increase is harm), and the decision.

    The primary metric's n are the exposures, the denominator of everything.
    """
    check = srm([t.n for t in primary], weights)
    options = {"alpha": alpha, "tuning": tuning, "min_count": min_count}
    main = compare_metric(variants, primary, **options)
    guards = {
        name: compare_metric(variants, totals, lower_is_better=True, **options)
        for name, totals in (guardrails or {}).items()
    }
    days_left = _days_left(planned, sum(t.n for t in primary), people_per_day)
    decision = decide(check, primary_name, main, guards, days_left, alpha=alpha)
    if decision.verdict is Verdict.KEEP_RUNNING and not all(c.enough for c in main):
        decision = _waiting(decision, variants, weights, primary, people_per_day, min_count)
    return Analysis(
        tuple(variants), check, main, guards, decision,
        compare_secondary(variants, secondary or {}, **options), _likely_worse(main, alpha),
    )  # fmt: skip


# "Very likely worse": the posterior gives the variant under 1 % chance to beat control and
# the always-valid p-value is under alpha, yet the minimum keeps the comparison unsettled.
LIKELY_WORSE = 0.01


def _likely_worse(primary: Sequence[Comparison], alpha: float) -> tuple[str, ...]:
    return tuple(
        c.variant for c in primary
        if c.bayesian is not None and not c.enough and c.p_value_adjusted <= alpha
        and c.bayesian.chance_to_beat_control < LIKELY_WORSE
    )  # fmt: skip


def _waiting(decision: Decision, variants, weights, primary: Sequence[Totals],
             people_per_day: float | None, min_count: float) -> Decision:  # fmt: skip
    """What a test below the minimum waits for: every arm's count, and the days until the
    slowest arm reaches the minimum at today's pace (its people a day times its rate)."""
    counts = tuple((key, t.count) for key, t in zip(variants, primary, strict=True))
    days = []
    for t, weight in zip(primary, weights, strict=True):
        if t.count >= min_count:
            continue
        pace = (people_per_day or 0) * weight / sum(weights) * (t.mean if t.binary else 1)
        days.append((min_count - t.count) / pace if pace > 0 else None)
    slowest = None if None in days or not people_per_day else max(days, default=0.0)
    unit = "conversions" if primary[0].binary else "people"
    return replace(decision, waiting=counts, min_count=min_count, unit=unit,
                   days_to_minimum=slowest)  # fmt: skip


def _days_left(planned: Plan | None, exposed: int, people_per_day: float | None) -> float | None:
    if planned is None or not people_per_day:
        return None
    return max(0.0, (planned.total_people - exposed) / people_per_day)


def decide(
    check: Srm,
    primary_name: str,
    primary: Sequence[Comparison],
    guardrails: Mapping[str, Sequence[Comparison]],
    days_left: float | None,
    *,
    alpha: float = ALPHA,
) -> Decision:
    """The decision the always-valid p-values support, in this order: a broken split voids
    everything; harm on a guardrail stops the test whatever the primary says; then a winner;
    then control, if every variant is worse; then the plan's end; else keep running.

    A winner is a claim against control, not against the other variants: with several winners
    the one with the highest estimate is named. Guardrails are Holm-adjusted across variants
    but not across guardrails: a missed harm costs more than a test stopped early.
    """
    if check.flagged:
        return Decision(Verdict.CHECK_SPLIT)
    for name, comparisons in guardrails.items():
        for c in comparisons:
            if c.settled(alpha) < 0:
                return _decision(Verdict.STOP_FOR_HARM, c, name)
    better = [c for c in primary if c.settled(alpha) > 0]
    if better:
        best = max(better, key=lambda c: c.uplift.mean)
        return _decision(Verdict.VARIANT_WINS, best, primary_name)
    if all(c.settled(alpha) < 0 for c in primary):
        return Decision(Verdict.CONTROL_WINS, metric=primary_name)
    if days_left == 0:
        return Decision(Verdict.NO_DIFFERENCE, metric=primary_name, days_left=0.0)
    return Decision(Verdict.KEEP_RUNNING, metric=primary_name, days_left=days_left)


def _decision(verdict: Verdict, c: Comparison, metric: str) -> Decision:
    return Decision(verdict, c.variant, metric, c.sequential.interval)


def _percent(x: float) -> str:
    return f"{x * 100:+.1f}%"


def sentence(decision: Decision) -> str:
    """The decision in plain words, for the experiments page and `experiment results`."""
    d = decision
    if d.verdict is Verdict.CHECK_SPLIT:
        return (
            "check the split: the variants did not get the share of people their weights say "
            "(sample-ratio mismatch); no result can be trusted until that is explained"
        )
    if d.verdict in (Verdict.STOP_FOR_HARM, Verdict.VARIANT_WINS):
        low, high = d.interval
        change = f"{_percent((low + high) / 2)} against control"
        interval = f"(interval {_percent(low)} to {_percent(high)})"
        if d.verdict is Verdict.STOP_FOR_HARM:
            return f"stop for harm: {d.variant} changes {d.metric} by {change} {interval}"
        return f"{d.variant} wins: {d.metric} {change} {interval}"
    if d.verdict is Verdict.CONTROL_WINS:
        return f"stop: every variant lowers {d.metric}; keep control"
    if d.verdict is Verdict.NO_DIFFERENCE:
        return (
            "stop: the planned number of people came and no variant beats control "
            "by the uplift the plan was sized for; keep control"
        )
    if d.waiting:
        return f"keep running: {_waiting_sentence(d)}"
    if d.days_left is None:
        return "keep running: no variant is settled yet"
    return f"keep running: {_days(d.days_left)} at today's traffic"


def _days(days: float) -> str:
    days = math.ceil(days)
    return f"about {days} more day{'s' if days != 1 else ''}"


def _waiting_sentence(d: Decision) -> str:
    """ "education-first has 26 and assessment-early 7 of the 150 conversions (reached
    strategy-session) each arm needs; about 131 more days at today's traffic"."""
    (first, count), *rest = d.waiting
    others = "".join(f" and {key} {n:g}" for key, n in rest)
    what = f"{d.min_count:g} {d.unit} ({d.metric})"
    said = f"{first} has {count:g}{others} of the {what} each arm needs before anything settles"
    if d.days_to_minimum is None:
        return said
    return f"{said}; {_days(d.days_to_minimum)} at today's traffic"


# --- a bandit: traffic follows the winner -------------------------------------------------------


def chance_to_be_best(arms: Sequence[Totals], *, points: int = 4001) -> list[float] | None:
    """Each arm's posterior chance of having the highest mean (flat prior, normal posteriors
    N(mean, variance / n)), as Thompson sampling allocates: P(arm i is best) =
    ∫ φ_i(x) Π_{j≠i} Φ_j(x) dx, integrated on a grid instead of sampled, so the same counts
    always give the same weights. None while an arm has no one or no variance."""
    if any(t.n == 0 or t.variance <= 0 for t in arms):
        return None
    means = [t.mean for t in arms]
    sds = [math.sqrt(t.variance / t.n) for t in arms]
    low = min(m - 9 * s for m, s in zip(means, sds, strict=True))
    high = max(m + 9 * s for m, s in zip(means, sds, strict=True))
    grid = [low + (high - low) * i / (points - 1) for i in range(points)]
    found = []
    for i, (m, s) in enumerate(zip(means, sds, strict=True)):
        values = []
        for x in grid:
            value = NormalDist(m, s).pdf(x)
            for j, (m_j, s_j) in enumerate(zip(means, sds, strict=True)):
                if j != i:
                    value *= NormalDist(m_j, s_j).cdf(x)
            values.append(value)
        step = (high - low) / (points - 1)
        found.append(step * (sum(values) - (values[0] + values[-1]) / 2))
    total = sum(found)
    return [p / total for p in found]


def bandit_weights(chances: Sequence[float], floor: float) -> list[float]:
    """The next period's weights (fractions adding up to 1): every arm keeps `floor` (a
    fraction, so a losing arm is still measured and an early unlucky streak can recover) and
    the rest is shared by each arm's chance to be best."""
    if not 0 <= floor * len(chances) <= 1:
        raise ValueError(f"floor: {len(chances)} arms cannot each keep {floor:.0%}")
    return [floor + (1 - floor * len(chances)) * p for p in chances]
