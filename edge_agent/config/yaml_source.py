"""YAML to plain data, remembering the line of every key and substituting ${ENV}.

`${ENV}` is the local file's: text from a remote sender (set-config, the page's Apply) may only
keep a reference the running config already has at the same key path (so a config fetched with
get-config can be sent back), never add one, or it could read the daemon's environment back
through a reply, an error message or a published value.

Config text is hostile until parsed: it arrives from files, SIGHUP reloads and remote
set-config. Every document is parsed here under fixed limits (size, nesting, node count,
aliases counted each time they are used), and a document over a limit is an ordinary
config issue naming the limit and the line, never a MemoryError or RecursionError.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import yaml

from edge_agent.config.errors import ConfigIssue, dotted

_SURROGATE = re.compile("[\ud800-\udfff]")
_ENV_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)

# The shipped example (every section) is about 5 KB; a site with dozens of cameras, zones and
# doors stays well under 100 KB. 1 MiB leaves ample room while bounding the pure-Python
# parse (about 2 s per MiB on a 2-core x86 box, several times that on a Pi) and its memory.
MAX_CONFIG_BYTES = 1024 * 1024
# Real configs nest about 6 levels (cameras[0].zones[0].polygon[0][0]); 64 keeps PyYAML's
# recursive composer and our own conversion far from Python's recursion limit.
MAX_NESTING = 64
# Values after alias expansion; a 1 MiB document of short list items is about 250k nodes, so
# this, not the size, bounds what a document can expand to (a "billion laughs" alias bomb).
MAX_NODES = 100_000


class LimitExceeded(Exception):
    """A document over one of the parsing limits; `line` is where the limit was crossed."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts nodes as they are composed and stops at a limit.

    An alias counts as every node of the section it repeats (and as its depth), so the count
    is that of the fully expanded document, reached before any Python object is built: a few
    hundred bytes of nested aliases are refused after composing a few thousand nodes instead
    of expanding into gigabytes. An alias to a section that contains it is refused too.
    """

    def __init__(self, text: str):
        super().__init__(text)
        self._depth = 0  # depth of the node being composed (the root is 1)
        self._deepest = 0  # deepest expanded level reached in the section being composed
        self._nodes = 0  # expanded nodes so far
        self._anchored: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (expanded nodes, height)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._count_alias(self.peek_event())
            return super().compose_node(parent, index)
        event = self.peek_event()
        self._depth += 1
        self._reach(self._depth, event.start_mark)
        self._count(1, event.start_mark)
        nodes_before, deepest_outside = self._nodes - 1, self._deepest
        self._deepest = self._depth
        node = super().compose_node(parent, index)
        if event.anchor is not None:
            self._anchored[id(node)] = (self._nodes - nodes_before, self._deepest - self._depth + 1)
        self._deepest = max(self._deepest, deepest_outside)
        self._depth -= 1
        return node

    def _count_alias(self, event: yaml.AliasEvent) -> None:
        target = self.anchors.get(event.anchor)
        if target is None:
            return  # PyYAML reports the undefined alias
        if id(target) not in self._anchored:
            raise LimitExceeded(
                event.start_mark.line + 1,
                f"alias *{event.anchor} is used inside the section it names; recursive aliases are not allowed",
            )
        nodes, height = self._anchored[id(target)]
        self._reach(self._depth + height, event.start_mark)
        self._count(nodes, event.start_mark)

    def _reach(self, depth: int, mark) -> None:
        if depth > MAX_NESTING:
            raise LimitExceeded(
                mark.line + 1, f"exceeds the nesting limit: more than {MAX_NESTING} levels deep (aliases included)"
            )
        self._deepest = max(self._deepest, depth)

    def _count(self, nodes: int, mark) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            raise LimitExceeded(
                mark.line + 1,
                f"exceeds the node limit: more than {MAX_NODES} values and sections "
                f"(an alias counts as everything it repeats)",
            )


def oversize_issue(text: str) -> ConfigIssue | None:
    """The size-limit issue for `text` (which may already be cut short after the limit), or None."""
    head = text[: MAX_CONFIG_BYTES + 1].encode("utf-8", "surrogatepass")  # more than the limit in bytes if over
    if len(head) <= MAX_CONFIG_BYTES:
        return None
    return ConfigIssue(
        "",
        head[:MAX_CONFIG_BYTES].count(b"\n") + 1,
        f"exceeds the size limit: the config is more than {MAX_CONFIG_BYTES} bytes (1 MiB); nothing was parsed",
    )


class LocatedYaml:
    """Plain data from a YAML document plus a map from key path to 1-based line."""

    def __init__(
        self, text: str, environ: Mapping[str, str] | None = None, inherited: Mapping[tuple, str] | None = None
    ):
        """`inherited`: None for the local file (every reference expanded); for remote text, the running config's
        references (key path -> the value as written), the only ones it may keep."""
        self.lines: dict[tuple, int] = {}
        self.issues: list[ConfigIssue] = []
        self.references: dict[tuple, str] = {}  # key path -> the value as written, for every expanded value
        self.expanded: dict[tuple, str] = {}  # key path -> the value after expansion (never shown: see loader)
        self._environ = os.environ if environ is None else environ
        self._inherited = inherited
        self._own_keys: dict[int, set[int]] = {}
        self.data = self._load(text)

    def line_of(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def _load(self, text: str):
        oversize = oversize_issue(text)
        if oversize is not None:
            self.issues.append(oversize)
            return {}
        loader = None
        try:
            loader = BoundedLoader(text)  # checks every character first: a control character raises here
            node = loader.get_single_node()
            if node is None:
                self.issues.append(
                    ConfigIssue("", 1, "the file is empty; expected a mapping with at least a `device` section")
                )
                return {}
            return self._convert(loader, node, ())
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else None
            self.issues.append(ConfigIssue("", line, f"YAML syntax error: {exc.problem or exc}"))
            return {}
        except yaml.reader.ReaderError as exc:  # a control character or an undecodable byte: not a MarkedYAMLError
            line = text.count("\n", 0, exc.position) + 1
            found = f"#x{_character(exc):04x}"
            self.issues.append(ConfigIssue("", line, f"YAML syntax error: unacceptable character {found}"))
            return {}
        except LimitExceeded as exc:
            self.issues.append(ConfigIssue("", exc.line, exc.message))
            return {}
        finally:
            if loader is not None:
                loader.dispose()

    def _convert(self, loader: yaml.SafeLoader, node: yaml.Node, path: tuple):
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            # A key written twice is an error; a key that overrides one merged in with `<<` is not.
            # Keys are told apart before flatten_mapping (merged pairs first, then own) mixes them,
            # and remembered per node: an aliased mapping is converted again, already flattened.
            own_keys = self._own_keys.setdefault(id(node), {id(key_node) for key_node, _ in node.value})
            loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
            result, written = {}, set()
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node)
                if isinstance(key, bool) and isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value  # YAML 1.1 reads `on:` (actions) or `yes:` as a boolean; a key is its word
                if isinstance(key, str) and _SURROGATE.search(key):
                    key = _SURROGATE.sub("\ufffd", key)  # reported as an unknown key, never echoed as such
                if not isinstance(key, (str, int)):
                    self.issues.append(
                        ConfigIssue(dotted(path), key_node.start_mark.line + 1, f"keys must be text, found {key!r}")
                    )
                    continue
                child = (*path, key)
                if id(key_node) in own_keys and key in written:
                    self.issues.append(
                        ConfigIssue(
                            dotted(child), key_node.start_mark.line + 1, "key appears twice in the same section"
                        )
                    )
                if id(key_node) in own_keys:
                    written.add(key)
                self.lines[child] = key_node.start_mark.line + 1
                result[key] = self._convert(loader, value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(loader, item, (*path, index)) for index, item in enumerate(node.value)]
        value = loader.construct_object(node)
        if isinstance(value, str) and _SURROGATE.search(value):  # "\udc80" escaped in: not text, breaks every reply
            self._issue(path, "a lone surrogate (\\ud800-\\udfff) is not text; write the character itself")
            return ""
        if isinstance(value, str) and "$" in value:
            value = self._substitute(value, path)
        return value

    def _substitute(self, text: str, path: tuple) -> str:
        if _ENV_REF.search(text) is None:
            return text
        if self._inherited is not None and self._inherited.get(path) != text and _has_reference(text):
            self._issue(
                path,
                "${NAME} environment references are expanded only in the config file on the device; a remote or web "
                "change may keep one the running config has at this key, not add or move one",
            )
            return ""
        expanded = _ENV_REF.sub(self._replacer(path), text)
        if _has_reference(text):
            self.references[path], self.expanded[path] = text, expanded
        return expanded

    def _replacer(self, path: tuple):
        def replace(match: re.Match) -> str:
            if match.group(0) == "$$":
                return "$"
            reference = _ENV_NAME.match(match.group(1))
            if reference is None:
                self._issue(
                    path, f"bad environment reference ${{{match.group(1)}}}; expected ${{NAME}} or ${{NAME:-default}}"
                )
                return ""
            name, default = reference.group(1), reference.group(2)
            if name in self._environ:
                return self._environ[name]
            if default is not None:
                return default
            self._issue(
                path,
                f"environment variable {name} is not set (referenced as ${{{name}}}; use ${{{name}:-default}} for a "
                f"fallback)",
            )
            return ""

        return replace

    def _issue(self, path: tuple, message: str) -> None:
        self.issues.append(ConfigIssue(dotted(path), self.line_of(path), message))


def _has_reference(text: str) -> bool:
    return any(match.group(0) != "$$" for match in _ENV_REF.finditer(text))


def _character(exc: yaml.reader.ReaderError) -> int:
    return exc.character if isinstance(exc.character, int) else ord(exc.character)
