"""Emails and timed triggers: session triggers on timed steps, emails sent at once, invites
that cannot work (YL017, YL018, YL019).
"""

from collections.abc import Iterator
from pathlib import Path

from yesladder.funnels.lint.core import ERROR, WARNING, Finding, Ladder, rule
from yesladder.funnels.lint.followups import (
    TIMED_KINDS,
    Facts,
    _automations,
    _branch_at,
    _sends,
    _show,
)
from yesladder.funnels.lint.runs import _entry_facts
from yesladder.funnels.spec.automations import (
    PLACEHOLDER,
    Action,
    Automation,
    Invite,
)
from yesladder.funnels.spec.yamlsource import dotted


@rule("YL017", "session-trigger-step", ERROR, "003",
      "A `session` trigger names a step that is neither an event nor a booking.")  # fmt: skip
def session_trigger_step(ladder: Ladder) -> Iterator[Finding]:
    for path, automation in _automations(ladder):
        around = automation.when.session
        step = ladder.spec.step(around.step) if around else None
        if step is not None and step.kind not in TIMED_KINDS:
            yield ladder.finding(
                None,
                f"automation '{automation.key}' runs around a session of '{step.key}', a "
                f"{step.kind} step: only event and booking steps have sessions, so it never "
                "starts",
                f"name an event or booking step, or start it with `did: {{step: {step.key}}}`",
                *path,
                "when",
                "session",
                "step",
            )


@rule("YL018", "emails-at-once", WARNING, "003",
      "Two emails of an automation reach the lead at once, with no wait between.")  # fmt: skip
def emails_at_once(ladder: Ladder) -> Iterator[Finding]:
    for path, automation in _automations(ladder):
        pairs: list[tuple[tuple, tuple]] = []
        _pending_email(ladder, automation.do, path + ("do",), None, pairs)
        for earlier, later in dict.fromkeys(pairs):
            yield ladder.finding(
                None,
                f"automation '{automation.key}': the emails at {dotted(earlier)} and "
                f"{dotted(later)} reach the lead at the same moment, with no `wait` between",
                "put a `wait:` between them (a day or more reads as care, two at once as "
                "noise), or merge them into one email",
                *later,
            )


def _pending_email(
    ladder: Ladder,
    actions: list[Action],
    path: tuple,
    pending: tuple | None,
    pairs: list[tuple[tuple, tuple]],
) -> tuple | None:
    """Pairs up emails with no wait between them; returns the email sent since the last wait
    on some way through these actions."""
    for index, action in enumerate(actions):
        here = path + (index,)
        if action.wait is not None:
            pending = None
        elif _sends(action):
            if pending is not None:
                pairs.append((pending, here))
            pending = here
        elif action.branch:
            at = _branch_at(ladder, here)
            ways = [
                _pending_email(ladder, action.branch.then, at + ("then",), pending, pairs),
                _pending_email(ladder, action.branch.else_, at + ("else",), pending, pairs),
            ]
            pending = next((w for w in ways if w is not None), None)
    return pending


@rule("YL019", "broken-invite", WARNING, "003",
      "An invitation without the link to its step, a step link in a plain email, or an "
      "invitation to a step the lead already completed.")  # fmt: skip
def broken_invite(ladder: Ladder) -> Iterator[Finding]:
    for path, automation in _automations(ladder):
        facts = _entry_facts(ladder, automation)
        for here, action, known in _placed(ladder, automation.do, path + ("do",), facts):
            if action.invite:
                yield from _invite_problems(ladder, automation, here, action.invite, known)
            elif action.email and "step_link" in (_placeholders(ladder, action.email) or ()):
                yield ladder.finding(
                    None,
                    f"automation '{automation.key}': {dotted(here)} sends '{action.email}', "
                    "whose {{ step_link }} stays empty: only `invite` fills it in",
                    "send it with `invite: {step: STEP, email: " + action.email + "}`",
                    *here,
                )


def _invite_problems(
    ladder: Ladder, automation: Automation, here: tuple, invite: Invite, known: Facts
) -> Iterator[Finding]:
    name = f"automation '{automation.key}': {dotted(here)}"
    placeholders = _placeholders(ladder, invite.email)
    if placeholders is not None and "step_link" not in placeholders:
        yield ladder.finding(
            None,
            f"{name} invites to '{invite.step}' with the email '{invite.email}', which has no "
            "{{ step_link }}: the invitation does not link to the step",
            "end the email with one clear call to action, e.g. "
            "`[Take the 3-minute assessment]({{ step_link }})`",
            *here,
        )
    done = next(
        (f for f in known if f.event_name() == "step_completed" and f.step == invite.step), None
    )
    if done is not None:
        yield ladder.finding(
            None,
            f"{name} invites to '{invite.step}', which every lead here already completed "
            f"(`{_show(done)}`)",
            "invite to the step that follows it on the ladder",
            *here,
        )


def _placed(
    ladder: Ladder, actions: list[Action], path: tuple, facts: Facts
) -> Iterator[tuple[tuple, Action, Facts]]:
    """Every action with its path in the file and what every lead reaching it did."""
    for index, action in enumerate(actions):
        here = path + (index,)
        yield here, action, facts
        if action.branch:
            at = _branch_at(ladder, here)
            test = action.branch.if_.did
            taken = facts + ((test,) if test else ())
            yield from _placed(ladder, action.branch.then, at + ("then",), taken)
            yield from _placed(ladder, action.branch.else_, at + ("else",), facts)


def _placeholders(ladder: Ladder, email_key: str) -> set[str] | None:
    """The placeholders of an email's body; None when its file cannot be read here."""
    email = ladder.spec.emails[email_key]
    text = email.body
    if email.file is not None:
        try:
            text = (Path(ladder.sourced.file).parent / email.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
    return {m[1] for m in PLACEHOLDER.finditer(text)}
