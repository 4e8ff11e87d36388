"""`edge-agent run --config FILE`: the daemon (systemd runs this; see systemd/edge-agent.service)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edge_agent import malloc_arenas
from edge_agent.cli.common import load_config_or_exit
from edge_agent.config import read_config_text
from edge_agent.logs import setup_logging

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run the agent: cameras, doors, rules, outbox and MQTT")
    parser.add_argument("--config", required=True, help="config YAML (SIGHUP re-reads it)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="override logging.level")
    parser.add_argument(
        "--no-revert",
        action="store_true",
        help="on site: a SIGHUP reload stays even if the broker cannot be reached (remote set-config still reverts)",
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    config = load_config_or_exit(args.config)
    setup_logging(args.log_level or config.logging.level, config.logging.format)
    log.info(malloc_arenas.applied or malloc_arenas.limit_arenas())  # set in cli/main.py, before any thread
    from edge_agent.daemon.agent import Agent  # heavy imports only for this command
    from edge_agent.web.server import WebService

    text = read_config_text(args.config)
    renewer = None
    if config.enrolment.enabled:  # first boot: ask the platform for this box's certificate (docs/install.md)
        from edge_agent.enrolment.first_boot import enrol_at_start
        from edge_agent.enrolment.renewal import Renewer

        started = enrol_at_start(config)
        if started is None:
            return os.EX_NOPERM
        config, identity = started
    agent = Agent(Path(args.config), text, config, no_revert=args.no_revert)
    if config.enrolment.enabled:
        renewer = Renewer(config, identity, lambda renewed: agent.use_renewed_certificate()).start()
    web = WebService(agent.face).start()  # the technician's page, when `web.enabled`: it outlives reloads
    try:
        return agent.run()
    finally:
        web.stop()
        if renewer is not None:
            renewer.stop()
