"""Each rule: a funnel that triggers it and one that does not."""

from pathlib import Path

import pytest

from tests.conftest import funnel_dict, sourced_from
from yesladder.funnels.lint import RULES, lint


def form_step(screens: list[list[str]], **extra) -> dict:
    """A form step that replaces the clean funnel's second step."""
    return {
        "key": "checklist",
        "kind": "form",
        "title": "T",
        "value": "V",
        "cta": "Go",
        "screens": [{"fields": fields} for fields in screens],
        **extra,
    }


def rules_found(data: dict, rule: str) -> list:
    return [f for f in lint(sourced_from(data)) if f.rule == rule]


def test_clean_funnel_has_no_findings(clean):
    assert lint(sourced_from(clean)) == []


def test_every_rule_is_documented():
    doc = (Path(__file__).parent.parent / "docs" / "lint-rules.md").read_text()
    for rule_id, rule in RULES.items():
        assert f"## {rule_id} {rule.name}" in doc


# YL001
def test_yl001_first_step_asks_fields(clean):
    clean["steps"][0]["ask"] = {"fields": ["email", "phone"]}
    [finding] = rules_found(clean, "YL001")
    assert finding.severity == "error" and finding.step == "guide"


def test_yl001_email_only_entry_is_a_warning_when_cold_and_fine_when_warm(clean):
    clean["steps"][0] = clean["steps"][1] | {"key": "guide"}
    del clean["steps"][1]
    [finding] = rules_found(clean, "YL001")
    assert finding.severity == "warning"
    clean["audience"] = "warm"
    assert rules_found(clean, "YL001") == []


# YL002
def test_yl002_optin_with_three_fields(clean):
    clean["steps"][1] = {
        "key": "checklist",
        "kind": "optin",
        "title": "T",
        "value": "V",
        "cta": "Go",
        "ask": {"fields": ["email", "name", "company"]},
    }
    [finding] = rules_found(clean, "YL002")
    assert "3 fields" in finding.message


def test_yl002_form_first_screen(clean):
    clean["steps"][1] = form_step([["email", "name", "role"]])
    assert len(rules_found(clean, "YL002")) == 1
    clean["steps"][1]["screens"] = [{"fields": ["email"]}, {"fields": ["name", "role"]}]
    assert rules_found(clean, "YL002") == []


# YL003
def test_yl003_jump_to_an_expensive_call(clean):
    clean["steps"][3]["ask"] = {"fields": ["phone", "company", "role", "address"]}
    clean["steps"][3]["duration"] = 30
    [finding] = rules_found(clean, "YL003")
    assert finding.step == "call" and "jumps by" in finding.message


def test_yl003_threshold_is_configurable(clean):
    clean["steps"][3]["ask"] = {"fields": ["phone", "company", "role", "address"]}
    clean["steps"][3]["duration"] = 30
    clean["lint"] = {"max_jump": 15}
    assert rules_found(clean, "YL003") == []


# YL004
def test_yl004_three_flat_steps(clean):
    extra = [
        {
            "key": f"read-{i}",
            "kind": "content",
            "title": "T",
            "value": "V",
            "cta": "Go",
            "body": "b",
        }
        for i in range(3)
    ]
    clean["steps"][2:2] = extra
    clean["steps"].pop(4 + 1)  # keep the ladder at 6 steps: drop the quiz
    findings = rules_found(clean, "YL004")
    assert [f.step for f in findings] == ["read-2"]


def test_yl004_two_flat_steps_are_fine(clean):
    clean["steps"][2:2] = [
        {"key": "read", "kind": "content", "title": "T", "value": "V", "cta": "Go", "body": "b"}
    ]
    assert rules_found(clean, "YL004") == []


# YL005
def test_yl005_missing_value(clean):
    del clean["steps"][2]["value"]
    [finding] = rules_found(clean, "YL005")
    assert finding.step == "score"


# YL006
def test_yl006_no_cta_and_dead_end(clean):
    del clean["steps"][1]["cta"]
    clean["steps"][2]["next"] = None
    found = {(f.step, f.message.split(":")[0]) for f in rules_found(clean, "YL006")}
    assert ("checklist", "the step has no call to action") in found
    assert ("score", "the step leads nowhere") in found


# YL007
def test_yl007_one_step_before_macro_is_a_warning(clean):
    del clean["steps"][1:4]
    [finding] = rules_found(clean, "YL007")
    assert finding.severity == "warning" and "1 micro step " in finding.message


def test_yl007_none_before_macro_is_an_error(clean):
    clean["steps"] = [clean["steps"][4]]
    assert rules_found(clean, "YL007")[0].severity == "error"


