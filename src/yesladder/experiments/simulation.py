"""Peeking, simulated: how often each way of reading an experiment every day calls a difference.

The figures in docs/experiments.md come from here (bench/experiments.py prints them; a small run
is a test). Each simulated experiment gets a day's people split at random between the variants,
each converting at its true rate, and is read at the end of every day three ways:

- the sequential test the decisions use (always-valid p-values, Holm across variants);
- a fixed-horizon z-test read daily as if each look were the only one (Bonferroni across
  variants), the mistake the sequential test exists to allow;
- the Bayesian chance to beat control read daily against 95 % / 5 %, GrowthBook's default
  thresholds: a good summary, not a stopping rule.

Seeded: the same arguments give the same figures on any machine.
"""

import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from yesladder.analytics.verdicts import wilson
from yesladder.experiments.stats import (
    ALPHA,
    MIN_CONVERSIONS,
    STANDARD,
    TUNING,
    Comparison,
    Totals,
    compare_metric,
)


@dataclass(frozen=True)
class Scenario:
    rates: tuple[float, ...]  # the true conversion rate of each variant, control first
    people_per_day: int
    days: int
    alpha: float = ALPHA
    min_count: float = MIN_CONVERSIONS  # every reading waits for it, as the decisions do


@dataclass(frozen=True)
class Run:
    """The first day (from 1) each reading of one experiment called a difference, or None."""

    sequential: int | None
    sequential_right: bool  # every call it made that day has the true sign (none can in an A/A)
    fixed_daily: int | None
    fixed_once: bool  # the fixed-horizon test read once, on the last day, called a difference
    chance_daily: int | None


