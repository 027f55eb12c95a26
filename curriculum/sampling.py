"""Private-curriculum sample selection (SPEC §4.1):

    sampleIdx(g) = splitMix64(fold64(seed_core) ^ fold64(S_owner) ^ g) mod DATASET_LEN

Pure functions of their arguments; no state, no floats.
"""

from __future__ import annotations

from curriculum.errors import SamplingError
from curriculum.secret import OwnerSecret
from kernel.prng import fold64, splitmix64

U32_MAX = 0xFFFFFFFF


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
