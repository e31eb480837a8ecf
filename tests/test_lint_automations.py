"""The follow-up rules YL015-YL019: for each, a funnel that triggers it and one that does not,
located at the line of the part at fault; and the example funnels use them cleanly."""

from pathlib import Path

import pytest

from tests.conftest import sourced_from
from yesladder.funnels.lint import RULES, lint
from yesladder.funnels.spec import parse_spec
from yesladder.funnels.spec.automations import BUILTIN_SEGMENTS, DEFAULT_EVENT_WEIGHTS

ROOT = Path(__file__).resolve().parent.parent
EMAILS = {
    "tips": {"subject": "Three ways to use the checklist", "body": 'Hi {{ first_name | "there" }}'},
    "case": {"subject": "How Acme found its leak", "body": "A short case study."},
    "invite": {"subject": "Your leak score", "body": "[Take the assessment]({{ step_link }})"},
    "plain": {"subject": "A note", "body": "No link here."},
}
AFTER_CHECKLIST = {"did": {"step": "checklist"}}


def automation(when: dict, do: list, **extra) -> dict:
    return {"key": "follow-up", "when": when, "do": do, **extra}


def findings(data: dict, rule: str, *automations: dict) -> list:
    data["emails"] = EMAILS
    data["automations"] = list(automations)
    return [f for f in lint(sourced_from(data)) if f.rule == rule]


def line_of(data: dict, *path) -> int:
    return sourced_from(data).positions.line(path)


def test_the_clean_funnel_with_a_careful_automation_has_no_findings(clean):
    sequence = automation(
        AFTER_CHECKLIST,
        [
            {"wait": "1d"},
            {"email": "tips"},
            {"wait": "3d"},
            {
                "if": {"segment": "high-engagement"},
                "then": [{"invite": {"step": "score", "email": "invite"}}],
                "else": [{"email": "case"}],
            },
        ],
        exit=[{"did": {"event": "booked"}}, {"segment": "buyers"}],
    )
    clean["emails"], clean["automations"] = EMAILS, [sequence]
    assert lint(sourced_from(clean)) == []


def test_the_rules_are_listed_with_the_others():
    assert {"YL015", "YL016", "YL017", "YL018", "YL019"} <= set(RULES)


# YL015
def test_yl015_a_trigger_before_the_optin(clean):
    [found] = findings(clean, "YL015", automation({"did": {"step": "guide"}}, [{"email": "tips"}]))
    assert found.severity == "warning" and found.step is None
    assert "'follow-up' starts on `did: {step: guide}`" in found.message
    assert "never gets the email at automations[0].do[0]" in found.message
    assert found.line == line_of(clean, "automations", 0, "when")


def test_yl015_a_trigger_at_or_after_the_optin_is_fine(clean):
    for when in (
        AFTER_CHECKLIST,
        {"did": {"step": "score", "event": "quiz_completed"}},
        {"did": {"event": "paid"}},
        {"did": {"event": "downloaded"}},
        {"inactive": "14d"},
        {"segment": "high-engagement"},
    ):
        assert findings(clean, "YL015", automation(when, [{"email": "tips"}])) == [], when


def test_yl015_events_that_can_happen_on_the_first_step(clean):
    for when in ({"event": "step_viewed"}, {"event": "read_progress"}, {"event": "tracked"}):
        found = findings(clean, "YL015", automation({"did": when}, [{"email": "tips"}]))
        assert len(found) == 1, when
    viewed = {"did": {"step": "checklist", "event": "step_viewed"}}
    assert findings(clean, "YL015", automation(viewed, [{"email": "tips"}]))


def test_yl015_only_or_an_if_on_the_optin_guards_the_emails(clean):
    early = {"did": {"step": "guide"}}
    guarded = automation(early, [{"email": "tips"}], only=AFTER_CHECKLIST)
    assert findings(clean, "YL015", guarded) == []
    branch = {"if": AFTER_CHECKLIST, "then": [{"email": "tips"}], "else": [{"tag": "reader"}]}
    assert findings(clean, "YL015", automation(early, [branch])) == []
    branch["else"] = [{"email": "case"}]
    [found] = findings(clean, "YL015", automation(early, [branch]))
    assert "automations[0].do[0].else[0]" in found.message


def test_yl015_no_email_no_warning(clean):
    assert findings(clean, "YL015", automation({"did": {"step": "guide"}}, [{"tag": "r"}])) == []


