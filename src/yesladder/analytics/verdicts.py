"""What the counts mean: benchmark ranges, honest intervals, a diagnosis in plain words and the
what-if. Pure: fed counts and the funnel's spec, no database.

The ranges are seed 003's ("40-60 % from step one to step two, 30-50 %, 50-70 %, 60-80 %");
a drop is explained with the commitment-cost model (docs/commitment-cost.md), as the seed
says: "either too large a commitment jump or insufficient value delivery in the preceding step".
"""

import math
from dataclasses import dataclass
from decimal import Decimal

from yesladder.funnels.cost import delivers_value, step_cost
from yesladder.funnels.spec.schema import FunnelSpec, StepBase

SEED_RANGES = ((0.40, 0.60), (0.30, 0.50), (0.50, 0.70), (0.60, 0.80))
Z95 = 1.959964  # two-sided 95 %
SMALL = 30  # fewer people than this at the step before: too few to judge


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion: right at 0 %, 100 % and small counts."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    denominator = 1 + z * z / trials
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def benchmark(spec: FunnelSpec, position: int, key: str) -> tuple[float, float] | None:
    """The expected conversion into the rung at `position` (1 = the second rung) from the one
    before: the spec's own range for that step, else seed 003's for the first four moves."""
    own = spec.benchmarks.get(key)
    if own is not None:
        return own.low / 100, own.high / 100
    if 1 <= position <= len(SEED_RANGES):
        return SEED_RANGES[position - 1]
    return None


def verdict(reached: int, previous: int, expected: tuple[float, float] | None) -> str:
    """below / within / above the range, or small when the interval straddles its edge (the
    data cannot tell yet); "" without a range."""
    if expected is None or previous == 0:
        return "" if expected is None else "small"
    low, high = wilson(reached, previous)
    if previous < SMALL:
        return "small"
    if high < expected[0]:
        return "below"
    if low > expected[1]:
        return "above"
    if expected[0] <= reached / previous <= expected[1]:
        return "within"
    return "small"


# --- diagnosis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnosis:
    step: str  # the rung people fail to reach
    verdict: str
    why: str
    suggestion: str


def diagnose(spec: FunnelSpec, before: StepBase, step: StepBase, verdict_: str) -> Diagnosis:
    """Why too few (or many) people take `step` after `before`, in the commitment-cost model."""
    if verdict_ == "above":
        return Diagnosis(step.key, verdict_, f"More people take '{step.title}' than the range "
                         "expects: the step before prepares them well.",
                         "Keep it; copy what works here to the weakest step.")  # fmt: skip
    known = frozenset(f.key for s in spec.steps[: spec.steps.index(before) + 1]
                      for f in s.asked_fields())  # fmt: skip
    cost_before, cost = step_cost(before, spec), step_cost(step, spec, known)
    jump = cost.total - cost_before.total
    reasons, fixes = [], []
    if jump >= spec.lint.max_jump / 2:
        reasons.append(
            f"the ask grows from {cost_before.total:g} to {cost.total:g} commitment points "
            f"(mostly {cost.largest_part()})"
        )
        fixes.append(f"insert a bridge step between '{before.title}' and '{step.title}' "
                     f"that asks for less {cost.largest_part()}")  # fmt: skip
    if not delivers_value(before):
        reasons.append(f"'{before.title}' gives nothing of value before the next ask")
        fixes.append(f"deliver value first: give '{before.title}' something useful (`value:`)")
    if len(cost.new_fields) >= 2:
        reasons.append(f"it asks {len(cost.new_fields)} new fields ({', '.join(cost.new_fields)})")
        fixes.append("ask fewer fields: only what this step needs, the rest later")
    if not reasons:
        reasons.append("the jump is small and value comes first, so the cause is outside the "
                       "ladder's shape")  # fmt: skip
        fixes.append("check the page itself: its promise, its call to action, its speed on a "
                     "phone, and whether the traffic matches the offer")  # fmt: skip
    why = f"Fewer people take '{step.title}' than expected: " + "; ".join(reasons) + "."
    return Diagnosis(step.key, verdict_, why, "; ".join(fixes).capitalize() + ".")


# --- what-if --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    step: str
    rate: float  # now, from the previous rung
    more_per_point: float  # macro conversions added by one more percentage point here
    more_at_top: float  # ... by reaching the top of the step's range (0 without one, or above)
    revenue_per_point: int  # minor units
    revenue_at_top: int


def what_if(
    entered: int,
    rates: list[float],
    ranges: list[tuple[float, float] | None],
    keys: list[str],
    value_per_conversion: Decimal,  # minor units
) -> list[WhatIf]:
    """For each move up the ladder, what changing only its rate would do to the last rung's
    count, all other rates held as they are now."""
    result = []
    for i, rate in enumerate(rates):
        others = math.prod(r for j, r in enumerate(rates) if j != i)
        top = ranges[i][1] if ranges[i] else rate
        per_point = entered * others * min(0.01, 1 - rate)
        at_top = entered * others * max(0.0, top - rate)
        result.append(WhatIf(
            keys[i], rate, per_point, at_top,
            _money(per_point, value_per_conversion), _money(at_top, value_per_conversion),
        ))  # fmt: skip
    return result


def bottleneck(gains: list[WhatIf]) -> WhatIf | None:
    """The move whose improvement adds the most conversions: to the top of its range where
    ranges exist, one point otherwise."""
    if not gains:
        return None
    best = max(gains, key=lambda g: (g.more_at_top, g.more_per_point))
    if best.more_at_top > 0 or best.more_per_point > 0:
        return best
    # Two or more moves nobody made yet: no single improvement shows at the top, and the
    # first of them is where the climb stops.
    return next((g for g in gains if g.rate == 0), None)


def _money(conversions: float, each: Decimal) -> int:
    """Minor units, rounded half to even like every other amount."""
    return int((Decimal(str(round(conversions, 6))) * each).to_integral_value())