def test_yl007_five_is_a_warning_nine_an_error(clean):
    reads = [
        {"key": f"r{i}", "kind": "content", "title": "T", "value": "V", "cta": "Go", "body": "b"}
        for i in range(5)
    ]
    five = funnel_dict()
    five["steps"][1:1] = reads[:1]
    assert rules_found(five, "YL007")[0].severity == "warning"
    clean["steps"][1:1] = reads
    assert rules_found(clean, "YL007")[0].severity == "error"


# YL008
def test_yl008_payment_before_value(clean):
    clean["steps"][1:1] = [
        {
            "key": "tripwire",
            "kind": "offer",
            "title": "T",
            "value": "V",
            "cta": "Get it",
            "price": 5,
        }
    ]
    clean["steps"][0]["value"] = None
    findings = rules_found(clean, "YL008")
    assert [f.step for f in findings] == ["tripwire"]


def test_yl008_payment_after_value_is_fine(clean):
    assert rules_found(clean, "YL008") == []


# YL009
@pytest.mark.parametrize(
    "cta", ["Buy now", "Sign up now!", "Order today", "Hurry, last chance", "Register right away"]
)
def test_yl009_pushy_cta(clean, cta):
    clean["steps"][1]["cta"] = cta
    assert len(rules_found(clean, "YL009")) == 1


def test_yl009_value_cta_and_macro_are_fine(clean):
    clean["steps"][1]["cta"] = "Get my free checklist"
    clean["steps"][4]["cta"] = "Buy now"
    assert rules_found(clean, "YL009") == []


# YL010
def test_yl010_slow_entry(clean):
    clean["steps"][0]["ask"] = {"effort": 25}
    [finding] = rules_found(clean, "YL010")
    assert "25 seconds" in finding.message


# YL011
def test_yl011_form_without_progress(clean):
    clean["steps"][1] = form_step([["email"], ["name"]], progress=False)
    assert len(rules_found(clean, "YL011")) == 1
    clean["steps"][1]["progress"] = True
    assert rules_found(clean, "YL011") == []


# YL012
def test_yl012_unknown_next(clean):
    clean["steps"][1]["next"] = "nowhere"
    found = rules_found(clean, "YL012")
    assert any("unknown step 'nowhere'" in f.message for f in found)
    assert any(f.step == "score" and "no path" in f.message for f in found)


def test_yl012_no_macro_and_two_macros(clean):
    clean["steps"][4]["macro"] = False
    assert any("no step is the macro" in f.message for f in rules_found(clean, "YL012"))
    clean["steps"][4]["macro"] = True
    clean["steps"][3]["macro"] = True
    assert any("second macro" in f.message for f in rules_found(clean, "YL012"))


def test_yl012_loop_and_bad_routes(clean):
    clean["steps"][2]["next"] = [{"when": {"outcome": "nope"}, "step": "call"}, {"step": "guide"}]
    messages = " ".join(f.message for f in rules_found(clean, "YL012"))
    assert "unknown outcome 'nope'" in messages
    assert "loop" in messages


def test_yl012_quiz_routes_are_fine(clean):
    clean["steps"][2]["next"] = [
        {"when": {"outcome": "high"}, "step": "call"},
        {"when": {"answer": {"question": "q1", "option": "b"}}, "step": "call"},
        {"step": "call"},
    ]
    assert rules_found(clean, "YL012") == []


# YL013
def test_yl013_long_call_before_value(clean):
    call = clean["steps"][3] | {"duration": 45}
    clean["steps"] = [call, clean["steps"][4]]
    assert len(rules_found(clean, "YL013")) == 1


def test_yl013_long_call_after_value_is_fine(clean):
    clean["steps"][3]["duration"] = 45
    assert rules_found(clean, "YL013") == []


# YL014
def test_yl014_unbounded_guarantee(clean):
    clean["steps"][4]["guarantee"] = {"terms": "Money back, any time"}
    [finding] = rules_found(clean, "YL014")
    assert finding.step == "program"


# settings
def test_rules_can_be_disabled_per_funnel(clean):
    del clean["steps"][2]["value"]
    clean["lint"] = {"disable": ["YL005"]}
    assert rules_found(clean, "YL005") == []


def test_findings_carry_their_line(clean):
    clean["steps"][1]["cta"] = "Buy now"
    [finding] = rules_found(clean, "YL009")
    text = sourced_from(clean).text.splitlines()
    assert text[finding.line - 1].strip().startswith("cta: Buy now")