def test_yl015_a_ladder_that_always_passes_an_optin_before_the_step(clean):
    optin = {"key": "first", "kind": "optin", "title": "T", "value": "V", "cta": "Go"}
    clean["steps"].insert(0, optin)
    read = automation({"did": {"step": "guide", "event": "read_progress"}}, [{"email": "tips"}])
    assert findings(clean, "YL015", read) == []


def test_yl015_double_optin_email_before_confirmation(clean):
    clean["double_optin"] = True
    [found] = findings(clean, "YL015", automation(AFTER_CHECKLIST, [{"email": "tips"}]))
    assert "'checklist', which uses double opt-in" in found.message
    assert found.line == line_of(clean, "automations", 0, "when")
    assert "never sent later" in found.message
    for safe in (
        automation(AFTER_CHECKLIST, [{"wait": "1d"}, {"email": "tips"}]),
        automation({"did": {"event": "optin_confirmed"}}, [{"email": "tips"}]),
        automation(
            AFTER_CHECKLIST, [{"email": "tips"}], only={"did": {"event": "optin_confirmed"}}
        ),
        automation({"did": {"step": "call"}}, [{"email": "tips"}]),
        automation(
            AFTER_CHECKLIST,
            [
                {"if": {"tag": "x"}, "then": [{"wait": "1h"}], "else": [{"wait": "2h"}]},
                {"email": "tips"},
            ],
        ),
    ):
        assert findings(clean, "YL015", safe) == [], safe


def test_yl015_double_optin_email_in_a_branch_before_any_wait(clean):
    clean["double_optin"] = True
    branch = {"if": {"tag": "x"}, "then": [{"wait": "1h"}], "else": [{"email": "tips"}]}
    [found] = findings(clean, "YL015", automation(AFTER_CHECKLIST, [branch]))
    assert "automations[0].do[0].else[0]" in found.message


def test_yl015_marketing_false_only_for_bookings_and_payments(clean):
    found = findings(clean, "YL015", automation(AFTER_CHECKLIST, [{"email": "tips"}],
                                                marketing=False))  # fmt: skip
    assert len(found) == 1 and "marked `marketing: false`" in found[0].message
    assert found[0].line == line_of(clean, "automations", 0, "marketing")
    for when in (
        {"session": {"step": "call", "before": "2h"}},
        {"did": {"step": "call"}},
        {"did": {"event": "paid"}},
    ):
        transactional = automation(when, [{"email": "tips"}], marketing=False)
        assert findings(clean, "YL015", transactional) == [], when


# YL016
def test_yl016_a_branch_on_the_trigger_itself(clean):
    branch = {"if": AFTER_CHECKLIST, "then": [{"email": "tips"}], "else": [{"email": "case"}]}
    [found] = findings(clean, "YL016", automation(AFTER_CHECKLIST, [{"wait": "1d"}, branch]))
    assert found.severity == "error"
    assert "the `if` at automations[0].do[1] always holds" in found.message
    assert "`else` (automations[0].do[1].else) never runs" in found.message
    assert found.line == line_of(clean, "automations", 0, "do", 1, "else", 0)


def test_yl016_did_not_of_the_trigger_never_holds(clean):
    branch = {"if": {"did_not": {"step": "checklist"}}, "then": [{"email": "tips"}]}
    [found] = findings(clean, "YL016", automation(AFTER_CHECKLIST, [branch]))
    assert "never holds, so its `then`" in found.message


def test_yl016_a_narrower_branch_is_fine(clean):
    trigger = {"did": {"event": "quiz_completed", "step": "score"}}
    high = {"did": {"event": "quiz_completed", "step": "score", "outcome": "high"}}
    branch = {"if": high, "then": [{"email": "tips"}], "else": [{"email": "case"}]}
    assert findings(clean, "YL016", automation(trigger, [branch])) == []
    branch["if"] = {"did": {"event": "quiz_completed"}}
    assert len(findings(clean, "YL016", automation(trigger, [branch]))) == 1


def test_yl016_an_exit_the_trigger_already_meets(clean):
    booked = [{"did": {"event": "booked"}}]
    [found] = findings(clean, "YL016", automation({"did": {"event": "booked", "step": "call"}},
                                                  [{"email": "tips"}], exit=booked))  # fmt: skip
    assert "no action ever runs: the exit goal exit[0] holds" in found.message
    reminders = automation({"session": {"step": "call", "before": "24h"}}, [{"email": "tips"}],
                           exit=booked, marketing=False)  # fmt: skip
    assert len(findings(clean, "YL016", reminders)) == 1


