"""The ordered-window funnel on hand-built timelines (docs/analytics.md, "Who counts where").
Times are in seconds here for reading ease; the climb takes any integer unit."""

import random

from yesladder.analytics.climb import Climb, Hit, climb, within

DAY = 86_400
WINDOW = 14 * DAY


def level(*hits: tuple[int, int], rungs: int = 4, window: int = WINDOW) -> int:
    return climb([Hit(at, rung) for at, rung in hits], rungs, window).level


def test_steps_count_only_in_ladder_order():
    assert level((0, 0), (10, 1), (20, 2)) == 3
    assert level((0, 1), (10, 0), (20, 2)) == 1  # step 2 before step 1 does not count
    assert level((0, 0), (10, 2), (20, 1)) == 2  # nor step 3 before step 2


def test_a_rung_outside_the_window_from_the_first_step_does_not_count():
    assert level((0, 0), (DAY, 1), (WINDOW, 2)) == 3  # exactly at the edge: inside
    assert level((0, 0), (DAY, 1), (WINDOW + 1, 2)) == 2


def test_the_window_runs_from_the_chain_start_not_from_the_previous_step():
    assert level((0, 0), (13 * DAY, 1), (15 * DAY, 2)) == 2


def test_re_entry_starts_a_new_chain_and_the_furthest_chain_counts():
    result = climb([Hit(0, 0), Hit(DAY, 1), Hit(30 * DAY, 0), Hit(31 * DAY, 1),
                    Hit(32 * DAY, 2)], 4, WINDOW)  # fmt: skip
    assert result.level == 3 and result.best == (30 * DAY, 31 * DAY, 32 * DAY)


def test_a_later_start_rescues_a_chain_the_first_start_could_not_finish():
    # Entered on day 0 and again on day 5; step 2 on day 6 and step 3 on day 15: only the
    # day-5 chain is still open on day 15.
    assert level((0, 0), (5 * DAY, 0), (6 * DAY, 1), (15 * DAY, 2)) == 3


def test_a_person_is_counted_once_per_rung_however_often_they_repeat_it():
    result = climb([Hit(t, 0) for t in range(5)] + [Hit(10, 1), Hit(11, 1)], 4, WINDOW)
    assert result.level == 2 and result.best == (4, 10)  # the latest entry before step 2


def test_the_first_chain_to_reach_the_top_keeps_its_times():
    result = climb([Hit(0, 0), Hit(10, 1), Hit(20, 0), Hit(25, 1)], 4, WINDOW)
    assert result.best == (0, 10) and result.gaps() == [10]


def test_hits_at_the_same_instant_count_in_ladder_order():
    assert level((5, 1), (5, 0)) == 2


def test_a_one_rung_ladder_counts_anyone_who_took_it():
    assert level((7, 0), rungs=1) == 1


def test_adding_in_order_equals_counting_from_scratch():
    rng = random.Random(7)
    for _ in range(500):
        hits = sorted(Hit(rng.randrange(40 * DAY), rng.randrange(5)) for _ in range(12))
        stepwise = Climb(5, WINDOW)
        for hit in hits:
            stepwise.add(hit)
        stored = Climb.from_state(5, WINDOW, stepwise.to_state())
        assert stored.best == climb(hits, 5, WINDOW).best
        assert stored.accepts(hits[-1]) and not stored.accepts(Hit(hits[-1].at - 1, 0))


def test_a_state_written_for_another_ladder_starts_again():
    state = climb([Hit(0, 0), Hit(1, 1)], 3, WINDOW).to_state()
    assert Climb.from_state(4, WINDOW, state).level == 0


def test_within_the_window():
    assert within(10, 5, [15]) and not within(10, 5, [16, 9])
