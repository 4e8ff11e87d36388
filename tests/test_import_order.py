"""Imports run only downward: a stage never imports a later stage (the order is docs/architecture.md's).

Every `import` in the package counts, deferred ones inside functions and TYPE_CHECKING ones
included, because a deferred import is still a dependency: it only hides the cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edge_agent"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


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


def imported_modules(source: str, name: str, is_package: bool = False):
    """(line, imported module) for every import of the package's own modules in module `name`'s source."""
    package = name if is_package else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
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
            if target == "edge_agent":  # `from edge_agent import chain` names modules, not only attributes
                for alias in node.names:
                    yield node.lineno, f"edge_agent.{alias.name}"
            else:
                yield node.lineno, target


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


def test_no_module_imports_a_later_stage():
    found = violations()
    assert not found, "imports that run upward:\n" + "\n".join(found)


def test_the_order_names_every_part_of_the_package():
    ranks = layers_from_docs()
    units = {unit_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units <= set(ranks), f"not in docs/architecture.md's import order: {sorted(units - set(ranks))}"
    assert set(ranks) <= units, f"in the import order but not in the package: {sorted(set(ranks) - units)}"


def test_the_checker_sees_deferred_and_relative_upward_imports():
    source = "from . import tamper\n\ndef f():\n    from edge_agent.daemon.agent import Agent\n    return Agent\n"
    found = list(imported_modules(source, "edge_agent.sources.camera"))
    assert found == [(1, "edge_agent.sources"), (4, "edge_agent.daemon.agent")]
