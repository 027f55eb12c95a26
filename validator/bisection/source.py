"""Where a player's step states come from: the :class:`StepSource` protocol and its implementations.

A window of a spec-version-2 beast is 129 step states (SPEC v2, V2-2): ``[0]`` the start
checkpoint (the state the previous window committed, or genesis), ``[j]`` the state after
micro-step ``j``, ``[128]`` the window's checkpoint whose h128 the word commits to. A bisection
game agrees on their hashes; its last move re-executes one micro-step on chain from a state's
bytes and, for a private beast, the record that step samples with its Merkle path.

* :class:`ReplaySource` derives the states from the start checkpoint by replaying the window with
  the word's settings (``kernel.step.window_step_states``): what an honest party knows.
* :class:`StatesSource` serves states it is given (a node's own lineage, or a test's lying one).

When the word's settings may not follow the start checkpoint (an ILLEGAL first micro-step, SPEC
§7.1) there is no state after step 0: :meth:`StepSource.hash_at` answers :data:`NO_STATE` (16 zero
bytes, a hash the game refuses as a claim), so an honest challenger disagrees with every claim down to
step 0 and proves it there, where the verifier answers "illegal".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol, runtime_checkable

from kernel.context import SampleSource
from kernel.payload import FLAG_GROWTH_SPURT, WINDOW_STEPS, Payload
from kernel.state import KernelState, from_bytes
from kernel.step import IllegalTransition, WindowStart, window_step_states
from validator.bisection.errors import BisectionError

ZERO32: Final = b"\x00" * 32
NO_STATE: Final = b"\x00" * 16  # hash_at of a step that has no state (after an illegal start)
LAST_STEP: Final = WINDOW_STEPS  # 128: index of the window's checkpoint state

PrivateSample = tuple[bytes, int, bytes, bytes, list[bytes]]
"""IStepVerifier.PrivateSample as the bindings take it: (sOwner, datasetLen, merkleRoot, record, path)."""

EMPTY_SAMPLE: Final[PrivateSample] = (ZERO32, 0, ZERO32, b"", [])
"""The sample of a public beast's step (the verifier reads nothing of it)."""


@runtime_checkable
class StepSource(Protocol):
    """The step states of one window, as a player needs them."""

    def hash_at(self, step: int) -> bytes:
        """h128 of step state ``step`` (0..128); :data:`NO_STATE` when that state does not exist."""
        ...

    def state_at(self, step: int) -> bytes:
        """The canonical bytes of step state ``step`` (what proveStep / proveWordLie send)."""
        ...

    def sample_at(self, step: int) -> PrivateSample:
        """The private sample of micro-step ``step`` -> ``step + 1`` (:data:`EMPTY_SAMPLE` for a public beast)."""
        ...


def window_start(word: bytes, epoch_seed: bytes) -> WindowStart:
    """The WindowStart the game gives the verifier: the word's activeMask and lrShift (read by bit
    position, as the contract reads them, so even a word that does not parse has them) and the seed."""
    if len(word) != 32:
        raise BisectionError("a checkpoint word is 32 bytes")
    v = int.from_bytes(word, "big")
    return WindowStart((v >> 24) & 0xFF, (v >> 16) & 0xFF, bytes(epoch_seed))


def checkpoint_word(final: KernelState) -> bytes:
    """The word an honest trainer commits for a window whose checkpoint state is ``final`` (SPEC §7.3;
    the fields BisectionGame's word-lie proof compares)."""
    spurt = bool(final.flags & FLAG_GROWTH_SPURT)
    burn = final.params.window_energy_burn(final.active_mask, spurt)
    return Payload(final.h128(), final.global_step, burn, final.active_mask, final.lr_shift, final.flags).pack()


def _check_step(step: object, last: int = LAST_STEP) -> int:
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step <= last:
        raise BisectionError(f"a window's step states are numbered 0..{last}, got {step!r}")
    return step


