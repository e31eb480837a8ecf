"""How long each metric would take: the planner run on every metric a test could be judged on,
with the control's own rates so far and today's traffic, so a user can pick one that finishes.

The macro conversion of a small funnel is rare; the rung a test changes is not. The same uplift
on a rung reached by 40 % of people needs a fraction of the people the 4 % conversion needs.
"""

import math
from dataclasses import dataclass

from yesladder.experiments import stats
from yesladder.experiments.results import Results, common_steps


@dataclass(frozen=True)
class Candidate:
    metric: str
    baseline: float | None  # the control's rate so far (the plan's, before anyone came)
    people_per_variant: int | None
    days: int | None  # None: no rate yet, or an uplift that would pass 100 %


def uplift_to_find(r: Results) -> float:
    """The smallest uplift worth finding, percent: the plan's, else 10."""
    return r.spec.plan.uplift if r.spec.plan else 10.0


def candidates(r: Results, uplift: float, baseline: float | None = None) -> list[Candidate]:
    """Every rate metric the test could be judged on: the macro conversion, each rung every
    variant's ladder has, and the spec's events. `uplift` is relative (0.1: +10 %); `baseline`
    stands in for the conversion rate while nobody has been exposed."""
    control = r.variants[0]
    rates = {"conversion": control.converted / control.exposed if control.exposed else baseline}
    for key in common_steps(r.variants):
        rates[f"reached {key}"] = (
            control.reached_step(key) / control.exposed if control.exposed else None
        )
    for name, totals in r.metrics.items():
        if totals[0].binary:
            rates[name] = totals[0].mean if totals[0].n else rates.get(name)
    return [_candidate(r, name, rate, uplift) for name, rate in rates.items()]


def _candidate(r: Results, name: str, rate: float | None, uplift: float) -> Candidate:
    daily = r.people_per_day
    if not rate or not daily or rate * (1 + uplift) >= 1:
        return Candidate(name, rate, None, None)
    planned = stats.plan(rate, uplift, daily, len(r.variants))
    # nothing settles before each arm has the minimum, whatever the plan says
    floor = math.ceil(r.min_conversions / rate)
    people = max(planned.people_per_variant, floor)
    return Candidate(name, rate, people, math.ceil(people * len(r.variants) / daily))
