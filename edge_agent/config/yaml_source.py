"""YAML to plain data, remembering the line of every key and substituting ${ENV}."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import yaml

from edge_agent.config.errors import ConfigIssue, dotted

_ENV_REF = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)


class LocatedYaml:
    """Plain data from a YAML document plus a map from key path to 1-based line."""

    def __init__(self, text: str, environ: Mapping[str, str] | None = None):
        self.lines: dict[tuple, int] = {}
        self.issues: list[ConfigIssue] = []
        self._environ = os.environ if environ is None else environ
        self.data = self._load(text)

    def line_of(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def _load(self, text: str):
        loader = yaml.SafeLoader(text)
        try:
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
        finally:
            loader.dispose()

    def _convert(self, loader: yaml.SafeLoader, node: yaml.Node, path: tuple):
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
            result = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node)
                if not isinstance(key, (str, int)):
                    self.issues.append(
                        ConfigIssue(dotted(path), key_node.start_mark.line + 1, f"keys must be text, found {key!r}")
                    )
                    continue
                child = (*path, key)
                if key in result:
                    self.issues.append(
                        ConfigIssue(
                            dotted(child), key_node.start_mark.line + 1, "key appears twice in the same section"
                        )
                    )
                self.lines[child] = key_node.start_mark.line + 1
                result[key] = self._convert(loader, value_node, child)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(loader, item, (*path, index)) for index, item in enumerate(node.value)]
        value = loader.construct_object(node)
        if isinstance(value, str) and "$" in value:
            value = self._substitute(value, path)
        return value

    def _substitute(self, text: str, path: tuple) -> str:
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

        return _ENV_REF.sub(replace, text)

    def _issue(self, path: tuple, message: str) -> None:
        self.issues.append(ConfigIssue(dotted(path), self.line_of(path), message))
