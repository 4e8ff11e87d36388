"""Action kinds by config `kind`: a new kind is one class here and one config model in config/actions.py."""

from __future__ import annotations

from importlib import import_module

from edge_agent.actions.base import ActionBuildError, ActionEnv, ActionKind

# kind -> (module, class); imported when an action of that kind is built (osdp_output needs libosdp)
KINDS: dict[str, tuple[str, str]] = {
    "http": ("edge_agent.actions.http", "HttpKind"),
    "command": ("edge_agent.actions.command", "CommandKind"),
    "osdp_output": ("edge_agent.actions.osdp_output", "OsdpOutputKind"),
}


def build_kind(config, env: ActionEnv) -> ActionKind:
    """The kind object for one action config; raises ActionBuildError naming the action and the problem."""
    module_name, class_name = KINDS[config.kind]
    try:
        kind_class = getattr(import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ActionBuildError(
            f"action {config.name!r}: the {config.kind} kind is not available in this agent ({exc})"
        ) from None
    try:
        return kind_class(config, env)
    except ActionBuildError:
        raise
    except (OSError, ValueError) as exc:
        raise ActionBuildError(f"action {config.name!r} cannot be built: {exc}") from None
