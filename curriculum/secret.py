"""The owner secret S_owner: generation, commitment, and its 0600 secret file (SPEC §10.4).

The secret is 32 random bytes from ``secrets``; its commitment is keccak256(S_owner).
It is never printed, logged or put in an exception message: ``OwnerSecret`` redacts
itself in ``repr``/``str``, and code that needs the bytes calls ``reveal()``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Final

from curriculum.errors import CurriculumError, SecretFileError
from curriculum.files import write_private_file
from curriculum.hexutil import parse_hex32
from kernel.hashing import keccak256
from kernel.host import HostError, read_file

SECRET_SIZE: Final = 32
SECRET_FILE_SIZES: Final = (66, 67)  # "0x" + 64 hex digits, optionally followed by "\n"


class OwnerSecret:
    """A 32-byte owner secret that never shows itself in ``repr``, ``str`` or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)) or len(value) != SECRET_SIZE:
            raise CurriculumError(f"an owner secret is {SECRET_SIZE} bytes")
        self._value = bytes(value)

    @classmethod
    def generate(cls) -> OwnerSecret:
        """A fresh secret from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(SECRET_SIZE))

    def reveal(self) -> bytes:
        """The raw 32 bytes. Call only where the value is needed (sampling, a dispute)."""
        return self._value

    @property
    def commitment(self) -> bytes:
        """keccak256(S_owner): the public commitment stored in the beast's hatch data."""
        return keccak256(self._value)

    def __repr__(self) -> str:
        return f"OwnerSecret(<redacted>, commitment=0x{self.commitment.hex()})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OwnerSecret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self.commitment)


def secret_commitment(secret: bytes | OwnerSecret) -> bytes:
    """keccak256 of the 32-byte secret."""
    return (secret if isinstance(secret, OwnerSecret) else OwnerSecret(secret)).commitment


def encode_secret_file(secret: OwnerSecret) -> bytes:
    """The secret file content: ``0x`` + 64 lowercase hex digits + ``\\n`` (67 bytes)."""
    return b"0x" + secret.reveal().hex().encode("ascii") + b"\n"


def write_secret_file(path: str | os.PathLike[str], secret: OwnerSecret) -> None:
    """Write ``secret`` atomically with mode 0600; refuses to overwrite an existing file."""
    write_private_file(path, encode_secret_file(secret), overwrite=False)


def new_secret_file(path: str | os.PathLike[str]) -> OwnerSecret:
    """Generate a secret and write it to a new file at ``path`` (0600, never overwrites)."""
    secret = OwnerSecret.generate()
    write_secret_file(path, secret)
    return secret


def read_owner_only(path: str | os.PathLike[str], what: str, max_bytes: int) -> bytes:
    """The bytes of a file that holds a secret (owner secret, private key).

    Refuses, with SecretFileError naming ``what`` (kernel.host.read_file, private): symbolic
    links, non-regular files (a FIFO without waiting on it), files
    another user owns, files group or others may access, and files over ``max_bytes``.
    The content never appears in a message.
    """
    try:
        return read_file(path, limit=max_bytes, what=what, private=True)
    except HostError as exc:
        raise SecretFileError(str(exc)) from None


def read_secret_file(path: str | os.PathLike[str]) -> OwnerSecret:
    """Read a secret file, refusing symlinks, non-regular files, files another user owns,
    files group or others may access, and files of the wrong size or content."""
    data = read_owner_only(path, "secret file", SECRET_FILE_SIZES[-1])
    if len(data) not in SECRET_FILE_SIZES or (len(data) == 67 and data[-1:] != b"\n"):
        raise SecretFileError(f"secret file {path} is malformed; expected 0x + 64 hex digits (+ newline)")
    try:
        value = parse_hex32(data[:66].decode("ascii"), "secret file content")
    except (UnicodeDecodeError, CurriculumError):
        raise SecretFileError(f"secret file {path} is malformed; expected 0x + 64 hex digits (+ newline)") from None
    return OwnerSecret(value)
