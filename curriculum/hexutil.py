"""Parsing and formatting of 0x-prefixed hex values (commitments, seeds, secrets)."""

from __future__ import annotations

import re

from curriculum.errors import CurriculumError

_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")
ZERO32 = bytes(32)


def parse_hex32(text: str, what: str) -> bytes:
    """32 bytes from ``0x`` + 64 hex digits; raises CurriculumError naming ``what`` otherwise.

    The message never repeats ``text`` (it may be a secret).
    """
    text = text.strip()
    if not _HEX32.fullmatch(text):
        raise CurriculumError(f"{what} must be 0x followed by 64 hex digits ({len(text)} characters given)")
    return bytes.fromhex(text[2:])


def hex32(value: bytes) -> str:
    """``0x`` + lowercase hex of a byte string."""
    return "0x" + value.hex()
