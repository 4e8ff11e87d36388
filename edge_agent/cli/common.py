"""Helpers shared by command modules: loading a config with the right exit code."""

from __future__ import annotations

import os
import sys

from edge_agent.config import AgentConfig, ConfigError, ConfigNotFound, load_config
from edge_agent.config.mqtt import MqttConfig, TlsConfig


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


def add_broker_arguments(parser) -> None:
    """The platform side's broker options, the same for every `platform` command that talks to the broker."""
    parser.add_argument("--host", default="127.0.0.1", help="broker host")
    parser.add_argument("--port", type=int, default=1883, help="broker port")
    parser.add_argument("--prefix", default="edge", help="the agents' mqtt.topic_prefix")
    parser.add_argument("--username", help="broker username")
    parser.add_argument("--password-file", metavar="FILE", help="file holding the broker password")
    parser.add_argument("--ca-file", metavar="FILE", help="use TLS, verifying the broker against this CA")


def broker_config(args) -> MqttConfig:
    """The MqttConfig those options describe (TLS on, verified against --ca-file, when one is given)."""
    tls = TlsConfig(enabled=True, ca_file=args.ca_file) if args.ca_file else TlsConfig()
    return MqttConfig(
        host=args.host,
        port=args.port,
        topic_prefix=args.prefix,
        username=args.username,
        password_file=args.password_file,
        tls=tls,
    )
