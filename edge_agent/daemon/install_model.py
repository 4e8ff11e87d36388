"""`python -m edge_agent.daemon.install_model NAME --models-dir DIR [--from MIRROR]`: used by install.sh.

Idempotent: a model already installed whose file still matches its record is left alone.
Thin wrapper over edge_agent.vision.models so the installer needs no config file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.models import ModelIntegrityError, ModelNotInstalled, fetch_model, resolve_variant


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="install_model", description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--models-dir", required=True, type=Path)
    parser.add_argument("--from", dest="mirror", type=Path, help="offline mirror directory")
    parser.add_argument("--manifests", type=Path, help="directory of models/*.yaml manifests (default: the package's)")
    args = parser.parse_args(argv)
    try:
        path, _, variant = resolve_variant(args.models_dir, args.name, "fp32")
        print(f"model {args.name} already installed: {path} ({variant}, sha256 verified)")
        return 0
    except (ModelNotInstalled, ModelIntegrityError):
        pass
    try:
        manifest = load_manifest(args.name, args.manifests) if args.manifests else None
        path = fetch_model(args.name, args.models_dir, mirror_dir=args.mirror, manifest=manifest)
    except Exception as exc:  # the installer shows the reason and stops
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"model {args.name} installed: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
