"""`edge-agent schema`: print the config JSON Schema (or a published message's)."""

from __future__ import annotations

import json

from edge_agent.config import AgentConfig
from edge_agent.events.schemas import PUBLISHED_MESSAGES


def register(subparsers) -> None:
    parser = subparsers.add_parser("schema", help="print the JSON Schema of the config or of a published message")
    parser.add_argument(
        "what", nargs="?", default="config", choices=["config", *PUBLISHED_MESSAGES], help="default: config"
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    model = AgentConfig if args.what == "config" else PUBLISHED_MESSAGES[args.what]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    print(json.dumps(schema, indent=2))
    return 0
