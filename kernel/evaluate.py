"""Learning figures: accuracy on held-out boards and win rate against an untrained beast.

Not consensus code: these numbers are reported, never hashed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernel.board import Board
from kernel.hashing import keccak256
from kernel.net_numpy import forward
from kernel.observe import observe
from kernel.prng import SplitMix64Stream, fold64
from kernel.rules import NO_MOVE, decode_power, UNREACHABLE, appendage, battle, distance_field, labels
from kernel.sources import draw_board
from kernel.board import Creature
from kernel.state import KernelState
from kernel.window_inputs import unit_mask

HELDOUT_TAG = b"chainbeasts/held-out/v1"
BATTLE_TAG = b"chainbeasts/battles/v1"


def heldout_boards(n: int, tag: bytes = HELDOUT_TAG) -> list[Board]:
    """n boards from a stream no training window uses (keyed by a fixed tag)."""
    rng = SplitMix64Stream(fold64(keccak256(tag)))
    return [draw_board(rng.next(), None) for _ in range(n)]


def logits(state: KernelState, board: Board) -> list[int]:
    """The six Q8 logits of ``state``'s net for ``board``."""
    p = state.params
    x = np.array(observe(board), dtype=np.int64)
    _, _, z = forward(state.w1, state.b1, state.w2, state.b2, x, unit_mask(state.active_mask, p.slot_width, p.n_slots))
    return [int(v) for v in z]


@dataclass(frozen=True)
class Figures:
    """Held-out accuracy figures of one state."""

    move_accuracy: float  # share of boards with a move label where argmax matches
    attack_mae: float  # mean |decoded power - attack label| over all boards
    block_accuracy: float  # share of boards where (logit > 0) == block label
    block_recall: float  # share of boards labelled "block" that the net flags (the rare class)


def figures(state: KernelState, boards: list[Board]) -> Figures:
    """Evaluate the net on ``boards``."""
    moves = hits = blk_hits = blk_pos = blk_found = 0
    atk_err = 0
    for b in boards:
        z = logits(state, b)
        lab = labels(b)
        if lab.move != NO_MOVE:
            moves += 1
            best = max(range(4), key=lambda d: (z[d], -d))
            hits += best == lab.move
        power = decode_power(z[4])
        atk_err += abs(power - lab.attack)
        blk_hits += (z[5] > 0) == bool(lab.block)
        blk_pos += lab.block
        blk_found += lab.block and z[5] > 0
    return Figures(hits / max(moves, 1), atk_err / len(boards), blk_hits / len(boards), blk_found / max(blk_pos, 1))


def battle_start(rng: SplitMix64Stream) -> Board:
    """A symmetric battle start: a drawn arena where the creatures can reach each other, equal fresh creatures."""
    while True:
        b = draw_board(rng.next(), None)
        if distance_field(b.tiles, b.enemy_pos)[b.self_pos] != UNREACHABLE:
            break
    fresh = Creature(hp=100, stamina=15, defense=32, temp_def=0, crit=0, last_action=0)
    return Board(b.tiles, b.self_pos, b.enemy_pos, fresh, fresh)


def win_rate(trained: KernelState, untrained: KernelState, n_battles: int = 100) -> float:
    """Share of seeded battles the trained beast wins (draws count as not won); sides alternate."""
    rng = SplitMix64Stream(fold64(keccak256(BATTLE_TAG)))
    wins = 0
    for i in range(n_battles):
        start = battle_start(rng)
        crit = SplitMix64Stream(rng.next())
        pol_t = lambda b: appendage(b, logits(trained, b))  # noqa: E731
        pol_u = lambda b: appendage(b, logits(untrained, b))  # noqa: E731
        if i % 2 == 0:
            wins += battle(start, pol_t, pol_u, crit.next).winner == 0
        else:
            wins += battle(start, pol_u, pol_t, crit.next).winner == 1
    return wins / n_battles
