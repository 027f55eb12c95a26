"""The spec_version 2 micro-step transition (SPEC v2, V2-2): one SGD step from one step state to the next.

This is the scalar spec form the on-chain one-step verifier re-executes: given a v2 state
P (a checkpoint, step 0, or a mid-window state, step 1..127) it computes the state after
P's next micro-step. A window is 128 of them, and a window's checkpoint state (the one the
word's h128 commits to) is the state after its 128th micro-step, so the 129 hashes
``h128(S), h_1, .., h_128`` are what a bisection of a disputed window agrees on.

At a checkpoint the window's settings come from the :class:`WindowStart` (activeMask,
lrShift, epoch seed) and are checked exactly as SPEC §7.1 step 1; settings that may not
follow the state make the transition ILLEGAL (:class:`IllegalTransition`, no post-state).
Mid-window, everything is read from the state (the start h128, epoch seed, mask, lrShift
and flags of the window it is in) and ``w`` is ignored.

``kernel.train.train_window`` computes the same checkpoint state with a whole-window
backend (numpy, torch, batched); the tests check them equal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np

from kernel.board import Board, encode_record
from kernel.context import SampleSource, WindowContext, board_at
from kernel.errors import KernelError
from kernel.heads import block_weight_for, heads_for_epoch
from kernel.net_numpy import StepTrace, sgd_step
from kernel.observe import observe
from kernel.payload import FLAG_GROWTH_SPURT, FLAG_LOSS_DROPPED, FLAG_PRIVATE, WINDOW_STEPS
from kernel.rules import Labels, labels
from kernel.state import U64_MAX, KernelState
from kernel.window_settings import IllegalCommit, check_source, settings_problem
from kernel.window_inputs import unit_mask

U32: Final = 0xFFFFFFFF


class IllegalTransition(KernelError):
    """Raised when a checkpoint's window-start settings may not follow it: the transition has no post-state."""

    def __init__(self, problem: IllegalCommit) -> None:
        super().__init__(problem.detail)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class WindowStart:
    """The window's settings and epoch seed, used only by the first micro-step (pre.step == 0)."""

    active_mask: int  # M, u8
    lr_shift: int  # k, u8
    epoch_seed: bytes  # E, 32 bytes: the seed of the epoch the window lies in

    def __post_init__(self) -> None:
        if not isinstance(self.epoch_seed, (bytes, bytearray)) or len(self.epoch_seed) != 32:
            raise KernelError("a window start's epoch_seed must be 32 bytes")
        for name, v in (("active_mask", self.active_mask), ("lr_shift", self.lr_shift)):
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 255:
                raise KernelError(f"a window start's {name} must be a u8, got {v!r}")


@dataclass(frozen=True)
class StepContext:
    """The window a micro-step lies in, and the step's place in it."""

    window: WindowContext  # seed_core, the window's start h128, epoch seed, first_step
    j: int  # step index in the window, 0..127
    active_mask: int
    lr_shift: int
    flags: int  # the window's flags before the step (GROWTH_SPURT, PRIVATE)
    heads: int  # HEAD_* bits trained in this window

    @property
    def g(self) -> int:
        """globalStep of the pre-state: the step's sample index g."""
        return self.window.step(self.j)


@dataclass(frozen=True)
class StepResult:
    """One micro-step: the post-state and everything a differential test compares."""

    state: KernelState  # the post-state Q
    pre_h128: bytes  # h128 of the pre-state
    context: StepContext
    board: Board
    labels: Labels
    observation: list[int]  # the Q8 input x
    trace: StepTrace  # a1, h, logits z, head gradients gz, gh, loss
    sample_index: int | None = None  # a private beast's dataset index sampleIdx(g) (from the source's ``index``)

    @property
    def post_h128(self) -> bytes:
        """h128 of the post-state."""
        return self.state.h128()

    @property
    def record(self) -> bytes:
        """The board as its 28-byte record."""
        return encode_record(self.board)

    @property
    def logits(self) -> list[int]:
        """The six Q8 logits before the update."""
        return [int(v) for v in self.trace.z]

    @property
    def loss(self) -> int:
        """The step's loss (Q8)."""
        return self.trace.loss


