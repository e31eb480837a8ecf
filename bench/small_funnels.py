"""Experiments a small funnel can finish, simulated: A/A false calls, power and days to a decision.

    uv run python bench/small_funnels.py [--experiments 1000] [--seed 33] [--days 90]
        [--people-per-day 400]

Every row is `--experiments` two-arm experiments with the day's people split at random, read
at the end of every day with the decisions' own rule (always-valid p <= alpha and the minimum
conversions in each arm), vectorised (experiments.simulation.daily_looks). Prints Markdown
tables for docs/experiments.md:

- the minimum's cost: A/A false calls at minimum 150, 100, 50 and 25 conversions, on the macro
  conversion (4 %) and on a rung (20 %);
- a rung metric at minimum 50: A/A, and the power and median day at +10 % and +20 %;
- the macro conversion at the default minimum, for comparison;
- a follow-up email under test: 400 visitors a day, a quarter of them give their email, so 100
  sends a day; judged on clicks (10 %) at the default minimum;
- a bandit updated daily (floor 5 %) on the rung at minimum 50: A/A, power, median day, and the
  share of people the better arm got by the last day.

Seeded: the same arguments print the same figures.
"""

import argparse
import time

import numpy as np

from yesladder.experiments.simulation import (
    Daily,
    bandit_looks,
    daily_looks,
    median_day,
    share,
)


def row(label: str, reading: str, found: Daily, *, days: int, truth: bool) -> str:
    count = int((found.right if truth else found.called > 0).sum())
    decided = [int(d) if d else None for d in found.called]
    median = median_day(decided, days) if truth else "–"
    return f"| {label} | {reading} | {share(count, len(found.called))} | {median} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=33)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--people-per-day", type=int, default=400)
    args = parser.parse_args()
    n, days, daily = args.experiments, args.days, args.people_per_day
    seeds = iter(range(args.seed, args.seed + 1000))
    started = time.perf_counter()

    def looks(rates, minimum) -> Daily:
        return daily_looks(rates, daily, days, n, next(seeds), min_count=minimum)

    print(f"{n:,} experiments per row, {daily} people a day, read daily for {days} days\n")
    print("| truth | reading | called a difference | 95 % interval | median day |")
    print("|---|---|---:|---:|---:|")
    for rate, what in ((0.04, "macro conversion 4 %"), (0.20, "rung 20 %")):
        for minimum in (150, 100, 50, 25):
            label = f"A/A, {what}"
            print(row(label, f"minimum {minimum}", looks((rate, rate), minimum), days=days,
                      truth=False))  # fmt: skip
    for rate, what, minimum in ((0.20, "rung 20 %", 50), (0.04, "macro conversion 4 %", 150)):
        for lift in (0.10, 0.20):
            found = looks((rate, rate * (1 + lift)), minimum)
            print(row(f"{lift:+.0%}, {what}", f"minimum {minimum}, by day {days}", found,
                      days=days, truth=True))  # fmt: skip
    sends = daily // 4
    for lift in (0.0, 0.10, 0.20):
        found = daily_looks((0.10, 0.10 * (1 + lift)), sends, days, n, next(seeds))
        label = "A/A" if not lift else f"{lift:+.0%}"
        print(row(f"{label}, email clicks 10 %, {sends} sends a day", "minimum 150", found,
                  days=days, truth=bool(lift)))  # fmt: skip
    for lift in (0.0, 0.10, 0.20):
        found = bandit_looks((0.20, 0.20 * (1 + lift)), daily, days, n, next(seeds), min_count=50)
        label = "A/A" if not lift else f"{lift:+.0%}"
        last = found.weights[:, -1].mean()
        print(row(f"{label}, bandit on a rung 20 %", f"minimum 50 (variant's share by day "
                  f"{days}: {last:.0%})", found, days=days, truth=bool(lift)))  # fmt: skip
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
