"""The shape of the house, read from the code's own imports: no circle between files or apps,
imports only run down the layers of docs/decisions.md ("The map"), pure cores know no Django,
services never import surfaces, and reactors are reached only through yesladder.reactions."""

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "yesladder"

# Bottom to top. An app may import its own modules and those of lower layers, never a
# neighbour on its own layer or anything above.
LAYERS = [
    {
        "env",
        "events",
        "reactions",
        "seams",
        "database",
        "localserver",
        "examples",
        "metrics",
        "options",
    },  # fmt: skip
    {"sqlite_backend"},
    {"team"},
    {"funnels", "leads"},
    {"tracking"},
    {"analytics", "offers", "scheduling"},
    {"experiments"},
    {"automation", "steps"},
    {"warehouse"},
    {"operations"},
    {"dashboard", "demo", "cli", "urls", "security", "wsgi", "settings"},
]
RANK = {room: rank for rank, rooms in enumerate(LAYERS) for room in rooms}

# Pure cores: plain Python fed plain values, testable without a database or a request.
PURE = [
    "yesladder.events",
    "yesladder.options",
    "yesladder.funnels.spec",
    "yesladder.funnels.lint",
    "yesladder.funnels.cost",
    "yesladder.funnels.scoring",
    "yesladder.funnels.money",
    "yesladder.analytics.climb",
    "yesladder.analytics.footprint",
    "yesladder.analytics.rules",
    "yesladder.analytics.chart",
    "yesladder.analytics.verdicts",
    "yesladder.automation.standing",
    "yesladder.scheduling.slots",
    "yesladder.tracking.segment",
    "yesladder.experiments.stats",
    "yesladder.experiments.simulation",
]

# What a person or a program talks to; the rest of the house never imports these.
SURFACE_NAMES = {"views", "api", "urls", "admin", "cli", "forms", "previews", "wsgi"}

# Reactors: registered in their AppConfig, called by yesladder.reactions, named nowhere else.
REACTORS = {
    "yesladder.analytics.progress": {"on_events", "on_stitched", "recount_visitor", "restitch"},
    "yesladder.automation.engine": {"on_events", "on_stitched"},
    "yesladder.automation.hooks": {"on_lead_created", "on_lead_updated"},
    "yesladder.experiments.assignment": {"on_stitched"},
    "yesladder.warehouse.shipping": {"on_stitched"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
}


def resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> list[tuple[str, str, int]]:
    """(imported module, name taken, line) for every import of ours, at any depth of the
    file (an import inside a function is an arrow too)."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                target = whole if resolve(whole) == whole else node.module
                found.append((target, alias.name, node.lineno))
    ours = [(resolve(name), taken, line) for name, taken, line in found
            if name.startswith("yesladder")]  # fmt: skip
    return [(target, taken, line) for target, taken, line in ours
            if target not in (None, "yesladder")]  # fmt: skip


GRAPH = {module: imports(module) for module in MODULES}


def room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def is_surface(module: str) -> bool:
    parts = module.split(".")
    return bool(SURFACE_NAMES & set(parts)) or "management" in parts or "templatetags" in parts


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iteratively)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                member, component = None, []
                while member != node:
                    member = stack.pop()
                    on.discard(member)
                    component.append(member)
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_guard_reads_the_house():
    assert len(MODULES) > 100
    assert ("yesladder.tracking.models", "Event", 14) in GRAPH["yesladder.tracking.identity"]


def test_no_circle_between_files():
    edges = {m: {target for target, _, _ in found} for m, found in GRAPH.items()}
    assert circles(edges) == []


def test_no_circle_between_apps():
    edges = defaultdict(set)
    for module, found in GRAPH.items():
        edges[room(module)] |= {room(t) for t, _, _ in found if room(t) != room(module)}
    assert circles(edges) == []


def test_every_room_has_a_layer():
    assert {room(module) for module in MODULES} - {"yesladder"} <= set(RANK)


def test_imports_run_down_the_layers():
    upward = [
        f"{module}:{line} imports {target} ({room(module)} may not reach {room(target)})"
        for module, found in GRAPH.items()
        for target, _, line in found
        if room(target) != room(module) and RANK[room(target)] >= RANK[room(module)]
    ]
    assert upward == []


@pytest.mark.parametrize("core", PURE)
def test_pure_cores_know_no_django(core):
    mine = [m for m in MODULES if m == core or m.startswith(core + ".")]
    if not mine:
        pytest.skip(f"{core} is not in the tree yet")
    for module in mine:
        tree = ast.parse(MODULES[module].read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module]  # fmt: skip
        assert not [n for n in names if n == "django" or n.startswith("django.")], module
        for target, _, _ in GRAPH[module]:
            assert any(target == p or target.startswith(p + ".") for p in PURE), (
                f"{module} (pure) imports {target}, which is not pure"
            )


def test_services_never_import_surfaces():
    wrong = [
        f"{module}:{line} imports the surface {target}"
        for module, found in GRAPH.items()
        if not is_surface(module)
        for target, _, line in found
        if is_surface(target)
    ]
    assert wrong == []


def test_reactors_are_reached_only_through_the_registry():
    wrong = []
    for module, found in GRAPH.items():
        if module.endswith(".apps"):
            continue  # where each app registers its reactors
        for target, taken, line in found:
            if target not in REACTORS or room(target) == room(module):
                continue
            whole = taken in ("", target.rpartition(".")[2])  # the module, with every reactor
            if whole or taken in REACTORS[target]:
                wrong.append(f"{module}:{line} takes {taken or target} from {target}")
    assert wrong == []


def test_writers_do_not_know_the_reactors():
    writers = ["yesladder.tracking", "yesladder.leads", "yesladder.offers", "yesladder.scheduling"]
    for module, found in GRAPH.items():
        if any(module.startswith(w + ".") for w in writers):
            assert not [t for t, _, _ in found if room(t) in ("analytics", "automation")], module


def test_no_app_imports_another_apps_command():
    """A management command is a surface of its own app: what another app needs of it lives
    in a module of that app (the simulator's crowd in demo.simulate, a verdict's colour in
    analytics.render)."""
    wrong = [
        f"{module}:{line} imports {target}"
        for module, found in GRAPH.items()
        for target, _, line in found
        if ".management.commands." in target and room(target) != room(module)
    ]
    assert wrong == []


@pytest.mark.experiments  # elsewhere the tests empty the starting-version slot
def test_every_runtime_seam_is_declared_filled_and_on_the_map():
    """The reactors (yesladder.reactions) and the lookup slots (yesladder.seams) are every
    runtime seam; each slot is filled once the apps are ready, and the map in
    docs/decisions.md names it."""
    from yesladder import seams

    decisions = (SRC.parent / "docs" / "decisions.md").read_text()
    for seam in seams.SEAMS:
        filled = seam.filled if isinstance(seam, seams.Slot) else seam.entries
        assert filled, f"seams: {seam.name} is empty after the apps are ready"
    for name in ("STARTING_VERSION", "VARIANT_NAMES", "GUARDRAILS", "ENGINES", "JOBS"):
        assert f"seams.{name}" in decisions, f"docs/decisions.md's map does not name {name}"
