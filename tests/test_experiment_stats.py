"""The truth of the experiment statistics: the same figures as GrowthBook's gbstats (an
independent implementation, a test dependency only) on the same counts, hand-computed split
checks and plans, the decisions, and a small peeking simulation. No database."""

import math

import numpy as np
import pytest
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic, SampleMeanStatistic
from gbstats.utils import check_srm

from yesladder.experiments import stats
from yesladder.experiments.simulation import Scenario, simulate
from yesladder.experiments.stats import Plan, Totals, Verdict

FOUR_DECIMALS = 5e-5

RATES = [  # control exposed, converted; variant exposed, converted
    (1_000, 100, 1_000, 120),
    (25_000, 1_250, 24_800, 1_180),
    (400, 12, 420, 21),
    (1_000_000, 31_000, 1_000_000, 31_600),
    (5_000, 4_500, 5_000, 4_600),
    (20_000, 2_000, 20_000, 2_300),
]


def revenue(rng: np.random.Generator, people: int, buy: float) -> Totals:
    """Revenue per exposed person in cents: most pay nothing, buyers pay 49 or 99 euros, a few
    of them are refunded."""
    paid = rng.choice([4900, 9900], size=people) * (rng.random(people) < buy)
    paid[rng.random(people) < 0.005] = 0
    return Totals.per_person(people, float(paid.sum()), float((paid.astype(float) ** 2).sum()))


def gb(t: Totals):
    if t.binary:
        return ProportionStatistic(n=t.n, sum=t.sum)
    return SampleMeanStatistic(n=t.n, sum=t.sum, sum_squares=t.sum_squares)


def pairs():
    rng = np.random.default_rng(20)
    for a_n, a_c, b_n, b_c in RATES:
        yield Totals.rate(a_n, a_c), Totals.rate(b_n, b_c)
    for people, buy_a, buy_b in [(3_000, 0.03, 0.036), (40_000, 0.05, 0.048), (500, 0.1, 0.14)]:
        yield revenue(rng, people, buy_a), revenue(rng, people, buy_b)


def close(ours, theirs) -> bool:
    return ours == pytest.approx(theirs, abs=FOUR_DECIMALS)


@pytest.mark.parametrize("control,variant", list(pairs()))
@pytest.mark.parametrize("lower_is_better", [False, True])
def test_bayesian_agrees_with_gbstats(control, variant, lower_is_better):
    ours = stats.bayesian(stats.uplift(control, variant), lower_is_better=lower_is_better)
    config = EffectBayesianConfig(inverse=lower_is_better)
    theirs = EffectBayesianABTest(gb(control), gb(variant), config).compute_result()
    assert theirs.error_message is None
    assert close(ours.chance_to_beat_control, theirs.chance_to_win)
    # gbstats' risk is [keeping control, choosing the variant], flipped for inverse metrics.
    assert close(ours.expected_loss, theirs.risk[1])
    assert close(ours.control_loss, theirs.risk[0])
    assert close(ours.uplift, theirs.expected)
    assert close(list(ours.uplift_interval), theirs.ci)


@pytest.mark.parametrize("control,variant", list(pairs()))
def test_sequential_agrees_with_gbstats(control, variant):
    ours = stats.sequential(stats.uplift(control, variant))
    theirs = SequentialTwoSidedTTest(gb(control), gb(variant)).compute_result()
    assert close(ours.p_value, theirs.p_value)
    assert close(list(ours.interval), theirs.ci)


def test_the_cases_cover_both_outcomes_of_the_sequential_test():
    p_values = [stats.sequential(stats.uplift(*pair)).p_value for pair in pairs()]
    assert min(p_values) < stats.ALPHA and max(p_values) == 1.0


