"""The quiz rules of the linter (YL024-YL026) on the checkup assessment and its broken twins."""

from tests.quiz_fixtures import CHECKUP
from yesladder.funnels.lint import lint
from yesladder.funnels.spec import parse_spec

QUIZ_RULES = ("YL024", "YL025", "YL026")


def found(text: str, rule: str) -> list:
    return [f for f in lint(parse_spec(text, "checkup.yaml")) if f.rule == rule]


def line_of(text: str, needle: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text[: text.index(needle, start)].count("\n") + 1


def test_the_checkup_is_clean_of_quiz_findings():
    assert not [f for f in lint(parse_spec(CHECKUP, "c.yaml")) if f.rule in QUIZ_RULES]


def test_a_condition_on_a_later_question_is_an_error_at_its_line():
    text = CHECKUP.replace("show_if: {question: follow-up, option: days}",
                           "show_if: {question: channels, option: email}")  # fmt: skip
    (finding,) = found(text, "YL024")
    assert finding.severity == "error" and "comes later" in finding.message
    assert finding.line == line_of(text, "show_if:")


def test_conditions_on_unknown_options_and_on_scales_are_errors():
    text = CHECKUP.replace("option: days}", "option: weeks}")
    assert "unknown option 'weeks' of 'follow-up'" in found(text, "YL024")[0].message
    text = CHECKUP.replace("show_if: {question: follow-up, option: days}", "").replace(
        "        category: habits\n        ranges:",
        "        category: habits\n        show_if: {question: review, option: '5'}\n"
        "        ranges:",
    )
    assert "a scale question without options" in found(text, "YL024")[0].message


def test_a_tier_or_category_no_answers_reach_is_a_warning():
    # One question scoring 0 or all: 0 % or 100 %, never 50-80; nothing scores toward habits.
    single = (
        CHECKUP.split("    questions:")[0]
        + """    questions:
      - key: one
        text: One?
        category: speed
        options:
          - {key: never, label: Never, points: 0}
          - {key: always, label: Always, points: 4}
"""
        + "    next:"
        + CHECKUP.split("    next:", 1)[1]
    )
    messages = [f.message for f in found(single, "YL025")]
    assert messages == ["no question a visitor can see scores toward the category 'habits'",
                        "no answers reach the tier 'steady' (50-80 %)"]  # fmt: skip


def test_the_longest_path_must_stay_a_micro_commitment():
    text = CHECKUP.replace("    cta: Continue\n", "    cta: Continue\n    ask: {effort: 20}\n")
    (finding,) = found(text, "YL026")
    assert "says 20 s, but the longest path asks 5 questions (about 25 s)" in finding.message
    many = "".join(
        f"      - key: extra-{n}\n        text: Extra {n}?\n        options:\n"
        f"          - {{key: a, label: A, points: 1}}\n          - {{key: b, label: B}}\n"
        for n in range(8)
    )
    text = CHECKUP.replace("    next:\n      - when", many + "    next:\n      - when")
    (finding,) = found(text, "YL026")
    assert "the longest path asks 13 questions (over 12)" in finding.message


def test_a_gate_before_any_value_is_a_warning_and_the_cost_counts_its_email():
    from yesladder.funnels.cost import step_cost

    gated = CHECKUP.replace("    cta: Continue\n", "    cta: Continue\n    gate: true\n")
    assert not found(gated, "YL027")  # the guide gave value first
    spec = parse_spec(gated, "c.yaml").spec
    assert step_cost(spec.step("checkup"), spec).new_fields == ("email",)
    first = gated.replace("    value: A short read\n", "")  # the guide gives nothing now
    (finding,) = found(first, "YL027")
    assert finding.step == "checkup" and "nothing before it gave" in finding.message
    assert "waits for email" in finding.message
    asking = first.replace("    gate: true\n", "    ask: {fields: [company]}\n")
    (finding,) = found(asking, "YL027")  # declared fields wait before the result too
    assert "waits for company" in finding.message
