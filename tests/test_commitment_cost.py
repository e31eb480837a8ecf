"""The commitment-cost model against hand-computed values (docs/commitment-cost.md)."""

import math

import pytest

from yesladder.funnels.cost import step_cost
from yesladder.funnels.spec import parse_spec

HEAD = "funnel: demo\nname: Demo\nsteps:\n"


def cost_of(step_yaml: str, known=frozenset()):
    spec = parse_spec(HEAD + step_yaml).spec
    return step_cost(spec.steps[0], spec, frozenset(known))


def test_content_is_a_click():
    c = cost_of("  - {key: a, kind: content, title: T, body: hi}\n")
    assert (c.effort_seconds, c.entry_seconds, c.new_fields) == (3, 3, ())
    assert c.total == pytest.approx(0.1)


def test_optin_email_and_name():
    c = cost_of("  - {key: a, kind: optin, title: T, ask: {fields: [email, name]}}\n")
    # 3 s click + 6 s email + 4 s name = 13 s -> 0.43; data 1.0 + 1.25
    assert c.effort_seconds == 13
    assert c.new_fields == ("email", "name")
    assert c.total == pytest.approx(0.43 + 2.25)


def test_fields_already_given_cost_nothing_again():
    c = cost_of("  - {key: a, kind: optin, title: T, ask: {fields: [email, name]}}\n", {"email"})
    assert c.new_fields == ("name",)
    assert c.total == pytest.approx(round(7 / 30, 2) + 1.25)


def test_sensitivity_order_email_name_company_phone_card():
    points = []
    for field in ("email", "name", "company", "phone", "card"):
        points.append(
            cost_of(
                f"  - {{key: a, kind: optin, title: T, ask: {{fields: [{field}]}}}}\n",
                {"email"} if field != "email" else set(),
            ).data
        )
    assert points == sorted(points) and len(set(points)) == 5


def test_custom_field_uses_its_sensitivity():
    c = cost_of(
        "  - {key: a, kind: optin, title: T, ask: {fields: "
        "[{key: revenue, label: Revenue, sensitivity: high}]}}\n",
        {"email"},
    )
    assert c.data == 2.5


def test_form_entry_is_its_first_screen():
    c = cost_of(
        "  - key: a\n    kind: form\n    title: T\n    screens:\n"
        "      - fields: [email]\n      - fields: [company, role]\n"
    )
    assert c.entry_seconds == 6 + 2
    assert c.effort_seconds == (6 + 2) + (4 + 4 + 2)


def test_quiz_effort_per_question():
    options = "[{key: a, label: A}, {key: b, label: B}]"
    questions = ", ".join(f"{{key: q{i}, text: Q, options: {options}}}" for i in range(6))
    c = cost_of(
        f"  - {{key: a, kind: quiz, title: T, questions: [{questions}], "
        "outcomes: [{key: o, title: O, body: B}]}\n"
    )
    assert (c.effort_seconds, c.entry_seconds) == (30, 5)
    assert c.total == 1.0


def test_one_time_price_with_card():
    c = cost_of("  - {key: a, kind: offer, title: T, price: 99}\n")
    assert c.new_fields == ("card",)
    assert c.money == pytest.approx(round(3 * math.log10(100), 2))  # 6.0
    assert c.effort_seconds == 20 + 25
    assert c.total == pytest.approx(6.0 + 3.0 + 1.5)


def test_trial_then_instalments_with_guarantee():
    c = cost_of(
        "  - {key: a, kind: offer, title: T, trial: {days: 7, price: 7.95}, "
        "instalments: {count: 3, amount: 47, every: 7d}, guarantee: {days: 30}}\n"
    )
    expected = (3 * math.log10(8.95) + 1.0 * math.log10(142)) * 0.5
    assert c.money == pytest.approx(expected, abs=0.01)


def test_booking_time_slot_and_one_to_one():
    c = cost_of(
        "  - {key: a, kind: booking, title: T, duration: 30, timezone: UTC, "
        "availability: {mon: ['09:00-10:00']}, agenda: {will: [x]}, "
        "hosts: [{name: A, email: a@example.com}]}\n"
    )
    assert c.time == 30 / 15 + 2.0


def test_share_is_exposure():
    c = cost_of("  - {key: a, kind: share, title: T, message: M, unlocks: U}\n")
    assert c.exposure == 2.0


def test_declared_effort_overrides_the_estimate():
    c = cost_of("  - {key: a, kind: content, title: T, body: hi, ask: {effort: 60}}\n")
    assert c.effort_seconds == 60 and c.effort == 2.0
