"""A module's file name says one thing: two modules in different packages may not share a name.

`records.py` once meant the outbox's rows, the action recorder and the platform's message checks;
`from edge_agent.store import state` said nothing a reader could trust. So a repeated file name fails
here unless it is one of the few names below that mean the same kind of thing wherever they are, or a
package convention names the module after what it belongs to:

- `config/X.py` holds the config models of X (it defines a `Section`), so it may repeat the name of
  the module it configures (`config/outbox.py` configures `store/outbox.py`);
- `cli/X.py` is the command `edge-agent X` (it registers that command), so it may repeat the name of
  what the command runs (`cli/demo.py` runs `replay/demo.py`).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import PurePosixPath

from tests.test_import_order import PACKAGE

# file name -> why it may repeat
ALLOWED_NAMES = {
    "__init__.py": "a package's own module: the package's name is its name",
    "base.py": "the base its package's members build on, one meaning wherever it is: config's strict `Section` and"
    " shared field types, the action kind interface (actions/), the access adapter interface (sources/access/)",
    "worker.py": "its package's worker thread taking jobs from a bounded queue: the shared detector's (vision/),"
    " one per action (actions/)",
}


def configures_something(source: str) -> bool:
    """A config module: it defines at least one config model (a subclass of `Section`)."""
    return any(
        isinstance(node, ast.ClassDef) and any(getattr(base, "id", None) == "Section" for base in node.bases)
        for node in ast.walk(ast.parse(source))
    )


def registers_command(source: str, command: str) -> bool:
    """A command module: it calls `add_parser("<command>", ...)`."""
    return any(
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "add_parser"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == command
        for node in ast.walk(ast.parse(source))
    )


def named_for_what_it_belongs_to(path: PurePosixPath, source: str) -> bool:
    package = path.parent.as_posix()
    if package == "config":
        return configures_something(source)
    if package == "cli":
        return registers_command(source, path.stem.replace("_", "-"))
    return False


def clashes(modules: dict[PurePosixPath, str]) -> list[str]:
    """`{path inside the package: source}` -> one line per file name that means two things."""
    by_name: dict[str, list[PurePosixPath]] = defaultdict(list)
    for path in modules:
        by_name[path.name].append(path)
    found = []
    for name, paths in sorted(by_name.items()):
        if len(paths) < 2 or name in ALLOWED_NAMES:
            continue
        unexplained = [path for path in paths if not named_for_what_it_belongs_to(path, modules[path])]
        if len(unexplained) > 1:
            found.append(f"{name}: {', '.join(sorted(path.as_posix() for path in paths))}")
    return found


def package_modules() -> dict[PurePosixPath, str]:
    return {
        PurePosixPath(path.relative_to(PACKAGE).as_posix()): path.read_text(encoding="utf-8")
        for path in PACKAGE.rglob("*.py")
    }


def test_no_two_modules_share_a_file_name():
    found = clashes(package_modules())
    assert not found, (
        "modules that share a file name (rename one so each name says what it is, or add the name to"
        " ALLOWED_NAMES with the reason it means one thing everywhere):\n" + "\n".join(found)
    )


def test_every_allowed_name_still_repeats():
    """A name kept on the list after its twin was renamed would let the next clash through unread."""
    names = [path.name for path in package_modules()]
    stale = [name for name in ALLOWED_NAMES if names.count(name) < 2]
    assert not stale, f"ALLOWED_NAMES entries that no longer repeat: {stale}"


def test_the_checker_sees_a_repeated_name_and_honours_only_real_conventions():
    section = "from edge_agent.config.base import Section\n\nclass OutboxConfig(Section):\n    size: int = 1\n"
    command = "def register(subparsers):\n    subparsers.add_parser('outbox', help='x')\n"
    assert clashes({PurePosixPath("store/state.py"): "", PurePosixPath("publish/state.py"): ""}) == [
        "state.py: publish/state.py, store/state.py"
    ]
    named = {PurePosixPath("config/outbox.py"): section, PurePosixPath("cli/outbox.py"): command}
    assert clashes({**named, PurePosixPath("store/outbox.py"): ""}) == []
    # a config module that configures nothing, or a cli module that registers another command, is no excuse
    assert clashes({PurePosixPath("config/outbox.py"): "X = 1\n", PurePosixPath("store/outbox.py"): ""})
    assert clashes({PurePosixPath("cli/outbox.py"): command.replace("'outbox'", "'queue'"),
                    PurePosixPath("store/outbox.py"): ""})  # fmt: skip
    # the conventions excuse one module each, not two unrelated ones beside them
    assert clashes({**named, PurePosixPath("store/outbox.py"): "", PurePosixPath("publish/outbox.py"): ""})
