"""The ladder linter: audits a funnel against the micro-commitment rules of the seed articles.

Pure module (no Django). Each rule has an id, a name, a default severity and a rationale citing
its seed (docs/lint-rules.md). Rules look at the ladder along every path a visitor can take
through it, and at the automations that follow up on it.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import yaml

from yesladder.funnels.cost import CommitmentCost, charges_money, delivers_value, step_cost
from yesladder.funnels.spec import SourcedSpec, SpecError, SpecProblem
from yesladder.funnels.spec.automations import (
    PLACEHOLDER,
    Action,
    Automation,
    Branch,
    Condition,
    Did,
    Invite,
)
from yesladder.funnels.spec.schema import (
    Booking,
    Checkout,
    Event,
    Form,
    FunnelSpec,
    Offer,
    Optin,
    Quiz,
    StepBase,
)
from yesladder.funnels.spec.yamlsource import dotted

ERROR, WARNING = "error", "warning"
MAX_PATHS = 1000


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    funnel: str
    step: str | None
    line: int
    message: str
    hint: str
    file: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    seed: str
    summary: str
    check: Callable[["Ladder"], Iterable[Finding]]


RULES: dict[str, Rule] = {}


def rule(id: str, name: str, severity: str, seed: str, summary: str):
    def register(check: Callable[["Ladder"], Iterable[Finding]]):
        RULES[id] = Rule(id, name, severity, seed, summary, check)
        return check

    return register


@dataclass(frozen=True)
class Rung:
    """A step as met on one path: its cost for a visitor who came that way."""

    step: StepBase
    cost: CommitmentCost
    level_before: float  # the highest cost climbed before it on this path
    value_before: bool  # an earlier step on this path delivered value


class Ladder:
    """A funnel seen as a graph of steps, with every path from the entry step."""

    def __init__(self, sourced: SourcedSpec, rule_id: str = ""):
        self.sourced = sourced
        self.spec = sourced.spec
        self.steps = list(self.spec.steps)
        self.index = {s.key: i for i, s in enumerate(self.steps)}
        self.rule_id = rule_id

    # --- structure ---

    def targets(self, step: StepBase) -> list[str]:
        return self.spec.targets(step)

    def successors(self, step: StepBase) -> list[StepBase]:
        return [self.steps[self.index[k]] for k in self.targets(step) if k in self.index]

    @property
    def entry(self) -> StepBase:
        return self.steps[0]

    @cached_property
    def paths(self) -> list[list[StepBase]]:
        """Every simple path from the entry step to a step with no way on (bounded)."""
        found: list[list[StepBase]] = []

        def walk(path: list[StepBase]) -> None:
            if len(found) >= MAX_PATHS:
                return
            onward = [s for s in self.successors(path[-1]) if s not in path]
            if not onward or path[-1].macro:
                found.append(path)
            for step in onward:
                walk(path + [step])

        walk([self.entry])
        return found

    @cached_property
    def reachable(self) -> set[str]:
        return {s.key for path in self.paths for s in path}

    @cached_property
    def macros(self) -> list[StepBase]:
        return [s for s in self.steps if s.macro]

    def rungs(self, path: list[StepBase]) -> Iterator[Rung]:
        known: frozenset[str] = frozenset()
        level, value = 0.0, False
        for step in path:
            cost = step_cost(step, self.spec, known)
            yield Rung(step, cost, level, value)
            known |= set(cost.new_fields)
            level = max(level, cost.total)
            value = value or delivers_value(step)

    def before_macro(self, path: list[StepBase]) -> list[StepBase]:
        """The micro steps of a path: those before its macro conversion."""
        for i, step in enumerate(path):
            if step.macro:
                return path[:i]
        return path

    # --- reporting ---

    def line(self, step: StepBase | None, *path: str | int) -> int:
        if step is None:
            return self.sourced.positions.line(path)
        return self.sourced.positions.line(("steps", self.index[step.key], *path))

    def finding(
        self,
        step: StepBase | None,
        message: str,
        hint: str,
        *path: str | int,
        severity: str | None = None,
    ) -> Finding:
        rule_ = RULES[self.rule_id]
        return Finding(
            rule=rule_.id,
            severity=severity or rule_.severity,
            funnel=self.spec.funnel,
            step=step.key if step else None,
            line=self.line(step, *path),
            message=message,
            hint=hint,
            file=self.sourced.file,
        )


def lint(sourced: SourcedSpec, disable: Iterable[str] = ()) -> list[Finding]:
    off = set(sourced.spec.lint.disable) | set(disable)
    findings: set[Finding] = set()
    for rule_ in RULES.values():
        if rule_.id not in off:
            findings.update(rule_.check(Ladder(sourced, rule_.id)))
    return sorted(findings, key=lambda f: (f.file, f.line, f.rule, f.step or ""))


def check_settings(sourced: SourcedSpec) -> None:
    """Rule ids in `lint.disable` must exist: a typo would silently keep a rule on."""
    problems = [
        SpecProblem(
            sourced.file,
            sourced.positions.line(("lint", "disable", i)),
            f"lint.disable[{i}]",
            f"unknown rule id '{rid}'; `yesladder lint --rules` lists them",
        )
        for i, rid in enumerate(sourced.spec.lint.disable)
        if rid not in RULES
    ]
    if problems:
        raise SpecError(problems)


def _fields(names: Iterable[str]) -> str:
    return ", ".join(names) or "nothing"


# --- the rules -------------------------------------------------------------------------------


@rule("YL001", "entry-asks-personal-data", ERROR, "003, 000",
      "The first step asks for personal data or money.")  # fmt: skip
def entry_asks_personal_data(ladder: Ladder) -> Iterator[Finding]:
    step = ladder.entry
    cost = step_cost(step, ladder.spec)
    if not cost.new_fields:
        return
    where = ("ask",) if step.ask.fields else ()
    if charges_money(step) or set(cost.new_fields) != {"email"}:
        yield ladder.finding(
            step,
            f"the first step asks for {_fields(cost.new_fields)} from a visitor who has "
            "not received anything yet",
            "start with a step that asks nothing (an article, a video, a one-question poll) and "
            "move personal fields and payment to later steps",
            *where,
        )
    elif ladder.spec.audience == "cold":
        yield ladder.finding(
            step,
            "the first step asks a cold visitor for an email before giving anything",
            "lead with free value (seed 003); if visitors arrive warm, from a solo-ad email they "
            "clicked, set `audience: warm` (seed 000 allows an email-only first step then)",
            *where,
            severity=WARNING,
        )


@rule("YL002", "optin-too-many-fields", ERROR, "000, 003",
      "An opt-in, or a form's first screen, asks for more than 2 fields.")  # fmt: skip
def optin_too_many_fields(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if isinstance(step, Optin):
            fields = [f.key for f in step.asked_fields()]
            where: tuple = ("ask", "fields")
        elif isinstance(step, Form):
            fields = [f.key for f in step.screens[0].fields]
            where = ("screens", 0, "fields")
        else:
            continue
        if len(fields) > 2:
            yield ladder.finding(
                step,
                f"asks for {len(fields)} fields at once ({_fields(fields)})",
                "ask only the email here; gather the rest later with progressive profiling "
                "(a form step whose screens ask one small group each)",
                *where,
            )


@rule("YL003", "commitment-jump", ERROR, "003, 001",
      "A step's commitment cost jumps too far above the steps before it.")  # fmt: skip
def commitment_jump(ladder: Ladder) -> Iterator[Finding]:
    limit = ladder.spec.lint.max_jump
    for path in ladder.paths:
        rungs = list(ladder.rungs(path))
        for before, rung in zip(rungs, rungs[1:], strict=False):
            jump = rung.cost.total - rung.level_before
            if jump > limit:
                yield ladder.finding(
                    rung.step,
                    f"commitment jumps by {jump:.1f} points (from {rung.level_before:.1f} to "
                    f"{rung.cost.total:.1f}; limit {limit:g}), mostly {rung.cost.largest_part()}",
                    f"insert a bridge step between '{before.step.key}' and '{rung.step.key}', or "
                    f"lower this step's {rung.cost.largest_part()} (a trial, a guarantee, fewer "
                    "fields, a shorter slot)",
                )


@rule("YL004", "stagnation", WARNING, "001",
      "Several steps in a row with no rise in commitment.")  # fmt: skip
def stagnation(ladder: Ladder) -> Iterator[Finding]:
    limit = ladder.spec.lint.stagnation
    for path in ladder.paths:
        run = 0
        for rung in list(ladder.rungs(ladder.before_macro(path)))[1:]:
            run = run + 1 if rung.cost.total <= rung.level_before else 0
            if run == limit:
                yield ladder.finding(
                    rung.step,
                    f"{limit} steps in a row ask no more than the steps before them",
                    "each step should ask slightly more than the last (seed 001: too small, "
                    "stagnation); merge these steps or follow them with the next real ask",
                )


@rule("YL005", "no-value", ERROR, "001, 003",
      "A step declares no value for the visitor.")  # fmt: skip
def no_value(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if step.value is None:
            yield ladder.finding(
                step,
                "the step does not say what the visitor gets",
                "add `value:` in the visitor's words, e.g. 'A 6-minute read that shows where "
                "deals stall'",
            )


@rule("YL006", "no-next-step", ERROR, "000, 001",
      "A step before the macro conversion has no next step or no call to action.")  # fmt: skip
def no_next_step(ladder: Ladder) -> Iterator[Finding]:
    last_macro = max((ladder.index[s.key] for s in ladder.macros), default=len(ladder.steps))
    for step in ladder.steps[:last_macro]:
        if step.macro:
            continue
        if not ladder.targets(step):
            yield ladder.finding(
                step,
                "the step leads nowhere: no next step",
                "set `next:` to the step that follows, so the visitor always has one clear way on",
                "next",
            )
        if step.cta is None:
            yield ladder.finding(
                step,
                "the step has no call to action",
                "add `cta:` that names what comes next, e.g. 'Show me the checklist'",
            )


@rule("YL007", "ladder-length", WARNING, "000",
      "Fewer than 2 or more than 4 micro steps before the macro conversion; none, or more "
      "than 8, is an error.")  # fmt: skip
def ladder_length(ladder: Ladder) -> Iterator[Finding]:
    counts = {
        len(ladder.before_macro(p)) for p in ladder.paths if p[-1].macro or any(s.macro for s in p)
    }
    if not counts:
        return
    macro = ladder.macros[0]
    low, high = min(counts), max(counts)
    if low == 0 or high > 8:
        n = 0 if low == 0 else high
        yield ladder.finding(
            macro,
            f"{n} micro steps before the macro conversion",
            "build a ladder of 2 to 4 small steps before the big ask (seed 000)",
            "macro",
            severity=ERROR,
        )
    elif low < 2 or high > 4:
        n = low if low < 2 else high
        yield ladder.finding(
            macro,
            f"{n} micro step{'s' if n != 1 else ''} before the macro conversion on some path",
            "2 to 4 small steps before the big conversion usually works best (seed 000); "
            "merge steps or add a bridge",
            "macro",
        )


@rule("YL008", "early-payment", ERROR, "003, 001",
      "Money is asked before the visitor got value from an earlier step.")  # fmt: skip
def early_payment(ladder: Ladder) -> Iterator[Finding]:
    for path in ladder.paths:
        for rung in ladder.rungs(path):
            if charges_money(rung.step) and not rung.value_before:
                yield ladder.finding(
                    rung.step,
                    "asks for money before any earlier step delivered value",
                    "put a free step that delivers value (a guide, a checklist, a quiz result) "
                    "before the first payment",
                )


PUSHY = re.compile(
    r"\b(buy|order|purchase|pay|sign ?up|subscribe|register|join|check ?out|enroll|book)\b"
    r".{0,20}\b(now|today|immediately|right away)\b"
    r"|\b(act now|hurry|last chance|limited time|don'?t miss|only \d+ left|before it'?s gone"
    r"|buy now|order now)\b",
    re.IGNORECASE,
)


@rule("YL009", "pushy-cta", WARNING, "000, 003",
      "A high-pressure call to action on a step before the macro conversion.")  # fmt: skip
def pushy_cta(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if step.cta and not step.macro and PUSHY.search(step.cta):
            yield ladder.finding(
                step,
                f'high-pressure call to action: "{step.cta}"',
                "name what the visitor gets instead, e.g. 'Get my free guide' or 'Show me my "
                "result' (seed 000: 'Learn More' instead of 'Buy Now')",
                "cta",
            )


@rule("YL010", "slow-entry", WARNING, "000",
      "The first step's estimated effort exceeds 10 seconds.")  # fmt: skip
def slow_entry(ladder: Ladder) -> Iterator[Finding]:
    cost = step_cost(ladder.entry, ladder.spec)
    if cost.entry_seconds > 10:
        yield ladder.finding(
            ladder.entry,
            f"the first yes takes about {cost.entry_seconds} seconds",
            "a micro-commitment should take less than 10 seconds (seed 000); split it into "
            "screens or start with a click",
        )


@rule("YL011", "form-without-progress", WARNING, "000, 003",
      "A multi-screen form with its progress indicator turned off.")  # fmt: skip
def form_without_progress(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if isinstance(step, Form) and len(step.screens) > 1 and not step.progress:
            yield ladder.finding(
                step,
                f"a {len(step.screens)}-screen form without its progress indicator",
                "set `progress: true` so visitors see 'Step 2 of 3' (seed 000)",
                "progress",
            )


@rule("YL012", "broken-ladder", ERROR, "001",
      "`next` names an unknown step, a step can never be reached, or there is no single "
      "macro conversion.")  # fmt: skip
def broken_ladder(ladder: Ladder) -> Iterator[Finding]:
    yield from _unknown_targets(ladder)
    yield from _bad_routes(ladder)
    for path in ladder.paths:
        for step in path:
            back = [s for s in ladder.successors(step) if s in path[: path.index(step) + 1]]
            for target in back:
                yield ladder.finding(
                    step,
                    f"leads back to '{target.key}': the ladder goes round in a loop",
                    "a ladder only climbs; send the visitor to a later step",
                    "next",
                )
    for step in ladder.steps:
        if step.key not in ladder.reachable:
            yield ladder.finding(
                step,
                "no path from the first step reaches this step",
                "point a `next:` at it, or remove it",
            )
    if not ladder.macros:
        yield ladder.finding(
            None,
            "no step is the macro conversion",
            "mark the big yes at the end with `macro: true`",
            "steps",
        )
    for extra in ladder.macros[1:]:
        yield ladder.finding(
            extra,
            f"a second macro conversion (the first is '{ladder.macros[0].key}')",
            "a funnel has one macro conversion; make the others micro steps",
            "macro",
        )


def _unknown_targets(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        for i, key in enumerate(ladder.targets(step)):
            if key not in ladder.index:
                where = ("next",) if isinstance(step.next, str) else ("next", i, "step")
                yield ladder.finding(
                    step,
                    f"`next` names an unknown step '{key}'",
                    f"use one of: {', '.join(ladder.index)}",
                    *where,
                )
        checkout_offer = getattr(step, "offer", None) if step.kind == "checkout" else None
        if checkout_offer is not None and not isinstance(ladder.spec.step(checkout_offer), Offer):
            yield ladder.finding(
                step,
                f"`offer` names '{checkout_offer}', which is not an offer step",
                "name the key of the offer step whose order this checkout completes",
                "offer",
            )


def _bad_routes(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if not isinstance(step.next, list):
            continue
        for i, route in enumerate(step.next):
            if route.when is None:
                if i != len(step.next) - 1:
                    yield ladder.finding(
                        step,
                        "a route without a condition comes before other routes, which "
                        "can then never be taken",
                        "put the default route last",
                        "next",
                        i,
                    )
                continue
            problem = _route_problem(step, route.when)
            if problem:
                yield ladder.finding(
                    step,
                    problem,
                    "route on this step's own quiz outcomes or answers",
                    "next",
                    i,
                    "when",
                )
        if step.next[-1].when is not None:
            yield ladder.finding(
                step,
                "every route has a condition, so some visitors have no next step",
                "end the list with a route that has no `when` (the default)",
                "next",
            )


def _route_problem(step: StepBase, when) -> str | None:
    if when.outcome is not None:
        if not isinstance(step, Quiz):
            return "routes on a quiz outcome, but this step is not a quiz"
        if when.outcome not in {o.key for o in step.outcomes}:
            return f"routes on an unknown outcome '{when.outcome}'"
        return None
    questions = {q.key: q for q in getattr(step, "questions", [])}
    if step.kind == "poll":
        questions = {step.key: step}
    question = questions.get(when.answer.question)
    if question is None:
        return f"routes on an unknown question '{when.answer.question}'"
    if when.answer.option not in {o.key for o in question.options}:
        return f"routes on an unknown option '{when.answer.option}'"
    return None


@rule("YL013", "long-first-call", ERROR, "003",
      "A call longer than 30 minutes before any other value was delivered.")  # fmt: skip
def long_first_call(ladder: Ladder) -> Iterator[Finding]:
    for path in ladder.paths:
        for rung in ladder.rungs(path):
            minutes = _call_minutes(rung.step)
            if minutes > 30 and not rung.value_before:
                yield ladder.finding(
                    rung.step,
                    f"a {minutes}-minute call before the visitor got any value",
                    "time-box the first human step to 15 minutes (seed 003) and deliver value "
                    "before it",
                    "duration",
                )


def _call_minutes(step: StepBase) -> int:
    if isinstance(step, Booking):
        return step.duration
    if isinstance(step, Event) and step.one_to_one:
        return max(s.duration for s in step.sessions)
    return 0


@rule("YL014", "unbounded-guarantee", ERROR, "003",
      "A money-back guarantee without a time window.")  # fmt: skip
def unbounded_guarantee(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if isinstance(step, Offer) and step.guarantee and step.guarantee.days is None:
            yield ladder.finding(
                step,
                "the money-back guarantee has no time window",
                "give it a window, e.g. `guarantee: {days: 30}` (seed 003: 30 or 60 days)",
                "guarantee",
            )


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
    "trial_converted": {"offer", "checkout"},
}  # fmt: skip
# What a lead did before a transactional (`marketing: false`) message may be about.
TRANSACTIONAL_EVENTS = frozenset({
    "registered", "attended", "booked", "cancelled", "checkout_started", "paid",
    "instalment_paid", "refunded", "trial_converted", "converted",
})  # fmt: skip
TIMED_KINDS = ("event", "booking")
Facts = tuple[Did, ...]  # what every lead at some point of an automation has done
Sent = dict[str, tuple]  # email key -> where the automation sent it


def _asks_consent(step: StepBase) -> bool:
    """The step takes the visitor's email with a consent record (steps/kinds.py)."""
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
