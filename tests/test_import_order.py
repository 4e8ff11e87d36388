"""Imports run only downward, and no two modules import each other (the order is docs/architecture.md's).

Every `import` in the package counts, deferred ones inside functions and TYPE_CHECKING ones
included, because a deferred import is still a dependency: it only hides the cycle. So does an
import by name: `importlib.import_module("edge_agent.…")`, and a module's dotted name written in a
table for a later `import_module` (cli/main.py's commands, actions/kinds.py's kinds).

Within a layer a module may import another, but never in a circle (A imports B and B imports A,
directly or through others): a cycle means neither can be read, tested or moved without the other.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_agent"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DOTTED_MODULE = re.compile(r"edge_agent(\.\w+)+")
IMPORT_BY_NAME = {"import_module", "__import__"}

# cycles known and being removed: the modules in the cycle -> why it is still here
ALLOWED_CYCLES: dict[frozenset, str] = {}  # a cycle inside a layer needs an entry here with its reason


def layers_from_docs() -> dict[str, int]:
    """`{top-level module or subpackage: rank}` from the ```import-order block, lowest first."""
    block = re.search(r"```import-order\n(.*?)```", ARCHITECTURE.read_text(encoding="utf-8"), re.S)
    assert block, f"{ARCHITECTURE} has no ```import-order block"
    ranks: dict[str, int] = {}
    for rank, line in enumerate(row for row in block.group(1).splitlines() if row.strip()):
        for name in line.split("#")[0].split():
            assert name not in ranks, f"{name} is listed twice in the import order"
            ranks[name] = rank
    return ranks


def unit_of(module: str) -> str:
    """`edge_agent.sources.access.osdp` -> `sources`; the package itself -> `edge_agent`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edge_agent"


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path) for path in PACKAGE.rglob("*.py")}


def _imported_by_name(node: ast.AST) -> ast.Constant | None:
    """The constant argument of `import_module("edge_agent…")` / `importlib.import_module(…)` / `__import__(…)`."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    argument = node.args[0]
    if function in IMPORT_BY_NAME and isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument if argument.value.split(".")[0] == "edge_agent" else None
    return None