def _daily_totals(scenario: Scenario, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """People and conversions per variant, cumulated to the end of each day."""
    k = len(scenario.rates)
    people = rng.multinomial(scenario.people_per_day, [1 / k] * k, size=scenario.days)
    converted = rng.binomial(people, scenario.rates)
    return people.cumsum(axis=0), converted.cumsum(axis=0)


def _calls(scenario: Scenario, comparisons: tuple[Comparison, ...]) -> tuple[bool, bool, bool]:
    """At one look: whether the sequential test, the fixed test and the chance to beat control
    call a difference for any variant."""
    alpha, k = scenario.alpha, len(scenario.rates)
    z_fixed = STANDARD.inv_cdf(1 - alpha / (2 * (k - 1)))
    estimable = [c for c in comparisons if c.uplift is not None and c.enough]
    sequential = any(c.settled(alpha) for c in comparisons)
    fixed = any(abs(c.uplift.mean / c.uplift.sd) >= z_fixed for c in estimable)
    chance = any(not alpha < c.bayesian.chance_to_beat_control < 1 - alpha for c in estimable)
    return sequential, fixed, chance


def _right(scenario: Scenario, comparisons: tuple[Comparison, ...]) -> bool:
    """Every variant the sequential test settled has the sign of its true difference."""
    truths = [np.sign(rate - scenario.rates[0]) for rate in scenario.rates[1:]]
    calls = [(c.settled(scenario.alpha), t) for c, t in zip(comparisons, truths, strict=True)]
    return all(call == truth for call, truth in calls if call)


def run(scenario: Scenario, rng: np.random.Generator) -> Run:
    """One experiment, read at the end of every day until the last."""
    people, converted = _daily_totals(scenario, rng)
    keys = [str(i) for i in range(len(scenario.rates))]
    first = {"sequential": None, "fixed": None, "chance": None}
    right = fixed_once = False
    for day in range(scenario.days):
        pairs = zip(people[day], converted[day], strict=True)
        totals = [Totals.rate(int(n), int(c)) for n, c in pairs]
        comparisons = compare_metric(
            keys, totals, alpha=scenario.alpha, min_count=scenario.min_count
        )
        sequential, fixed, chance = _calls(scenario, comparisons)
        if sequential and first["sequential"] is None:
            first["sequential"] = day + 1
            right = _right(scenario, comparisons)
        if fixed and first["fixed"] is None:
            first["fixed"] = day + 1
        if chance and first["chance"] is None:
            first["chance"] = day + 1
        fixed_once = fixed
    return Run(first["sequential"], right, first["fixed"], fixed_once, first["chance"])


def simulate(scenario: Scenario, experiments: int, seed: int) -> list[Run]:
    rng = np.random.default_rng(seed)
    return [run(scenario, rng) for _ in range(experiments)]


def share(count: int, of: int) -> str:
    """A share with its 95 % Wilson interval, as the tables in docs/experiments.md print it."""
    low, high = wilson(count, of)
    return f"{count / of:.1%} | {low:.1%}–{high:.1%}"


def median_day(days: list[int | None], horizon: int) -> str:
    """The median day of a decision over all runs, a run without one counting as never."""
    middle = statistics.median_low([math.inf if d is None else d for d in days])
    return f"> {horizon}" if middle == math.inf else str(middle)


# --- vectorised: thousands of experiments read daily in one pass of numpy ----------------------


def sequential_rates(n_c, c_c, n_v, c_v, *, alpha: float = ALPHA, tuning: float = TUNING):
    """stats.uplift and stats.sequential on arrays of two-arm rate counts: the relative uplift
    and the always-valid p-value of each (NaN uplift and p = 1 where nothing is estimable),
    element by element the same figures as the pure module (tested)."""
    n_c, c_c, n_v, c_v = (np.asarray(x, dtype=float) for x in (n_c, c_c, n_v, c_v))
    with np.errstate(divide="ignore", invalid="ignore"):
        c, v = c_c / n_c, c_v / n_v
        var_c, var_v = c * (1 - c), v * (1 - v)
        estimable = (n_c > 0) & (n_v > 0) & (var_c > 0) & (var_v > 0)
        return sequential_means(c, var_c / n_c, v, var_v / n_v, n_c + n_v, estimable,
                                alpha=alpha, tuning=tuning)  # fmt: skip


def sequential_means(c, spread_c, v, spread_v, people, estimable, *, alpha: float = ALPHA,
                     tuning: float = TUNING):  # fmt: skip
    """The same from each arm's mean and its variance (of the mean): what a bandit's weighted
    estimates give."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        estimable = estimable & (c > 0)
        variance = spread_v / c**2 + spread_c * v**2 / c**4
        mean = np.where(estimable, (v - c) / c, np.nan)
        r2 = (-2 * np.log(alpha) + np.log(-2 * np.log(alpha) + 1)) / tuning
        spread = people * r2 + 1
        log_evidence = r2 * mean**2 * people / variance / (2 * spread) - 0.5 * np.log(spread)
        p = np.where(estimable, np.exp(-np.maximum(log_evidence, 0)), 1.0)
    return mean, p


@dataclass(frozen=True)
class Daily:
    """Two arms read at the end of every day: how often and how soon the decision came."""

    called: np.ndarray  # per experiment: the first day (from 1) a difference settled, 0: never
    right: np.ndarray  # per experiment: that first call had the true sign


def daily_looks(rates: tuple[float, float], people_per_day: int, days: int, experiments: int,
                seed: int, *, min_count: float = MIN_CONVERSIONS, alpha: float = ALPHA,
                weights: np.ndarray | None = None) -> Daily:  # fmt: skip
    """`experiments` two-arm experiments of `days` days, each day's people split at random by
    the day's weights (equal, or `weights`: days x 2, a bandit's), read daily as the decisions
    read them: settled when both arms have `min_count` conversions and p <= alpha."""
    rng = np.random.default_rng(seed)
    share = np.full((days, 2), 0.5) if weights is None else np.asarray(weights, dtype=float)
    control = rng.binomial(people_per_day, share[:, 0], size=(experiments, days))
    exposed = np.stack([control, people_per_day - control], axis=-1)
    converted = rng.binomial(exposed, np.asarray(rates))
    n, c = exposed.cumsum(axis=1), converted.cumsum(axis=1)
    mean, p = sequential_rates(n[..., 0], c[..., 0], n[..., 1], c[..., 1], alpha=alpha)
    settled = (p <= alpha) & (c.min(axis=-1) >= min_count)
    first = np.where(settled.any(axis=1), settled.argmax(axis=1) + 1, 0)
    sign = np.sign(mean[np.arange(experiments), np.maximum(first - 1, 0)])
    truth = np.sign(rates[1] - rates[0])
    return Daily(first, (first > 0) & (sign == truth))


@dataclass(frozen=True)
class BanditRun(Daily):
    weights: np.ndarray  # experiments x days: the variant's share each day


def bandit_looks(rates: tuple[float, float], people_per_day: int, days: int, experiments: int,
                 seed: int, *, floor: float = 0.05, min_count: float = MIN_CONVERSIONS,
                 alpha: float = ALPHA) -> BanditRun:  # fmt: skip
    """`experiments` two-arm bandits updated daily: each day's people split by the weights the
    days so far give (chance to be best on the period-weighted estimates, each arm keeping
    `floor`), read at the end of the day as the decisions read a bandit."""
    rng = np.random.default_rng(seed)
    shape = (experiments, days)
    people, converted = np.zeros(shape + (2,)), np.zeros(shape + (2,))
    weight = np.full(experiments, 0.5)
    weights, first = np.zeros(shape), np.zeros(experiments, dtype=int)
    right = np.zeros(experiments, dtype=bool)
    for day in range(days):
        weights[:, day] = weight
        variant = rng.binomial(people_per_day, weight)
        people[:, day] = np.stack([people_per_day - variant, variant], axis=-1)
        converted[:, day] = rng.binomial(people[:, day].astype(int), rates)
        means, spreads = weighted_means(people[:, : day + 1], converted[:, : day + 1])
        estimable = np.all((spreads > 0) & np.isfinite(spreads), axis=-1)
        mean, p = sequential_means(means[:, 0], spreads[:, 0], means[:, 1], spreads[:, 1],
                                   people[:, : day + 1].sum(axis=(1, 2)), estimable,
                                   alpha=alpha)  # fmt: skip
        enough = converted[:, : day + 1].sum(axis=1).min(axis=-1) >= min_count
        new = (first == 0) & (p <= alpha) & enough
        first[new] = day + 1
        right[new] = np.sign(mean[new]) == np.sign(rates[1] - rates[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (means[:, 1] - means[:, 0]) / np.sqrt(spreads.sum(axis=-1))
        best = np.where(estimable, 0.5 * (1 + erf(z / np.sqrt(2))), weight)
        weight = np.where(estimable, floor + (1 - 2 * floor) * best, weight)
    return BanditRun(first, right, weights)


def weighted_means(people: np.ndarray, converted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """stats.Totals.weighted on arrays: per experiment and arm, the mean over the periods
    (axis 1) each weighted by its share of everyone, and the variance of that mean."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(people > 0, converted / people, 0.0)
        share = people.sum(axis=-1, keepdims=True) / people.sum(axis=(1, 2))[:, None, None]
        share = np.where(people > 0, share, 0.0)
        share = share / share.sum(axis=1, keepdims=True)
        spread = np.where(people > 0, rate * (1 - rate) / people, 0.0)
        return (share * rate).sum(axis=1), (share**2 * spread).sum(axis=1)
