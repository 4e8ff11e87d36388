"""Installed models: fetch, install, verify and pick a variant.

Each installed model has a record `NAME.model.yaml` in the models directory holding its
manifest and, per variant (fp32, int8), the file name and the sha256 that was installed.
The detector refuses a file whose digest no longer matches its record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from edge_agent import assets
from edge_agent.assets import AssetIntegrityError, MirrorCopy, PinnedAsset, atomic_copy, sha256_file
from edge_agent.private_files import GROUP_READABLE_FILE, atomic_write_private, private_dir
from edge_agent.vision.manifest import ModelManifest, load_manifest

Variant = Literal["fp32", "int8"]
# An INT8 variant whose detections agree with FP32's below this F1 (IoU 0.5, held-out frames) is
# a different detector, not a faster one: `models quantize` will not install it and `models
# bench` will not prefer it.
MIN_AGREEMENT = 0.95


class ModelIntegrityError(AssetIntegrityError):
    """A model file is missing or its sha256 is not the one recorded or declared."""


class ModelNotInstalled(RuntimeError):
    pass


class InstalledFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="File name inside the models directory.")
    sha256: str = Field(description="Digest of the file as installed.")
    source: str = Field(description="Where it came from: a URL, a mirror path or 'quantized from ...'.")
    installed_at: float = Field(description="Epoch seconds.")
    agreement_f1: float | None = Field(
        default=None, description="INT8 only: detection agreement F1 with FP32 measured when it was quantized."
    )


class InstalledModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manifest: ModelManifest
    variants: dict[str, InstalledFile] = Field(default_factory=dict)
    preferred_variant: Variant | None = Field(default=None, description="Set by `models bench`.")
    bench: dict[str, float] | None = Field(default=None, description="Median ms per variant from `models bench`.")

    @property
    def name(self) -> str:
        return self.manifest.name


def record_path(models_dir: Path, name: str) -> Path:
    return _inside(models_dir, f"{name}.model.yaml", f"model name {name!r}")


def _inside(models_dir: Path, file_name: str, what: str) -> Path:
    """`models_dir / file_name`, refused unless it is a plain file name there: a name from a config or a record
    never reaches another directory (`../x`, `/abs`)."""
    if not file_name or Path(file_name).name != file_name or file_name in (".", ".."):
        raise ModelNotInstalled(f"{what} is not a plain file name in the models directory")
    return Path(models_dir) / file_name


def read_record(models_dir: Path, name: str) -> InstalledModel:
    path = record_path(models_dir, name)
    if not path.exists():
        raise ModelNotInstalled(
            f"model {name!r} is not installed in {models_dir} (run `edge-agent models fetch {name}` "
            f"or `edge-agent models install FILE --name {name}`)"
        )
    return InstalledModel.model_validate(yaml.safe_load(path.read_text()))


def write_record(models_dir: Path, record: InstalledModel) -> Path:
    path = record_path(models_dir, record.name)
    _atomic_write(path, yaml.safe_dump(record.model_dump(mode="json"), sort_keys=False).encode())
    return path


def installed_records(models_dir: Path) -> list[InstalledModel]:
    return [
        InstalledModel.model_validate(yaml.safe_load(path.read_text()))
        for path in sorted(Path(models_dir).glob("*.model.yaml"))
    ]


def check_file(path: Path, expected: str | set[str], what: str) -> str:
    """Return the file's digest, or raise ModelIntegrityError naming the file and both digests."""
    try:
        return assets.check_file(path, expected, what)
    except AssetIntegrityError as exc:
        raise ModelIntegrityError(f"{exc} (re-fetch it, or `models install` it if the change is intended)") from None


def resolve_variant(models_dir: Path, name: str, variant: str = "auto") -> tuple[Path, InstalledModel, str]:
    """(verified file path, record, chosen variant) for `name` in `models_dir`."""
    record = read_record(models_dir, name)
    chosen = (record.preferred_variant or "fp32") if variant == "auto" else variant
    if chosen not in record.variants:
        raise ModelNotInstalled(
            f"model {name!r} has no {chosen} variant installed in {models_dir} (have {sorted(record.variants)})"
            + ("; run `edge-agent models quantize`" if chosen == "int8" else "")
        )
    entry = record.variants[chosen]
    path = _inside(models_dir, entry.file, f"model {name!r} ({chosen}) file {entry.file!r}")
    check_file(path, entry.sha256, f"model {name!r} ({chosen})")
    return path, record, chosen