def imported_modules(source: str, name: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import of the package's own modules in module `name`'s source.

    `from edge_agent.web import handlers` names the module edge_agent.web.handlers; `from edge_agent.events
    import Alert` names the package edge_agent.events (Alert is an attribute)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    tree = ast.parse(source)
    by_name = {id(argument) for node in ast.walk(tree) if (argument := _imported_by_name(node)) is not None}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "edge_agent":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "edge_agent":
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                yield node.lineno, submodule if submodule in MODULES or target == "edge_agent" else target
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # import_module's argument, or a module's name in a table that is imported by name later
            if id(node) in by_name or (DOTTED_MODULE.fullmatch(node.value) and node.value in MODULES):
                yield node.lineno, node.value


def package_imports() -> dict[str, list[tuple[int, str]]]:
    """{module: [(line, imported module), ...]} for every module of the package."""
    return {
        module_name(path): list(
            imported_modules(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
        )
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def violations() -> list[str]:
    ranks = layers_from_docs()
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        unit = unit_of(name)
        assert unit in ranks, f"{path.relative_to(ROOT)}: '{unit}' is not placed in docs/architecture.md's import order"
        for line, target in imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py"):
            target_unit = unit_of(target)
            # `from edge_agent import __version__` names an attribute of the package root
            if ranks.get(target_unit, ranks["edge_agent"]) > ranks[unit]:
                where = f"{path.relative_to(ROOT)}:{line}"
                found.append(f"{where}: {unit} imports {target} ({target_unit} comes later in the import order)")
    return found


def import_graph(imports: dict[str, list[tuple[int, str]]]) -> dict[str, dict[str, int]]:
    """{module: {module it imports: first line}}, only the package's own modules, no self-imports."""
    graph: dict[str, dict[str, int]] = {}
    for module, found in imports.items():
        edges = graph.setdefault(module, {})
        for line, target in sorted(found):
            if target in imports and target != module:
                edges.setdefault(target, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def a_cycle_through(component: frozenset[str], graph: dict[str, dict[str, int]], start: str) -> str:
    """One closed path from `start` inside `component`, with the line of each import, for the failure message."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for child in sorted(graph[node]):
            if child == start:
                path = paths[node] + [start]
                return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(path, path[1:])) + f" -> {start}"
            if child in component and child not in paths:
                paths[child] = paths[node] + [child]
                frontier.append(child)
    raise AssertionError(f"{sorted(component)} is not a cycle")


def unexplained_cycles(graph: dict[str, dict[str, int]]) -> list[str]:
    """One line per cycle not allowed: its modules, then a path through one that no allowed cycle explains."""
    allowed = set().union(*ALLOWED_CYCLES)
    found = []
    for component in cycles(graph):
        if component not in ALLOWED_CYCLES:
            start = min(component - allowed or component)
            found.append(f"{', '.join(sorted(component))}: {a_cycle_through(component, graph, start)}")
    return found


def test_no_module_imports_a_later_stage():
    found = violations()
    assert not found, "imports that run upward:\n" + "\n".join(found)


def test_no_two_modules_import_each_other():
    found = unexplained_cycles(import_graph(package_imports()))
    assert not found, "import cycles (move what both need into a module of its own):\n" + "\n".join(found)


def test_every_allowed_cycle_is_still_one():
    """An entry whose cycle is gone would hide the next cycle between those modules: remove it."""
    current = set(cycles(import_graph(package_imports())))
    stale = [sorted(component) for component in ALLOWED_CYCLES if component not in current]
    assert not stale, f"ALLOWED_CYCLES entries that are no longer cycles: {stale}"


def test_the_order_names_every_part_of_the_package():
    ranks = layers_from_docs()
    units = {unit_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units <= set(ranks), f"not in docs/architecture.md's import order: {sorted(units - set(ranks))}"
    assert set(ranks) <= units, f"in the import order but not in the package: {sorted(set(ranks) - units)}"


def test_the_checker_sees_deferred_and_relative_upward_imports():
    source = "from . import tamper\n\ndef f():\n    from edge_agent.daemon.agent import Agent\n    return Agent\n"
    found = list(imported_modules(source, "edge_agent.sources.camera"))
    assert found == [(1, "edge_agent.sources.tamper"), (4, "edge_agent.daemon.agent")]


def test_the_checker_sees_imports_by_name():
    source = (
        "import importlib\nfrom importlib import import_module\n\n"
        'KINDS = {"x": ("edge_agent.publish.commands", "CommandServer")}\n'
        "def f(name):\n"
        '    importlib.import_module("edge_agent.daemon.agent")\n'
        '    import_module("edge_agent.web.nowhere")\n'
        '    return "edge_agent.daemon is a package, named in a sentence, not imported"\n'
    )
    found = list(imported_modules(source, "edge_agent.sources.camera"))
    assert sorted(found) == [
        (4, "edge_agent.publish.commands"),
        (6, "edge_agent.daemon.agent"),
        (7, "edge_agent.web.nowhere"),
    ]


def test_the_checker_finds_a_new_cycle():
    graph = import_graph(package_imports())
    assert unexplained_cycles(graph) == []
    back = graph["edge_agent.store.outbox"]["edge_agent.store.capacity"]  # outbox imports capacity on this line
    graph["edge_agent.store.capacity"]["edge_agent.store.outbox"] = 1
    assert unexplained_cycles(graph) == [
        "edge_agent.store.capacity, edge_agent.store.outbox: edge_agent.store.capacity (line 1)"
        f" -> edge_agent.store.outbox (line {back}) -> edge_agent.store.capacity"
    ]
    graph["edge_agent.daemon.reporting"]["edge_agent.daemon.agent"] = 2  # a cycle through three daemon modules
    [grown] = [line for line in unexplained_cycles(graph) if "edge_agent.daemon.agent" in line]
    assert "edge_agent.daemon.agent" in grown and "edge_agent.daemon.reporting (line 2)" in grown
