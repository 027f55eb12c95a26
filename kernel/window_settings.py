"""May a window follow a state? Its activeMask, lrShift, epoch seed and source (SPEC §7.1 steps 1-3).

The trainer (``kernel.train.prepare_window``), its vectorized drop-in (``kernel.fast_inputs``)
and the replay of a committed word (``kernel.replay``) all start here, so they accept and
refuse the same windows with the same messages. :func:`settings_problem` says *why* a
setting is illegal as an :class:`IllegalCommit` whose ``kind`` a caller can act on;
:func:`check_window_settings` raises the same thing as a KernelError.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from kernel.context import SampleSource, WindowContext
from kernel.errors import KernelError
from kernel.params import MAX_LR_SHIFT
from kernel.state import KernelState


class Illegal(enum.Enum):
    """Why a committed window cannot follow its start state (the value is a stable identifier)."""

    MALFORMED_WORD = "malformed_word"  # the 32-byte word does not parse (kernel.payload.Payload.unpack)
    LR_SHIFT_OUT_OF_RANGE = "lr_shift_out_of_range"  # lrShift is not 0..MAX_LR_SHIFT
    MASK_OUT_OF_RANGE = "mask_out_of_range"  # activeMask is empty or names a slot at or above n_slots
    MASK_DROPS_SLOTS = "mask_drops_slots"  # activeMask switches off a slot of the start state
    SPURT_TOO_LARGE = "spurt_too_large"  # activeMask switches on more than one dormant slot


@dataclass(frozen=True, slots=True)
class IllegalCommit:
    """One reason a committed window is illegal: its kind and a message naming the values."""

    kind: Illegal
    detail: str

    @property
    def reason(self) -> str:
        """The sentence a replay report gives for this divergence."""
        if self.kind is Illegal.MALFORMED_WORD:
            return f"the committed word is malformed: {self.detail}"
        return f"the committed window is not a legal continuation: {self.detail}"


def window_epoch(state: KernelState) -> int:
    """The curriculum epoch of the next window: globalStep // epoch_steps."""
    return state.params.epoch_of_step(state.global_step)


def settings_problem(state: KernelState, active_mask: int, lr_shift: int) -> IllegalCommit | None:
    """Why ``active_mask`` and ``lr_shift`` cannot be the settings of the window after ``state`` (SPEC §7.1
    step 1), checked in the spec's order; None when they can."""
    p = state.params
    if not 0 <= lr_shift <= MAX_LR_SHIFT:
        return IllegalCommit(Illegal.LR_SHIFT_OUT_OF_RANGE, f"lr_shift must be 0..{MAX_LR_SHIFT}, got {lr_shift}")
    if active_mask <= 0 or active_mask >> p.n_slots:
        return IllegalCommit(Illegal.MASK_OUT_OF_RANGE,
                             f"active_mask 0x{active_mask:x} is empty or names slots beyond n_slots={p.n_slots}")
    if active_mask & state.active_mask != state.active_mask:
        return IllegalCommit(Illegal.MASK_DROPS_SLOTS, f"active_mask 0x{active_mask:x} switches off slots of "
                                                       f"0x{state.active_mask:x}; slots never go dormant again")
    if bin(active_mask & ~state.active_mask).count("1") > 1:
        return IllegalCommit(Illegal.SPURT_TOO_LARGE, "a growth spurt switches on at most one slot per window")
    return None


def check_window_settings(state: KernelState, active_mask: int, lr_shift: int) -> bool:
    """Validate a window's mask and lr_shift against the state; returns True for a growth spurt.

    Raises KernelError with the message of :func:`settings_problem`.
    """
    problem = settings_problem(state, active_mask, lr_shift)
    if problem is not None:
        raise KernelError(problem.detail)
    return active_mask != state.active_mask


def check_source(state: KernelState, source: SampleSource) -> None:
    """Refuse (KernelError) a source of the wrong kind for ``state``: public vs private, and a private
    source that samples under another spec_version (its ``spec_version``, 1 when it has none)."""
    if source.private != state.private:
        kind = "a private dataset" if state.private else "the public sources"
        raise KernelError(f"this beast trains on {kind}; the source given is {'private' if source.private else 'public'}")
    if source.private:
        version = getattr(source, "spec_version", 1)
        if version != state.spec_version:
            raise KernelError(f"the private source samples under spec_version {version}, "
                              f"the state is spec_version {state.spec_version}")
        root = getattr(source, "records_root", None)
        if state.spec_version >= 2 and isinstance(root, bytes) and root != state.dataset_root:
            raise KernelError("the private source's records root is not the state's dataset_root (R_dataset)")


def window_context(
    state: KernelState, source: SampleSource, epoch_seed: bytes, active_mask: int, lr_shift: int
) -> tuple[WindowContext, bool]:
    """Check a window's inputs against the state (SPEC §7.1 steps 1-3); returns (context, spurt)."""
    if len(epoch_seed) != 32:
        raise KernelError(f"epoch_seed must be 32 bytes, got {len(epoch_seed)}")
    if state.step != 0:
        raise KernelError(f"a window starts at a checkpoint state; this state is at step {state.step} of a window")
    check_source(state, source)
    spurt = check_window_settings(state, active_mask, lr_shift)
    return WindowContext(state.seed_core, state.h128(), epoch_seed, state.global_step), spurt


__all__ = ["Illegal", "IllegalCommit", "check_source", "check_window_settings", "settings_problem", "window_context", "window_epoch"]