def test_nothing_to_compare_where_gbstats_has_nothing_either():
    for control, variant in [
        (Totals.rate(1_000, 0), Totals.rate(1_000, 30)),  # control at zero
        (Totals.rate(0, 0), Totals.rate(1_000, 30)),  # no one in control yet
        (Totals.rate(1_000, 30), Totals.rate(1_000, 1_000)),  # no variance
    ]:
        assert stats.uplift(control, variant) is None
        assert EffectBayesianABTest(gb(control), gb(variant)).compute_result().error_message
    [comparison] = stats.compare_metric(["a", "b"], [Totals.rate(1_000, 0), Totals.rate(9, 1)])
    assert comparison.bayesian is None and comparison.p_value_adjusted == 1.0
    assert comparison.settled() == 0


def test_each_variant_is_compared_with_control_and_holm_adjusted():
    totals = [Totals.rate(8_000, 800), Totals.rate(8_000, 950), Totals.rate(8_000, 900)]
    comparisons = stats.compare_metric(["a", "b", "c"], totals)
    assert [c.variant for c in comparisons] == ["b", "c"]
    for c, variant in zip(comparisons, totals[1:], strict=True):
        theirs = EffectBayesianABTest(gb(totals[0]), gb(variant)).compute_result()
        assert close(c.bayesian.chance_to_beat_control, theirs.chance_to_win)
    raw = [c.sequential.p_value for c in comparisons]
    assert [c.p_value_adjusted for c in comparisons] == stats.holm(raw)


def test_secondary_metrics_agree_with_gbstats_and_holm_across_them():
    rng = np.random.default_rng(33)
    metrics = {
        "reached guide": rates((1_000, 400), (1_000, 460)),
        "revenue": [revenue(rng, 1_000, 0.03), revenue(rng, 1_000, 0.04)],
        "event video_80": rates((1_000, 200), (1_000, 205)),
    }
    found = stats.compare_secondary(["a", "b"], metrics)
    raw = []
    for name, (control, variant) in metrics.items():
        [c] = found[name]
        theirs = SequentialTwoSidedTTest(gb(control), gb(variant)).compute_result()
        bayes = EffectBayesianABTest(gb(control), gb(variant), EffectBayesianConfig())
        assert close(c.sequential.p_value, theirs.p_value), name
        assert close(list(c.sequential.interval), theirs.ci)
        assert close(c.bayesian.chance_to_beat_control, bayes.compute_result().chance_to_win)
        assert close(c.bayesian.expected_loss, bayes.compute_result().risk[1])
        raw.append(c.sequential.p_value)
    adjusted = [found[name][0].p_value_adjusted for name in metrics]
    assert adjusted == pytest.approx(stats.holm(raw))
    assert min(adjusted) == pytest.approx(min(1, 3 * min(raw)))


def test_holm_by_hand():
    # Sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04, kept non-decreasing.
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_split_check_by_hand():
    # 5,000 and 4,800 against 50/50: expected 4,900 each, chi-square 2 * 100² / 4,900 = 4.0816,
    # one degree of freedom: p = erfc(sqrt(4.0816 / 2)) = 0.043352.
    check = stats.srm([5_000, 4_800], [1, 1])
    assert check.expected == (4_900, 4_900)
    assert check.p_value == pytest.approx(0.043352, abs=1e-6) and not check.flagged
    assert check.p_value == pytest.approx(check_srm([5_000, 4_800], [0.5, 0.5]))
    # Weights 2:1:1 and 10,200 / 4,900 / 4,900: chi-square 4 + 2 + 2 = 8, two degrees of
    # freedom: p = exp(-8 / 2) = 0.018316.
    assert stats.srm([10_200, 4_900, 4_900], [2, 1, 1]).p_value == pytest.approx(0.018316, abs=1e-6)


def test_a_broken_split_is_flagged_before_any_result():
    # 20,000 people split 50/50; 5 % of variant b's exposures were dropped (a redirect lost them).
    # Chi-square 2 * 250² / 9,750 = 12.82: p = 0.00034, below 0.001.
    check = stats.srm([10_000, 9_500], [50, 50])
    assert check.flagged and check.p_value == pytest.approx(0.000343, abs=1e-6)
    analysis = stats.analyse(
        ["a", "b"], [50, 50], [Totals.rate(10_000, 1_000), Totals.rate(9_500, 1_400)]
    )
    assert analysis.decision.verdict is Verdict.CHECK_SPLIT  # even with b far ahead
    assert stats.sentence(analysis.decision).startswith("check the split")


