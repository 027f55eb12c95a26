"""Replay one committed window and say whether the committed word is what the kernel computes.

This is the validator's library core; the gRPC service, the CLI and watch mode all call
:func:`replay`. It never re-implements consensus arithmetic or the replay itself: it
checks and loads the inputs a window depends on (start state, dataset, secret), hands them
to the kernel's one replay path (``kernel.replay.replay_committed``) and turns its verdict
into a report. It imports no gRPC: the service maps its errors to status codes.

Windows are numbered as the node and the ledger number them: checkpoint ``N`` is the state
after ``N`` windows (``0`` is genesis, never committed) and the ledger's ``k``-th commit of a
beast carries window ``k``. Replaying window ``K >= 1`` trains from checkpoint ``K - 1``.
It checks, in order:

1. the start state (checkpoint ``K - 1``): the state blob decodes, belongs to this beast
   (seed_core, the dataset root of its version, its spec version) and holds ``K - 1`` windows,
   and its h128 equals the h128 committed by window ``K - 1``. At ``K == 1`` genesis is
   regenerated from the hatch data (``seed_core``, the dataset root, ``spec_version``) when no
   blob is given, and the previous h128 is the genesis h128;
2. for private beasts: ``keccak256(dataset file bytes) == C_dataset`` and
   ``keccak256(S_owner) == secret commitment`` (checked before anything is decoded); for a
   spec version 2 beast also ``R_dataset(file) == recordsRoot`` (a file that differs, like one
   that does not decode, was committed by its owner: RecordsRootMismatchError, a
   DatasetInvalidError);
3. the 128 micro-steps under the beast's spec version (the state's, checked in 1) on the
   chosen backend (numpy reference or torch), with the committed word's ``activeMask`` and
   ``lrShift`` (the kernel says why, when they are illegal);
4. the computed word against the committed one, field by field, and — when the trainer's
   per-step digests are given — the first micro-step whose weights digest differs.

The private dataset may be at most ``max_dataset_bytes`` (the season's ``maxDatasetBytes``,
which the chain may raise above the 256 KiB default up to 384 KiB; callers that know it pass it).

Example::

    report = replay(ReplayRequest(beast=BeastCommitments(seed_core), window=3,
                                  start_state=blob, prev_h128=prev, committed_word=word,
                                  epoch_seed=seed))
    report.match, report.first_divergent_step
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from curriculum.dataset import MAX_DATASET_BYTES
from kernel import SPEC_VERSIONS
from kernel.context import SampleSource
from kernel.errors import KernelError, StateBlobError
from kernel.hashing import keccak256
from kernel.params import DEFAULT_PARAMS, KernelParams
from kernel.payload import WINDOW_STEPS, Payload
from kernel.replay import Illegal, replay_committed
from kernel.sources import PublicSource
from kernel.state import ZERO16, ZERO32, KernelState, decode_state_blob, genesis
from kernel.train import INPUTS, Backend, get_backend
from validator.errors import (
    CommitmentMismatchError,
    DatasetInvalidError,
    InputTooLargeError,
    InvalidInputError,
    MissingInputError,
    RecordsRootMismatchError,
    StartStateError,
    StartStateMismatchError,
)

MAX_STATE_BLOB_BYTES: Final = 320 * 1024  # largest spec-v1 state (290,990 bytes) in a zstd frame, with headroom
DIGEST_BYTES: Final = 16  # per-step digest: first 16 bytes of keccak256 of the weights
BACKENDS: Final = ("numpy", "torch")

Verdict = Literal["match", "diverged", "computed"]
Inputs = Literal["spec", "fast"]


@dataclass(frozen=True, slots=True)
class BeastCommitments:
    """What the beast token's immutable hatch data commits to (all 32 bytes), and its spec version."""

    seed_core: bytes
    dataset_commitment: bytes = ZERO32  # C_dataset; zero when the beast trains on public sources
    secret_commitment: bytes = ZERO32  # keccak256(S_owner); zero when the beast has no private curriculum
    params: KernelParams | None = None  # season constants the beast trains under; None = the start state's own
    spec_version: int = 1  # Beast.hatchData specVersion: the version its windows are trained and replayed under
    records_root: bytes = ZERO32  # R_dataset (version 2 private beasts); zero otherwise

    def __post_init__(self) -> None:
        for name in ("seed_core", "dataset_commitment", "secret_commitment", "records_root"):
            value = getattr(self, name)
            if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
                raise InvalidInputError(f"{name} must be 32 bytes, got {_describe(value)}")
        if self.params is not None and not isinstance(self.params, KernelParams):
            raise InvalidInputError("params must be a kernel.params.KernelParams")
        v = self.spec_version
        if isinstance(v, bool) or not isinstance(v, int) or v not in SPEC_VERSIONS:
            raise InvalidInputError(f"spec_version must be one of {', '.join(map(str, SPEC_VERSIONS))}, got {v!r}")
        # The rule Beast.hatch enforces: hatch data that breaks it never came from the chain.
        if v == 1 and self.records_root != ZERO32:
            raise InvalidInputError("a spec version 1 beast has no records root (it must be zero)")
        if v >= 2 and (self.records_root != ZERO32) != self.private:
            raise InvalidInputError("a spec version 2 beast has a records root exactly when it has a dataset commitment")

    @property
    def private(self) -> bool:
        """True when the beast trains on a committed private dataset."""
        return self.dataset_commitment != ZERO32

    @property
    def dataset_root(self) -> bytes:
        """What the beast's states carry at offset 64: C_dataset under version 1, R_dataset under 2."""
        return bytes(self.dataset_commitment if self.spec_version == 1 else self.records_root)


