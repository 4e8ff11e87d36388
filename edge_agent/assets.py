"""Files pinned by sha256: fetched from their upstream URL or copied from an offline mirror.

Models and the demo clip both come this way. A mirror (EDGE_AGENT_ASSETS, `--from DIR`)
may hold a different build of the same content, so each mirror entry declares its own
digest; the caller records whichever digest it installed. Nothing is left behind on a
mismatch: files are written to a temporary name and renamed only once verified.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class AssetIntegrityError(RuntimeError):
    """A file is missing, or its size or sha256 is not the pinned one."""


class AssetUnavailable(OSError):
    """Neither the mirror nor the upstream URL can provide the file."""


@dataclass(frozen=True)
class MirrorCopy:
    path: str  # relative to the mirror directory
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class PinnedAsset:
    name: str
    url: str | None
    sha256: str
    size: int | None = None
    mirrors: tuple[MirrorCopy, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    source: str  # the URL or the mirror file it came from


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, expected: str | set[str], what: str) -> str:
    """The file's digest, or raise naming the file, the expected and the found digest."""
    if not Path(path).exists():
        raise AssetIntegrityError(f"{what}: file {path} is missing")
    found = sha256_file(path)
    accepted = {expected} if isinstance(expected, str) else expected
    if found not in accepted:
        raise AssetIntegrityError(
            f"{what}: file {path} has sha256 {found}, expected {' or '.join(sorted(accepted))}; "
            "refusing a changed file"
        )
    return found


def fetch_asset(asset: PinnedAsset, target: Path, mirror_dir: Path | None = None) -> Fetched:
    """Put `asset` at `target`, verified: from `mirror_dir` when given, else from its URL."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if mirror_dir is not None:
        return _copy_from_mirror(asset, Path(mirror_dir), target)
    return _download(asset, target)


def _copy_from_mirror(asset: PinnedAsset, mirror_dir: Path, target: Path) -> Fetched:
    candidates = list(asset.mirrors) + [MirrorCopy(Path(target).name, asset.sha256, asset.size)]
    for copy in candidates:
        source = mirror_dir / copy.path
        if source.is_file():
            check_file(source, copy.sha256, f"mirror copy of {asset.name!r}")
            atomic_copy(source, target)
            check_file(target, copy.sha256, f"installed copy of {asset.name!r}")
            return Fetched(target, copy.sha256, f"mirror {source.resolve()}")
    tried = ", ".join(str(mirror_dir / copy.path) for copy in candidates)
    raise AssetUnavailable(f"mirror {mirror_dir} has no copy of {asset.name!r} (looked for {tried})")


def _download(asset: PinnedAsset, target: Path) -> Fetched:
    if not asset.url:
        raise AssetUnavailable(f"{asset.name!r} has no upstream URL; use a mirror directory")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(asset.url, timeout=60) as response:
                shutil.copyfileobj(response, out, 1 << 20)
        except OSError as exc:
            raise AssetUnavailable(f"cannot download {asset.name!r} from {asset.url}: {exc}") from None
        size = Path(tmp).stat().st_size
        if asset.size is not None and size != asset.size:
            raise AssetIntegrityError(f"download of {asset.url} is {size} bytes, expected {asset.size}")
        check_file(Path(tmp), asset.sha256, f"download of {asset.name!r} from {asset.url}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return Fetched(target, asset.sha256, asset.url)


def atomic_copy(source: Path, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=Path(target).parent, prefix=f".{Path(target).name}.")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
