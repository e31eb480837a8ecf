"""The ladder's shape along every path: gradual climbs, no flat stretches, a next step
everywhere, 2-4 steps before the big ask, no route into nowhere (YL003, YL004, YL006, YL007,
YL012).
"""

from collections.abc import Iterator

from yesladder.funnels.lint.core import ERROR, WARNING, Finding, Ladder, rule
from yesladder.funnels.spec.schema import (
    Offer,
    Quiz,
    StepBase,
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
        if when.outcome not in {o.key for o in step.results()}:
            return f"routes on an unknown {'tier' if step.scored() else 'outcome'} '{when.outcome}'"
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
