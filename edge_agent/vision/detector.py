"""The ONNX detector: letterbox, onnxruntime, family decoder, class-aware NMS, normalized boxes."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge_agent.config.detector import DetectorConfig
from edge_agent.events.vision_types import Box, Detection, Frame, FrameDetections
from edge_agent.vision.decoders import Candidates, decoder_for
from edge_agent.vision.manifest import ModelManifest
from edge_agent.vision.models import check_file, resolve_variant
from edge_agent.vision.preprocess import Preprocessor

log = logging.getLogger(__name__)

VEHICLE_CLASSES = frozenset({"car", "truck", "bus"})
VEHICLE = "vehicle"


def make_session(model_path: Path, threads: int, providers: list[str]) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:
        options.intra_op_num_threads = threads
    available = ort.get_available_providers()
    usable = [p for p in providers if p in available]
    skipped = [p for p in providers if p not in available]
    if skipped:
        log.warning("execution providers %s are not available here (available: %s)", skipped, available)
    if not usable:
        raise RuntimeError(f"none of the configured execution providers {providers} is available (have {available})")
    return ort.InferenceSession(str(model_path), sess_options=options, providers=usable)


class Detector:
    """Thread-safe for one caller at a time; the DetectorWorker is that caller in the agent."""

    def __init__(
        self,
        model_path: Path,
        manifest: ModelManifest,
        settings: DetectorConfig | None = None,
        *,
        expected_sha256: str | set[str] | None = None,
        variant: str = "fp32",
        warmup: bool = True,
    ):
        """`expected_sha256` defaults to the digests the manifest accepts (upstream or a mirror)."""
        self.model_path = Path(model_path)
        self.manifest = manifest
        self.settings = settings or DetectorConfig()
        self.variant = variant
        expected = expected_sha256 or manifest.accepted_digests()
        self.sha256 = check_file(self.model_path, expected, f"model {manifest.name!r} ({variant})")
        self.session = make_session(self.model_path, self.settings.threads, self.settings.providers)
        self.input_name = manifest.input.name or self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.preprocess = Preprocessor(manifest.input)
        self.decoder = decoder_for(manifest)
        self._class_names, self._class_groups, self._class_kept = self._class_tables()
        self._lock = threading.Lock()
        self.calls = 0
        self.total_ms = 0.0
        if warmup:
            self.detect(np.full((manifest.input.height, manifest.input.width, 3), 114, np.uint8))
            self.calls, self.total_ms = 0, 0.0

    @classmethod
    def from_config(cls, detector_cfg: DetectorConfig, models_dir: Path) -> Detector:
        """Load the installed model named in config; the variant follows config or `models bench`."""
        path, record, variant = resolve_variant(Path(models_dir), detector_cfg.model, detector_cfg.variant)
        return cls(
            path, record.manifest, detector_cfg, expected_sha256=record.variants[variant].sha256, variant=variant
        )

    def _class_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        settings = self.settings
        names = [
            VEHICLE if settings.merge_vehicles and label in VEHICLE_CLASSES else label for label in self.manifest.labels
        ]
        groups = {name: index for index, name in enumerate(dict.fromkeys(names))}
        wanted = set(settings.classes) if settings.classes is not None else None
        kept = [wanted is None or name in wanted for name in names]
        return np.array(names, dtype=object), np.array([groups[n] for n in names]), np.array(kept)

    def run_raw(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.session.run(self.output_names, {self.input_name: tensor})
        return dict(zip(self.output_names, outputs))

    def detect(self, image_bgr: np.ndarray) -> tuple[Detection, ...]:
        started = time.perf_counter()
        tensor, placement = self.preprocess(image_bgr)
        with self._lock:
            outputs = self.run_raw(tensor)
        candidates = self.decoder.decode(outputs, self.settings.score_threshold)
        detections = self._finish(candidates, placement)
        self.calls += 1
        self.total_ms += (time.perf_counter() - started) * 1000.0
        return detections

    def detect_frame(self, frame: Frame) -> FrameDetections:
        return FrameDetections(
            camera_id=frame.camera_id,
            seq=frame.seq,
            captured_at=frame.captured_at,
            monotonic=frame.monotonic,
            detections=self.detect(frame.image),
            frame_size=frame.size,
        )

    def _finish(self, candidates: Candidates, placement) -> tuple[Detection, ...]:
        keep = self._class_kept[candidates.class_ids]
        boxes, scores = candidates.boxes[keep], candidates.scores[keep]
        class_ids = candidates.class_ids[keep]
        if len(scores) == 0:
            return ()
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        picked = cv2.dnn.NMSBoxesBatched(
            xywh.tolist(),
            scores.tolist(),
            self._class_groups[class_ids].tolist(),
            self.settings.score_threshold,
            self.settings.nms_iou,
        )
        picked = np.asarray(picked, dtype=np.int64).reshape(-1)
        picked = picked[np.argsort(-scores[picked], kind="stable")]
        normalized = placement.to_normalized(boxes[picked])
        return tuple(
            Detection(
                class_name=str(self._class_names[class_ids[i]]), score=float(scores[i]), box=Box(*map(float, xyxy))
            )
            for i, xyxy in zip(picked, normalized)
        )

    @property
    def mean_ms(self) -> float:
        return self.total_ms / self.calls if self.calls else 0.0
