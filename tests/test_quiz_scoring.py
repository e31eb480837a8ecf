"""The quiz's score against hand-computed values, and the spec errors of a scored quiz."""

from pathlib import Path

import pytest
import yaml

from tests.quiz_fixtures import CHECKUP, LEAKY, STRONG
from yesladder.funnels import scoring
from yesladder.funnels.cost import SECONDS_PER_QUESTION, step_cost
from yesladder.funnels.spec import SpecError, parse_spec


def checkup(text: str = CHECKUP):
    spec = parse_spec(text, "checkup.yaml").spec
    return spec, spec.step("checkup")


def test_the_strong_path_by_hand():
    # 4 (minutes) + 1 (email) + 3 (review 4 on 1-5) + 4 (3 days) = 12 of 4 + 3 + 4 + 4 = 15:
    # slow-why is hidden, so its point is not in the maximum.
    _, quiz = checkup()
    score = scoring.score(quiz, STRONG)
    assert (score.points, score.maximum, score.percent) == (12, 15, 80)
    assert score.tier.key == "strong"  # 80 starts the top tier
    speed, habits = score.parts
    assert (speed.points, speed.maximum, speed.percent) == (5, 7, 71)  # 5/7 = 71.4
    assert (habits.points, habits.maximum, habits.percent) == (7, 8, 88)  # 87.5 rounds up
    assert score.weakest() == speed
    assert scoring.fix(quiz, speed, score.tier) == "Answer every inbound lead within the hour."
    assert score.as_data() == {"score": 80, "points": 12, "maximum": 15, "tier": "strong",
                               "categories": {"speed": 71, "habits": 88}}  # fmt: skip


def test_the_leaky_path_by_hand():
    # 0 + 1 (too-busy) + 1 (chat) + 1 (review 2) + 0 (40 days) = 3 of 4 + 1 + 3 + 4 + 4 = 16:
    # 18.75 % rounds to 19.
    _, quiz = checkup()
    score = scoring.score(quiz, LEAKY)
    assert (score.points, score.maximum, score.percent, score.tier.key) == (3, 16, 19, "leaky")
    speed, habits = score.parts
    assert (speed.percent, habits.percent) == (25, 13)  # 2/8; 1/8 = 12.5 rounds up
    assert score.weakest() == habits
    assert scoring.fix(quiz, habits, score.tier).startswith("Put a 30-minute lost-deal review")


def test_a_hidden_question_drops_its_points_and_its_maximum():
    _, quiz = checkup()
    changed = {**LEAKY, "follow-up": "minutes"}  # slow-why no longer shown, still stored
    assert [q.key for q in scoring.visible(quiz, changed)] == [
        "follow-up", "channels", "review", "days"]  # fmt: skip
    score = scoring.score(quiz, changed)
    assert (score.points, score.maximum) == (4 + 1 + 1 + 0, 15)


def test_questions_follow_only_visible_answers():
    _, quiz = checkup()
    assert [q.key for q in scoring.visible(quiz, {})] == ["follow-up", "channels", "review", "days"]
    assert "slow-why" in [q.key for q in scoring.visible(quiz, {"follow-up": "days"})]


@pytest.mark.parametrize(
    ("points", "maximum", "expected"),
    [(0, 0, 0), (1, 3, 33), (2, 3, 67), (1, 8, 13), (1, 200, 1), (199, 200, 100), (5, 5, 100)],
)
def test_percent_rounds_halves_up_in_whole_numbers(points, maximum, expected):
    assert scoring.percent(points, maximum) == expected


def test_scale_reversed_and_numbers_outside_ranges():
    _, quiz = checkup()
    review = next(q for q in quiz.questions if q.key == "review")
    assert [scoring.points(review, v) for v in (1, 3, 5)] == [0, 2, 4]
    days = next(q for q in quiz.questions if q.key == "days")
    assert [scoring.points(days, v) for v in (0, 7, 8, 30, 31)] == [4, 4, 2, 2, 0]
    assert scoring.points(days, "7") == 0  # only what the page parsed counts
    text = CHECKUP.replace("scale: {min: 1, max: 5}", "scale: {min: 1, max: 5, reverse: true}")
    review = next(q for q in checkup(text)[1].questions if q.key == "review")
    assert [scoring.points(review, v) for v in (1, 5)] == [4, 0]


def test_multiple_choice_maximum_is_the_best_answers_up_to_the_cap():
    _, quiz = checkup()
    channels = next(q for q in quiz.questions if q.key == "channels")
    assert scoring.most(channels) == 3  # phone 2 + one of the 1s
    assert scoring._possible(channels) == {0, 1, 2, 3}
    assert scoring._possible(channels, "phone") == {2, 3}  # a path decided by choosing phone


def test_longest_path_is_what_the_cost_model_counts():
    spec, quiz = checkup()
    assert scoring.longest(quiz) == 5
    assert step_cost(quiz, spec).effort_seconds == 5 * SECONDS_PER_QUESTION


def test_every_tier_and_category_is_reachable_here():
    _, quiz = checkup()
    assert scoring.reachable(quiz) == ({"leaky", "steady", "strong"}, {"speed", "habits"})


def test_outcome_quizzes_keep_working():
    # Seed 004's diagnosis: cash 2 + 1, focus 1 + 1; a tie goes to the outcome listed first.
    spec = parse_spec(Path("examples/seed004-trial.yaml").read_text()).spec
    quiz = spec.step("diagnosis")
    assert not quiz.scored()
    answers = {"revenue": "down", "time": "selling", "offer": "few"}
    assert scoring.result_key(quiz, answers) == "cash"
    assert scoring.result_key(quiz, {**answers, "revenue": "flat"}) == "focus"


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "checkup.yaml")
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("from: 50, to: 80", "from: 55, to: 80",
         "tiers: tier 'steady' starts at 55 % but the tiers before it end at 50 %: a gap"),
        ("from: 50, to: 80", "from: 40, to: 80", "an overlap"),
        ("from: 80, to: 100", "from: 80, to: 90", "the last tier ends at 90 %"),
        ("category: habits\n        ranges", "category: hobbits\n        ranges",
         "unknown category 'hobbits'"),
        ("max_choices: 2", "max_choices: 9", "`max_choices` is above the number of options"),
        ("min: 8, max: 30", "min: 9, max: 30", "does not follow the one before it"),
        ("fix_by_tier: {leaky:", "fix_by_tier: {leeky:", "names unknown tier(s) leeky"),
        ("    next:\n      - when", "    outcomes: [{key: a, title: A, body: B}]\n    next:\n"
         "      - when", "give `outcomes` (the highest total wins) or `tiers`"),
        ("type: scale\n", "type: number\n", "`scale` goes with `type: scale`"),
    ],
)  # fmt: skip
def test_spec_errors_name_file_line_and_field(old, new, expected):
    assert old in CHECKUP
    found = problems(CHECKUP.replace(old, new, 1))
    assert any(expected in p for p in found), found
    assert all(p.startswith("checkup.yaml:") for p in found)


def test_a_tier_gap_points_at_the_tiers_line():
    text = CHECKUP.replace("from: 50, to: 80", "from: 55, to: 80")
    (problem,) = problems(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip() == "tiers:")
    assert problem.startswith(f"checkup.yaml:{line}: steps[1].tiers:")


def test_the_checkup_round_trips_through_its_own_dump():
    spec, _ = checkup()
    again = parse_spec(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True)), "x.yaml")
    assert again.spec.step("checkup").tiers[1].from_ == 50
