"""The window context and the sample-source interface every source implements (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kernel.board import Board
from kernel.errors import KernelError
from kernel.payload import WINDOW_STEPS


@dataclass(frozen=True, slots=True)
class WindowContext:
    """Everything a sample source may depend on for one window."""

    seed_core: bytes  # 32 bytes, from the beast's hatch data
    parent_h128: bytes  # 16 bytes, h128 of the window's start state
    epoch_seed: bytes  # 32 bytes, the seed of the epoch this window lies in
    first_step: int  # u32, globalStep before the window's first micro-step

    def __post_init__(self) -> None:
        if len(self.seed_core) != 32:
            raise KernelError(f"seed_core must be 32 bytes, got {len(self.seed_core)}")
        if len(self.parent_h128) != 16:
            raise KernelError(f"parent_h128 must be 16 bytes, got {len(self.parent_h128)}")
        if len(self.epoch_seed) != 32:
            raise KernelError(f"epoch_seed must be 32 bytes, got {len(self.epoch_seed)}")
        if not 0 <= self.first_step < 1 << 32:
            raise KernelError(f"first_step must be a u32, got {self.first_step}")

    def step(self, j: int) -> int:
        """globalStep g of micro-step j (0..127) of this window, mod 2**32."""
        return (self.first_step + j) & 0xFFFFFFFF


@runtime_checkable
class SampleSource(Protocol):
    """Yields the 128 boards of a window, in micro-step order."""

    private: bool  # True when boards come from a committed private dataset

    def window_boards(self, ctx: WindowContext) -> list[Board]:
        """The boards for micro-steps 0..WINDOW_STEPS-1 of the window."""
        ...


def board_at(source: SampleSource, ctx: WindowContext, j: int) -> Board:
    """The board of micro-step j of the window, drawing only that board when the source can:
    ``source.board(ctx, j)`` (the public sources) or ``source.board_at(seed_core, g)`` (the
    private curriculum source), else ``source.window_boards(ctx)[j]``."""
    if not 0 <= j < WINDOW_STEPS:
        raise KernelError(f"micro-step index must be 0..{WINDOW_STEPS - 1}, got {j}")
    one = getattr(source, "board", None)
    if callable(one):
        return one(ctx, j)
    at = getattr(source, "board_at", None)
    if callable(at):
        return at(ctx.seed_core, ctx.step(j))
    boards = source.window_boards(ctx)
    if len(boards) != WINDOW_STEPS:
        raise KernelError(f"a sample source must yield {WINDOW_STEPS} boards per window, got {len(boards)}")
    return boards[j]


__all__ = ["WindowContext", "SampleSource", "WINDOW_STEPS", "board_at"]
