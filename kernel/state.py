"""Kernel state, its canonical bytes, h128, the zstd state blob, and genesis (SPEC §6, §7).

The canonical bytes are the only thing hashed; the blob is those bytes in one zstd frame
for serving to validators. Decoding validates everything and raises StateBlobError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
import zstandard

from kernel import SPEC_VERSION
from kernel.errors import StateBlobError, ZstdFrameError
from kernel.hashing import keccak256
from kernel.params import DEFAULT_PARAMS, MAX_LR_SHIFT, KernelParams
from kernel.prng import SplitMix64Stream, fold64
from kernel.zstd_frame import single_frame_parameters

STATE_MAGIC: Final = b"CBKS"
ZERO16: Final = bytes(16)
ZERO32: Final = bytes(32)
DEFAULT_MASK: Final = 0b0011  # genesis activeMask: slots 0 and 1
DEFAULT_LR_SHIFT: Final = 6  # genesis lrShift
GENESIS_TAG: Final = b"chainbeasts/genesis/v1"
ZSTD_LEVEL: Final = 3
LARGEST_PARAMS: Final = KernelParams(slot_width=256, n_slots=8)  # bounds every state blob (SPEC §6.3)

# magic, spec_version, d_in, slot_width, n_slots, n_out, epoch_steps, base_cost, spurt_cost
_HEAD = struct.Struct("<4sHHHBBIQQ")
# global_step, window, active_mask, lr_shift, loss_sum_prev
_COUNTERS = struct.Struct("<IIBBQ")


def _i16(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype="<i2")


@dataclass(eq=False)
class KernelState:
    """Everything a window needs to continue training, and everything h128 commits to."""

    params: KernelParams
    seed_core: bytes  # 32
    dataset_commitment: bytes  # 32, zero when the beast has no private curriculum
    parent_h128: bytes  # 16, h128 of the previous checkpoint state (zero at genesis)
    epoch_seed: bytes  # 32, seed of the epoch the last window lay in
    global_step: int  # u32
    window: int  # u32, windows completed since genesis
    active_mask: int  # u8
    lr_shift: int  # u8, of the last window
    loss_sum_prev: int  # u64, loss sum of the last window (0 at genesis: none)
    w1: np.ndarray = field(repr=False)  # int64 (hidden, d_in), values in i16
    b1: np.ndarray = field(repr=False)  # int64 (hidden,)
    w2: np.ndarray = field(repr=False)  # int64 (n_out, hidden)
    b2: np.ndarray = field(repr=False)  # int64 (n_out,)

    @property
    def private(self) -> bool:
        """True when the beast trains on a committed private dataset."""
        return self.dataset_commitment != ZERO32

    def weight_bytes(self) -> bytes:
        """W1, b1, W2, b2 as little-endian i16, row-major, in that order."""
        return b"".join(_i16(a).tobytes() for a in (self.w1, self.b1, self.w2, self.b2))

    def to_bytes(self) -> bytes:
        """Canonical state bytes (SPEC §6.3)."""
        p = self.params
        head = _HEAD.pack(
            STATE_MAGIC, SPEC_VERSION, p.d_in, p.slot_width, p.n_slots, p.n_out, p.epoch_steps, p.base_cost, p.spurt_cost
        )
        counters = _COUNTERS.pack(self.global_step, self.window, self.active_mask, self.lr_shift, self.loss_sum_prev)
        return head + self.seed_core + self.dataset_commitment + self.parent_h128 + self.epoch_seed + counters + self.weight_bytes()

    def h128(self) -> bytes:
        """First 16 bytes of keccak256 of the canonical bytes (which hold the parent's h128)."""
        return keccak256(self.to_bytes())[:16]

    def copy(self) -> KernelState:
        """A deep copy (weights copied)."""
        return replace(self, w1=self.w1.copy(), b1=self.b1.copy(), w2=self.w2.copy(), b2=self.b2.copy())


def state_size(params: KernelParams) -> int:
    """Length of the canonical bytes for these parameters."""
    h, d, o = params.hidden, params.d_in, params.n_out
    return _HEAD.size + 32 + 32 + 16 + 32 + _COUNTERS.size + 2 * (h * d + h + o * h + o)


def from_bytes(data: bytes) -> KernelState:
    """Parse canonical state bytes; raises StateBlobError on anything malformed (a non-bytes value included)."""
    if not isinstance(data, (bytes, bytearray)):
        raise StateBlobError(f"state bytes are bytes, got {type(data).__name__}")
    if len(data) < _HEAD.size:
        raise StateBlobError(f"state bytes truncated: {len(data)} bytes, the header alone is {_HEAD.size}")
    magic, version, d_in, slot_width, n_slots, n_out, epoch_steps, base_cost, spurt_cost = _HEAD.unpack_from(data, 0)
    if magic != STATE_MAGIC:
        raise StateBlobError(f"bad state magic {magic!r}, expected {STATE_MAGIC!r}")
    if version != SPEC_VERSION:
        raise StateBlobError(f"state has spec_version {version}, this kernel implements {SPEC_VERSION}")
    try:
        params = KernelParams(d_in, slot_width, n_slots, n_out, epoch_steps, base_cost, spurt_cost)
    except Exception as exc:
        raise StateBlobError(f"state parameters are invalid: {exc}") from exc
    need = state_size(params)
    if len(data) != need:
        raise StateBlobError(f"state bytes have length {len(data)}, expected {need} for these parameters")
    off = _HEAD.size
    seed_core, off = data[off : off + 32], off + 32
    dataset_commitment, off = data[off : off + 32], off + 32
    parent, off = data[off : off + 16], off + 16
    epoch_seed, off = data[off : off + 32], off + 32
    global_step, window, mask, lr_shift, loss_prev = _COUNTERS.unpack_from(data, off)
    off += _COUNTERS.size
    if mask == 0 or mask >> params.n_slots:
        raise StateBlobError(f"active_mask 0x{mask:02x} is empty or names slots beyond n_slots={params.n_slots}")
    if lr_shift > MAX_LR_SHIFT:
        raise StateBlobError(f"lr_shift {lr_shift} exceeds {MAX_LR_SHIFT}")
    h, d, o = params.hidden, params.d_in, params.n_out
    arrays = []
    for shape in ((h, d), (h,), (o, h), (o,)):
        n = int(np.prod(shape))
        arrays.append(np.frombuffer(data, dtype="<i2", count=n, offset=off).astype(np.int64).reshape(shape))
        off += 2 * n
    return KernelState(params, bytes(seed_core), bytes(dataset_commitment), bytes(parent), bytes(epoch_seed),
                       global_step, window, mask, lr_shift, loss_prev, *arrays)


def encode_state_blob(state: KernelState) -> bytes:
    """The canonical bytes in one zstd frame (level 3, content size written, no checksum)."""
    params = zstandard.ZstdCompressionParameters.from_level(ZSTD_LEVEL, write_content_size=True, write_checksum=False)
    return zstandard.ZstdCompressor(compression_params=params).compress(state.to_bytes())


def decode_state_blob(blob: bytes, max_params: KernelParams | None = None) -> KernelState:
    """Decompress and parse a state blob; raises StateBlobError on anything SPEC §6.3 refuses.

    The blob must be exactly one zstd frame: trailing bytes, a second frame or a skippable
    frame are refused, never ignored. The frame must declare its content size, which may not
    exceed the largest legal state (or ``state_size(max_params)``); a non-bytes value is
    refused with the same error.
    """
    if not isinstance(blob, (bytes, bytearray)):
        raise StateBlobError(f"a state blob is bytes, got {type(blob).__name__}")
    data = bytes(blob)
    try:
        fp = single_frame_parameters(data)
    except ZstdFrameError as exc:
        raise StateBlobError(f"a state blob must be exactly one zstd frame: {exc}") from None
    limit = state_size(max_params or LARGEST_PARAMS)
    if fp.content_size in (0, zstandard.CONTENTSIZE_UNKNOWN, zstandard.CONTENTSIZE_ERROR) or fp.content_size > limit:
        raise StateBlobError(f"state blob declares {fp.content_size} bytes; expected a known size of at most {limit}")
    try:
        raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=limit)
    except zstandard.ZstdError as exc:
        raise StateBlobError(f"state blob does not decompress: {exc}") from exc
    if len(raw) != fp.content_size:
        raise StateBlobError("state blob decompressed to a different size than its header declares")
    return from_bytes(raw)