@dataclass(frozen=True, slots=True)
class WindowClaim:
    """What the ledger holds about window K; None where it holds nothing (yet)."""

    prev_h128: bytes | None  # h128 committed by window K-1 (the genesis h128 at K == 1)
    committed_word: bytes | None  # the word committed for window K
    epoch_seed: bytes | None  # the epoch seed snapshotted for the window's epoch


class ChainReader(Protocol):
    """Reads a beast's hatch data and a window's commitments from the ledger."""

    def beast_commitments(self, beast_id: int) -> BeastCommitments:
        """The hatch data of ``beast_id``; raises NotFoundError for an unknown beast."""
        ...

    def window_claim(self, beast_id: int, window: int) -> WindowClaim:
        """The ledger's view of window ``window``; raises NotFoundError when it is not committed."""
        ...


@dataclass(frozen=True)
class ReplayRequest:
    """Everything one replay needs; bytes fields are raw (no hex)."""

    beast: BeastCommitments
    window: int  # K >= 1: the committed window replayed (its start is checkpoint K - 1)
    start_state: bytes | None = None  # zstd blob of checkpoint K - 1; None only at K == 1 (genesis)
    prev_h128: bytes | None = None  # h128 committed by window K - 1; None only at K == 1 (genesis h128)
    committed_word: bytes | None = None  # the 32-byte word committed for window K; None = compute only
    epoch_seed: bytes | None = None  # the ledger's epoch seed; None = the offline seed (kernel.train)
    dataset: bytes | None = field(default=None, repr=False)  # private dataset file bytes
    owner_secret: bytes | None = field(default=None, repr=False)  # S_owner, 32 bytes
    trainer_digests: Sequence[bytes] | None = field(default=None, repr=False)  # the node's per-step digests


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of one replay."""

    window: int
    computed: Payload  # the word the kernel computes for the window
    committed: Payload | None  # the committed word, when one was given and parses
    match: bool | None  # None when no committed word was given
    first_divergent_step: int | None  # 0..127 from the digests; None when unknown or none diverged
    mismatched_fields: tuple[str, ...]  # Payload fields that differ (kernel.replay.PAYLOAD_FIELDS names)
    start_h128: bytes  # h128 of the verified start state
    backend: str
    replay_seconds: float  # wall time of the 128 micro-steps
    reason: str = ""  # why the window diverged when it is not a field difference
    digests: tuple[bytes, ...] = field(default=(), repr=False)  # computed per-step digests (when asked)
    illegal: Illegal | None = None  # the kind of ``reason``: why the committed word cannot follow the start state

    @property
    def verdict(self) -> Verdict:
        """``match``, ``diverged``, or ``computed`` when there was nothing to compare with."""
        if self.match is None:
            return "computed"
        return "match" if self.match else "diverged"

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view (hex strings for byte fields)."""
        return {
            "window": self.window,
            "verdict": self.verdict,
            "match": self.match,
            "computedWord": self.computed.hex(),
            "computed": self.computed.to_json(),
            "committedWord": self.committed.hex() if self.committed else None,
            "firstDivergentStep": self.first_divergent_step,
            "mismatchedFields": list(self.mismatched_fields),
            "startH128": "0x" + self.start_h128.hex(),
            "backend": self.backend,
            "replaySeconds": round(self.replay_seconds, 6),
            "reason": self.reason,
            "illegal": self.illegal.value if self.illegal is not None else None,
        }


