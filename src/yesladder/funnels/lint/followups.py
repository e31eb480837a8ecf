"""The follow-ups (automations and their emails): what every rule about them shares, and no
marketing email before consent (YL015).
"""

from collections.abc import Iterator

import yaml

from yesladder.funnels.lint.core import WARNING, Finding, Ladder, rule
from yesladder.funnels.spec.automations import (
    Action,
    Automation,
    Did,
)
from yesladder.funnels.spec.schema import (
    Booking,
    Checkout,
    Event,
    FunnelSpec,
    Offer,
    Optin,
    Quiz,
    StepBase,
)
from yesladder.funnels.spec.yamlsource import dotted

# --- the follow-ups: automations and their emails ----------------------------------------------
#
# These rules read `automations:` (docs/automation.md). They only report what follows from the
# spec itself: a fact the trigger guarantees, a step the ladder always passes, an email's text.

# Events that, at a step asking for the email, come after the visitor gave it. A visitor who
# skips an optional ask (a quiz's result by email) is no lead, so no automation starts for them.
AFTER_ASK = frozenset({
    "step_completed", "opted_in", "optin_confirmed", "fields_given", "quiz_completed",
    "result_emailed", "downloaded", "registered", "attended", "booked", "cancelled",
    "checkout_started", "paid", "instalment_paid", "refunded", "trial_converted", "converted",
    "trial_cancelled", "payment_failed", "payment_recovered", "call_attended", "call_no_show",
    "webinar_no_show",
})  # fmt: skip
# The step kinds an event can happen on; an event not listed can happen on any step.
EVENT_KINDS = {
    "video_progress": {"video"}, "read_progress": {"content"}, "answered": {"quiz"},
    "quiz_completed": {"quiz"}, "result_emailed": {"quiz"}, "poll_answered": {"poll"},
    "downloaded": {"magnet"}, "shared": {"share"}, "referral_arrived": {"share"},
    "opted_in": {"optin"}, "registered": {"event"}, "attended": {"event"},
    "booked": {"booking"}, "cancelled": {"booking", "event"},
    "checkout_started": {"offer", "checkout"}, "paid": {"offer", "checkout"},
    "instalment_paid": {"offer", "checkout"}, "refunded": {"offer", "checkout"},
    "trial_converted": {"offer", "checkout"}, "trial_cancelled": {"offer", "checkout"},
    "payment_failed": {"offer", "checkout"}, "payment_recovered": {"offer", "checkout"},
    "call_attended": {"booking"}, "call_no_show": {"booking"}, "webinar_no_show": {"event"},
}  # fmt: skip
# What a lead did before a transactional (`marketing: false`) message may be about.
TRANSACTIONAL_EVENTS = frozenset({
    "registered", "attended", "booked", "cancelled", "checkout_started", "paid",
    "instalment_paid", "refunded", "trial_converted", "converted", "trial_cancelled",
    "payment_failed", "payment_recovered", "call_attended", "call_no_show", "webinar_no_show",
})  # fmt: skip
TIMED_KINDS = ("event", "booking")
Facts = tuple[Did, ...]  # what every lead at some point of an automation has done
Sent = dict[str, tuple]  # email key -> where the automation sent it


def _asks_consent(step: StepBase) -> bool:
    """The step takes the visitor's email with a consent record (steps/kinds/fields.py)."""
    if isinstance(step, Optin | Event | Booking | Offer | Checkout):
        return True
    if isinstance(step, Quiz):
        return step.result_by_email
    return any(f.key == "email" for f in step.asked_fields())


def _double_optin(spec: FunnelSpec, step: StepBase) -> bool:
    if isinstance(step, Optin) and step.double_optin is not None:
        return step.double_optin
    return spec.double_optin


def _happens_at(name: str, step: StepBase) -> bool:
    if name == "converted":
        return step.macro
    if name in ("optin_confirmed", "fields_given"):
        return _asks_consent(step)
    kinds = EVENT_KINDS.get(name)
    return kinds is None or step.kind in kinds


def _steps_of(ladder: Ladder, did: Did) -> list[StepBase]:
    """The reachable steps on which what `did` names can happen."""
    name = did.event_name()
    steps = [ladder.spec.step(did.step)] if did.step else ladder.steps
    return [s for s in steps if s.key in ladder.reachable and _happens_at(name, s)]


def _consent_before(ladder: Ladder, step: StepBase) -> bool:
    """Every path to `step` passes a step that asks for consent."""
    for path in ladder.paths:
        keys = [s.key for s in path]
        if step.key in keys and not any(_asks_consent(s) for s in path[: keys.index(step.key)]):
            return False
    return True


def _after_consent(ladder: Ladder, did: Did) -> bool:
    name = did.event_name()
    return all(
        _consent_before(ladder, s) or (_asks_consent(s) and name in AFTER_ASK)
        for s in _steps_of(ladder, did)
    )


def _confirms_later(ladder: Ladder, did: Did) -> StepBase | None:
    """The double opt-in step at which `did` can fire before the lead confirmed the address."""
    name = did.event_name()
    if name == "optin_confirmed":
        return None
    return next(
        (
            s
            for s in _steps_of(ladder, did)
            if _asks_consent(s)
            and _double_optin(ladder.spec, s)
            and name in AFTER_ASK
            and not _consent_before(ladder, s)
        ),
        None,
    )


