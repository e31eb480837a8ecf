"""Each variant of an experiment as a whole funnel spec of its own.

Pure module (no Django). A variant is built from the spec's data (the JSON a version stores), so
what the linter checks, what the loader stores and what visitors walk are the same ladder. Where
each part of the variant came from is kept as its own `Positions`: a finding on a step the
variant took unchanged points at that step in the file, one on a changed field at the change.
"""

import copy
from dataclasses import dataclass, field

from pydantic import ValidationError

from yesladder.funnels.spec.experiments import OFFER_FIELDS
from yesladder.funnels.spec.schema import FunnelSpec
from yesladder.funnels.spec.yamlsource import Path, Positions, dotted

PLAN_FIELDS = ("price", "instalments", "phases")  # an offer has exactly one of these


@dataclass
class Built:
    """One variant: its spec data, where its parts stand in the file, and what is wrong."""

    experiment: str
    variant: str
    data: dict
    positions: Positions
    problems: list[tuple[Path, str]] = field(default_factory=list)  # (where, message)
    spec: FunnelSpec | None = None

    @property
    def name(self) -> str:
        return f"{self.experiment}/{self.variant}"


def variants(data: dict, positions: Positions) -> list[Built]:
    """Every variant that is not a control, of every experiment, built."""
    return [
        build(data, positions, e, v)
        for e, experiment in enumerate(data.get("experiments", []))
        for v, variant in enumerate(experiment["variants"])
        if variant["key"] != experiment["control"]
    ]


def build(data: dict, positions: Positions, e: int, v: int) -> Built:
    experiment = data["experiments"][e]
    variant = experiment["variants"][v]
    here: Path = ("experiments", e, "variants", v)
    built = Built(experiment["key"], variant["key"], {}, Positions())
    ladder = _Ladder(data, here, built.problems)
    ladder.remove(variant.get("remove", []))
    ladder.replace(variant.get("replace", {}))
    ladder.add(variant.get("add", []))
    ladder.reorder(variant.get("order"))
    ladder.change(variant.get("steps", {}))
    built.data = {key: value for key, value in data.items() if key != "experiments"}
    built.data["steps"] = [ladder.steps[key] for key in ladder.order]
    if "benchmarks" in data:
        built.data["benchmarks"] = {
            k: b for k, b in data["benchmarks"].items() if k in ladder.steps
        }
    built.positions = _positions(positions, ladder)
    if built.problems:
        return built
    try:
        built.spec = FunnelSpec.model_validate(built.data)
    except ValidationError as exc:
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            where = dotted(tuple(error["loc"]))
            built.problems.append(
                (here, f"variant '{variant['key']}' builds an invalid ladder: {where}: {message}")
            )
    return built


class _Ladder:
    """The variant's steps as they are being built, and where each came from in the file."""

    def __init__(self, data: dict, here: Path, problems: list):
        self.here = here
        self.problems = problems
        self.steps = {s["key"]: copy.deepcopy(s) for s in data["steps"]}
        self.order = [s["key"] for s in data["steps"]]
        self.origin: dict[str, Path] = {s["key"]: ("steps", i) for i, s in enumerate(data["steps"])}
        self.changed: dict[tuple[str, str], Path] = {}

    def known(self, key: str, *where) -> bool:
        if key in self.order:
            return True
        self.problems.append(
            (self.here + where, f"names step '{key}', which is not in this variant's ladder "
                                f"(steps: {', '.join(self.order)})")
        )  # fmt: skip
        return False

    def remove(self, keys: list[str]) -> None:
        for i, key in enumerate(keys):
            if self.known(key, "remove", i):
                self.order.remove(key)
                del self.steps[key]

    def replace(self, replacements: dict[str, dict]) -> None:
        for key, step in replacements.items():
            if self.known(key, "replace", key):
                self.steps[key] = {**copy.deepcopy(step), "key": key}
                self.origin[key] = (*self.here, "replace", key)

    def add(self, added: list[dict]) -> None:
        for i, item in enumerate(added):
            step = copy.deepcopy(item["step"])
            key, after = step.get("key"), item.get("after")
            if not isinstance(key, str) or key in self.steps:
                self.problems.append(
                    ((*self.here, "add", i, "step", "key"),
                     f"an added step needs a key of its own; '{key}' is taken or missing")
                )  # fmt: skip
                continue
            if after is not None and not self.known(after, "add", i, "after"):
                continue
            self.order.insert(self.order.index(after) + 1 if after else 0, key)
            self.steps[key] = step
            self.origin[key] = (*self.here, "add", i, "step")

    def reorder(self, order: list[str] | None) -> None:
        if not order:
            return
        missing = [k for k in self.order if k not in order]
        unknown = [k for k in order if k not in self.order]
        twice = sorted({k for k in order if order.count(k) > 1})
        if missing or unknown or twice:
            found = {"missing": missing, "unknown": unknown, "twice": twice}
            said = [f"{what}: {', '.join(keys)}" for what, keys in found.items() if keys]
            self.problems.append(
                ((*self.here, "order"),
                 f"`order` lists every step of the variant's ladder once ({'; '.join(said)})")
            )  # fmt: skip
            return
        self.order = list(order)

    def change(self, changes: dict[str, dict]) -> None:
        for key, change in changes.items():
            if not self.known(key, "steps", key):
                continue
            step = self.steps[key]
            for name, value in change.items():
                where = (*self.here, "steps", key, name)
                if name in OFFER_FIELDS and step.get("kind") != "offer":
                    self.problems.append((where, f"only an offer step takes `{name}`"))
                    continue
                if name == "body" and step.get("kind") != "content":
                    self.problems.append((where, "only a content step takes `body`"))
                    continue
                if name in PLAN_FIELDS:
                    for plan in PLAN_FIELDS:
                        step.pop(plan, None)
                step[name] = value
                self.changed[(key, name)] = where


def _positions(positions: Positions, ladder: _Ladder) -> Positions:
    """The variant's own positions: its steps at the lines they were written on."""
    lines = {path: line for path, line in positions.lines.items() if path[:1] != ("steps",)}
    index = {origin: i for i, origin in enumerate(ladder.origin[k] for k in ladder.order)}
    for path, line in positions.lines.items():
        for size in (2, 6, 7):  # ("steps", i), a replacement, an added step
            if path[:size] in index:
                lines[("steps", index[path[:size]], *path[size:])] = line
                break
    position = {key: i for i, key in enumerate(ladder.order)}
    for (key, name), where in ladder.changed.items():
        lines[("steps", position[key], name)] = positions.line(where)
    return Positions(lines)
