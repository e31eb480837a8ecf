"""The vectorised simulations behind bench/small_funnels.py: element by element the pure
module's figures, and a small A/A run that keeps its promise. No database; seconds."""

import numpy as np
import pytest

from yesladder.experiments import stats
from yesladder.experiments.simulation import (
    bandit_looks,
    daily_looks,
    sequential_rates,
    weighted_means,
)


def test_the_vectorised_test_is_the_pure_modules():
    rng = np.random.default_rng(33)
    n_c, n_v = rng.integers(0, 3_000, 400), rng.integers(0, 3_000, 400)
    c_c, c_v = rng.binomial(n_c, 0.1), rng.binomial(n_v, 0.12)
    n_c[:3], c_c[:6], c_v[6:9] = 0, 0, n_v[6:9]  # empty, at zero, without variance
    mean, p = sequential_rates(n_c, c_c, n_v, c_v)
    for i in range(len(n_c)):
        u = stats.uplift(stats.Totals.rate(n_c[i], c_c[i]), stats.Totals.rate(n_v[i], c_v[i]))
        if u is None:
            assert np.isnan(mean[i]) and p[i] == 1.0
        else:
            assert mean[i] == pytest.approx(u.mean)
            assert p[i] == pytest.approx(stats.sequential(u).p_value, rel=1e-9)
    assert (p < stats.ALPHA).any()


def test_a_rung_metric_at_minimum_50_keeps_its_promise_under_daily_looks():
    """A small version of bench/small_funnels.py: 300 A/A experiments, 40 daily looks."""
    found = daily_looks((0.2, 0.2), 400, 40, 300, seed=33, min_count=50)
    assert (found.called > 0).mean() <= 0.08  # alpha 0.05, with room for 300 runs' noise
    power = daily_looks((0.2, 0.24), 400, 40, 300, seed=34, min_count=50)
    assert power.right.mean() > 0.9 and np.median(power.called[power.called > 0]) < 20


def test_the_vectorised_bandit_weighs_periods_as_the_pure_module():
    rng = np.random.default_rng(7)
    people = rng.integers(1, 300, size=(5, 4, 2)).astype(float)
    converted = rng.binomial(people.astype(int), 0.2).astype(float)
    means, spreads = weighted_means(people, converted)
    for e in range(5):
        everyone = people[e].sum(axis=-1)
        for arm in range(2):
            periods = [
                stats.Totals.rate(int(n), int(c))
                for n, c in zip(people[e, :, arm], converted[e, :, arm], strict=True)
            ]
            found = stats.Totals.weighted(periods, everyone.astype(int).tolist())
            assert means[e, arm] == pytest.approx(found.mean)
            assert spreads[e, arm] == pytest.approx(found.variance / found.n)


def test_a_bandit_keeps_its_promise_under_daily_looks():
    """A small version of bench/small_funnels.py: 300 A/A bandits updated and read daily."""
    found = bandit_looks((0.2, 0.2), 400, 40, 300, seed=33, min_count=50)
    assert (found.called > 0).mean() <= 0.08
    winner = bandit_looks((0.2, 0.26), 400, 30, 200, seed=34, min_count=50)
    assert winner.weights[:, -1].mean() > 0.8  # traffic followed the winner
    assert winner.weights.min() >= 0.05 - 1e-12  # the floor held
