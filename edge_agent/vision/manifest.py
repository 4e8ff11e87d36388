"""Model manifests (models/*.yaml): what a model file is, where it comes from and how to feed it.

A manifest pins the upstream file by sha256. Offline mirrors may hold a different export of
the same weights, so each mirror entry declares its own digest; whichever digest was actually
installed is recorded next to the file (see edge_agent.vision.models).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.config.errors import describe_validation_errors

SHA256 = Field(pattern=r"^[0-9a-f]{64}$", description="Lower-case hex sha256 of the file.")


class ManifestError(ValueError):
    """A manifest is missing or malformed; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MirrorEntry(_Strict):
    path: str = Field(description="Path of the file relative to the mirror directory.")
    sha256: str = SHA256
    size: int | None = Field(default=None, ge=1, description="Expected size in bytes.")
    note: str = Field(default="", description="What this mirror copy is.")


class InputSpec(_Strict):
    name: str | None = Field(default=None, description="Input tensor name; default: the model's first input.")
    width: int = Field(gt=0, description="Network input width in pixels.")
    height: int = Field(gt=0, description="Network input height in pixels.")
    layout: Literal["NCHW", "NHWC"] = Field(default="NCHW", description="Tensor layout.")
    pixel_format: Literal["BGR", "RGB"] = Field(default="BGR", description="Channel order the model expects.")
    dtype: Literal["float32", "uint8"] = Field(default="float32", description="Input element type.")
    scale: float = Field(default=1.0, gt=0, description="Pixels are multiplied by this before mean/std (e.g. 1/255).")
    mean: list[float] = Field(
        default=[0.0, 0.0, 0.0], min_length=3, max_length=3, description="Subtracted per channel after scaling."
    )
    std: list[float] = Field(
        default=[1.0, 1.0, 1.0], min_length=3, max_length=3, description="Divided per channel after mean."
    )
    letterbox: Literal["top-left", "center", "stretch"] = Field(
        default="top-left", description="Aspect-preserving resize anchor, or stretch."
    )
    pad_value: int = Field(default=114, ge=0, le=255, description="Letterbox padding value.")


class ModelManifest(_Strict):
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Model name used in config and commands."
    )
    family: str = Field(description="Decoder family: yolox, yolov8, ssd.")
    file: str = Field(description="File name of the FP32 model inside the models directory.")
    url: str | None = Field(default=None, description="Upstream download URL.")
    sha256: str = SHA256
    size: int | None = Field(default=None, ge=1, description="Upstream file size in bytes.")
    licence: str = Field(default="unknown", description="Licence of the weights.")
    mirrors: list[MirrorEntry] = Field(default_factory=list, description="Mirror copies and their own digests.")
    input: InputSpec
    decoder: dict[str, Any] = Field(default_factory=dict, description="Family-specific decoder options.")
    labels: list[str] = Field(min_length=1, description="Class names by index.")

    def accepted_digests(self) -> set[str]:
        return {self.sha256, *(mirror.sha256 for mirror in self.mirrors)}


def manifests_dir() -> Path:
    """Where models/*.yaml are: EDGE_AGENT_MANIFESTS, else the source tree, else the installed copy.

    A wheel ships the manifests as data files under {prefix}/share/edge-agent/models.
    Read when called, not at import.
    """
    override = os.environ.get("EDGE_AGENT_MANIFESTS")
    if override:
        return Path(override)
    source_tree = Path(__file__).resolve().parents[2] / "models"
    if source_tree.is_dir():
        return source_tree
    return Path(sys.prefix) / "share" / "edge-agent" / "models"


def parse_manifest(data: Any, where: str) -> ModelManifest:
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_errors(exc.errors())
        raise ManifestError(f"model manifest {where} is invalid: {problems}") from None


def load_manifest_file(path: Path) -> ModelManifest:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ManifestError(f"model manifest {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"model manifest {path} is not valid YAML: {exc}") from None
    return parse_manifest(data, str(path))


def load_manifest(name: str, directory: Path | None = None) -> ModelManifest:
    directory = directory or manifests_dir()
    path = directory / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise ManifestError(f"no manifest for model {name!r} in {directory} (known: {known})")
    manifest = load_manifest_file(path)
    if manifest.name != name:
        raise ManifestError(f"model manifest {path} names itself {manifest.name!r}, expected {name!r}")
    return manifest


def known_manifests(directory: Path | None = None) -> list[ModelManifest]:
    directory = directory or manifests_dir()
    return [load_manifest_file(path) for path in sorted(directory.glob("*.yaml"))]
