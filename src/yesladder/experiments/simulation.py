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

from dataclasses import dataclass

import numpy as np

from yesladder.experiments.stats import (
    ALPHA,
    MIN_CONVERSIONS,
    STANDARD,
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