def fetch_model(
    name: str, dest_dir: Path, mirror_dir: Path | None = None, manifest: ModelManifest | None = None
) -> Path:
    """Install `name` into `dest_dir` from a mirror directory or its upstream URL; returns the file path.

    A mirror copy is checked against the digest its mirror entry declares (or the upstream
    digest); a download against the upstream digest. Nothing is left behind on a mismatch.
    """
    manifest = manifest or load_manifest(name)
    dest_dir = private_dir(dest_dir)
    target = dest_dir / manifest.file
    try:
        fetched = assets.fetch_asset(pinned_asset(manifest), target, Path(mirror_dir) if mirror_dir else None)
    except AssetIntegrityError as exc:
        raise ModelIntegrityError(str(exc)) from None
    source, digest = fetched.source, fetched.sha256
    record = _existing_or_new(dest_dir, manifest)
    record.variants["fp32"] = InstalledFile(file=manifest.file, sha256=digest, source=source, installed_at=time.time())
    record.variants.pop("int8", None)  # quantized from an older file: no longer valid
    record.preferred_variant, record.bench = None, None
    write_record(dest_dir, record)
    return target


def ensure_model(
    name: str, dest_dir: Path, mirror_dir: Path | None = None, manifest: ModelManifest | None = None
) -> tuple[Path, bool]:
    """(path, fetched): an installed model whose FP32 file still matches its record is kept as is."""
    try:
        path, _, _ = resolve_variant(dest_dir, name, "fp32")
        return path, False
    except (ModelNotInstalled, ModelIntegrityError):
        return fetch_model(name, dest_dir, mirror_dir=mirror_dir, manifest=manifest), True


def pinned_asset(manifest: ModelManifest) -> PinnedAsset:
    mirrors = tuple(MirrorCopy(m.path, m.sha256, m.size) for m in manifest.mirrors)
    return PinnedAsset(manifest.name, manifest.url, manifest.sha256, manifest.size, mirrors)


def install_model(file: Path, name: str, dest_dir: Path, manifest: ModelManifest) -> Path:
    """Install a custom model file under `name`, recording the digest it has now."""
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"model file {file} does not exist")
    manifest = manifest.model_copy(update={"name": name, "file": f"{name}.onnx"})
    dest_dir = private_dir(dest_dir)
    target = dest_dir / manifest.file
    atomic_copy(file, target)
    digest = sha256_file(target)
    manifest = manifest.model_copy(update={"sha256": digest, "size": target.stat().st_size, "url": None, "mirrors": []})
    record = InstalledModel(manifest=manifest)
    record.variants["fp32"] = InstalledFile(
        file=target.name, sha256=digest, source=str(file.resolve()), installed_at=time.time()
    )
    write_record(dest_dir, record)
    return target


def record_int8(
    models_dir: Path, name: str, int8_path: Path, source: str, agreement_f1: float | None = None
) -> InstalledModel:
    """Record a freshly quantized file; a new INT8 file invalidates an older bench verdict."""
    record = read_record(models_dir, name)
    record.variants["int8"] = InstalledFile(
        file=Path(int8_path).name,
        sha256=sha256_file(int8_path),
        source=source,
        installed_at=time.time(),
        agreement_f1=agreement_f1,
    )
    record.preferred_variant, record.bench = None, None
    write_record(models_dir, record)
    return record


def choose_variant(
    record: InstalledModel, bench_ms: dict[str, float], min_agreement: float = MIN_AGREEMENT
) -> tuple[str, str]:
    """(variant, why): INT8 only when it is faster here *and* agrees with FP32 at min_agreement or above.

    An INT8 recorded without an agreement figure (installed by hand) is never preferred: its
    fidelity is unknown.
    """
    if "int8" not in bench_ms or "fp32" not in bench_ms:
        only = next(iter(bench_ms), "fp32")
        return only, f"only {only} is installed"
    f1 = record.variants["int8"].agreement_f1
    if f1 is None:
        return "fp32", "int8 has no recorded agreement with fp32 (run `models quantize`)"
    if f1 < min_agreement:
        return "fp32", f"int8 agreement F1 {f1:.3f} is below {min_agreement:.2f}"
    if bench_ms["int8"] >= bench_ms["fp32"]:
        return "fp32", f"int8 is not faster here ({bench_ms['int8']:.1f} vs {bench_ms['fp32']:.1f} ms)"
    return "int8", f"int8 is faster here and agrees with fp32 at F1 {f1:.3f}"


def verify_models(models_dir: Path) -> list[tuple[str, str, str | None]]:
    """(model, variant, problem or None) for every installed file."""
    results = []
    for record in installed_records(models_dir):
        for variant, entry in sorted(record.variants.items()):
            try:
                check_file(Path(models_dir) / entry.file, entry.sha256, f"model {record.name!r} ({variant})")
                results.append((record.name, variant, None))
            except ModelIntegrityError as exc:
                results.append((record.name, variant, str(exc)))
    return results


def _existing_or_new(dest_dir: Path, manifest: ModelManifest) -> InstalledModel:
    try:
        record = read_record(dest_dir, manifest.name)
        return record.model_copy(update={"manifest": manifest})
    except ModelNotInstalled:
        return InstalledModel(manifest=manifest)


def _atomic_write(path: Path, data: bytes) -> None:
    private_dir(path.parent)
    atomic_write_private(path, data, GROUP_READABLE_FILE)  # like the model files beside it
