"""Credential privacy: card numbers and PINs become keyed tokens at the adapter edge.

A 26-bit card space is brute-forced in seconds against a plain hash, so the
token is HMAC-SHA256 under a per-site key read from a file. The same card
gives the same token on every adapter of the site (numbers are canonicalized
first), and a different one on another site. Nothing here logs its input.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from edge_agent.config.access import AccessConfig
from edge_agent.config.base import read_secret_bytes

MIN_SITE_KEY_BYTES = 16
_WIEGAND_H10301_BITS = 26


def tokenizer_for(access: AccessConfig) -> CredentialTokenizer | None:
    """The site's credential tokenizer, or None when no site key is configured."""
    if access.site_key_file is None:
        return None
    return CredentialTokenizer.from_file(access.site_key_file)


class CredentialTokenizer:
    def __init__(self, site_key: bytes):
        if len(site_key) < MIN_SITE_KEY_BYTES:
            raise ValueError(f"the site key must be at least {MIN_SITE_KEY_BYTES} bytes (found {len(site_key)})")
        self._key = bytes(site_key)

    @classmethod
    def from_file(cls, path: Path) -> CredentialTokenizer:
        try:
            key = read_secret_bytes(path)
        except OSError as exc:
            raise ValueError(f"site key file {str(path)!r} cannot be read: {exc.strerror}") from None
        try:
            return cls(key)
        except ValueError as exc:
            raise ValueError(f"site key file {str(path)!r}: {exc}") from None

    def card(self, number: str) -> str:
        """Token of a card number as a controller prints it (leading zeros do not matter)."""
        return self._token(b"card:", canonical_card(number))

    def pin(self, digits: str) -> str:
        """Token of a keypad entry; PINs are credentials too."""
        return self._token(b"pin:", digits.strip())

    def _token(self, kind: bytes, value: str) -> str:
        return hmac.new(self._key, kind + value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def canonical_card(number: str) -> str:
    text = str(number).strip()
    if text.isdigit() and text.isascii():
        return text.lstrip("0") or "0"
    return text.upper()


def wiegand_card_number(data: bytes, bits: int) -> str:
    """Card number of a raw Wiegand read, as controllers print it.

    26-bit H10301 with valid parity: the 24 data bits (facility * 65536 + card)
    in decimal, which is what Hikvision and most controllers show. Any other
    length: the whole bit string as a decimal number, prefixed with its length
    so a 34-bit and a 26-bit read never collide.
    """
    if bits <= 0 or len(data) * 8 < bits:
        raise ValueError(f"{bits}-bit read with only {len(data)} bytes of data")
    value = int.from_bytes(data, "big") >> (len(data) * 8 - bits)
    if bits == _WIEGAND_H10301_BITS and _h10301_parity_ok(value):
        return str((value >> 1) & 0xFFFFFF)
    return f"w{bits}:{value}"


def _h10301_parity_ok(value: int) -> bool:
    leading = value >> 25
    trailing = value & 1
    first_half = (value >> 13) & 0xFFF
    second_half = (value >> 1) & 0xFFF
    even_ok = (bin(first_half).count("1") + leading) % 2 == 0
    odd_ok = (bin(second_half).count("1") + trailing) % 2 == 1
    return even_ok and odd_ok


def wiegand26(facility: int, card: int) -> bytes:
    """A valid H10301 frame (4 bytes, 26 bits left-aligned); for tests and bench tools."""
    if not (0 <= facility < 256 and 0 <= card < 65536):
        raise ValueError("facility is 8 bits and card 16 bits")
    data = (facility << 16) | card
    first_half = data >> 12
    second_half = data & 0xFFF
    even = bin(first_half).count("1") % 2
    odd = 1 - bin(second_half).count("1") % 2
    value = (even << 25) | (data << 1) | odd
    return (value << 6).to_bytes(4, "big")
