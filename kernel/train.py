"""Training windows: sampling, labels, the backend's SGD, energy, flags and the payload (SPEC §7).

``train_window`` is the one entry point the node and the validator use; ``kernel.replay``
frames the same computation as a check against a committed word. Whether a window's
settings may follow a state is ``kernel.window_settings``, shared with ``kernel.fast_inputs``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Protocol

import numpy as np

from kernel.context import SampleSource
from kernel.errors import KernelError
from kernel.fast_inputs import prepare_window_fast
from kernel.hashing import keccak256
from kernel.heads import block_weight_for, heads_for_epoch
from kernel.payload import FLAG_GROWTH_SPURT, FLAG_LOSS_DROPPED, FLAG_PRIVATE, WINDOW_STEPS, Payload
from kernel.state import ZERO32, KernelState
from kernel.window_inputs import WindowInputs, WindowOutcome, encode_boards, unit_mask
from kernel.window_settings import window_context, window_epoch

EPOCH_SEED_TAG = b"chainbeasts/epoch-seed/v1"
INPUTS: Final = ("spec", "fast")  # how a window's boards are drawn and encoded (train_window's ``inputs``)


class Backend(Protocol):
    """Runs the SGD of one window for one beast."""

    name: str

    def run_window(self, w: tuple[np.ndarray, ...], inp: WindowInputs, want_digests: bool = False) -> WindowOutcome: ...


@dataclass
class WindowResult:
    """A trained window: the new state, its payload, per-step losses and digests."""

    state: KernelState
    payload: Payload
    losses: list[int]
    digests: list[bytes]

    @property
    def loss_sum(self) -> int:
        """Sum of the 128 per-step losses (Q8)."""
        return sum(self.losses)


def offline_epoch_seed(seed_core: bytes, epoch: int) -> bytes:
    """Epoch seed used without a chain: seed_core for epoch 0, else keccak256(tag || seed_core || u32be(epoch))."""
    if epoch == 0:
        return seed_core
    return keccak256(EPOCH_SEED_TAG + seed_core + (epoch & 0xFFFFFFFF).to_bytes(4, "big"))


def prepare_window(
    state: KernelState, source: SampleSource, epoch_seed: bytes, active_mask: int, lr_shift: int
) -> tuple[WindowInputs, bool]:
    """Draw the window's boards and encode them for a backend; returns (inputs, spurt)."""
    ctx, spurt = window_context(state, source, epoch_seed, active_mask, lr_shift)
    boards = source.window_boards(ctx)
    if len(boards) != WINDOW_STEPS:
        raise KernelError(f"a sample source must yield {WINDOW_STEPS} boards per window, got {len(boards)}")
    xs, move, attack, block = encode_boards(boards)
    p = state.params
    inp = WindowInputs(xs, move, attack, block, heads_for_epoch(window_epoch(state)),
                       unit_mask(active_mask, p.slot_width, p.n_slots), lr_shift, block_weight_for(state.spec_version))
    return inp, spurt


def finish_window(
    state: KernelState, outcome: WindowOutcome, epoch_seed: bytes, active_mask: int, lr_shift: int, spurt: bool
) -> WindowResult:
    """Assemble the new state and payload from a backend's outcome.

    A v2 state's checkpoint is the state after the window's 128th micro-step (kernel.step):
    step 0, loss_acc 0 and the window's flags in the state; everything else is as in v1.
    """
    p = state.params
    loss_sum = sum(outcome.losses)
    energy = p.window_energy_burn(active_mask, spurt)
    flags = 0
    if state.loss_sum_prev and loss_sum < state.loss_sum_prev:
        flags |= FLAG_LOSS_DROPPED
    if spurt:
        flags |= FLAG_GROWTH_SPURT
    if state.private:
        flags |= FLAG_PRIVATE
    w1, b1, w2, b2 = outcome.weights
    new = replace(
        state,
        parent_h128=state.h128(),
        epoch_seed=bytes(epoch_seed),
        global_step=(state.global_step + WINDOW_STEPS) & 0xFFFFFFFF,
        window=(state.window + 1) & 0xFFFFFFFF,
        active_mask=active_mask,
        lr_shift=lr_shift,
        loss_sum_prev=min(loss_sum, (1 << 64) - 1),
        w1=w1, b1=b1, w2=w2, b2=b2,
    )
    if state.spec_version >= 2:
        new = replace(new, step=0, flags=flags, loss_acc=0)
    payload = Payload(new.h128(), new.global_step, energy, active_mask, lr_shift, flags)
    return WindowResult(new, payload, outcome.losses, outcome.digests)


def get_backend(name: str) -> Backend:
    """A backend by name: 'numpy' (reference) or 'torch' (CPU, or CUDA when available)."""
    if name == "numpy":
        from kernel.net_numpy import NumpyBackend

        return NumpyBackend()
    if name == "torch":
        from kernel.net_torch import TorchBackend

        return TorchBackend()
    raise KernelError(f"unknown backend {name!r}; choose numpy or torch")


def train_window(
    state: KernelState,
    source: SampleSource,
    *,
    epoch_seed: bytes | None = None,
    active_mask: int | None = None,
    lr_shift: int | None = None,
    backend: str | Backend = "numpy",
    want_digests: bool = False,
    inputs: str = "spec",
) -> WindowResult:
    """Train one 128-step window from ``state``; defaults keep the state's mask and lr_shift.

    ``epoch_seed`` defaults to the offline seed of the window's epoch; a node on chain
    passes the ledger's snapshot instead. ``inputs="fast"`` draws and encodes the boards
    with the vectorized kernel.fast_inputs (tested equal to the scalar spec functions).
    """
    if epoch_seed is None:
        epoch_seed = offline_epoch_seed(state.seed_core, window_epoch(state))
    mask = state.active_mask if active_mask is None else active_mask
    shift = state.lr_shift if lr_shift is None else lr_shift
    if inputs == "spec":
        inp, spurt = prepare_window(state, source, epoch_seed, mask, shift)
    elif inputs == "fast":
        inp, spurt = prepare_window_fast(state, source, epoch_seed, mask, shift)
    else:
        raise KernelError(f"unknown inputs {inputs!r}; choose spec or fast")
    be = get_backend(backend) if isinstance(backend, str) else backend
    outcome = be.run_window((state.w1, state.b1, state.w2, state.b2), inp, want_digests)
    return finish_window(state, outcome, epoch_seed, mask, shift, spurt)


__all__ = ["INPUTS", "WindowResult", "offline_epoch_seed", "prepare_window", "train_window", "window_epoch", "ZERO32"]
