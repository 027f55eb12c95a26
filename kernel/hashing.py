"""keccak256 (the Ethereum variant, not SHA3-256) used for every commitment."""

from __future__ import annotations

from eth_hash.auto import keccak as _keccak


def keccak256(data: bytes) -> bytes:
    """keccak256 digest of ``data`` (32 bytes)."""
    return _keccak(bytes(data))