def genesis(
    seed_core: bytes,
    params: KernelParams = DEFAULT_PARAMS,
    *,
    dataset_commitment: bytes = ZERO32,
) -> KernelState:
    """The deterministic genesis state of a beast (SPEC §6.4).

    The genesis activeMask (0b0011) and lrShift (6) are protocol constants, so anyone can
    regenerate a beast's genesis from its hatch data alone; a window changes them.
    """
    if len(seed_core) != 32 or len(dataset_commitment) != 32:
        raise StateBlobError("seed_core and dataset_commitment must be 32 bytes each")
    if params.n_slots < 2:
        raise StateBlobError("the genesis activeMask 0b0011 needs n_slots >= 2")
    rng = SplitMix64Stream(fold64(keccak256(GENESIS_TAG + seed_core)))
    h, d, o = params.hidden, params.d_in, params.n_out

    def draw(n: int) -> np.ndarray:
        return np.array([((rng.next() >> 53) & 0x7FF) - 1024 for _ in range(n)], dtype=np.int64)

    w1 = draw(h * d).reshape(h, d)
    w2 = draw(o * h).reshape(o, h)
    zeros = np.zeros
    return KernelState(params, bytes(seed_core), bytes(dataset_commitment), ZERO16, bytes(seed_core),
                       0, 0, DEFAULT_MASK, DEFAULT_LR_SHIFT, 0, w1, zeros(h, dtype=np.int64), w2, zeros(o, dtype=np.int64))
