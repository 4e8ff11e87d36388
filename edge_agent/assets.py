"""Files pinned by sha256: fetched from their upstream URL or copied from an offline mirror.

Models and the demo clip both come this way. A mirror (EDGE_AGENT_ASSETS, `--from DIR`)
may hold a different build of the same content, so each mirror entry declares its own
digest; the caller records whichever digest it installed. Nothing is left behind on a
mismatch: files are written to a temporary name and renamed only once verified.

Which mirror, if any, is decided in one place, `find_mirror`, used by `edge-agent demo`,
`edge-agent models fetch`, the tests and the benches alike.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.private_files import GROUP_READABLE_FILE, private_dir


class AssetIntegrityError(RuntimeError):
    """A file is missing, or its size or sha256 is not the pinned one."""


class AssetUnavailable(OSError):
    """Neither the mirror nor the upstream URL can provide the file."""


ASSETS_ENV = "EDGE_AGENT_ASSETS"
MIRROR_HINT = (
    f"to work offline, set {ASSETS_ENV} to a mirror directory (or pass it: `demo --assets DIR`, "
    "`models fetch --from DIR`), or keep the shared assets at ../shared beside the source checkout; "
    "see docs/install.md"
)


@dataclass(frozen=True)
class MirrorChoice:
    path: Path | None  # None: no mirror, fetch from the upstream URLs
    reason: str  # how it was chosen, for messages


def checkout_root() -> Path | None:
    """The source checkout this package was imported from, or None for an installed wheel.

    A checkout is the directory above the `edge_agent` package when it holds setup.cfg (a
    wheel puts none into site-packages). The path is the one Python imported from, symlinks
    kept, so a checkout reached through a symlink looks for ../shared beside the symlink.
    """
    root = Path(os.path.abspath(__file__)).parent.parent
    return root if (root / "setup.cfg").is_file() else None


def find_mirror(explicit: str | Path | None = None) -> MirrorChoice:
    """The offline mirror to fetch from, in the one lookup order everything uses.

    1. `explicit` (a command's --assets / --from), 2. $EDGE_AGENT_ASSETS when set and not
    empty, 3. the directory `shared` beside the source checkout (`checkout_root().parent /
    "shared"`) when it exists; the current directory plays no part. Otherwise None: the
    pinned upstream URLs. The first one found is used even if it lacks a file, so an offline
    site never falls back to the network behind its back.
    """
    if explicit:
        return MirrorChoice(Path(explicit), "given on the command line")
    from_env = os.environ.get(ASSETS_ENV)
    if from_env:
        return MirrorChoice(Path(from_env), f"${ASSETS_ENV}")
    root = checkout_root()
    if root is not None and (root.parent / "shared").is_dir():
        return MirrorChoice(root.parent / "shared", f"../shared beside the checkout {root}")
    where = f"no ../shared beside the checkout {root}" if root else "not running from a source checkout"
    return MirrorChoice(None, f"${ASSETS_ENV} unset and {where}")


def default_mirror() -> Path | None:
    """`find_mirror()`'s directory when no mirror is given on the command line."""
    return find_mirror().path


def require_mirror() -> Path:
    """The default mirror for tools that cannot download (tests, benches), or raise saying why."""
    choice = find_mirror()
    if choice.path is None:
        raise AssetUnavailable(f"no asset mirror ({choice.reason}); {MIRROR_HINT}")
    return choice.path


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
            f"{what}: file {path} has sha256 {found}, expected {' or '.join(sorted(accepted))}; refusing a changed file"
        )
    return found


def fetch_asset(asset: PinnedAsset, target: Path, mirror_dir: Path | None = None) -> Fetched:
    """Put `asset` at `target`, verified: from `mirror_dir` when given, else from its URL."""
    target = Path(target)
    private_dir(target.parent)
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
        os.chmod(tmp, GROUP_READABLE_FILE)  # the agent's group reads it; others need not
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
        os.chmod(tmp, GROUP_READABLE_FILE)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
