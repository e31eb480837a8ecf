"""Peeking: how often each way of reading an experiment daily calls a difference, and how fast.

    uv run python bench/experiments.py [--experiments 1000] [--seed 20] [--baseline 0.10]
        [--uplift 0.10] [--people-per-day 1000] [--alpha 0.05]

Plans an experiment (stats.plan: the baseline, the smallest uplift worth finding, the traffic),
then simulates it many times (experiments.simulation), reading it at the end of every day:

- A/A (no true difference), two and three variants: how often the sequential test, a
  fixed-horizon z-test read daily, the same test read once on the last day, and the chance to
  beat control read against 95 % / 5 % call a difference that is not there;
- a true uplift of the planned size and of twice it: the power of the sequential test by the
  planned day, how often it called the right sign, and the median day of its decision; and the
  fixed-horizon test read once at its own (shorter) planned horizon, for comparison;
- A/A at a low rate (2 %), read from the first day without a minimum count and with the
  default one (stats.MIN_CONVERSIONS): why no comparison settles before it.

Seeded; prints a Markdown table for docs/experiments.md. About 45 s per 1,000 experiments.
Last, the cost of one full analysis (stats.analyse: the split check, three variants on the
primary metric and four guardrails, the decision), which does not grow with the people counted.
"""

import argparse
import math
import time

from yesladder.experiments import stats
from yesladder.experiments.simulation import Run, Scenario, median_day, share, simulate


def rows_for_null(label: str, runs: list[Run], days: int) -> list[str]:
    n = len(runs)
    readings = [
        ("sequential (always-valid p, Holm), daily", [r.sequential for r in runs]),
        ("fixed-horizon z-test, daily", [r.fixed_daily for r in runs]),
        ("chance to beat control ≥ 95 % or ≤ 5 %, daily", [r.chance_daily for r in runs]),
    ]
    rows = [
        f"| {label} | {reading} | {share(sum(d is not None for d in found), n)} | – |"
        for reading, found in readings
    ]
    once = sum(r.fixed_once for r in runs)
    rows.append(f"| {label} | fixed-horizon z-test, once on day {days} | {share(once, n)} | – |")
    return rows


def row_for_uplift(label: str, runs: list[Run], days: int) -> str:
    right = sum(r.sequential is not None and r.sequential_right for r in runs)
    decided = [r.sequential for r in runs]
    return (
        f"| {label} | sequential, daily, by day {days} | {share(right, len(runs))} "
        f"| {median_day(decided, days)} |"
    )


def time_analysis() -> float:
    """Microseconds per stats.analyse call for a million people in three variants."""
    keys, weights = ["a", "b", "c"], [1, 1, 1]
    primary = [stats.Totals.rate(333_334, 33_400), stats.Totals.rate(333_333, 34_100)]
    primary.append(stats.Totals.rate(333_333, 33_000))
    guard = [stats.Totals.rate(t.n, 2_000 + i) for i, t in enumerate(primary)]
    guards = {name: guard for name in ("refunds", "unsubscribes", "bounces", "complaints")}
    calls = 2_000
    started = time.perf_counter()
    for _ in range(calls):
        stats.analyse(keys, weights, primary, guards)
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--baseline", type=float, default=0.10)
    parser.add_argument("--uplift", type=float, default=0.10)
    parser.add_argument("--people-per-day", type=int, default=1000)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--low-rate", type=float, default=0.02)
    args = parser.parse_args()
    base, n, per_day = args.baseline, args.experiments, args.people_per_day
    planned = stats.plan(base, args.uplift, per_day, alpha=args.alpha)
    days = planned.days
    fixed_days = math.ceil(2 * planned.fixed_horizon_people_per_variant / per_day)
    print(
        f"plan: baseline {base:.1%}, uplift {args.uplift:+.0%}, {per_day:,} people a day, "
        f"alpha {args.alpha}, power 80 %: {planned.people_per_variant:,} people per variant, "
        f"{days} days (a test read once: {planned.fixed_horizon_people_per_variant:,}, "
        f"{fixed_days} days)"
    )
    print(f"{n:,} simulated experiments per row, seeds from {args.seed}\n")

    seeds = iter(range(args.seed, args.seed + 100))  # each row its own crowds

    def runs(rates: tuple[float, ...], horizon: int) -> list[Run]:
        return simulate(Scenario(rates, per_day, horizon, args.alpha), n, next(seeds))

    started = time.perf_counter()
    print("| truth | reading | called a difference | 95 % interval | median day |")
    print("|---|---|---:|---:|---:|")
    for label, rates in [("A/A", (base, base)), ("A/A/A", (base, base, base))]:
        for row in rows_for_null(label, runs(rates, days), days):
            print(row)
    for factor in (1, 2):
        lift = args.uplift * factor
        label = f"{lift:+.0%}"
        print(row_for_uplift(label, runs((base, base * (1 + lift)), days), days))
    once = sum(r.fixed_once for r in runs((base, base * (1 + args.uplift)), fixed_days))
    print(
        f"| {args.uplift:+.0%} | fixed-horizon z-test, once on day {fixed_days} "
        f"| {share(once, n)} | {fixed_days} |"
    )
    low = args.low_rate
    for floor in (0, stats.MIN_CONVERSIONS):
        found = simulate(Scenario((low, low), per_day, days, args.alpha, floor), n, next(seeds))
        called = sum(r.sequential is not None for r in found)
        print(
            f"| A/A at {low:.0%}, minimum {floor:g} conversions | sequential, daily "
            f"| {share(called, n)} | – |"
        )
    print(f"\n{time.perf_counter() - started:.0f} s")
    print(f"one analysis (3 variants, 1 primary + 4 guardrails): {time_analysis():.0f} µs")


if __name__ == "__main__":
    main()
