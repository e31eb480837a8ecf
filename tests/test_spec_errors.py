"""A malformed spec gets a message with file, line and field, never a traceback."""

import pytest

from yesladder.funnels.spec import SpecError, parse_spec
from yesladder.funnels.spec.schema import FunnelSpec

GOOD_HEAD = "funnel: demo\nname: Demo\nsteps:\n"


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "f.yaml")
    return [str(p) for p in info.value.problems]


def test_wrong_type_names_line_and_field():
    text = GOOD_HEAD + "  - key: a\n    kind: content\n    title: [1, 2]\n    body: hi\n"
    assert problems(text) == ["f.yaml:6: steps[0].title: expected a valid string, got [1, 2]"]


def test_unknown_kind_lists_the_kinds():
    text = GOOD_HEAD + "  - key: a\n    kind: webinar\n    title: T\n"
    [message] = problems(text)
    assert message.startswith("f.yaml:5: steps[0].kind: unknown step kind 'webinar'")
    assert "event" in message and "booking" in message


def test_missing_key_points_at_the_step():
    text = GOOD_HEAD + "  - key: a\n    kind: content\n    body: hi\n"
    assert problems(text) == ["f.yaml:4: steps[0].title: missing required field 'title'"]


def test_bad_indentation_names_line_and_key():
    text = GOOD_HEAD + "  - key: a\n    kind: content\n   title: T\n"
    [message] = problems(text)
    assert message.startswith("f.yaml:6: title: YAML syntax error")
    assert "indentation" in message


def test_unknown_field_suggests_the_right_one():
    text = GOOD_HEAD + "  - key: a\n    kind: content\n    titel: T\n    body: hi\n"
    assert "did you mean 'title'?" in "".join(problems(text))
    assert problems(text)[0].startswith("f.yaml:6: steps[0].titel: unknown field 'titel'")


def test_comma_in_flow_mapping_gets_a_hint():
    text = GOOD_HEAD + (
        "  - key: a\n    kind: poll\n    title: T\n    question: Q?\n    options:\n"
        "      - {key: y, label: Yes, of course}\n      - {key: n, label: No}\n"
    )
    assert "quote that text" in problems(text)[0]


def test_duplicate_keys_are_refused():
    text = "funnel: demo\nname: A\nname: B\nsteps: []\n"
    assert problems(text) == ["f.yaml:3: name: duplicate key 'name' (first on line 2)"]


def test_tab_indentation():
    assert "tabs" in problems("funnel: demo\n\tname: A\n")[0]


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just words\n"])
def test_not_a_mapping(text):
    assert len(problems(text)) == 1


def test_alias_bomb_is_bounded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    assert "too many nodes" in problems("\n".join(lines) + "\n")[0]


def test_money_precision_follows_the_currency():
    text = GOOD_HEAD + "  - key: a\n    kind: offer\n    title: T\n    price: 7.955\n"
    assert "has more decimals than USD allows" in problems(text)[0]
    yen = "funnel: demo\nname: Demo\ncurrency: JPY\nsteps:\n"
    assert "JPY" in problems(yen + "  - key: a\n    kind: offer\n    title: T\n    price: 7.5\n")[0]


def test_unknown_personal_field():
    text = GOOD_HEAD + "  - key: a\n    kind: optin\n    title: T\n    ask: {fields: [emial]}\n"
    assert "did you mean 'email'?" in problems(text)[0]


def test_several_problems_are_reported_together():
    text = GOOD_HEAD + (
        "  - key: a\n    kind: content\n    body: hi\n"
        "  - key: B!\n    kind: video\n    title: V\n    src: v.mp4\n    duration: -1\n"
    )
    found = problems(text)
    assert len(found) == 3
    assert [p.split(":")[1] for p in found] == ["4", "7", "11"]


def test_bad_timezone_and_window():
    text = GOOD_HEAD + (
        "  - key: a\n    kind: booking\n    title: T\n    timezone: Mars/Base\n"
        "    availability: {mon: ['12:00-09:00']}\n    agenda: {will: [x]}\n"
        "    hosts: [{name: A, email: a@example.com}]\n"
    )
    text_problems = "\n".join(problems(text))
    assert "unknown time zone 'Mars/Base'" in text_problems
    assert "ends before it starts" in text_problems


def test_spec_round_trips_through_json():
    text = GOOD_HEAD + (
        "  - key: a\n    kind: offer\n    title: T\n    trial: {days: 7, price: 7.95}\n"
        "    instalments: {count: 3, amount: 47, every: 7d}\n"
        "  - key: b\n    kind: optin\n    title: T\n"
        "    ask: {fields: [email, {key: team, label: Team}]}\n"
        "    next: null\n"
    )
    spec = parse_spec(text).spec
    again = FunnelSpec.model_validate(spec.model_dump(mode="json", exclude_unset=True))
    assert again == spec
    assert again.steps[1].next_is_explicit() and not again.steps[0].next_is_explicit()
