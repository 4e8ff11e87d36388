"""Entry point: builds the parser from the command modules and dispatches."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from edge_agent import __version__, malloc_arenas
from edge_agent.cli.common import CliExit

# Each module defines register(subparsers); its parser sets `handler`.
COMMAND_MODULES = (
    "edge_agent.cli.check_config",
    "edge_agent.cli.schema",
    "edge_agent.cli.outbox",
    "edge_agent.cli.run",
    "edge_agent.cli.status",
    "edge_agent.cli.replay",
    "edge_agent.cli.eval_tracks",
    "edge_agent.cli.eval_counts",
    "edge_agent.cli.probe",
    "edge_agent.cli.actions",
    "edge_agent.cli.models",
    "edge_agent.cli.demo",
    "edge_agent.cli.web",
    "edge_agent.cli.platform",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-agent", description="Edge sensing agent for residential compounds.")
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    malloc_arenas.limit_arenas()  # first: before the command modules load OpenCV and onnxruntime, before threads
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return os.EX_USAGE
    try:
        return int(args.handler(args) or os.EX_OK)
    except CliExit as exc:
        return int(exc.code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return os.EX_OK
