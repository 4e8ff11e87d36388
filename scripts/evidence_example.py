#!/usr/bin/env python3
"""Regenerate docs/evidence-example.jpg: the shared ThreePersons.jpg (Pixabay, see ../shared/footage/licenses)
through the agent's own detector and pixelation, as a snapshot would be kept.

    PYTHONPATH=$PWD .venv/bin/python scripts/evidence_example.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.assets import require_mirror
from edge_agent.config.detector import DetectorConfig
from edge_agent.evidence.frame_ring import scaled
from edge_agent.vision.detector import Detector
from edge_agent.vision.manifest import load_manifest
from edge_agent.vision.pixelate import person_boxes, pixelate


def main() -> int:
    shared = require_mirror().resolve()
    image = cv2.imread(str(shared / "footage" / "ThreePersons.jpg"))
    detector = Detector(shared / "models" / "yolox_nano.onnx", load_manifest("yolox_nano"), DetectorConfig())
    boxes = person_boxes(detector.detect(image))
    out = scaled(pixelate(image, boxes), 640)
    target = ROOT / "docs" / "evidence-example.jpg"
    cv2.imwrite(str(target), out, [cv2.IMWRITE_JPEG_QUALITY, 80])
    print(f"{target}: {len(boxes)} people pixelated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
