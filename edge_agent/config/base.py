"""Shared pieces of the config models: strict base class, names and secret-file fields."""

from __future__ import annotations

import os
import stat
import unicodedata
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr, ValidationInfo, WithJsonSchema


class Section(BaseModel):
    """Every config section forbids unknown keys, so a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


DEFER_FILES = "defer_files"  # validation context key: check no file yet (remote text, before the allow-list)


def _readable_secret_file(path: Path, info: ValidationInfo) -> Path:
    """A regular file this user can read. Not opened while judging remote text: a sender may not learn which files
    exist, nor hang the command channel on a FIFO or a tty (the allow-list refuses a changed path first)."""
    if (info.context or {}).get(DEFER_FILES):
        return path
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or a device would block the read below
            raise ValueError(f"secret file {str(path)!r} is not a regular file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        os.close(fd)
    except FileNotFoundError:
        raise ValueError(f"secret file {str(path)!r} does not exist") from None
    except PermissionError:
        raise ValueError(f"secret file {str(path)!r} is not readable by this user (permission denied)") from None
    except IsADirectoryError:
        raise ValueError(f"secret file {str(path)!r} is a directory") from None
    except OSError as exc:
        raise ValueError(f"secret file {str(path)!r} cannot be read: {exc.strerror}") from None
    return path


NAME_MAX = 64
NAME_RULE = (
    f"1-{NAME_MAX} characters: a letter or digit first, then letters, digits, '_', '-' or '.' "
    "(any script's letters; no spaces, '/' or control characters)"
)


def _letter_or_digit(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "L" or category == "Nd"


def _name_character(char: str) -> bool:
    # Marks (M*) after the first character: Tamil, Thai or Hindi words need their vowel signs.
    return _letter_or_digit(char) or unicodedata.category(char)[0] == "M" or char in "_-."


def check_name(value: str) -> str:
    """`value` if it is a valid `Name`, else ValueError stating the rule and what breaks it."""
    shown = repr(value) if len(value) <= 80 else repr(value[:77]) + "..."
    if not 1 <= len(value) <= NAME_MAX:
        raise ValueError(f"a name is {NAME_RULE}; found {len(value)} characters")
    if not _letter_or_digit(value[0]):
        raise ValueError(f"a name is {NAME_RULE}; {shown} starts with {value[0]!r}")
    for position, char in enumerate(value[1:], 2):
        if not _name_character(char):
            raise ValueError(f"a name is {NAME_RULE}; {shown} has {char!r} at character {position}")
    return value


Name = Annotated[
    str,
    AfterValidator(check_name),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": NAME_MAX, "description": NAME_RULE}),
]
"""A zone, line, rule, camera, door, reader, adapter or action name or id, and every reference to one. Names reach
alerts, topics, URLs and the arguments of `command` actions (docs/actions.md#command), and a remote `set-config`
may change them: so a name never starts an option (`-`) or a hidden file (`.`), is never a path (`/`, `.`, `..`),
holds no space, control or invisible formatting character, and is at most NAME_MAX characters. Letters of any
script are allowed (installers name zones in Chinese, Tamil or Thai); no spaces, because names are typed on command
lines and read in topics and logs, where `lift-lobby` is unambiguous and `lift lobby` needs quoting."""

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
