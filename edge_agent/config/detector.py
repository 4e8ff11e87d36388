from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from edge_agent.config.base import Name, Section
from edge_agent.config.policy import PATH, REMOTE


class DetectorConfig(Section):
    """The local ONNX detector shared by all cameras."""

    remote_change: ClassVar[str] = REMOTE

    model: Name = Field(
        default="yolox_nano", description="Model name from models/*.yaml, or an installed custom model."
    )
    models_dir: Path | None = Field(
        default=None, json_schema_extra=PATH, description="Where model files live. Default: {device.state_dir}/models."
    )
    variant: Literal["auto", "fp32", "int8"] = Field(
        default="auto",
        description=(
            "auto uses the variant `models bench` chose here: INT8 only when faster and agreeing with FP32"
            " at F1 >= 0.95."
        ),
    )
    threads: int = Field(default=0, ge=0, le=64, description="onnxruntime intra-op threads; 0 = one per core.")
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description="onnxruntime execution providers in order, e.g. TensorrtExecutionProvider on a Jetson.",
    )
    score_threshold: float = Field(default=0.35, ge=0, le=1, description="Minimum detection score.")
    nms_iou: float = Field(default=0.45, gt=0, le=1, description="IoU above which same-class boxes are merged by NMS.")
    classes: list[str] | None = Field(
        default=None, description="Keep only these classes (after merging); default keeps all."
    )
    merge_vehicles: bool = Field(
        default=True, description="Report car, truck and bus as one class `vehicle` so a van is not counted twice."
    )
    queue_size: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Pending frames across cameras; a camera's newer frame replaces its older one.",
    )