def test_yl016_actions_after_a_branch_that_meets_the_exit(clean):
    branch = {"if": {"did": {"event": "booked"}}, "then": [{"email": "tips"}, {"tag": "b"}]}
    sequence = automation(AFTER_CHECKLIST, [branch], exit=[{"did": {"event": "booked"}}])
    [found] = findings(clean, "YL016", sequence)
    assert "automations[0].do[0].then[0] and what follows never run" in found.message
    assert found.line == line_of(clean, "automations", 0, "do", 0, "then", 0)


def test_yl016_only_that_excludes_every_lead(clean):
    never = automation(
        AFTER_CHECKLIST, [{"email": "tips"}], only={"did_not": {"step": "checklist"}}
    )
    [found] = findings(clean, "YL016", never)
    assert "no lead ever enters automation 'follow-up'" in found.message
    assert found.line == line_of(clean, "automations", 0, "only")


def test_yl016_the_same_email_twice(clean):
    twice = automation(AFTER_CHECKLIST, [{"email": "tips"}, {"wait": "3d"}, {"email": "tips"}])
    [found] = findings(clean, "YL016", twice)
    assert "automations[0].do[2] never sends: the email 'tips' already went" in found.message
    both = {"if": {"tag": "x"}, "then": [{"email": "tips"}], "else": [{"email": "tips"}]}
    after = automation(AFTER_CHECKLIST, [both, {"wait": "1d"}, {"email": "tips"}])
    assert len(findings(clean, "YL016", after)) == 1
    one_side = {"if": {"tag": "x"}, "then": [{"email": "tips"}]}
    fine = automation(AFTER_CHECKLIST, [one_side, {"wait": "1d"}, {"email": "tips"}])
    assert findings(clean, "YL016", fine) == []


def test_yl016_an_empty_branch_is_a_warning(clean):
    [found] = findings(clean, "YL016", automation(AFTER_CHECKLIST, [{"if": {"tag": "x"}}]))
    assert found.severity == "warning" and "does nothing" in found.message


def test_yl016_branch_written_out_is_located_too(clean):
    branch = {"branch": {"if": AFTER_CHECKLIST, "then": [{"tag": "a"}], "else": [{"tag": "b"}]}}
    [found] = findings(clean, "YL016", automation(AFTER_CHECKLIST, [branch]))
    assert "automations[0].do[0].branch.else" in found.message
    assert found.line == line_of(clean, "automations", 0, "do", 0, "branch", "else", 0)


# YL017
def test_yl017_session_on_a_step_without_sessions(clean):
    wrong = automation({"session": {"step": "score", "before": "1h"}}, [{"tag": "x"}])
    [found] = findings(clean, "YL017", wrong)
    assert found.severity == "error" and "'score', a quiz step" in found.message
    assert found.line == line_of(clean, "automations", 0, "when", "session", "step")
    right = automation({"session": {"step": "call", "after": "1h"}}, [{"tag": "x"}])
    assert findings(clean, "YL017", right) == []


# YL018
def test_yl018_two_emails_at_once(clean):
    [found] = findings(clean, "YL018", automation(AFTER_CHECKLIST, [{"email": "tips"},
                                                                   {"email": "case"}]))  # fmt: skip
    assert found.severity == "warning"
    assert "automations[0].do[0] and automations[0].do[1]" in found.message
    assert found.line == line_of(clean, "automations", 0, "do", 1)
    spaced = [{"email": "tips"}, {"notify": {"subject": "s", "body": "b"}}, {"wait": "2d"},
              {"email": "case"}]  # fmt: skip
    assert findings(clean, "YL018", automation(AFTER_CHECKLIST, spaced)) == []


def test_yl018_through_a_branch(clean):
    branch = {"if": {"tag": "x"}, "then": [{"email": "tips"}], "else": [{"wait": "1d"}]}
    [found] = findings(clean, "YL018", automation(AFTER_CHECKLIST, [branch, {"email": "case"}]))
    assert "automations[0].do[0].then[0] and automations[0].do[1]" in found.message
    branch["then"] = [{"email": "tips"}, {"wait": "1d"}]
    assert findings(clean, "YL018", automation(AFTER_CHECKLIST, [branch, {"email": "case"}])) == []


