"""Finding picture bytes where none may be: JPEG and PNG signatures, raw and base64-encoded (as JSON carries them)."""

from __future__ import annotations

from pathlib import Path

# raw signatures, and the base64 text each starts as when a message carries the file in a JSON string
SIGNATURES = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg-base64": b"/9j/",
    "png-base64": b"iVBORw0KGgo",
}


def pictures_in(data: bytes) -> list[str]:
    """Which signatures `data` holds (empty: no picture in it)."""
    return [name for name, signature in SIGNATURES.items() if signature in data]


def pictures_in_files(paths: list[Path]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        if path.exists() and path.is_file():
            hits = pictures_in(path.read_bytes())
            if hits:
                found[str(path)] = hits
    return found