def _show(did: Did) -> str:
    """`did` as the author would write it: {event: booked}."""
    shown = yaml.safe_dump(
        _plain(did.model_dump(exclude_defaults=True, by_alias=True)),
        default_flow_style=True,
        sort_keys=False,
        width=1000,
    )
    return shown.strip()


def _plain(value):
    """Whole numbers as the author wrote them: 80, not the 80.0 the model keeps."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _branch_at(ladder: Ladder, path: tuple) -> tuple:
    """Where an `if` keeps its `then` and `else`: under `branch:` when the author wrote that."""
    return path + ("branch",) if path + ("branch",) in ladder.sourced.positions.lines else path


def _sends(action: Action) -> str | None:
    """The key of the email this action sends to the lead, if it sends one."""
    if action.email:
        return action.email
    return action.invite.email if action.invite else None


def _automations(ladder: Ladder) -> Iterator[tuple[tuple, Automation]]:
    for index, automation in enumerate(ladder.spec.automations):
        yield ("automations", index), automation


@rule("YL015", "email-without-consent", WARNING, "003, 000",
      "An automation can email a lead who has not consented (yet).")  # fmt: skip
def email_without_consent(ladder: Ladder) -> Iterator[Finding]:
    for path, automation in _automations(ladder):
        if not any(_sends(a) for _, a in automation.actions()):
            continue
        if automation.marketing:
            yield from _before_consent(ladder, path, automation)
            yield from _before_confirmation(ladder, path, automation)
        elif not _transactional(ladder, automation):
            yield ladder.finding(
                None,
                f"automation '{automation.key}' is marked `marketing: false`, but it does not "
                "start from a booking, a registration or a payment: its emails would go out "
                "without consent and without an unsubscribe link",
                "remove `marketing: false`; only messages about something the lead booked or "
                "bought (a reminder, a receipt) are transactional",
                *path,
                "marketing",
            )


def _before_consent(ladder: Ladder, path: tuple, automation: Automation) -> Iterator[Finding]:
    did = automation.when.did
    if did is None or _after_consent(ladder, did):
        return
    only = automation.only
    if only is not None and only.did is not None and _after_consent(ladder, only.did):
        return
    unguarded = list(_unguarded_emails(ladder, automation.do, path + ("do",)))
    if unguarded:
        optin = next((s.key for s in ladder.steps if _asks_consent(s)), None)
        where = f" (at '{optin}')" if optin else ""
        yield ladder.finding(
            None,
            f"automation '{automation.key}' starts on `did: {_show(did)}`, which can happen "
            f"before the ladder asks for an email and consent{where}: an anonymous visitor "
            "starts it only when giving the email later, and a lead known without consent "
            f"starts it now and never gets the email at {dotted(unguarded[0])}",
            f"start it at or after '{optin or 'the opt-in'}' and test the earlier signal in an "
            f"`if`, e.g. `if: {{did: {_show(did)}}}`",
            *path,
            "when",
        )


def _unguarded_emails(ladder: Ladder, actions: list[Action], path: tuple) -> Iterator[tuple]:
    """Emails not inside a `then` whose condition says the lead went past a consent step."""
    for index, action in enumerate(actions):
        here = path + (index,)
        if _sends(action):
            yield here
        if action.branch:
            at = _branch_at(ladder, here)
            test = action.branch.if_.did
            if test is None or not _after_consent(ladder, test):
                yield from _unguarded_emails(ladder, action.branch.then, at + ("then",))
            yield from _unguarded_emails(ladder, action.branch.else_, at + ("else",))


def _before_confirmation(ladder: Ladder, path: tuple, automation: Automation) -> Iterator[Finding]:
    did, only = automation.when.did, automation.only
    step = _confirms_later(ladder, did) if did else None
    confirmed = only is not None and only.did is not None and only.did.event == "optin_confirmed"
    if step is None or confirmed:
        return
    early, _ = _before_wait(ladder, automation.do, path + ("do",))
    if early:
        yield ladder.finding(
            None,
            f"automation '{automation.key}' starts when the lead gives the email at "
            f"'{step.key}', which uses double opt-in; the email at {dotted(early[0])} goes "
            "out before any wait and is skipped for every lead who has not clicked the "
            "confirmation link yet (it is never sent later)",
            "start it on `did: {event: optin_confirmed}`, or begin with a `wait:`",
            *path,
            "when",
        )


def _before_wait(ladder: Ladder, actions: list[Action], path: tuple) -> tuple[list, bool]:
    """The emails reached before any wait, and whether every way through these actions waits."""
    found: list[tuple] = []
    for index, action in enumerate(actions):
        here = path + (index,)
        if action.wait is not None:
            return found, True
        if _sends(action):
            found.append(here)
        if action.branch:
            at = _branch_at(ladder, here)
            then, then_waits = _before_wait(ladder, action.branch.then, at + ("then",))
            other, else_waits = _before_wait(ladder, action.branch.else_, at + ("else",))
            found += then + other
            if then_waits and else_waits:
                return found, True
    return found, False


def _transactional(ladder: Ladder, automation: Automation) -> bool:
    when = automation.when
    if when.session is not None:
        return True
    if when.did is None:
        return False
    name = when.did.event_name()
    if name == "step_completed":
        step = ladder.spec.step(when.did.step) if when.did.step else None
        return step is not None and step.kind in (*TIMED_KINDS, "offer", "checkout")
    return name in TRANSACTIONAL_EVENTS
