"""Installed models: fetch, install, verify and pick a variant.

Each installed model has a record `NAME.model.yaml` in the models directory holding its
manifest and, per variant (fp32, int8), the file name and the sha256 that was installed.
The detector refuses a file whose digest no longer matches its record.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.vision.manifest import ManifestError, ModelManifest, load_manifest

Variant = Literal["fp32", "int8"]


class ModelIntegrityError(RuntimeError):
    """A model file is missing or its sha256 is not the one recorded or declared."""


class ModelNotInstalled(RuntimeError):
    pass


class InstalledFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="File name inside the models directory.")
    sha256: str = Field(description="Digest of the file as installed.")
    source: str = Field(description="Where it came from: a URL, a mirror path or 'quantized from ...'.")
    installed_at: float = Field(description="Epoch seconds.")


class InstalledModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    manifest: ModelManifest
    variants: dict[str, InstalledFile] = Field(default_factory=dict)
    preferred_variant: Variant | None = Field(default=None, description="Set by `models bench`.")
    bench: dict[str, float] | None = Field(default=None, description="Median ms per variant from `models bench`.")

    @property
    def name(self) -> str:
        return self.manifest.name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / f"{name}.model.yaml"


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
    """Return the file's digest, or raise naming the file, the expected and the found digest."""
    if not Path(path).exists():
        raise ModelIntegrityError(f"{what}: model file {path} is missing")
    found = sha256_file(path)
    accepted = {expected} if isinstance(expected, str) else expected
    if found not in accepted:
        raise ModelIntegrityError(
            f"{what}: model file {path} has sha256 {found}, expected {' or '.join(sorted(accepted))}; "
            "refusing a changed file (re-fetch it, or `models install` it if the change is intended)"
        )
    return found


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
    path = Path(models_dir) / entry.file
    check_file(path, entry.sha256, f"model {name!r} ({chosen})")
    return path, record, chosen


def fetch_model(name: str, dest_dir: Path, mirror_dir: Path | None = None, manifest: ModelManifest | None = None) -> Path:
    """Install `name` into `dest_dir` from a mirror directory or its upstream URL; returns the file path.

    A mirror copy is checked against the digest its mirror entry declares (or the upstream
    digest); a download against the upstream digest. Nothing is left behind on a mismatch.
    """
    manifest = manifest or load_manifest(name)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / manifest.file
    if mirror_dir is not None:
        source, digest = _copy_from_mirror(manifest, Path(mirror_dir), target)
    else:
        source, digest = _download(manifest, target)
    record = _existing_or_new(dest_dir, manifest)
    record.variants["fp32"] = InstalledFile(file=manifest.file, sha256=digest, source=source, installed_at=time.time())
    record.variants.pop("int8", None)  # quantized from an older file: no longer valid
    record.preferred_variant, record.bench = None, None
    write_record(dest_dir, record)
    return target


def install_model(file: Path, name: str, dest_dir: Path, manifest: ModelManifest) -> Path:
    """Install a custom model file under `name`, recording the digest it has now."""
    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"model file {file} does not exist")
    manifest = manifest.model_copy(update={"name": name, "file": f"{name}.onnx"})
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / manifest.file
    _atomic_copy(file, target)
    digest = sha256_file(target)
    manifest = manifest.model_copy(update={"sha256": digest, "size": target.stat().st_size, "url": None, "mirrors": []})
    record = InstalledModel(manifest=manifest)
    record.variants["fp32"] = InstalledFile(file=target.name, sha256=digest, source=str(file.resolve()), installed_at=time.time())
    write_record(dest_dir, record)
    return target


def record_int8(models_dir: Path, name: str, int8_path: Path, source: str) -> InstalledModel:
    """Record a freshly quantized file; a new INT8 file invalidates an older bench verdict."""
    record = read_record(models_dir, name)
    record.variants["int8"] = InstalledFile(
        file=Path(int8_path).name, sha256=sha256_file(int8_path), source=source, installed_at=time.time()
    )
    record.preferred_variant, record.bench = None, None
    write_record(models_dir, record)
    return record


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


def _copy_from_mirror(manifest: ModelManifest, mirror_dir: Path, target: Path) -> tuple[str, str]:
    candidates = [(m.path, m.sha256) for m in manifest.mirrors] + [(manifest.file, manifest.sha256)]
    for relative, digest in candidates:
        source = mirror_dir / relative
        if source.is_file():
            check_file(source, digest, f"mirror copy of {manifest.name!r}")
            _atomic_copy(source, target)
            check_file(target, digest, f"installed copy of {manifest.name!r}")
            return f"mirror {source.resolve()}", digest
    tried = ", ".join(str(mirror_dir / relative) for relative, _ in candidates)
    raise ManifestError(f"mirror {mirror_dir} has no copy of model {manifest.name!r} (looked for {tried})")


def _download(manifest: ModelManifest, target: Path) -> tuple[str, str]:
    if not manifest.url:
        raise ManifestError(f"model {manifest.name!r} has no upstream URL; use --from DIR")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(manifest.url, timeout=60) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        if manifest.size is not None and Path(tmp).stat().st_size != manifest.size:
            raise ModelIntegrityError(
                f"download of {manifest.url} is {Path(tmp).stat().st_size} bytes, expected {manifest.size}"
            )
        check_file(Path(tmp), manifest.sha256, f"download of {manifest.name!r} from {manifest.url}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return manifest.url, manifest.sha256


def _atomic_copy(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