def step_context(pre: KernelState, w: WindowStart | None) -> StepContext:
    """The window context of the micro-step after ``pre`` (V2-2); raises IllegalTransition for illegal settings."""
    if pre.spec_version < 2:
        raise KernelError(f"micro_step needs a spec_version 2 state, got version {pre.spec_version}")
    p = pre.params
    if pre.step == 0:
        if w is None:
            raise KernelError("the first micro-step of a window needs its WindowStart (mask, lr_shift, epoch seed)")
        problem = settings_problem(pre, w.active_mask, w.lr_shift)
        if problem is not None:
            raise IllegalTransition(problem)
        flags = (FLAG_GROWTH_SPURT if w.active_mask != pre.active_mask else 0) | (FLAG_PRIVATE if pre.private else 0)
        ctx = WindowContext(pre.seed_core, pre.h128(), bytes(w.epoch_seed), pre.global_step)
        mask, shift, j = w.active_mask, w.lr_shift, 0
    else:
        j = pre.step
        ctx = WindowContext(pre.seed_core, pre.parent_h128, pre.epoch_seed, (pre.global_step - j) & U32)
        mask, shift, flags = pre.active_mask, pre.lr_shift, pre.flags
    return StepContext(ctx, j, mask, shift, flags, heads_for_epoch(p.epoch_of_step(ctx.first_step)))


def micro_step(pre: KernelState, source: SampleSource, w: WindowStart | None = None) -> StepResult:
    """The state after ``pre``'s next micro-step (SPEC v2, V2-2).

    ``w`` is used only when ``pre`` is a checkpoint (step 0). Raises IllegalTransition when
    its settings may not follow ``pre``, KernelError for a v1 state, a missing WindowStart or a
    source of the wrong kind.
    """
    sc = step_context(pre, w)
    check_source(pre, source)
    p = pre.params
    board = board_at(source, sc.window, sc.j)
    lab = labels(board)
    x = np.array(observe(board), dtype=np.int64)
    um = unit_mask(sc.active_mask, p.slot_width, p.n_slots)
    (w1, b1, w2, b2), trace = sgd_step((pre.w1, pre.b1, pre.w2, pre.b2), x, um, lab.move, lab.attack, lab.block,
                                       sc.heads, sc.lr_shift, block_weight_for(pre.spec_version))
    acc = min((pre.loss_acc if sc.j else 0) + trace.loss, U64_MAX)  # saturates only for a crafted loss_acc
    common = dict(parent_h128=sc.window.parent_h128, epoch_seed=sc.window.epoch_seed, active_mask=sc.active_mask,
                  lr_shift=sc.lr_shift, global_step=(sc.g + 1) & U32, w1=w1, b1=b1, w2=w2, b2=b2)
    if sc.j < WINDOW_STEPS - 1:
        post = replace(pre, **common, step=sc.j + 1, flags=sc.flags, loss_acc=acc)  # type: ignore[arg-type]
    else:
        flags = sc.flags | (FLAG_LOSS_DROPPED if pre.loss_sum_prev and acc < pre.loss_sum_prev else 0)
        post = replace(pre, **common, step=0, window=(pre.window + 1) & U32, flags=flags,  # type: ignore[arg-type]
                       loss_sum_prev=acc, loss_acc=0)
    index = getattr(source, "index", None) if source.private else None
    idx = index(pre.seed_core, sc.g) if callable(index) else None
    return StepResult(post, pre.h128(), sc, board, lab, [int(v) for v in x], trace, idx)


def window_step_states(start: KernelState, source: SampleSource, w: WindowStart) -> list[KernelState]:
    """The 129 step states of the window after checkpoint ``start``: [0] is ``start``, [128] its checkpoint."""
    if start.spec_version < 2 or start.step != 0:
        raise KernelError("window_step_states starts from a spec_version 2 checkpoint state (step 0)")
    states = [start]
    for _ in range(WINDOW_STEPS):
        states.append(micro_step(states[-1], source, w).state)
    return states


def window_step_hashes(start: KernelState, source: SampleSource, w: WindowStart) -> list[bytes]:
    """h128 of the 129 step states of a window (what a bisection agrees on)."""
    return [s.h128() for s in window_step_states(start, source, w)]


__all__ = [
    "IllegalTransition",
    "StepContext",
    "StepResult",
    "WindowStart",
    "micro_step",
    "step_context",
    "window_step_hashes",
    "window_step_states",
]
