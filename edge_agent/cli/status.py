"""`edge-agent status --config FILE`: on the box, is the agent serving its page, where, and with which certificate.

Reads what the running page wrote (web/page_address.py: its URL, its certificate's SHA-256 fingerprint, the
agent's pid), so the technician learns the address to open and the fingerprint to compare with the browser's
without reading the journal. The agent's full status is the `status` command over MQTT (docs/mqtt-api.md).
"""

from __future__ import annotations

import os

from edge_agent.cli.common import load_config_or_exit
from edge_agent.web.page_address import announced, fingerprint

DEFAULT_CONFIG = "/etc/edge-agent/config.yaml"


def register(subparsers) -> None:
    parser = subparsers.add_parser("status", help="is the agent running; its page's URL and certificate fingerprint")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"the agent's config (default {DEFAULT_CONFIG})")
    parser.set_defaults(handler=run)


def run(args) -> int:
    config = load_config_or_exit(args.config)
    web = config.web
    page = announced(config.device.state_dir)
    print(f"device:  {config.device.id or '(from machine-id)'} at site {config.device.site}")
    if page is not None:
        print(f"agent:   running (pid {page['pid']})")
        print(f"page:    {page['url']}")
        shown = page.get("fingerprint")
    else:
        print("agent:   not serving its page (not running, starting, or web.enabled is false)")
        scheme = "https" if web.tls.enabled else "http"
        host = f"[{web.bind}]" if ":" in web.bind else web.bind
        state = "enabled" if web.enabled else "disabled (web.enabled: false)"
        print(f"page:    {state}; configured as {scheme}://{host}:{web.port}/")
        shown = None
    if web.tls.enabled:
        try:
            shown = shown or fingerprint(web.tls.cert_file)
        except (OSError, ValueError) as exc:
            shown = f"unreadable certificate {web.tls.cert_file}: {exc}"
        print(f"TLS certificate SHA-256 fingerprint: {shown}")
    else:
        print("TLS:     off (loopback; reach it through an SSH tunnel, docs/technician.md)")
    return os.EX_OK if page is not None else os.EX_UNAVAILABLE
