"""Private-curriculum sample selection.

spec_version 1 (SPEC §4.1):

    sampleIdx(g) = splitMix64(fold64(seed_core) ^ fold64(S_owner) ^ g) mod DATASET_LEN

spec_version 2 (SPEC §10.5), every bit of S_owner counts:

    sample_key   = keccak256("chainbeasts/sample-key/v2" || seed_core || S_owner)
    sampleIdx(g) = uint256_be(keccak256(sample_key || u32_be(g))) mod DATASET_LEN

Pure functions of their arguments; no state, no floats. The v2 sample key is as secret as
S_owner (it decides which record each step trains on), so it is a ``SampleKey`` that
redacts itself in ``repr``/``str``, like ``OwnerSecret``.
"""

from __future__ import annotations

import hmac
from typing import Final

from curriculum.errors import SamplingError
from curriculum.secret import OwnerSecret
from kernel.hashing import keccak256
from kernel.prng import fold64, splitmix64

U32_MAX = 0xFFFFFFFF
SAMPLE_KEY_TAG_V2: Final = b"chainbeasts/sample-key/v2"  # 25 ASCII bytes, hashed as they are


def _bytes32(value: bytes | OwnerSecret, what: str) -> bytes:
    raw = value.reveal() if isinstance(value, OwnerSecret) else value
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != 32:
        raise SamplingError(f"{what} must be 32 bytes")
    return bytes(raw)


def sample_key(seed_core: bytes, secret: bytes | OwnerSecret) -> int:
    """fold64(seed_core) ^ fold64(S_owner): the per-beast part of the sampler input."""
    return fold64(_bytes32(seed_core, "seed_core")) ^ fold64(_bytes32(secret, "owner secret"))


def index_from_key(key: int, global_step: int, dataset_len: int) -> int:
    """splitMix64(key ^ g) mod dataset_len, with ``g`` a u32 and ``dataset_len >= 1``."""
    if not isinstance(global_step, int) or isinstance(global_step, bool) or not 0 <= global_step <= U32_MAX:
        raise SamplingError(f"global_step must be an integer in 0..2**32-1, got {global_step!r}")
    if not isinstance(dataset_len, int) or isinstance(dataset_len, bool) or dataset_len < 1:
        raise SamplingError(f"dataset_len must be an integer >= 1, got {dataset_len!r}")
    return splitmix64(key ^ global_step) % dataset_len


def sample_index(seed_core: bytes, secret: bytes | OwnerSecret, global_step: int, dataset_len: int) -> int:
    """The dataset index micro-step ``global_step`` trains on (SPEC §4.1)."""
    return index_from_key(sample_key(seed_core, secret), global_step, dataset_len)


class SampleKey:
    """The 32-byte v2 sample key; never shows its bytes in ``repr``, ``str`` or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
            raise SamplingError("a sample key is 32 bytes")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """The raw 32 bytes (for hashing and for test vectors only)."""
        return self._value

    def __repr__(self) -> str:
        return "SampleKey(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SampleKey):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(keccak256(self._value))


def sample_key_v2(seed_core: bytes, secret: bytes | OwnerSecret) -> SampleKey:
    """keccak256("chainbeasts/sample-key/v2" || seed_core || S_owner) (SPEC §10.5)."""
    return SampleKey(keccak256(SAMPLE_KEY_TAG_V2 + _bytes32(seed_core, "seed_core") + _bytes32(secret, "owner secret")))


def _key_bytes(key: SampleKey | bytes) -> bytes:
    if isinstance(key, SampleKey):
        return key.reveal()
    if isinstance(key, (bytes, bytearray)) and len(key) == 32:
        return bytes(key)
    raise SamplingError("a sample key is 32 bytes")


def _check_step_len(global_step: object, dataset_len: object) -> None:
    if not isinstance(global_step, int) or isinstance(global_step, bool) or not 0 <= global_step <= U32_MAX:
        raise SamplingError(f"global_step must be an integer in 0..2**32-1, got {global_step!r}")
    if not isinstance(dataset_len, int) or isinstance(dataset_len, bool) or dataset_len < 1:
        raise SamplingError(f"dataset_len must be an integer >= 1, got {dataset_len!r}")


def sample_index_v2(key: SampleKey | bytes, global_step: int, dataset_len: int) -> int:
    """uint256_be(keccak256(sample_key || u32_be(g))) mod dataset_len (SPEC §10.5)."""
    _check_step_len(global_step, dataset_len)
    return int.from_bytes(keccak256(_key_bytes(key) + global_step.to_bytes(4, "big")), "big") % dataset_len


def sample_indices_v2(key: SampleKey | bytes, first_step: int, count: int, dataset_len: int) -> list[int]:
    """sampleIdx of the ``count`` steps g = first_step + j mod 2**32, j = 0..count-1 (a window: count 128).

    The batched kernel path uses this instead of ``count`` calls of :func:`sample_index_v2`.
    """
    _check_step_len(first_step, dataset_len)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise SamplingError(f"count must be an integer >= 0, got {count!r}")
    raw = _key_bytes(key)
    return [int.from_bytes(keccak256(raw + ((first_step + j) & U32_MAX).to_bytes(4, "big")), "big") % dataset_len
            for j in range(count)]