class StatesSource:
    """A StepSource over given step states (KernelState or their bytes), ``[0]`` the start checkpoint.

    ``samples`` draws a private beast's records (a ``curriculum.PrivateDatasetSource``) and
    ``owner_secret`` is its S_owner; both stay None for a public beast. Fewer than 129 states means
    the window stops there (an illegal start: only ``[0]``).
    """

    def __init__(self, states: Sequence[KernelState | bytes], *, samples: SampleSource | None = None,
                 owner_secret: bytes | None = None) -> None:
        if not states:
            raise BisectionError("a window has at least its start state")
        if len(states) > LAST_STEP + 1:
            raise BisectionError(f"a window has {LAST_STEP + 1} step states, got {len(states)}")
        self._states: list[KernelState] = [s if isinstance(s, KernelState) else from_bytes(bytes(s)) for s in states]
        self._hashes: list[bytes] = [s.h128() for s in self._states]
        private = samples is not None and bool(getattr(samples, "private", False))
        if private and (not isinstance(owner_secret, (bytes, bytearray)) or len(owner_secret) != 32):
            raise BisectionError("a private beast's step source needs its 32-byte owner secret")
        self._samples = samples if private else None
        self._secret = bytes(owner_secret) if private and owner_secret is not None else None

    def __repr__(self) -> str:  # never the secret or the states
        return f"{type(self).__name__}(steps={len(self._states)}, private={self._samples is not None})"

    @property
    def legal(self) -> bool:
        """Whether the window has all 129 states (its first micro-step was legal)."""
        return len(self._states) == LAST_STEP + 1

    @property
    def hashes(self) -> list[bytes]:
        """The 129 hashes (:data:`NO_STATE` for the missing ones)."""
        return [self.hash_at(j) for j in range(LAST_STEP + 1)]

    def kernel_state(self, step: int) -> KernelState:
        """Step state ``step`` as a KernelState."""
        step = _check_step(step)
        if step >= len(self._states):
            raise BisectionError(f"step state {step} does not exist: the window's first micro-step is illegal")
        return self._states[step]

    def hash_at(self, step: int) -> bytes:
        step = _check_step(step)
        return self._hashes[step] if step < len(self._hashes) else NO_STATE

    def state_at(self, step: int) -> bytes:
        return self.kernel_state(step).to_bytes()

    def sample_at(self, step: int) -> PrivateSample:
        pre = self.kernel_state(_check_step(step, LAST_STEP - 1))
        if self._samples is None:
            return EMPTY_SAMPLE
        proof_of: Any = getattr(self._samples, "proof", None)
        if not callable(proof_of):
            raise BisectionError("this private source cannot prove its records (no Merkle proofs)")
        proof = proof_of(pre.seed_core, pre.global_step)  # record sampleIdx(g) of the pre-state's g
        assert self._secret is not None
        return (self._secret, int(proof.dataset_len), bytes(proof.merkle_root), bytes(proof.record), list(proof.path))

    def word(self) -> bytes | None:
        """The honest word of this window's checkpoint state, or None after an illegal start."""
        return checkpoint_word(self._states[-1]) if self.legal else None


class InvalidDatasetSource:
    """The "source" of a private beast whose committed dataset is invalid in a way the chain can check
    (``curriculum.invalid.InvalidDatasetProof``): no step state of it exists (no honest training does),
    so a challenger never bisects; it wins every game at once with ``proveInvalidDataset``.
    """

    def __init__(self, proof: Any) -> None:
        self.invalid_dataset = proof  # curriculum.invalid.InvalidDatasetProof (holds one private record)

    def __repr__(self) -> str:
        return f"InvalidDatasetSource({self.invalid_dataset!r})"

    def hash_at(self, step: int) -> bytes:
        _check_step(step)
        return NO_STATE

    def state_at(self, step: int) -> bytes:
        raise BisectionError("the committed dataset is invalid: no step state of this window exists")

    def sample_at(self, step: int) -> PrivateSample:
        raise BisectionError("the committed dataset is invalid: no step of this window can be proven")

    def word(self) -> bytes | None:
        """No honest word exists."""
        return None


class ReplaySource(StatesSource):
    """The honest step states of a window, replayed from its start checkpoint with the word's settings.

    ``start`` is checkpoint k (the state whose h128 the game agrees as h_0: the previous window's,
    or genesis), ``word`` the committed word whose activeMask and lrShift the window claims,
    ``epoch_seed`` the seed of the window's epoch (ledger ``epochSeed``). Settings that may not
    follow ``start`` leave only state 0 (module docstring).
    """

    def __init__(self, start: KernelState, word: bytes, epoch_seed: bytes, *, samples: SampleSource | None = None,
                 owner_secret: bytes | None = None) -> None:
        from kernel.sources import PublicSource

        if start.spec_version < 2 or start.step != 0:
            raise BisectionError("a bisection replays a spec-version-2 window from a checkpoint state (step 0)")
        w = window_start(word, epoch_seed)
        try:
            states = window_step_states(start, samples or PublicSource(), w)
        except IllegalTransition:
            states = [start]
        super().__init__(states, samples=samples, owner_secret=owner_secret)


__all__ = [
    "EMPTY_SAMPLE",
    "InvalidDatasetSource",
    "LAST_STEP",
    "NO_STATE",
    "PrivateSample",
    "ReplaySource",
    "StatesSource",
    "StepSource",
    "checkpoint_word",
    "window_start",
]
