"""What every lint rule stands on: findings, the rule registry, the ladder seen as a graph of
steps with every path from the entry, and `lint` itself (the rules are in the modules beside
this one, one family each)."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import cached_property

from yesladder.funnels.cost import CommitmentCost, delivers_value, step_cost
from yesladder.funnels.spec import SourcedSpec, SpecError, SpecProblem, variant_sources
from yesladder.funnels.spec.schema import (
    StepBase,
)

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
    variant: str = ""  # "experiment/variant" when found in an experiment's variant ladder

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
        # Kept in id order whichever family module registers first: listings read it as is.
        ordered = sorted(RULES.items())
        RULES.clear()
        RULES.update(ordered)
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
            variant=self.sourced.variant,
        )


@dataclass(frozen=True)
class Climb:
    """One rung of the longest path, as `yesladder lint --ladder` and the editor show it."""

    step: str
    kind: str
    macro: bool
    effort_seconds: int
    new_fields: tuple[str, ...]
    money: float
    time: float
    total: float
    jump: float  # from the highest cost climbed before it (the first rung: its own cost)


def climb(sourced: SourcedSpec) -> list[Climb]:
    ladder = Ladder(sourced)
    path = max(ladder.paths, key=len)
    return [
        Climb(rung.step.key, rung.step.kind, rung.step.macro, rung.cost.effort_seconds,
              tuple(rung.cost.new_fields), rung.cost.money, rung.cost.time, rung.cost.total,
              rung.cost.total - rung.level_before if rung.step is not path[0] else rung.cost.total)
        for rung in ladder.rungs(path)
    ]  # fmt: skip


def lint(sourced: SourcedSpec, disable: Iterable[str] = ()) -> list[Finding]:
    """Every rule on the funnel's ladder, then on each experiment variant's ladder on its own:
    a variant's finding is reported once, naming the variant, unless the ladder as written has
    the same finding (it is then the funnel's, said once)."""
    off = set(sourced.spec.lint.disable) | set(disable)
    findings = _checked(sourced, off)
    said = {(f.rule, f.step, f.message) for f in findings}
    for variant in variant_sources(sourced):
        findings |= {
            replace(f, message=f"in variant {f.variant}: {f.message}")
            for f in _checked(variant, off)
            if (f.rule, f.step, f.message) not in said
        }
    return sorted(findings, key=lambda f: (f.file, f.line, f.rule, f.step or "", f.variant))


def _checked(sourced: SourcedSpec, off: set[str]) -> set[Finding]:
    findings: set[Finding] = set()
    for rule_ in RULES.values():
        if rule_.id not in off:
            findings.update(rule_.check(Ladder(sourced, rule_.id)))
    return findings


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
