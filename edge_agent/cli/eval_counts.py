"""`edge-agent eval-counts CLIP GT`: line counts and zone occupancy of a replay against MOTChallenge ground truth.

`--lines auto:N` sweeps N full-frame lines (N/2 vertical, N/2 horizontal; default auto:16), `--lines FILE` takes
a YAML mapping of line name -> line config (as under a camera's `lines:`); `--zones auto:N` an N x N grid (default
3). Prints per line and in aggregate: count error, bias, crossing precision and recall (±1 s), occupancy MAE and
bias. The work is edge_agent.replay.count_eval.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from edge_agent.cli.common import CliExit, load_config_or_exit


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval-counts", help="score line counts and occupancy against ground truth")
    parser.add_argument("clip", help="the sequence as a video file")
    parser.add_argument("ground_truth", metavar="gt", help="MOTChallenge ground truth (gt/gt.txt)")
    parser.add_argument("--lines", default="auto:16", help="auto:N (N/2 vertical + N/2 horizontal) or a YAML FILE")
    parser.add_argument("--zones", default="auto:3", help="auto:N, an N x N grid of zones (default auto:3)")
    parser.add_argument("--detect-fps", type=float, help="detector runs per second (default: the camera's)")
    parser.add_argument("--config", help="base config: detector and camera (default: YOLOX-Nano, motion gate off)")
    parser.add_argument("--camera", help="camera of --config to use (default: the only enabled one)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from edge_agent.replay.count_eval import CountEvalOptions, default_config, evaluate_counts

    for what, path in (("clip", args.clip), ("ground truth", args.ground_truth)):
        if not Path(path).is_file():
            print(f"error: {what} {path} does not exist", file=sys.stderr)
            return os.EX_NOINPUT
    try:
        lines, zones = parse_lines(args.lines), parse_zones(args.zones)
        if args.detect_fps is not None and not 0 < args.detect_fps <= 100:
            raise ValueError(f"--detect-fps must be in (0, 100], found {args.detect_fps}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_USAGE
    base = load_config_or_exit(args.config) if args.config else default_config()
    options = CountEvalOptions(lines=lines, zones=zones, detect_fps=args.detect_fps, camera_id=args.camera)
    try:
        report = evaluate_counts(base, args.clip, args.ground_truth, options)
    except ValueError as exc:  # undecodable clip, a malformed ground-truth row, an unknown camera
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_DATAERR
    except (OSError, RuntimeError) as exc:  # the model is missing
        print(f"error: {exc}", file=sys.stderr)
        raise CliExit(os.EX_SOFTWARE) from None
    print(report.text())
    return os.EX_OK


def _auto(spec: str, option: str) -> int | None:
    if not spec.startswith("auto:"):
        return None
    try:
        return int(spec[5:])
    except ValueError:
        raise ValueError(f"{option} {spec!r}: expected auto:N with a whole number N") from None


def parse_zones(spec: str) -> dict[str, dict]:
    from edge_agent.replay.count_truth import grid_zones

    cells = _auto(spec, "--zones")
    if cells is None:
        raise ValueError(f"--zones {spec!r}: expected auto:N")
    return grid_zones(cells)


def parse_lines(spec: str) -> dict[str, dict]:
    """auto:N, or a YAML file of name -> line config (each checked as the config loader would)."""
    from edge_agent.replay.count_truth import auto_lines

    count = _auto(spec, "--lines")
    if count is not None:
        return auto_lines(count)
    return read_lines_file(Path(spec))


def read_lines_file(path: Path) -> dict[str, dict]:
    import yaml
    from pydantic import ValidationError

    from edge_agent.config.errors import describe_validation_errors
    from edge_agent.config.geometry import LineConfig

    if not path.is_file():
        raise ValueError(f"--lines {path}: no such file (expected auto:N or a YAML file)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a mapping of line name -> line config (points, in_side, ...)")
    lines = {}
    for name, config in data.items():
        try:
            lines[str(name)] = LineConfig.model_validate(config).model_dump()
        except ValidationError as exc:
            raise ValueError(f"{path}: line {name}: {describe_validation_errors(exc.errors())}") from None
    return lines