# YL019
def test_yl019_an_invitation_without_its_link(clean):
    invite = {"invite": {"step": "score", "email": "plain"}}
    [found] = findings(clean, "YL019", automation(AFTER_CHECKLIST, [invite]))
    assert "invites to 'score' with the email 'plain', which has no {{ step_link }}" in (
        found.message
    )
    assert found.line == line_of(clean, "automations", 0, "do", 0)
    good = {"invite": {"step": "score", "email": "invite"}}
    assert findings(clean, "YL019", automation(AFTER_CHECKLIST, [good])) == []


def test_yl019_a_step_link_in_a_plain_email(clean):
    [found] = findings(clean, "YL019", automation(AFTER_CHECKLIST, [{"email": "invite"}]))
    assert "whose {{ step_link }} stays empty" in found.message


def test_yl019_an_invitation_to_a_step_already_completed(clean):
    invite = {"invite": {"step": "checklist", "email": "invite"}}
    [found] = findings(clean, "YL019", automation(AFTER_CHECKLIST, [invite]))
    assert "which every lead here already completed" in found.message
    branch = {"if": {"did": {"step": "score"}}, "then": [
        {"invite": {"step": "score", "email": "invite"}}]}  # fmt: skip
    assert len(findings(clean, "YL019", automation(AFTER_CHECKLIST, [branch]))) == 1


def test_yl019_reads_an_email_file_beside_the_spec(clean, tmp_path):
    import yaml

    (tmp_path / "invite.md").write_text("No link in this one.")
    clean["emails"] = {"invite": {"subject": "S", "file": "invite.md"}}
    invite = {"invite": {"step": "score", "email": "invite"}}
    clean["automations"] = [automation(AFTER_CHECKLIST, [invite])]
    spec = tmp_path / "funnel.yaml"
    spec.write_text(yaml.safe_dump(clean, sort_keys=False))
    assert [f.rule for f in lint(parse_spec(spec.read_text(), str(spec)))] == ["YL019"]
    (tmp_path / "invite.md").write_text("[Go]({{ step_link }})")
    assert lint(parse_spec(spec.read_text(), str(spec))) == []


def test_yl019_an_email_file_that_cannot_be_read_is_not_judged(clean):
    unread = {"subject": "S", "file": "missing.md"}
    clean["emails"] = {**EMAILS, "later": unread, "ask": unread}
    sequence = [{"email": "later"}, {"wait": "1d"}, {"invite": {"step": "score", "email": "ask"}}]
    clean["automations"] = [automation(AFTER_CHECKLIST, sequence)]
    assert lint(sourced_from(clean)) == []


def test_yl019_only_says_what_every_lead_did(clean):
    invite = {"invite": {"step": "score", "email": "invite"}}
    entered = automation({"inactive": "14d"}, [invite], only={"did": {"step": "score"}})
    assert len(findings(clean, "YL019", entered)) == 1


# the examples and the reference
@pytest.mark.parametrize("name", ["b2b-ladder.yaml", "seed004-trial.yaml", "solo-ad.yaml"])
def test_examples_follow_up_and_lint_clean(name):
    sourced = parse_spec((ROOT / "examples" / name).read_text(), name)
    assert sourced.spec.automations and sourced.spec.emails
    assert lint(sourced) == []


def test_seed_003_example_invites_the_engaged_and_nurtures_the_rest():
    spec = parse_spec((ROOT / "examples" / "b2b-ladder.yaml").read_text()).spec
    kinds = {a.kind() for automation in spec.automations for _, a in automation.actions()}
    assert {"invite", "email", "wait", "branch", "notify", "webhook"} <= kinds
    exits = [c.did.event for a in spec.automations for c in a.exit if c.did]
    assert "booked" in exits


def test_the_reference_documents_weights_segments_and_rules():
    doc = (ROOT / "docs" / "automation.md").read_text()
    for event, weight in DEFAULT_EVENT_WEIGHTS.items():
        assert f"| `{event}` | {weight:g} |" in doc, event
    for segment in BUILTIN_SEGMENTS:
        assert f"`{segment}`" in doc
    for rule_id in ("YL015", "YL016", "YL017", "YL018", "YL019"):
        assert rule_id in doc
    assert "automation.md" in (ROOT / "docs" / "funnel-spec.md").read_text()
    assert "docs/automation.md" in (ROOT / "README.md").read_text()
