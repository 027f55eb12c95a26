"""The numpy reference backend: integer forward, backward and SGD of one beast (SPEC §8).

This is the executable spec of the network arithmetic; every other backend must produce
the same weights bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernel.fixedpoint import I16_MAX, I16_MIN
from kernel.hashing import keccak256
from kernel.heads import head_grads
from kernel.window_inputs import WindowInputs, WindowOutcome


def _sat16(a: np.ndarray) -> np.ndarray:
    return np.clip(a, I16_MIN, I16_MAX)


def _rshift_round(a: np.ndarray, k: int) -> np.ndarray:
    return a if k == 0 else (a + (1 << (k - 1))) >> k


def forward(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, x: np.ndarray, unit_mask: np.ndarray):
    """Pre-activations a1, hidden h and logits z for one input (all int64, Q8)."""
    a1 = _sat16(((w1 @ x) >> 12) + b1)
    h = np.maximum(a1, 0) * unit_mask
    z = _sat16(((w2 @ h) >> 12) + b2)
    return a1, h, z


def digest(w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> bytes:
    """Per-step digest: first 16 bytes of keccak256 of the weights as little-endian i16."""
    return keccak256(b"".join(np.ascontiguousarray(a, dtype="<i2").tobytes() for a in (w1, b1, w2, b2)))[:16]


@dataclass
class StepTrace:
    """Every intermediate of one micro-step's SGD (what a differential test compares)."""

    a1: np.ndarray  # pre-activations (hidden,)
    h: np.ndarray  # hidden activations (hidden,)
    z: np.ndarray  # logits (n_out,)
    gz: np.ndarray  # head gradients (n_out,)
    gh: np.ndarray  # hidden gradients (hidden,)
    loss: int  # the step loss (Q8)


def sgd_step(
    w: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], x: np.ndarray, unit_mask: np.ndarray,
    move: int, attack: int, block: int, heads: int, lr_shift: int, block_weight: int = 1,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], StepTrace]:
    """One micro-step (SPEC §8): forward, heads, backward and the saturating SGD update.

    Returns the new weights (new arrays) and the step's intermediates.
    """
    w1, b1, w2, b2 = w
    k = lr_shift
    a1, h, z = forward(w1, b1, w2, b2, x, unit_mask)
    gz_list, loss = head_grads([int(v) for v in z], move, attack, block, heads, block_weight)
    gz = np.array(gz_list, dtype=np.int64)
    gw2 = np.outer(gz, h) >> 4
    gh = _sat16((w2.T @ gz) >> 12) * (a1 > 0) * unit_mask
    gw1 = np.outer(gh, x) >> 4
    new = (_sat16(w1 - _rshift_round(gw1, k)), _sat16(b1 - _rshift_round(gh, k)),
           _sat16(w2 - _rshift_round(gw2, k)), _sat16(b2 - _rshift_round(gz, k)))
    return new, StepTrace(a1, h, z, gz, gh, loss)


class NumpyBackend:
    """Single-beast numpy reference."""

    name = "numpy"

    def run_window(self, w: tuple[np.ndarray, ...], inp: WindowInputs, want_digests: bool = False) -> WindowOutcome:
        """Train the 128 micro-steps of ``inp`` starting from weights ``w``."""
        cur = tuple(a.copy() for a in w)
        losses: list[int] = []
        digests: list[bytes] = []
        for j in range(inp.xs.shape[0]):
            cur, trace = sgd_step(cur, inp.xs[j], inp.unit_mask, int(inp.move[j]), int(inp.attack[j]),  # type: ignore[arg-type]
                                  int(inp.block[j]), inp.heads, inp.lr_shift, inp.block_weight)
            losses.append(trace.loss)
            if want_digests:
                digests.append(digest(*cur))
        return WindowOutcome(cur, losses, digests)  # type: ignore[arg-type]
