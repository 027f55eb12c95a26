"""What a backend is given for one window and what it returns (backend interface)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernel.board import Board
from kernel.observe import observe
from kernel.rules import labels


@dataclass(frozen=True)
class WindowInputs:
    """The 128 encoded samples of a window plus the window's training settings."""

    xs: np.ndarray  # int64 (128, d_in) Q8 observations
    move: np.ndarray  # int64 (128,) direction 0..3 or -1 (no move)
    attack: np.ndarray  # int64 (128,) 0..15
    block: np.ndarray  # int64 (128,) 0..1
    heads: int  # HEAD_* bits trained in this window
    unit_mask: np.ndarray  # int64 (hidden,) 1 for units of active slots, else 0
    lr_shift: int
    block_weight: int = 1  # block head's positive-class weight (heads.block_weight_for the spec_version)


@dataclass
class WindowOutcome:
    """Weights after the window, per-step losses (Q8) and optional per-step digests."""

    weights: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # w1, b1, w2, b2 int64
    losses: list[int]
    digests: list[bytes]


def encode_boards(boards: list[Board]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Observations and labels of a list of boards: (xs, move, attack, block) int64 arrays."""
    xs = np.array([observe(b) for b in boards], dtype=np.int64)
    labs = [labels(b) for b in boards]
    move = np.array([lab.move for lab in labs], dtype=np.int64)
    attack = np.array([lab.attack for lab in labs], dtype=np.int64)
    block = np.array([lab.block for lab in labs], dtype=np.int64)
    return xs, move, attack, block


def unit_mask(active_mask: int, slot_width: int, n_slots: int) -> np.ndarray:
    """Per-unit 0/1 gate of an activeMask: unit u belongs to slot u // slot_width."""
    return np.array([(active_mask >> (u // slot_width)) & 1 for u in range(slot_width * n_slots)], dtype=np.int64)
