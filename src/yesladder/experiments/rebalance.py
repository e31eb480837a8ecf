"""The bandit's worker job: when a running bandit's period is over, its next weights.

Separate from experiments.bandit, which results read: this reads results.
"""

import datetime as dt

from django.utils import timezone

from yesladder.experiments import stats
from yesladder.experiments.assignment import Live, latest_weights, live
from yesladder.experiments.bandit import periods
from yesladder.experiments.models import BanditPeriod, Experiment
from yesladder.experiments.results import Results, results
from yesladder.funnels.models import current_versions

# How often the worker looks; a period lasts `every` (an hour at least) from its start.
EVERY_SECONDS = 300


def update(now: dt.datetime | None = None) -> int:
    """The worker's job: every running bandit whose period is over gets its next one."""
    now = now or timezone.now()
    moved = 0
    for version in current_versions():
        for current in live(version):
            bandit = current.spec.bandit
            if bandit is None or current.row.state != Experiment.State.RUNNING:
                continue
            found = periods(current)
            if now - found[-1].started_at < bandit.every:
                continue
            weights = next_weights(current, results(version.funnel.key, current.spec.key))
            BanditPeriod.objects.get_or_create(experiment=current.row, started_at=now,
                                               defaults={"weights": weights})  # fmt: skip
            moved += 1
    return moved


def next_weights(current: Live, found: Results) -> dict[str, float]:
    """From the (period-weighted) primary metric so far; the weights stay while an arm has
    nobody or no variance yet."""
    order = [v.key for v in found.variants]
    chances = stats.chance_to_be_best(found.metrics[found.metric])
    if chances is None:
        return latest_weights(current.row, current.spec)
    shares = stats.bandit_weights(chances, current.spec.bandit.floor / 100)
    return {key: round(100 * w, 4) for key, w in zip(order, shares, strict=True)}
