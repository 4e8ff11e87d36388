"""Helpers shared by command modules: loading a config with the right exit code."""

from __future__ import annotations

import os
import sys

from edge_agent.config import AgentConfig, ConfigError, ConfigNotFound, load_config


class CliExit(SystemExit):
    pass


def load_config_or_exit(path: str) -> AgentConfig:
    """Load a config; on failure print every issue and exit 66 (missing) or 78 (invalid)."""
    try:
        return load_config(path)
    except ConfigNotFound as exc:
        print(f"error: {exc.report()}", file=sys.stderr)
        raise CliExit(os.EX_NOINPUT) from None
    except ConfigError as exc:
        count = len(exc.issues)
        print(f"error: {path} is not a valid config ({count} problem{'s' if count != 1 else ''}):", file=sys.stderr)
        print(exc.report(), file=sys.stderr)
        raise CliExit(os.EX_CONFIG) from None
