"""Replay a committed window: recompute it from its start state and say whether the committed word holds.

The one replay path of the project: the validator's library, its service, watch mode and
``cb-dispute`` all come here. :func:`replay_committed` never raises for what is wrong with
the *committed word*; that is the verdict:

1. the word is parsed (``Payload.unpack``); a malformed word is :attr:`Illegal.MALFORMED_WORD`;
2. its activeMask and lrShift are checked against the start state
   (``kernel.window_settings.settings_problem``: lrShift range, mask range, slots switched
   off, a spurt of more than one slot);
3. the window is trained (``kernel.train.train_window``) with the committed settings when
   they are legal, else with the start state's own (so the verdict still carries the word an
   honest trainer would have committed with the settings it already had);
4. the computed word is compared field by field and, given the trainer's per-step digests,
   the first micro-step whose weights differ is located.

It raises KernelError only when the window cannot be computed at all (an epoch seed of the
wrong length, a source of the wrong kind, an unknown backend or inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from kernel.context import SampleSource
from kernel.errors import KernelError, PayloadError, ReplayError
from kernel.payload import Payload
from kernel.state import KernelState
from kernel.train import Backend, WindowResult, train_window
from kernel.window_settings import Illegal, IllegalCommit, settings_problem

PAYLOAD_FIELDS: Final = ("h128", "global_step", "energy_burn", "active_mask", "lr_shift", "flags")


@dataclass(frozen=True)
class ReplayVerdict:
    """What a replay of one committed window found."""

    result: WindowResult  # the window the kernel computes (state, payload, losses, digests)
    committed: Payload | None  # the committed word, when one was given and parses
    word_given: bool  # False: nothing to compare with (compute only)
    illegal: IllegalCommit | None  # why the committed word cannot follow the start state; None when it can
    mismatched_fields: tuple[str, ...]  # PAYLOAD_FIELDS that differ between computed and committed
    first_divergent_step: int | None  # 0..127 from the trainer's digests; None when not given or none differs

    @property
    def computed(self) -> Payload:
        """The word the kernel computes for the window."""
        return self.result.payload

    @property
    def match(self) -> bool | None:
        """True when the committed word is legal and equals the computed one; None when no word was given."""
        if not self.word_given:
            return None
        return self.illegal is None and not self.mismatched_fields

    @property
    def reason(self) -> str:
        """Why the window diverged when it is not (only) a field difference; empty otherwise."""
        return self.illegal.reason if self.illegal is not None else ""


def mismatched_fields(computed: Payload, committed: Payload) -> tuple[str, ...]:
    """Names of the Payload fields that differ between two words."""
    return tuple(name for name in PAYLOAD_FIELDS if getattr(computed, name) != getattr(committed, name))


def first_divergent_step(computed: Sequence[bytes], claimed: Sequence[bytes]) -> int | None:
    """The first micro-step whose claimed digest differs from (or is missing against) the computed one."""
    for j, mine in enumerate(computed):
        if j >= len(claimed) or claimed[j] != mine:
            return j
    return None


def committed_problem(start: KernelState, committed_word: bytes) -> tuple[Payload | None, IllegalCommit | None]:
    """Parse ``committed_word`` and check its settings against ``start``: (payload or None, problem or None)."""
    try:
        committed = Payload.unpack(committed_word)
    except PayloadError as exc:
        return None, IllegalCommit(Illegal.MALFORMED_WORD, str(exc))
    return committed, settings_problem(start, committed.active_mask, committed.lr_shift)


def replay_committed(
    start: KernelState,
    source: SampleSource,
    committed_word: bytes | None,
    *,
    epoch_seed: bytes | None = None,
    backend: str | Backend = "numpy",
    inputs: str = "spec",
    claimed_digests: Sequence[bytes] | None = None,
) -> ReplayVerdict:
    """Replay the window after ``start`` that ``committed_word`` claims (module docstring).

    ``committed_word`` None computes the window with the start state's settings and compares
    nothing. ``epoch_seed`` None is the offline seed (``kernel.train.offline_epoch_seed``).
    ``claimed_digests`` (the trainer's per-step digests) makes the replay compute its own and
    locate the first divergent micro-step.
    """
    committed: Payload | None = None
    illegal: IllegalCommit | None = None
    if committed_word is not None:
        committed, illegal = committed_problem(start, bytes(committed_word))
    legal = committed is not None and illegal is None
    mask = committed.active_mask if legal else start.active_mask  # type: ignore[union-attr]
    shift = committed.lr_shift if legal else start.lr_shift  # type: ignore[union-attr]
    result = train_window(start, source, epoch_seed=epoch_seed, active_mask=mask, lr_shift=shift, backend=backend,
                          want_digests=claimed_digests is not None, inputs=inputs)
    fields = mismatched_fields(result.payload, committed) if committed is not None else ()
    first = first_divergent_step(result.digests, claimed_digests) if claimed_digests is not None else None
    return ReplayVerdict(result, committed, committed_word is not None, illegal, fields, first)


def replay_window(
    start: KernelState,
    source: SampleSource,
    committed: Payload,
    *,
    epoch_seed: bytes,
    backend: str | Backend = "numpy",
    want_digests: bool = False,
    inputs: str = "spec",
) -> WindowResult:
    """Recompute the window that ``committed`` claims, using its mask and lr_shift.

    The raising form of :func:`replay_committed` for callers that chain windows: raises
    ReplayError when the committed settings are not a legal continuation of ``start`` or the
    window cannot be computed (that is itself a divergence the caller reports).
    """
    problem = settings_problem(start, committed.active_mask, committed.lr_shift)
    if problem is not None:
        raise ReplayError(problem.reason)
    try:
        return train_window(start, source, epoch_seed=epoch_seed, active_mask=committed.active_mask,
                            lr_shift=committed.lr_shift, backend=backend, want_digests=want_digests, inputs=inputs)
    except KernelError as exc:
        if isinstance(exc, ReplayError):
            raise
        raise ReplayError(f"the committed window is not a legal continuation: {exc}") from exc


__all__ = [
    "PAYLOAD_FIELDS",
    "Illegal",
    "IllegalCommit",
    "ReplayVerdict",
    "committed_problem",
    "first_divergent_step",
    "mismatched_fields",
    "replay_committed",
    "replay_window",
]
