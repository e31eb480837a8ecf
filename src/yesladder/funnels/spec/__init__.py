"""Reading funnel spec files: YAML in, a validated `FunnelSpec` or located problems out."""

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from yesladder.funnels.spec.schema import KINDS, FunnelSpec
from yesladder.funnels.spec.variants import Built, variants
from yesladder.funnels.spec.yamlsource import Positions, YamlProblem, dotted, parse

__all__ = [
    "SpecProblem", "SpecError", "SourcedSpec", "read_spec", "parse_spec", "FunnelSpec",
    "variant_sources",
]  # fmt: skip


@dataclass(frozen=True)
class SpecProblem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}: {where}{self.message}"


class SpecError(Exception):
    def __init__(self, problems: list[SpecProblem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class SourcedSpec:
    """A valid spec with the text it came from and where each part of it stands."""

    spec: FunnelSpec
    positions: Positions
    file: str
    text: str
    variant: str = ""  # "experiment/variant" for a variant's ladder; "" for the funnel's own


def read_spec(path: str | Path) -> SourcedSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([SpecProblem(str(path), 0, "", "no such file")]) from None
    except UnicodeDecodeError:
        raise SpecError([SpecProblem(str(path), 0, "", "the file is not UTF-8 text")]) from None
    except OSError as exc:
        raise SpecError([SpecProblem(str(path), 0, "", f"cannot read: {exc.strerror}")]) from None
    return parse_spec(text, str(path))


def parse_spec(text: str, file: str = "<spec>") -> SourcedSpec:
    try:
        data, positions = parse(text)
    except YamlProblem as problem:
        raise SpecError([SpecProblem(file, problem.line, problem.field, problem.message)]) from None
    if not isinstance(data, dict):
        raise SpecError(
            [SpecProblem(file, 1, "", "a funnel spec is a mapping that starts with `funnel: key`")]
        )
    try:
        spec = FunnelSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error, data, positions, file) for error in exc.errors()]
        raise SpecError(sorted(set(problems), key=lambda p: (p.line, p.field))) from None
    sourced = SourcedSpec(spec=spec, positions=positions, file=file, text=text)
    variant_sources(sourced)  # a variant that builds no valid ladder is a spec error
    return sourced


def variant_sources(sourced: SourcedSpec) -> list[SourcedSpec]:
    """Every experiment variant's ladder (controls aside) as a spec of its own, with its steps
    at the lines they were written on; raises SpecError if one cannot be built."""
    if not sourced.spec.experiments:
        return []
    data = sourced.spec.model_dump(mode="json", exclude_unset=True)
    built = variants(data, sourced.positions)
    problems = [
        SpecProblem(sourced.file, sourced.positions.line(where), dotted(where), message)
        for b in built
        for where, message in b.problems
    ]
    if problems:
        raise SpecError(sorted(set(problems), key=lambda p: (p.line, p.field)))
    return [_sourced(sourced, b) for b in built]


def _sourced(sourced: SourcedSpec, built: Built) -> SourcedSpec:
    return SourcedSpec(built.spec, built.positions, sourced.file, sourced.text, built.name)


def _problem(error: dict, data: object, positions: Positions, file: str) -> SpecProblem:
    path = _data_path(error["loc"], data)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    message = error["msg"]
    if kind == "missing":
        message = f"missing required field '{path[-1]}'"
    elif kind == "unknown_field":
        path = path + (ctx["field"],)
    elif kind == "union_tag_invalid":
        path = path + ("kind",)
        message = f"unknown step kind {ctx.get('tag')!r}; expected one of: {', '.join(KINDS)}"
    elif kind == "union_tag_not_found":
        path = path + ("kind",)
        message = f"missing required field 'kind' (one of: {', '.join(KINDS)})"
    elif kind == "string_pattern_mismatch" and "a-z0-9" in str(ctx.get("pattern", "")):
        message = "expected a key of lower-case letters, digits and dashes, such as 'free-guide'"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        message = f"{message}, got {_shown(error.get('input'))}"
    message = message.removeprefix("Value error, ")
    if message.startswith("Input should be "):
        message = "expected " + message.removeprefix("Input should be ")
    return SpecProblem(file, positions.line(path), dotted(path), message)


def _data_path(loc: tuple, data: object) -> tuple:
    """Pydantic puts the tag of a discriminated union into the location; drop it."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
