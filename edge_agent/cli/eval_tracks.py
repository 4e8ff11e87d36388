"""`edge-agent eval-tracks TRACKS GT`: MOTA, IDF1, ID switches, precision and recall of exported tracks.

TRACKS comes from `edge-agent replay CLIP --tracks-out TRACKS`; GT is a MOTChallenge `gt/gt.txt`.
Needs the optional `.[eval]` extra (motmetrics); the work is edge_agent.replay.evaluate.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval-tracks", help="score MOTChallenge tracks against ground truth")
    parser.add_argument("tracks", help="tracks file (edge-agent replay --tracks-out)")
    parser.add_argument("ground_truth", metavar="gt", help="MOTChallenge ground truth (gt/gt.txt)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from edge_agent.replay.evaluate import EvalUnavailable, evaluate

    for path in (args.tracks, args.ground_truth):
        if not Path(path).is_file():
            print(f"error: {path} does not exist", file=sys.stderr)
            return os.EX_NOINPUT
    try:
        scores = evaluate(args.tracks, args.ground_truth)
    except EvalUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_UNAVAILABLE
    except ValueError as exc:  # a malformed row
        print(f"error: {exc}", file=sys.stderr)
        return os.EX_DATAERR
    print(scores.report())
    return os.EX_OK
