"""Safe YAML parsing that remembers on which line every key and list item stands.

PyYAML's `safe_load` forgets positions; the spec's errors must name the line, so the document is
composed into nodes once, constructed with the safe constructor, and walked for line numbers.
"""

from dataclasses import dataclass, field

import yaml

MAX_BYTES = 1_000_000
MAX_NODES = 200_000

Path = tuple[str | int, ...]


class YamlProblem(Exception):
    def __init__(self, line: int, field: str, message: str):
        super().__init__(message)
        self.line = line
        self.field = field
        self.message = message


@dataclass
class Positions:
    """Line numbers (1-based) of every mapping key and list item, by path from the root."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


# libyaml's parser, where PyYAML was built with it, composes a funnel ten times faster (the
# editor's live lint parses on every pause in typing); its error messages are not PyYAML's, so a
# document it refuses is parsed again by the pure-Python parser for the message.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str) -> tuple[object, Positions]:
    if len(text.encode()) > MAX_BYTES:
        raise YamlProblem(1, "", f"the file is larger than {MAX_BYTES:,} bytes")
    try:
        return _parse(text, FAST_LOADER)
    except YamlProblem:
        if FAST_LOADER is yaml.SafeLoader:
            raise
        return _parse(text, yaml.SafeLoader)


def _parse(text: str, loader_class) -> tuple[object, Positions]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise YamlProblem(1, "", "the file is empty; a funnel spec starts with `funnel: key`")
        positions = Positions()
        _walk(node, (), positions, _Budget())
        return loader.construct_document(node), positions
    except yaml.MarkedYAMLError as exc:
        raise _syntax_problem(exc, text) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, "", f"YAML error: {exc}") from None
    finally:
        loader.dispose()


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES

    def spend(self, node: yaml.Node) -> None:
        self.left -= 1
        if self.left < 0:
            raise YamlProblem(
                node.start_mark.line + 1, "", "the document expands to too many nodes (aliases?)"
            )


def _walk(node: yaml.Node, path: Path, positions: Positions, budget: _Budget) -> None:
    budget.spend(node)
    positions.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen and key != "<<":
                raise YamlProblem(
                    line,
                    dotted(path + (key,)),
                    f"duplicate key '{key}' (first on line {seen[key]})",
                )
            seen[key] = line
            positions.lines[path + (key,)] = line
            _walk(value_node, path + (key,), positions, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions.lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), positions, budget)


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    problem = exc.problem or "invalid YAML"
    hint = ""
    if "indent" in problem or "mapping values" in problem or "expected <block end>" in problem:
        hint = " (check the indentation of this line and the one above it)"
    elif "found character '\\t'" in problem:
        hint = " (YAML does not allow tabs for indentation; use spaces)"
    return YamlProblem(line, _key_on_line(text, line), f"YAML syntax error: {problem}{hint}")


def _key_on_line(text: str, line: int) -> str:
    """The key written on a line (or the nearest line above), to name the field at fault."""
    lines = text.splitlines()
    for number in range(min(line, len(lines)), 0, -1):
        stripped = lines[number - 1].strip().lstrip("- ").strip()
        if ":" in stripped and not stripped.startswith("#"):
            return stripped.split(":", 1)[0].strip().strip("'\"")
    return ""


def dotted(path: Path) -> str:
    """('steps', 2, 'ask', 'fields', 0) -> 'steps[2].ask.fields[0]'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
