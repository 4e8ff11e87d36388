#!/usr/bin/env python3
"""Regenerate the generated docs: JSON Schemas of published messages (docs/schemas/), the per-type alert
details table in docs/mqtt-api.md and docs/configuration.md.

Tests fail when the committed files differ from what this writes; run `make schemas`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.events.schemas import with_details_table, write_schemas


def main() -> int:
    for path in write_schemas(ROOT / "docs" / "schemas"):
        print(f"wrote {path.relative_to(ROOT)}")
    api = ROOT / "docs" / "mqtt-api.md"
    api.write_text(with_details_table(api.read_text()))
    print(f"wrote {api.relative_to(ROOT)} (the alert details table)")
    try:
        from edge_agent.config.docs import write_configuration_doc  # written with the daemon docs
    except ImportError:
        return 0
    print(f"wrote {write_configuration_doc(ROOT / 'docs' / 'configuration.md').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
