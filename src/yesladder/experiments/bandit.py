"""A bandit: traffic follows the winner (`bandit:` in an experiment's spec).

At a fixed interval (`every`, daily by default) the worker sets the next period's weights from
each variant's chance to be best on the primary metric so far (stats.chance_to_be_best, the
allocation of Thompson sampling, computed rather than sampled), each variant keeping its
`floor`. A period is a BanditPeriod row; assignment reads the latest. Results weigh each
period's people by the period's share of everyone (stats.Totals.weighted), and the split check
expects each period's people split by that period's weights.
"""

import datetime as dt
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass

from yesladder.analytics.models import Progress
from yesladder.experiments import stats
from yesladder.experiments.assignment import Live
from yesladder.experiments.models import BanditPeriod, Exposure
from yesladder.funnels.spec.experiments import Reached

CHUNK = 500


@dataclass(frozen=True)
class Period:
    started_at: dt.datetime
    weights: dict[str, float]  # variant -> percent


def periods(current: Live) -> list[Period]:
    """The experiment's periods, oldest first: the spec's weights from the experiment's start,
    then each of a bandit's updates."""
    first = Period(current.row.created_at, {v.key: v.weight for v in current.spec.variants})
    rows = BanditPeriod.objects.filter(experiment=current.row).order_by("started_at")
    return [first, *(Period(p.started_at, p.weights) for p in rows)]


def per_period(current: Live, order: list[str], steps: dict[str, int | None],
               found: list[Period]) -> list[list[stats.Totals]]:  # fmt: skip
    """Per period, per variant (in `order`): the primary metric of the counted people exposed
    in that period. `steps` gives each variant's rung the metric counts (the level a person
    must pass), or None for revenue."""
    exposures = Exposure.objects.filter(experiment=current.row, counted=True).values_list(
        "variant", "version_id", "person", "exposed_at"
    )
    rows = list(exposures)
    standing = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        for version, person, level, revenue in Progress.objects.filter(
            version_id__in={r[1] for r in chunk}, person__in={r[2] for r in chunk}
        ).values_list("version_id", "person", "level", "revenue"):
            standing[version, person] = (level, revenue)
    starts = [p.started_at for p in found]  # a period holds who came from its start
    sums = defaultdict(lambda: [0, 0, 0])  # (period, variant) -> people, sum, squares
    for variant, version, person, exposed_at in rows:
        at = max(bisect_right(starts, exposed_at) - 1, 0)
        level, revenue = standing.get((version, person), (0, 0))
        step = steps.get(variant)
        value = revenue if step is None else int(level > step)
        mine = sums[at, variant]
        mine[0], mine[1], mine[2] = mine[0] + 1, mine[1] + value, mine[2] + value * value
    revenue = next(iter(steps.values())) is None
    return [[_totals(sums[i, key], revenue) for key in order] for i in range(len(found))]


def _totals(found: list[int], revenue: bool) -> stats.Totals:
    people, total, squares = found
    if revenue:
        return stats.Totals.per_person(people, total, squares)
    return stats.Totals.rate(people, total)


def metric_steps(current: Live, ladders: dict[str, list[str]], macros: dict[str, int]
                 ) -> dict[str, int | None]:  # fmt: skip
    """Per variant, the index of the rung the primary metric counts (None: revenue)."""
    metric = current.spec.metric
    if metric == "revenue":
        return dict.fromkeys(ladders)
    if isinstance(metric, Reached):
        return {k: keys.index(metric.reached) if metric.reached in keys else len(keys)
                for k, keys in ladders.items()}  # fmt: skip
    return dict(macros)


def expected_split(found: list[Period], people: list[int], order: list[str]) -> list[float]:
    """What the split check expects per variant: each period's people by its weights."""
    return [sum(n * p.weights.get(key, 0) / 100 for p, n in zip(found, people, strict=True))
            for key in order]  # fmt: skip
