"""Shared pieces of the config models: strict base class and secret-file fields."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr


class Section(BaseModel):
    """Every config section forbids unknown keys, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def _readable_secret_file(path: Path) -> Path:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise ValueError(f"secret file {str(path)!r} does not exist") from None
    except PermissionError:
        raise ValueError(f"secret file {str(path)!r} is not readable by this user (permission denied)") from None
    except IsADirectoryError:
        raise ValueError(f"secret file {str(path)!r} is a directory") from None
    except OSError as exc:
        raise ValueError(f"secret file {str(path)!r} cannot be read: {exc.strerror}") from None
    return path


SecretFile = Annotated[Path, AfterValidator(_readable_secret_file)]
"""A path to a file holding a secret; checked readable when the config loads."""


def read_secret(path: Path | None, inline: SecretStr | None = None) -> SecretStr | None:
    """The secret from its file (trailing newline stripped) or the inline value."""
    if path is not None:
        return SecretStr(Path(path).read_text().rstrip("\r\n"))
    return inline


def read_secret_bytes(path: Path) -> bytes:
    """Binary keys (site key, OSDP SCBK) given as hex text or raw bytes in a file.

    A trailing line break is never part of the key: editors add one, and a key that
    changed when someone re-saved the file would silently change every credential token.
    """
    data = Path(path).read_bytes()
    text = data.strip()
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return data.rstrip(b"\r\n")
