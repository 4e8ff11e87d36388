"""Functions stay within 60 lines and modules within 400 (DEVELOPERS.md), unless a comment says why.

A function counts from its `def` to its last line, docstring included. One that must be longer says so
in a comment on the line above its `def` (above its decorators), `# long function: <why>`; a module, in
a line `# long module: <why>`. Splitting by meaning comes first: the comment is for the rare function
that reads best whole.
"""

from __future__ import annotations

import ast
import re
from pathlib import PurePosixPath

from tests.test_import_order import PACKAGE

MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
FUNCTION_REASON = re.compile(r"^\s*# long function: \S")
MODULE_REASON = re.compile(r"^# long module: \S", re.M)

# path inside the package -> why it may be longer for now (each entry is a debt with its reason)
MODULES_OVER_THE_LIMIT: dict[str, str] = {}  # module -> why it is over 400 lines


def long_functions(source: str, where: str) -> list[str]:
    """One line per function over MAX_FUNCTION_LINES whose `def` has no `# long function: <why>` above it."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
        above = lines[first - 2] if first >= 2 else ""
        if length > MAX_FUNCTION_LINES and not FUNCTION_REASON.match(above):
            found.append(f"{where}:{node.lineno}: {node.name} is {length} lines")
    return found


def long_module(source: str, where: str) -> str | None:
    length = len(source.splitlines())
    if length > MAX_MODULE_LINES and where not in MODULES_OVER_THE_LIMIT and not MODULE_REASON.search(source):
        return f"{where} is {length} lines"
    return None


def package_sources() -> dict[str, str]:
    return {
        PurePosixPath(path.relative_to(PACKAGE).as_posix()).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_no_function_is_over_60_lines_without_a_reason():
    found = [line for where, source in package_sources().items() for line in long_functions(source, where)]
    assert not found, (
        f"functions over {MAX_FUNCTION_LINES} lines (split them by meaning, or say why above the def with"
        " `# long function: <why>`):\n" + "\n".join(found)
    )


def test_no_module_is_over_400_lines_without_a_reason():
    found = [line for where, source in package_sources().items() if (line := long_module(source, where))]
    assert not found, (
        f"modules over {MAX_MODULE_LINES} lines (split them by meaning, or say why with `# long module: <why>`):\n"
        + "\n".join(found)
    )


def test_every_module_allowed_over_the_limit_still_is():
    sources = package_sources()
    stale = [where for where in MODULES_OVER_THE_LIMIT if len(sources.get(where, "").splitlines()) <= MAX_MODULE_LINES]
    assert not stale, f"MODULES_OVER_THE_LIMIT entries no longer needed: {stale}"


def test_the_checker_counts_from_def_to_the_last_line_and_honours_only_a_stated_reason():
    body = "".join(f"    x{n} = {n}\n" for n in range(59))
    over = f"def f():\n{body}    return x0\n"  # def + 59 + return: 61 lines
    assert long_functions(over, "m.py") == ["m.py:1: f is 61 lines"]
    assert long_functions(over.replace("    x58 = 58\n", ""), "m.py") == []  # 60 lines is within the limit
    decorated = f"import functools\n\n\n# long function: one table, read top to bottom\n@functools.cache\n{over}"
    assert long_functions(decorated, "m.py") == []
    assert long_functions(decorated.replace("one table, read top to bottom", ""), "m.py")  # a reason is required
    method = "class C:\n" + "".join(f"    {line}\n" for line in over.splitlines())
    assert long_functions(method, "m.py") == ["m.py:2: f is 61 lines"]
    module = "x = 1\n" * 401
    assert long_module(module, "m.py") == "m.py is 401 lines"
    assert long_module("# long module: a generated table\n" + module, "m.py") is None
    assert long_module(module[: -len("x = 1\n")], "m.py") is None


def redefined_methods(source: str, where: str) -> list[str]:
    """A class that defines one name twice: the second silently replaces the first (merging two branches that each
    added a `_desk` helper to the agent's face did exactly that, and one of them then called the other's object)."""
    found = []
    for cls in (node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef)):
        seen: set[str] = set()
        for node in cls.body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if any(d.endswith((".setter", ".deleter", "overload")) for d in decorators):
                continue
            if node.name in seen:
                found.append(f"{where}:{node.lineno}: {cls.name}.{node.name} is defined twice")
            seen.add(node.name)
    return found


def test_no_class_defines_a_method_twice():
    found = [line for where, source in package_sources().items() for line in redefined_methods(source, where)]
    assert not found, "methods defined twice (the later one wins without a word):\n" + "\n".join(found)


def test_the_redefinition_check_sees_a_second_def_and_allows_a_property_setter():
    twice = "class Face:\n    def _desk(self):\n        return 1\n\n    def _desk(self):\n        return 2\n"
    assert redefined_methods(twice, "m.py") == ["m.py:5: Face._desk is defined twice"]
    setter = (
        "class C:\n    @property\n    def x(self):\n        return 1\n\n"
        "    @x.setter\n    def x(self, value):\n        pass\n"
    )
    assert redefined_methods(setter, "m.py") == []
