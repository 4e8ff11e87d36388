"""Configuration: one pydantic model per section, loaded from YAML with line-aware errors."""

from edge_agent.config.base import read_secret, read_secret_bytes
from edge_agent.config.errors import ConfigError, ConfigIssue, ConfigNotFound
from edge_agent.config.loader import load_config, parse_config, read_config_text
from edge_agent.config.model import AgentConfig

__all__ = [
    "AgentConfig",
    "ConfigError",
    "ConfigIssue",
    "ConfigNotFound",
    "load_config",
    "parse_config",
    "read_config_text",
    "read_secret",
    "read_secret_bytes",
]
