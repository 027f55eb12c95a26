"""Kernel state, its canonical bytes, h128, the zstd state blob, and genesis (SPEC §6, §7).

The canonical bytes are the only thing hashed; the blob is those bytes in one zstd frame
for serving to validators. Decoding validates everything and raises StateBlobError.

A state carries its spec_version in its bytes (offset 4) and is trained under it. Version 1
is frozen. Version 2 (the "step state") inserts ``step`` (u8), ``flags`` (u16) and
``loss_acc`` (u64) after the counters, so that the state after every micro-step of a window
has bytes and a hash (kernel.step); a v2 checkpoint state has step 0 and loss_acc 0.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
import zstandard

from kernel import SPEC_VERSION, SPEC_VERSIONS
from kernel.errors import KernelError, StateBlobError, ZstdFrameError
from kernel.hashing import keccak256
from kernel.params import DEFAULT_PARAMS, MAX_LR_SHIFT, KernelParams, largest_params, version_problem
from kernel.payload import FLAGS_KNOWN, WINDOW_STEPS
from kernel.prng import SplitMix64Stream, fold64
from kernel.zstd_frame import single_frame_parameters

STATE_MAGIC: Final = b"CBKS"
ZERO16: Final = bytes(16)
ZERO32: Final = bytes(32)
DEFAULT_MASK: Final = 0b0011  # genesis activeMask: slots 0 and 1
DEFAULT_LR_SHIFT: Final = 6  # genesis lrShift
GENESIS_TAG: Final = b"chainbeasts/genesis/v1"
ZSTD_LEVEL: Final = 3
LARGEST_PARAMS: Final = KernelParams(slot_width=256, n_slots=8)  # the largest KernelParams (SPEC §6.3)

# magic, spec_version, d_in, slot_width, n_slots, n_out, epoch_steps, base_cost, spurt_cost
_HEAD = struct.Struct("<4sHHHBBIQQ")
# global_step, window, active_mask, lr_shift, loss_sum_prev
_COUNTERS = struct.Struct("<IIBBQ")
# spec_version 2 only, right after the counters: step, flags, loss_acc
_STEP = struct.Struct("<BHQ")
U64_MAX: Final = (1 << 64) - 1


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
    spec_version: int = 1  # the version the state is trained under (in its bytes)
    # spec_version 2 only (v1 states: 0, 0, 0 and not serialized):
    step: int = 0  # u8, micro-steps done in the current window: 0 at a checkpoint, 1..127 mid-window
    flags: int = 0  # u16, FLAG_* of the current window so far / of the last completed window at a checkpoint
    loss_acc: int = 0  # u64, loss sum of the current window's steps done so far (0 at a checkpoint)

    @property
    def private(self) -> bool:
        """True when the beast trains on a committed private dataset."""
        return self.dataset_commitment != ZERO32

    @property
    def dataset_root(self) -> bytes:
        """The dataset field: C_dataset in a v1 state, R_dataset (SPEC v2 records root) in a v2 state."""
        return self.dataset_commitment

    @property
    def checkpoint(self) -> bool:
        """True at a window boundary (always for v1; step == 0 for v2)."""
        return self.step == 0

    def weight_bytes(self) -> bytes:
        """W1, b1, W2, b2 as little-endian i16, row-major, in that order."""
        return b"".join(_i16(a).tobytes() for a in (self.w1, self.b1, self.w2, self.b2))

    def to_bytes(self) -> bytes:
        """Canonical state bytes (SPEC §6.3)."""
        p = self.params
        head = _HEAD.pack(
            STATE_MAGIC, self.spec_version, p.d_in, p.slot_width, p.n_slots, p.n_out, p.epoch_steps, p.base_cost, p.spurt_cost
        )
        counters = _COUNTERS.pack(self.global_step, self.window, self.active_mask, self.lr_shift, self.loss_sum_prev)
        if self.spec_version >= 2:
            counters += _STEP.pack(self.step, self.flags, self.loss_acc)
        return head + self.seed_core + self.dataset_commitment + self.parent_h128 + self.epoch_seed + counters + self.weight_bytes()

    def h128(self) -> bytes:
        """First 16 bytes of keccak256 of the canonical bytes (which hold the parent's h128)."""
        return keccak256(self.to_bytes())[:16]

    def copy(self) -> KernelState:
        """A deep copy (weights copied)."""
        return replace(self, w1=self.w1.copy(), b1=self.b1.copy(), w2=self.w2.copy(), b2=self.b2.copy())


def state_size(params: KernelParams, spec_version: int = SPEC_VERSION) -> int:
    """Length of the canonical bytes for these parameters under ``spec_version``."""
    _check_version(spec_version, KernelError)
    h, d, o = params.hidden, params.d_in, params.n_out
    extra = _STEP.size if spec_version >= 2 else 0
    return _HEAD.size + 32 + 32 + 16 + 32 + _COUNTERS.size + extra + 2 * (h * d + h + o * h + o)


def max_state_size(params: KernelParams | None = None) -> int:
    """The longest canonical bytes of any spec version for these parameters (a blob's size bound);
    None: the largest legal state of any version (each version's largest parameters)."""
    if params is None:
        return max(state_size(largest_params(v), v) for v in SPEC_VERSIONS)
    return max(state_size(params, v) for v in SPEC_VERSIONS)


def _check_version(version: object, error: type[Exception]) -> None:
    if isinstance(version, bool) or version not in SPEC_VERSIONS:
        raise error(f"state has spec_version {version}, this kernel implements {', '.join(map(str, SPEC_VERSIONS))}")


def from_bytes(data: bytes) -> KernelState:
    """Parse canonical state bytes; raises StateBlobError on anything malformed (a non-bytes value included)."""
    if not isinstance(data, (bytes, bytearray)):
        raise StateBlobError(f"state bytes are bytes, got {type(data).__name__}")
    if len(data) < _HEAD.size:
        raise StateBlobError(f"state bytes truncated: {len(data)} bytes, the header alone is {_HEAD.size}")
    magic, version, d_in, slot_width, n_slots, n_out, epoch_steps, base_cost, spurt_cost = _HEAD.unpack_from(data, 0)
    if magic != STATE_MAGIC:
        raise StateBlobError(f"bad state magic {magic!r}, expected {STATE_MAGIC!r}")
    _check_version(version, StateBlobError)
    try:
        params = KernelParams(d_in, slot_width, n_slots, n_out, epoch_steps, base_cost, spurt_cost)
    except Exception as exc:
        raise StateBlobError(f"state parameters are invalid: {exc}") from exc
    problem = version_problem(params, version)
    if problem is not None:
        raise StateBlobError(f"state parameters are invalid: {problem}")
    need = state_size(params, version)
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
    step = flags = loss_acc = 0
    if version >= 2:
        step, flags, loss_acc = _STEP.unpack_from(data, off)
        off += _STEP.size
        if step >= WINDOW_STEPS:
            raise StateBlobError(f"step {step} exceeds {WINDOW_STEPS - 1}: a window has {WINDOW_STEPS} micro-steps")
        if flags & ~FLAGS_KNOWN:
            raise StateBlobError(f"flags 0x{flags:04x} set reserved bits (known: 0x{FLAGS_KNOWN:04x})")
        if step == 0 and loss_acc != 0:
            raise StateBlobError(f"a checkpoint state (step 0) has loss_acc 0, got {loss_acc}")
    h, d, o = params.hidden, params.d_in, params.n_out
    arrays = []
    for shape in ((h, d), (h,), (o, h), (o,)):
        n = int(np.prod(shape))
        arrays.append(np.frombuffer(data, dtype="<i2", count=n, offset=off).astype(np.int64).reshape(shape))
        off += 2 * n
    return KernelState(params, bytes(seed_core), bytes(dataset_commitment), bytes(parent), bytes(epoch_seed),
                       global_step, window, mask, lr_shift, loss_prev, *arrays,
                       spec_version=version, step=step, flags=flags, loss_acc=loss_acc)


_COMPRESSORS = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    """This thread's blob compressor: building one costs more than compressing a state (43 vs 18 us
    measured), and a ZstdCompressor may not be used by two threads at once (the node persists on one
    thread while another commits)."""
    c = getattr(_COMPRESSORS, "c", None)
    if c is None:
        params = zstandard.ZstdCompressionParameters.from_level(ZSTD_LEVEL, write_content_size=True,
                                                                 write_checksum=False)
        c = _COMPRESSORS.c = zstandard.ZstdCompressor(compression_params=params)
    return c


def encode_state_blob(state: KernelState) -> bytes:
    """The canonical bytes in one zstd frame (level 3, content size written, no checksum)."""
    return _compressor().compress(state.to_bytes())


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
    limit = max_state_size(max_params)
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
    spec_version: int = SPEC_VERSION,
) -> KernelState:
    """The deterministic genesis state of a beast (SPEC §6.4).

    The genesis activeMask (0b0011) and lrShift (6) are protocol constants, so anyone can
    regenerate a beast's genesis from its hatch data alone; a window changes them.
    ``dataset_commitment`` is the hatch's C_dataset for a v1 beast and its R_dataset (records
    root) for a v2 beast; the weights and counters are the same under both versions.
    """
    _check_version(spec_version, StateBlobError)
    problem = version_problem(params, spec_version)
    if problem is not None:
        raise StateBlobError(problem)
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
                       0, 0, DEFAULT_MASK, DEFAULT_LR_SHIFT, 0, w1, zeros(h, dtype=np.int64), w2, zeros(o, dtype=np.int64),
                       spec_version=spec_version)