def _describe(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes"
    return type(value).__name__


def _check_len(name: str, value: bytes | None, n: int) -> None:
    if value is not None and (not isinstance(value, (bytes, bytearray)) or len(value) != n):
        raise InvalidInputError(f"{name} must be {n} bytes, got {_describe(value)}")


# ---------------------------------------------------------------------------------------
# Start state


def genesis_state(beast: BeastCommitments, params: KernelParams | None = None) -> KernelState:
    """The beast's genesis state, regenerated from its hatch data (SPEC §6.4) under its spec version.

    Parameters come from ``beast.params``, else ``params``, else the kernel defaults.
    """
    try:
        return genesis(bytes(beast.seed_core), beast.params or params or DEFAULT_PARAMS,
                       dataset_commitment=beast.dataset_root, spec_version=beast.spec_version)
    except KernelError as exc:
        raise InvalidInputError(f"cannot build genesis: {exc}") from None


def load_start_state(req: ReplayRequest) -> KernelState:
    """Decode and verify checkpoint ``req.window - 1``, the start of the replay (module docstring)."""
    k = req.window
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k < 1 << 32:
        raise InvalidInputError(f"window must be 1..2**32-1 (window 0 is genesis and is never committed), got {k!r}")
    _check_len("prev_h128", req.prev_h128, 16)
    if req.start_state is None:
        if k != 1:
            raise MissingInputError(f"window {k} needs its start state (checkpoint {k - 1})")
        start = genesis_state(req.beast)
    else:
        if not isinstance(req.start_state, (bytes, bytearray)):
            raise StartStateError(f"start state must be bytes, got {type(req.start_state).__name__}")
        if len(req.start_state) > MAX_STATE_BLOB_BYTES:
            raise InputTooLargeError(f"start state blob is {len(req.start_state)} bytes, over the limit of {MAX_STATE_BLOB_BYTES}")
        try:
            start = decode_state_blob(bytes(req.start_state))
        except StateBlobError as exc:
            raise StartStateError(f"start state blob is invalid: {exc}") from None
    actual = start.h128()
    if req.prev_h128 is not None:
        expected = bytes(req.prev_h128)
    elif k == 1:
        expected = actual if req.start_state is None else genesis_state(req.beast, start.params).h128()
    else:
        raise MissingInputError(f"window {k} needs the h128 committed by window {k - 1}")
    # Verify the start state is the checkpoint the chain committed to.
    if actual != expected:
        what = "the beast's genesis" if k == 1 else f"the h128 committed by window {k - 1}"
        raise StartStateMismatchError(
            f"start state hashes to 0x{actual.hex()}, not to {what} (0x{expected.hex()})", expected, actual
        )
    # Verify it belongs to this beast and this window (the chain context could name another).
    if start.seed_core != bytes(req.beast.seed_core):
        raise StartStateMismatchError("start state has another seed_core than the beast's hatch data")
    if start.spec_version != req.beast.spec_version:
        raise StartStateMismatchError(f"start state is spec version {start.spec_version}; the beast's hatch data "
                                      f"says {req.beast.spec_version}")
    if start.dataset_commitment != req.beast.dataset_root:
        what = "C_dataset" if req.beast.spec_version == 1 else "records root (R_dataset)"
        raise StartStateMismatchError(f"start state has another {what} than the beast's hatch data")
    if req.beast.params is not None and start.params != req.beast.params:
        raise StartStateMismatchError(f"start state was trained under other season constants ({start.params}) "
                                      f"than the chain's ({req.beast.params})")
    if start.window != k - 1:
        raise StartStateMismatchError(f"start state is checkpoint {start.window}; window {k} starts from checkpoint {k - 1}")
    return start


# ---------------------------------------------------------------------------------------
# Sample source


_DATASET_CACHE_SIZE: Final = 8
_dataset_cache: OrderedDict[bytes, object] = OrderedDict()
_dataset_lock = threading.Lock()


def _decode_dataset_cached(data: bytes, commitment: bytes) -> object:
    """curriculum.Dataset of ``data`` (whose keccak256 is ``commitment``), LRU-cached by commitment."""
    from curriculum import CurriculumError, decode_dataset

    with _dataset_lock:
        hit = _dataset_cache.get(commitment)
        if hit is not None:
            _dataset_cache.move_to_end(commitment)
            return hit
    try:
        dataset = decode_dataset(data, max_bytes=len(data))  # the caller checked the size against the season's limit
    except CurriculumError as exc:
        raise DatasetInvalidError(f"dataset matches its commitment but is not a valid dataset file: {exc}") from None
    with _dataset_lock:
        _dataset_cache[commitment] = dataset
        while len(_dataset_cache) > _DATASET_CACHE_SIZE:
            _dataset_cache.popitem(last=False)
    return dataset


def check_records_root(dataset: object, records_root: bytes) -> None:
    """Refuse a spec version 2 beast's dataset whose R_dataset differs from its hatch recordsRoot.

    RecordsRootMismatchError (a DatasetInvalidError): the owner committed both values at hatch,
    so a disagreement is the owner's fault and no replay of the beast exists (SPEC §10.2).
    """
    from curriculum.records import records_root as r_dataset

    actual = r_dataset(dataset)  # type: ignore[arg-type]
    if actual != records_root:
        raise RecordsRootMismatchError(
            f"the dataset matches C_dataset but its records root is 0x{actual.hex()}, not the hatch's recordsRoot "
            f"0x{records_root.hex()}: the beast was hatched with commitments that disagree (its owner's fault, SPEC §10.2)",
            records_root, actual)


def sample_source(req: ReplayRequest, *, max_dataset_bytes: int = MAX_DATASET_BYTES) -> SampleSource:
    """The window's sample source: public sources, or the private dataset after checking its size
    (at most ``max_dataset_bytes``, the season's limit) and both commitments."""
    beast = req.beast
    if not beast.private:
        if req.dataset or req.owner_secret:
            raise InvalidInputError("this beast has no private curriculum (C_dataset is zero); send no dataset or owner secret")
        return PublicSource()
    if not req.dataset:
        raise MissingInputError("this beast trains on a private dataset; the dataset file is required")
    if not req.owner_secret:
        raise MissingInputError("this beast trains on a private dataset; the owner secret S_owner is required")
    if not isinstance(req.dataset, (bytes, bytearray)):
        raise InvalidInputError(f"dataset must be bytes, got {type(req.dataset).__name__}")
    if len(req.dataset) > max_dataset_bytes:
        raise InputTooLargeError(f"dataset is {len(req.dataset)} bytes, over the limit of {max_dataset_bytes}")
    if not isinstance(req.owner_secret, (bytes, bytearray)) or len(req.owner_secret) != 32:
        raise InvalidInputError(f"owner secret must be 32 bytes, got {_describe(req.owner_secret)}")
    data = bytes(req.dataset)
    # Verify keccak256(dataset file bytes) == C_dataset before decoding anything.
    c_data = keccak256(data)
    if c_data != bytes(beast.dataset_commitment):
        raise CommitmentMismatchError("dataset", bytes(beast.dataset_commitment), c_data)
    # Verify keccak256(S_owner) == the secret commitment.
    c_secret = keccak256(bytes(req.owner_secret))
    if c_secret != bytes(beast.secret_commitment):
        raise CommitmentMismatchError("owner secret", bytes(beast.secret_commitment), c_secret)
    from curriculum import PrivateDatasetSource

    dataset = _decode_dataset_cached(data, c_data)
    if beast.spec_version >= 2:
        check_records_root(dataset, bytes(beast.records_root))
    return PrivateDatasetSource(dataset, bytes(req.owner_secret), spec_version=beast.spec_version)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Backends


_backends = threading.local()


def backend_for(name: str | Backend) -> Backend:
    """A backend instance by name, one per thread (instances are reused across replays)."""
    if not isinstance(name, str):
        return name
    if name not in BACKENDS:
        raise InvalidInputError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    cache: dict[str, Backend] = getattr(_backends, "cache", None) or {}
    _backends.cache = cache
    if name not in cache:
        try:
            cache[name] = get_backend(name)
        except ImportError as exc:
            raise InvalidInputError(f"backend {name!r} is not available here: {exc}") from None
        except KernelError as exc:
            raise InvalidInputError(str(exc)) from None
    return cache[name]


# ---------------------------------------------------------------------------------------
# Replay


def check_digests(digests: Sequence[bytes] | None) -> list[bytes] | None:
    """Validate the trainer's per-step digests: at most 128 values of 16 bytes each."""
    if digests is None:
        return None
    out = list(digests)
    if len(out) > WINDOW_STEPS:
        raise InvalidInputError(f"a window has {WINDOW_STEPS} per-step digests, got {len(out)}")
    for i, d in enumerate(out):
        if not isinstance(d, (bytes, bytearray)) or len(d) != DIGEST_BYTES:
            raise InvalidInputError(f"per-step digest {i} must be {DIGEST_BYTES} bytes, got {_describe(d)}")
    return [bytes(d) for d in out]


def replay(
    req: ReplayRequest, *, backend: str | Backend = "numpy", inputs: Inputs = "spec", max_dataset_bytes: int = MAX_DATASET_BYTES,
) -> ReplayReport:
    """Check the inputs of ``req`` and replay its window with ``kernel.replay.replay_committed``.

    ``inputs`` picks how the window's boards are drawn and encoded: ``"spec"``, the scalar
    reference, or ``"fast"``, the kernel's vectorized drop-in (``kernel.train.train_window``).
    ``max_dataset_bytes`` is the season's ``maxDatasetBytes`` (SeasonRegistry; default the
    season default, 256 KiB): a private dataset over it is refused.

    Raises a ValidatorError subclass when the inputs are refused. A committed word that is
    malformed, or whose mask/lr_shift is not a legal continuation of the start state, is a
    divergence, not an error: the report then carries ``match=False``, a ``reason``, its kind
    (``illegal``), and the word of the window trained with the start state's own mask and lr_shift.
    """
    if not isinstance(req.beast, BeastCommitments):
        raise InvalidInputError("beast must be a BeastCommitments")
    _check_len("committed_word", req.committed_word, 32)
    _check_len("epoch_seed", req.epoch_seed, 32)
    if inputs not in INPUTS:
        raise InvalidInputError(f"inputs must be one of {', '.join(INPUTS)}, got {inputs!r}")
    digests_claimed = check_digests(req.trainer_digests)
    be = backend_for(backend)
    start = load_start_state(req)
    source = sample_source(req, max_dataset_bytes=max_dataset_bytes)

    t0 = time.perf_counter()
    try:
        verdict = replay_committed(
            start, source, None if req.committed_word is None else bytes(req.committed_word),
            epoch_seed=None if req.epoch_seed is None else bytes(req.epoch_seed),
            backend=be, inputs=inputs, claimed_digests=digests_claimed,
        )
    except KernelError as exc:
        raise InvalidInputError(f"the kernel refused the window: {exc}") from None
    elapsed = time.perf_counter() - t0
    return ReplayReport(
        window=req.window,
        computed=verdict.computed,
        committed=verdict.committed,
        match=verdict.match,
        first_divergent_step=verdict.first_divergent_step,
        mismatched_fields=verdict.mismatched_fields,
        start_h128=start.h128(),
        backend=be.name,
        replay_seconds=elapsed,
        reason=verdict.reason,
        digests=tuple(verdict.result.digests),
        illegal=verdict.illegal.kind if verdict.illegal is not None else None,
    )


__all__ = [
    "BACKENDS",
    "INPUTS",
    "DIGEST_BYTES",
    "MAX_DATASET_BYTES",
    "MAX_STATE_BLOB_BYTES",
    "BeastCommitments",
    "ChainReader",
    "WindowClaim",
    "ReplayReport",
    "ReplayRequest",
    "ZERO16",
    "ZERO32",
    "backend_for",
    "check_digests",
    "check_records_root",
    "genesis_state",
    "load_start_state",
    "replay",
    "sample_source",
]
