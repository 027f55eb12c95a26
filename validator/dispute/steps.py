"""The window's 129 step states as the challenger derives them from its start checkpoint (the game's source).

The start state (checkpoint K-1: a file, a trainer node, or rebuilt from genesis; see
:mod:`validator.dispute.start`) must hash to the h128 the chain committed before the window; the
window is then replayed micro-step by micro-step with the word's mask and lrShift
(:class:`validator.bisection.ReplaySource`), a private beast's records drawn from the challenger's
dataset with the owner secret.
"""

from __future__ import annotations

from validator.bisection import InvalidDatasetSource, ReplaySource
from validator.dispute.curriculum import Curriculum, source_of
from validator.dispute.errors import DataError
from validator.dispute.start import StartState
from validator.dispute.window import WindowOnChain
from validator.lineage import divergence_reason


def step_source(w: WindowOnChain, cur: Curriculum | None, start: StartState) -> ReplaySource:
    """The honest step states of window ``w`` from ``start`` (DataError when the start state is not checkpoint K-1)."""
    from kernel.errors import KernelError, StateBlobError
    from kernel.state import decode_state_blob

    if start.blob is None:
        raise DataError(f"no start state for window {w.window}: {start.origin}")
    try:
        state = decode_state_blob(start.blob)
    except StateBlobError as exc:
        raise DataError(f"the start state ({start.origin}) is not a state blob: {exc}") from None
    if state.h128() != w.prev_h128:
        raise DataError(f"the start state ({start.origin}) hashes to 0x{state.h128().hex()}, not to the h128 the chain "
                        f"committed before window {w.window} (0x{w.prev_h128.hex()})")
    if state.spec_version < 2:
        raise DataError(f"beast {w.beast_id} is spec version {state.spec_version}: the bisection game judges version 2 only")
    try:
        return ReplaySource(state, w.word, w.epoch_seed, samples=source_of(cur, state.spec_version) if cur else None,
                            owner_secret=cur.owner_secret if cur else None)
    except KernelError as exc:
        raise DataError(f"window {w.window} cannot be replayed from its start state: {exc}") from None


def diverges(source: ReplaySource | InvalidDatasetSource, word: bytes) -> str | None:
    """Why ``word`` is not the honest word of the replayed window (None when it is)."""
    proof = getattr(source, "invalid_dataset", None)
    if proof is not None:
        return f"the committed dataset is invalid: {proof.reason}; no honest window exists (SPEC §10.6)"
    return None if source.word() == word else divergence_reason(source, word)


__all__ = ["diverges", "step_source"]
