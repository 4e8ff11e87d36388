"""Config errors that name the key path, the YAML line, what was expected and what was found."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    path: str  # dotted key path, e.g. "cameras[0].detect_fps"; "" for the whole file
    line: int | None  # 1-based YAML line
    message: str

    def format(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        subject = f"{self.path}: " if self.path else ""
        return f"{where}: {subject}{self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; carries every issue found, not just the first."""

    def __init__(self, source: str, issues: list[ConfigIssue]):
        self.source = source
        self.issues = issues
        super().__init__(self.report())

    def report(self) -> str:
        return "\n".join(issue.format(self.source) for issue in self.issues)


class ConfigNotFound(ConfigError):
    def __init__(self, source: str):
        super().__init__(source, [ConfigIssue("", None, "config file not found")])


def dotted(path: tuple) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else str(step)
    return text


def describe_validation_errors(errors: Iterable[Mapping], prefix: str = "", limit: int | None = None) -> str:
    """A pydantic ValidationError's `errors()` as one line, `key.path: what is wrong; …`, for a message's sender.

    Config files have their own, line-aware report (loader.py); this is for JSON a device or a person sends
    (commands, action records, sample alerts, model manifests). An unknown key says so; a problem with the
    whole object says only what. `prefix` names where the object sits (`args`); past `limit` problems the
    rest are counted, not listed.
    """
    problems = []
    for error in errors:
        where = ".".join(str(step) for step in ((prefix,) if prefix else ()) + tuple(error.get("loc", ())))
        message = "unknown key" if error.get("type") == "extra_forbidden" else str(error.get("msg", "invalid"))
        problems.append(f"{where}: {message}" if where else message)
    if limit is not None and len(problems) > limit:
        return "; ".join(problems[:limit]) + f" (and {len(problems) - limit} more)"
    return "; ".join(problems)
