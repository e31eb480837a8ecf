"""Automations that can never do what they say: actions no lead can reach (YL016)."""

from collections.abc import Iterator

from yesladder.funnels.lint.core import ERROR, WARNING, Finding, Ladder, rule
from yesladder.funnels.lint.followups import (
    TIMED_KINDS,
    Facts,
    Sent,
    _automations,
    _branch_at,
    _sends,
    _show,
)
from yesladder.funnels.spec.automations import (
    Action,
    Automation,
    Branch,
    Condition,
    Did,
)
from yesladder.funnels.spec.yamlsource import dotted


@rule("YL016", "unreachable-action", ERROR, "003",
      "An automation's action can never run: a branch the trigger decides, an action after "
      "an exit goal that always holds, an email already sent.")  # fmt: skip
def unreachable_action(ladder: Ladder) -> Iterator[Finding]:
    for path, automation in _automations(ladder):
        facts = _trigger_facts(ladder, automation)
        only = automation.only
        impossible = _never(only, facts) if only is not None else None
        if impossible is not None:
            yield ladder.finding(
                None,
                f"no lead ever enters automation '{automation.key}': `only` asks that the lead "
                f"did not do what every lead it starts did (`{_show(impossible)}`)",
                "remove that part of `only`, or start the automation on something else",
                *path,
                "only",
            )
            continue
        found: list[Finding] = []
        facts = _entry_facts(ladder, automation)
        _walk_runs(ladder, automation, automation.do, path + ("do",), facts, {}, found)
        yield from found


def _trigger_facts(ladder: Ladder, automation: Automation) -> Facts:
    """What every lead the trigger starts has done; events are never undone."""
    when = automation.when
    if when.did is not None:
        return (when.did,)
    step = ladder.spec.step(when.session.step) if when.session else None
    if step is not None and step.kind in TIMED_KINDS:
        event = "booked" if step.kind == "booking" else "registered"
        return (Did(event=event, step=step.key),)
    return ()


def _entry_facts(ladder: Ladder, automation: Automation) -> Facts:
    """What every lead who enters has done: the trigger's facts and what `only` asks."""
    only = automation.only
    extra = (only.did,) if only is not None and only.did is not None else ()
    return _trigger_facts(ladder, automation) + extra


def _covers(general: Did, specific: Did) -> bool:
    """Every event that matches `specific` also matches `general`."""
    return (
        general.event_name() == specific.event_name()
        and general.step in (None, specific.step)
        and general.label in (None, specific.label)
        and general.outcome in (None, specific.outcome)
        and all(specific.where.get(key) == test for key, test in general.where.items())
    )


def _always(condition: Condition, facts: Facts) -> Did | None:
    """The fact that makes `condition` hold for every lead here, if there is one."""
    if not condition.model_fields_set <= {"did", "any"}:
        return None
    found = None
    if condition.did is not None:
        found = next((f for f in facts if _covers(condition.did, f)), None)
        if found is None:
            return None
    if condition.any is not None:
        found = next((f for c in condition.any if (f := _always(c, facts))), None)
    return found


def _never(condition: Condition, facts: Facts) -> Did | None:
    """The fact that makes `condition` fail for every lead here, if there is one."""
    if condition.did_not is not None:
        found = next((f for f in facts if _covers(condition.did_not, f)), None)
        if found is not None:
            return found
    if condition.any is not None:
        failing = [_never(c, facts) for c in condition.any]
        if all(failing):
            return failing[0]
    return None


def _walk_runs(
    ladder: Ladder,
    automation: Automation,
    actions: list[Action],
    path: tuple,
    facts: Facts,
    sent: Sent,
    found: list[Finding],
) -> Sent | None:
    """Follow the actions as leads would, reporting those none can reach. Returns the emails
    sent on every way through them (key -> where), or None when no way gets past them."""
    sent = dict(sent)
    for index, action in enumerate(actions):
        here = path + (index,)
        goal = next(
            ((i, f) for i, c in enumerate(automation.exit) if (f := _always(c, facts))), None
        )
        if goal is not None:
            found.append(_after_exit(ladder, automation, here, *goal))
            return None
        key = _sends(action)
        if key in sent:
            found.append(
                ladder.finding(
                    None,
                    f"automation '{automation.key}': {dotted(here)} never sends: the email "
                    f"'{key}' already went to this lead at {dotted(sent[key])}, and an email "
                    "goes to a lead at most once",
                    "write a second email (another key) or remove this action",
                    *here,
                )
            )
        elif key:
            sent[key] = here
        if action.branch:
            sent = _walk_branch(ladder, automation, here, action.branch, facts, sent, found)
            if sent is None:
                return None
    return sent


def _after_exit(
    ladder: Ladder, automation: Automation, here: tuple, goal: int, fact: Did
) -> Finding:
    first = here[-2:] == ("do", 0)
    what = "no action ever runs" if first else f"{dotted(here)} and what follows never run"
    return ladder.finding(
        None,
        f"automation '{automation.key}': {what}: the exit goal exit[{goal}] holds for every "
        f"lead here, who did `{_show(fact)}`",
        "exit on what ends the follow-up (the lead booked or bought), not on what starts it "
        "or what the branch just checked",
        *here,
    )


def _walk_branch(
    ladder: Ladder,
    automation: Automation,
    here: tuple,
    branch: Branch,
    facts: Facts,
    sent: Sent,
    found: list[Finding],
) -> Sent | None:
    at = _branch_at(ladder, here)
    name = f"automation '{automation.key}': the `if` at {dotted(here)}"
    if not branch.then and not branch.else_:
        found.append(
            ladder.finding(
                None,
                f"{name} has neither `then` nor `else`: it does nothing",
                "give it the actions to run, or remove it",
                *here,
                severity=WARNING,
            )
        )
    always, never = _always(branch.if_, facts), _never(branch.if_, facts)
    if always and branch.else_:
        found.append(_dead_side(ladder, name, at + ("else", 0), "always", always))
    if never and branch.then:
        found.append(_dead_side(ladder, name, at + ("then", 0), "never", never))
    ways = []
    if not never:
        taken = facts + ((branch.if_.did,) if branch.if_.did else ())
        ways.append(_walk_runs(ladder, automation, branch.then, at + ("then",), taken, sent, found))
    if not always:
        ways.append(
            _walk_runs(ladder, automation, branch.else_, at + ("else",), facts, sent, found)
        )
    live = [w for w in ways if w is not None]
    if not live:
        return None
    return {k: v for k, v in live[0].items() if all(k in w for w in live)}


def _dead_side(ladder: Ladder, name: str, first: tuple, how: str, fact: Did) -> Finding:
    side = first[-2]
    return ladder.finding(
        None,
        f"{name} {how} holds, so its `{side}` ({dotted(first[:-1])}) never runs: every lead "
        f"here did `{_show(fact)}`",
        "branch on something that differs between leads: a video watched to 80 %, a quiz "
        "outcome, a segment such as high-engagement",
        *first,
    )
