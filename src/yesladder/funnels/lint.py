"""The ladder linter: audits a funnel against the micro-commitment rules of the seed articles.

Pure module. Each rule has an id, a name, a default severity and a rationale citing its seed
(docs/lint-rules.md). Rules look at the ladder along every path a visitor can take through it.
"""

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cached_property

from yesladder.funnels.cost import CommitmentCost, charges_money, delivers_value, step_cost
from yesladder.funnels.spec import SourcedSpec, SpecError, SpecProblem
from yesladder.funnels.spec.schema import Booking, Event, Form, Offer, Optin, Quiz, StepBase

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