def test_an_intact_split_is_not_flagged():
    rng = np.random.default_rng(20)
    flagged = [
        stats.srm(list(rng.multinomial(20_000, [0.5, 0.5])), [1, 1]).flagged for _ in range(200)
    ]
    assert sum(flagged) <= 2  # 0.001 each: 0.2 expected


def test_plan_by_hand():
    # 10 % baseline, +10 %: the relative uplift's variance per person and arm (delta method) is
    # 0.11 * 0.89 / 0.1² + 0.1 * 0.9 * 0.11² / 0.1⁴ = 9.79 + 10.89 = 20.68; looked at once,
    # (1.959964 + 0.841621)² * 20.68 / 0.1² = 16,231.5 per variant.
    p = stats.plan(0.10, 0.10, people_per_day=1_000)
    assert p.fixed_horizon_people_per_variant == 16_232
    # The sequential test: the estimate must clear the confidence sequence's half-width at
    # N = 2n people with 80 % probability; first n where it does.
    rho2 = (-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 5_000

    def clears(n):
        sd, N = math.sqrt(20.68 / n), 2 * n
        half = (
            sd
            * math.sqrt(N)
            * math.sqrt(
                2 * (N * rho2 + 1) * math.log(math.sqrt(N * rho2 + 1) / 0.05) / (N**2 * rho2)
            )
        )
        return half + 0.841621 * sd <= 0.10

    assert clears(p.people_per_variant) and not clears(p.people_per_variant - 1)
    assert p.people_per_variant == 35_277 and p.total_people == 70_554
    assert p.days == 71  # 70,554 / 1,000 a day
    assert stats.plan(0.10, 0.10, people_per_day=1_000, share=0.5).days == 142


def test_plan_with_three_variants_splits_alpha():
    # alpha 0.05 over two comparisons: z = 2.241403; (2.241403 + 0.841621)² * 2,068 = 19,656.4.
    p = stats.plan(0.10, 0.10, people_per_day=1_000, variants=3)
    assert p.fixed_horizon_people_per_variant == 19_657
    assert p.total_people == 3 * p.people_per_variant


@pytest.mark.parametrize(
    "field,kwargs",
    [
        ("baseline_rate", {"baseline_rate": 0}),
        ("min_uplift", {"min_uplift": -0.1}),
        ("min_uplift", {"baseline_rate": 0.6, "min_uplift": 1.0}),
        ("people_per_day", {"people_per_day": 0}),
        ("variants", {"variants": 1}),
        ("share", {"share": 1.5}),
    ],
)
def test_plan_names_the_field_out_of_range(field, kwargs):
    args = {"baseline_rate": 0.1, "min_uplift": 0.1, "people_per_day": 100} | kwargs
    with pytest.raises(ValueError, match=f"^{field}:"):
        stats.plan(**args)


def rates(*pairs):
    return [Totals.rate(n, c) for n, c in pairs]


PLANNED = Plan(
    people_per_variant=10_000, total_people=20_000, days=20, fixed_horizon_people_per_variant=5_000
)


def test_keep_running_says_how_long():
    analysis = stats.analyse(
        ["a", "b"], [1, 1], rates((5_500, 550), (5_500, 560)), planned=PLANNED, people_per_day=1_000
    )
    assert analysis.decision.verdict is Verdict.KEEP_RUNNING
    assert analysis.decision.days_left == 9.0
    assert stats.sentence(analysis.decision) == "keep running: about 9 more days at today's traffic"
    settled = stats.analyse(["a", "b"], [1, 1], rates((5_500, 550), (5_500, 560)))
    assert stats.sentence(settled.decision) == "keep running: no variant is settled yet"


def test_a_waiting_test_says_what_it_waits_for():
    """The demo's numbers on 7 December 2026: 26 of 236 against 7 of 249, 40 people a day."""
    analysis = stats.analyse(["control", "b"], [50, 50], rates((236, 26), (249, 7)),
                             people_per_day=40)  # fmt: skip
    d = analysis.decision
    assert d.verdict is Verdict.KEEP_RUNNING and d.waiting == (("control", 26), ("b", 7))
    # b converts 7/249 of its 20 people a day: 143 more conversions take 254.4 days
    assert d.days_to_minimum == pytest.approx(143 / (20 * 7 / 249))
    assert stats.sentence(d) == (
        "keep running: control has 26 and b 7 of the 150 conversions (conversion) each arm "
        "needs before anything settles; about 255 more days at today's traffic"
    )
    assert analysis.likely_worse == ("b",)  # chance to beat control ~0 %, p under alpha
    lower = stats.analyse(["control", "b"], [50, 50], rates((236, 26), (249, 7)), min_count=5)
    assert lower.decision.verdict is Verdict.CONTROL_WINS and lower.likely_worse == ()
    unknown = stats.analyse(["a", "b"], [1, 1], rates((500, 50), (500, 52)))
    assert stats.sentence(unknown.decision) == (
        "keep running: a has 50 and b 52 of the 150 conversions (conversion) each arm needs "
        "before anything settles"
    )


def test_revenue_waits_for_people_not_conversions():
    rng = np.random.default_rng(3)
    totals = [revenue(rng, 60, 0.05), revenue(rng, 70, 0.05)]
    analysis = stats.analyse(["a", "b"], [1, 1], totals, primary_name="revenue",
                             people_per_day=10)  # fmt: skip
    d = analysis.decision
    assert d.unit == "people" and d.waiting == (("a", 60), ("b", 70))
    assert d.days_to_minimum == pytest.approx(90 / 5)


def test_the_best_of_the_winners_wins():
    analysis = stats.analyse(
        ["a", "b", "c"], [1, 1, 1], rates((20_000, 2_000), (20_000, 2_400), (20_000, 2_600))
    )
    d = analysis.decision
    assert d.verdict is Verdict.VARIANT_WINS and d.variant == "c" and d.metric == "conversion"
    assert d.interval == analysis.primary[1].sequential.interval and d.interval[0] > 0
    low, high = (f"{x * 100:.1f}" for x in d.interval)
    expected = f"c wins: conversion +30.0% against control (interval +{low}% to +{high}%)"
    assert stats.sentence(d) == expected


def a_winner_with_refunds(control: int, variant: int) -> stats.Analysis:
    return stats.analyse(
        ["a", "b"],
        [1, 1],
        rates((20_000, 2_000), (20_000, 2_400)),
        {"refunds": rates((20_000, control), (20_000, variant))},
    )


def test_harm_on_a_guardrail_stops_even_a_winner():
    analysis = a_winner_with_refunds(200, 400)
    d = analysis.decision
    assert (d.verdict, d.variant, d.metric) == (Verdict.STOP_FOR_HARM, "b", "refunds")
    assert stats.sentence(d).startswith(
        "stop for harm: b changes refunds by +100.0% against control"
    )
    refunds = analysis.guardrails["refunds"][0]
    assert refunds.lower_is_better and refunds.bayesian.chance_to_beat_control < 0.001


def test_nothing_settles_below_the_minimum_count():
    # 120 conversions against 40: far apart, but too few for the normal approximations.
    [c] = stats.compare_metric(["a", "b"], rates((4_000, 40), (4_000, 120)))
    assert c.sequential.p_value < stats.ALPHA and not c.enough and c.settled() == 0
    [c] = stats.compare_metric(["a", "b"], rates((4_000, 40), (4_000, 120)), min_count=40)
    assert c.enough and c.settled() == 1


def test_fewer_refunds_are_no_harm():
    assert a_winner_with_refunds(400, 200).decision.verdict is Verdict.VARIANT_WINS


def test_control_wins_when_every_variant_is_worse():
    analysis = stats.analyse(
        ["a", "b", "c"], [1, 1, 1], rates((20_000, 2_400), (20_000, 2_000), (20_000, 1_900))
    )
    assert analysis.decision.verdict is Verdict.CONTROL_WINS
    assert (
        stats.sentence(analysis.decision) == "stop: every variant lowers conversion; keep control"
    )


def test_no_difference_once_the_planned_people_came():
    analysis = stats.analyse(
        ["a", "b"],
        [1, 1],
        rates((10_000, 1_000), (10_000, 1_010)),
        planned=PLANNED,
        people_per_day=1_000,
    )
    assert analysis.decision.verdict is Verdict.NO_DIFFERENCE
    assert stats.sentence(analysis.decision).startswith("stop: the planned number of people came")


def test_peeking_daily_keeps_the_sequential_test_honest():
    """A small version of bench/experiments.py: 200 A/A experiments read on each of 20 days."""
    runs = simulate(Scenario((0.1, 0.1), people_per_day=1_000, days=20), experiments=200, seed=20)
    sequential = sum(r.sequential is not None for r in runs) / len(runs)
    fixed = sum(r.fixed_daily is not None for r in runs) / len(runs)
    assert sequential <= 0.08  # alpha 0.05, with room for 200 runs' noise
    assert fixed >= 0.12  # the same counts read as if each look were the only one


# --- a bandit (gbstats 0.8 has no bandit: checked by hand, by closed form and by sampling) ---


def test_chance_to_be_best_of_two_is_the_closed_form():
    a, b = Totals.rate(1_000, 100), Totals.rate(1_000, 120)
    sd = math.sqrt(a.variance / a.n + b.variance / b.n)
    exact = stats.STANDARD.cdf((b.mean - a.mean) / sd)
    assert stats.chance_to_be_best([a, b]) == pytest.approx([1 - exact, exact], abs=1e-6)


def test_chance_to_be_best_of_three_is_what_thompson_sampling_draws():
    arms = [Totals.rate(1_000, 100), Totals.rate(1_000, 120), Totals.rate(1_000, 110)]
    rng = np.random.default_rng(33)
    draws = np.stack([rng.normal(t.mean, math.sqrt(t.variance / t.n), 400_000) for t in arms])
    sampled = np.bincount(draws.argmax(axis=0), minlength=3) / draws.shape[1]
    assert stats.chance_to_be_best(arms) == pytest.approx(sampled.tolist(), abs=0.003)
    assert stats.chance_to_be_best([Totals.rate(0, 0), arms[1]]) is None


def test_every_arm_keeps_its_floor():
    assert stats.bandit_weights([0.9, 0.1, 0.0], 0.05) == pytest.approx([0.815, 0.135, 0.05])
    with pytest.raises(ValueError, match="floor"):
        stats.bandit_weights([0.5, 0.5], 0.6)


def test_a_bandits_periods_are_weighted_by_their_share_of_everyone():
    # period 1: 500 people, this arm got 250 (10 % convert); period 2: 1,500, it got 300 (20 %)
    periods, people = [Totals.rate(250, 25), Totals.rate(300, 60)], [500, 1_500]
    weighted = Totals.weighted(periods, people)
    assert weighted.mean == pytest.approx(0.25 * 0.1 + 0.75 * 0.2)  # not 85 / 550 = 0.155
    variance_of_mean = 0.25**2 * 0.1 * 0.9 / 250 + 0.75**2 * 0.2 * 0.8 / 300
    assert weighted.variance / weighted.n == pytest.approx(variance_of_mean)
    assert (weighted.n, weighted.count) == (550, 85)  # the minimum reads the arm's own counts
    one = Totals.weighted([Totals.rate(400, 40)], [800])
    assert (one.mean, one.variance) == pytest.approx((0.1, 0.09))
