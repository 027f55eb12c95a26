"""Vectorized window inputs: public board drawing, labels and observations over numpy arrays.

The scalar functions (``sources.public_board``, ``rules.labels``, ``observe.observe``) are
the spec; this module computes the same integers for many boards at once and is checked
equal to them in ``tests/kernel/test_backends.py`` (fixed tables, thousands of drawn
boards, Hypothesis boards). It is used only where asked for: ``batched`` with
``inputs="fast"``, or ``prepare_window_fast`` in place of ``train.prepare_window``. It imports
the window checks from ``kernel.window_settings``, never ``kernel.train`` (which imports it).

* splitMix64 runs on uint64 arrays (numpy wraps uint64 arithmetic mod 2**64).
* The move label's breadth-first search runs on 64-bit bitboards, one BFS layer per
  iteration for all boards together: L_k = spread(L_{k-1}) & open & ~visited. The label is
  the first direction (N, S, E, W) whose neighbour of self lies in L_{here-1}, which is
  exactly ``dist[q] == here - 1`` of the scalar search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np

from kernel.board import BOARD_SIZE, EMPTY, HAZARD, N_TILES, WALL, Board
from kernel.context import SampleSource
from kernel.errors import KernelError
from kernel.heads import block_weight_for, heads_for_epoch
from kernel.observe import D_IN, ONE, VIEW_RADIUS
from kernel.payload import WINDOW_STEPS
from kernel.prng import GOLDEN_GAMMA, MIX_C1, MIX_C2, fold64
from kernel.rules import MAX_POWER, NO_MOVE, neighbor
from kernel.sources import TEMPLATE_PERIOD, TEMPLATES, PublicSource, template_index
from kernel.state import KernelState
from kernel.window_settings import window_context, window_epoch
from kernel.window_inputs import WindowInputs, unit_mask

U64 = np.uint64
_NB: Final = np.array([[neighbor(p, d) for d in range(4)] for p in range(N_TILES)], dtype=np.int64)  # (64, 4), -1 off board
_TEMPLATES: Final = np.array(TEMPLATES, dtype=np.int8)  # (8, 64)
_TILE_OF_NIBBLE: Final = np.array([WALL, HAZARD] + [EMPTY] * 14, dtype=np.int8)  # sources.draw_board
_COL_X0: Final = U64(0x0101010101010101)
_COL_X7: Final = U64(0x8080808080808080)
_OOB: Final = 3  # tile code of the padding around the board in the observation window
_PAD: Final = VIEW_RADIUS
_PW: Final = BOARD_SIZE + 2 * _PAD
_DY, _DX = np.meshgrid(np.arange(2 * _PAD + 1), np.arange(2 * _PAD + 1), indexing="ij")
_VIEW: Final = (_DY * _PW + _DX).reshape(-1)  # (25,) offsets of the 5x5 window, dy outer, dx inner


@dataclass
class BoardArrays:
    """N boards as arrays: tiles (N, 64) small ints, positions (N,) and creatures (N, 6) int64.

    Creature columns: hp, stamina, defense, temp_def, crit, last_action.
    """

    tiles: np.ndarray
    self_pos: np.ndarray
    enemy_pos: np.ndarray
    me: np.ndarray
    enemy: np.ndarray

    def __len__(self) -> int:
        return self.tiles.shape[0]

    @classmethod
    def from_boards(cls, boards: Sequence[Board]) -> BoardArrays:
        """Arrays of a list of Board objects."""
        def cre(c: object) -> tuple[int, ...]:
            return (c.hp, c.stamina, c.defense, c.temp_def, c.crit, c.last_action)  # type: ignore[attr-defined]

        return cls(
            np.array([b.tiles for b in boards], dtype=np.int64).reshape(len(boards), N_TILES),
            np.array([b.self_pos for b in boards], dtype=np.int64),
            np.array([b.enemy_pos for b in boards], dtype=np.int64),
            np.array([cre(b.me) for b in boards], dtype=np.int64).reshape(len(boards), 6),
            np.array([cre(b.enemy) for b in boards], dtype=np.int64).reshape(len(boards), 6),
        )

    def take(self, rows: slice) -> BoardArrays:
        """The boards in ``rows``."""
        return BoardArrays(self.tiles[rows], self.self_pos[rows], self.enemy_pos[rows], self.me[rows], self.enemy[rows])

    @staticmethod
    def concat(parts: Sequence[BoardArrays]) -> BoardArrays:
        """The boards of several arrays, in order."""
        return BoardArrays(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                             ("tiles", "self_pos", "enemy_pos", "me", "enemy")))


# ---------------------------------------------------------------- drawing public boards


def mix64_np(z: np.ndarray) -> np.ndarray:
    """prng.mix64 over a uint64 array."""
    z = (z ^ (z >> U64(30))) * U64(MIX_C1)
    z = (z ^ (z >> U64(27))) * U64(MIX_C2)
    return z ^ (z >> U64(31))


def draw_boards_np(keys: np.ndarray, templates: np.ndarray) -> BoardArrays:
    """sources.draw_board for each key (uint64 (N,)); templates (N,) is a template index or -1."""
    n = keys.shape[0]
    with np.errstate(over="ignore"):
        states = keys[:, None] + U64(GOLDEN_GAMMA) * np.arange(1, 8, dtype=U64)[None, :]  # (N, 7)
        r = mix64_np(states)
    # tile i is nibble i & 15 of word i >> 4, i.e. of little-endian byte i >> 1 of the words
    nib = np.ascontiguousarray(r[:, :4]).astype("<u8").view(np.uint8).reshape(n, 32)
    v = np.stack([nib & 15, nib >> 4], 2).reshape(n, N_TILES)
    tiles = _TILE_OF_NIBBLE[v]
    use_t = templates >= 0
    tiles[use_t] = _TEMPLATES[templates[use_t]]
    r4 = r[:, 4]
    self_pos = (r4 & U64(63)).astype(np.int64)
    enemy_pos = ((r4 >> U64(6)) & U64(63)).astype(np.int64)
    clash = enemy_pos == self_pos
    alt = (self_pos + 1 + ((r4 >> U64(12)) % U64(63)).astype(np.int64)) % N_TILES
    enemy_pos = np.where(clash, alt, enemy_pos)
    q = _NB[self_pos, ((r4 >> U64(22)) & U64(3)).astype(np.int64)]
    enemy_pos = np.where((((r4 >> U64(20)) & U64(3)) == 0) & (q >= 0), q, enemy_pos)
    rows = np.arange(n)
    tiles[rows, self_pos] = EMPTY
    tiles[rows, enemy_pos] = EMPTY
    return BoardArrays(tiles, self_pos, enemy_pos, _creatures_np(r[:, 5]), _creatures_np(r[:, 6]))


def _creatures_np(r: np.ndarray) -> np.ndarray:
    """sources._creature over a uint64 array: (N, 6) int64."""
    def f(shift: int, mask: int) -> np.ndarray:
        return ((r >> U64(shift)) & U64(mask)).astype(np.int64)

    return np.stack([1 + f(0, 0xFF) % 255, f(8, 15), f(12, 63), f(18, 3) * 32, f(20, 1), f(21, 7) % 5], 1)


def public_keys_np(seed_core: bytes, parent_h128: bytes, epoch_seed: bytes, first_step: int,
                   n: int = WINDOW_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Stream keys (uint64) and template indices (-1: none) of micro-steps 0..n-1 of one window."""
    g = (first_step + np.arange(n, dtype=np.int64)) & 0xFFFFFFFF
    base = U64(fold64(seed_core) ^ fold64(parent_h128))
    with np.errstate(over="ignore"):
        keys = base ^ (g.astype(U64) * U64(GOLDEN_GAMMA))
    templates = np.where(g % TEMPLATE_PERIOD == TEMPLATE_PERIOD - 1, template_index(epoch_seed), -1)
    return keys, templates


def public_boards_np(seed_core: bytes, parent_h128: bytes, epoch_seed: bytes, first_step: int,
                     n: int = WINDOW_STEPS) -> BoardArrays:
    """sources.public_board for micro-steps 0..n-1 of one window."""
    return draw_boards_np(*public_keys_np(seed_core, parent_h128, epoch_seed, first_step, n))


# ---------------------------------------------------------------- labels and observations


def _bits(mask: np.ndarray) -> np.ndarray:
    """(N, 64) bool -> (N,) uint64 with bit i = mask[:, i]."""
    return np.ascontiguousarray(np.packbits(mask, axis=1, bitorder="little")).view("<u8")[:, 0].astype(U64)


def _spread(s: np.ndarray) -> np.ndarray:
    """Tiles one step N, S, E or W from the set s (bitboards)."""
    return (s >> U64(8)) | (s << U64(8)) | ((s << U64(1)) & ~_COL_X0) | ((s >> U64(1)) & ~_COL_X7)


def move_labels_np(b: BoardArrays) -> np.ndarray:
    """rules.move_label of each board, by layered bitboard BFS from the enemy."""
    n = len(b)
    open_ = _bits(b.tiles != WALL)
    one = U64(1)
    self_bit = one << b.self_pos.astype(U64)
    frontier = one << b.enemy_pos.astype(U64)
    visited = frontier.copy()
    here = np.full(n, -1, dtype=np.int64)
    prev = np.zeros(n, dtype=U64)  # L_{here-1}
    for k in range(1, N_TILES):
        new = _spread(frontier) & open_ & ~visited
        hit = ((new & self_bit) != 0) & (here < 0)
        here[hit] = k
        prev[hit] = frontier[hit]
        visited |= new
        frontier = new
        if not (frontier != 0).any() or (here >= 0).all():
            break
    move = np.full(n, NO_MOVE, dtype=np.int64)
    todo = here >= 2
    for d in range(3, -1, -1):  # the last assignment wins: N beats S beats E beats W
        q = _NB[b.self_pos, d]
        inl = (q >= 0) & (((prev >> np.where(q >= 0, q, 0).astype(U64)) & one) != 0)
        move = np.where(todo & inl, d, move)
    return move


def _damage_np(power: int, defense: np.ndarray, crit: np.ndarray) -> np.ndarray:
    return (power * 256) // (256 + defense) * np.where(crit != 0, 2, 1)


def _adjacent_np(a: np.ndarray, c: np.ndarray) -> np.ndarray:
    return np.abs(a % BOARD_SIZE - c % BOARD_SIZE) + np.abs(a // BOARD_SIZE - c // BOARD_SIZE) == 1


def encode_np(b: BoardArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """window_inputs.encode_boards over arrays: (xs (N, 64), move, attack, block), all int64."""
    n = len(b)
    me, en = b.me, b.enemy
    HP, ST, DEF, TD, CRIT = 0, 1, 2, 3, 4
    adj = _adjacent_np(b.self_pos, b.enemy_pos)
    # labels (rules.attack_label, rules.block_label)
    exp_dmg = np.where(adj & (me[:, ST] != 0), _damage_np(MAX_POWER, en[:, DEF] + en[:, TD], me[:, CRIT]), 0)
    attack = exp_dmg * MAX_POWER // _damage_np(MAX_POWER, np.zeros_like(me[:, DEF]), me[:, CRIT])  # 15 or 30
    en_atk = np.where(adj & (en[:, ST] != 0), _damage_np(MAX_POWER, me[:, DEF], en[:, CRIT]), 0)
    block = (5 * me[:, TD] < 4 * en_atk).astype(np.int64)
    # observation (observe.observe)
    padded = np.full((n, _PW, _PW), _OOB, dtype=np.int8)
    padded[:, _PAD:-_PAD, _PAD:-_PAD] = b.tiles.reshape(n, BOARD_SIZE, BOARD_SIZE)
    x0, y0 = b.self_pos % BOARD_SIZE, b.self_pos // BOARD_SIZE
    ex, ey = b.enemy_pos % BOARD_SIZE, b.enemy_pos // BOARD_SIZE
    view = np.take_along_axis(padded.reshape(n, -1), (y0 * _PW + x0)[:, None] + _VIEW[None, :], 1)  # (N, 25)
    xs = np.empty((n, D_IN), dtype=np.int64)
    xs[:, 0:50:2] = np.where((view == WALL) | (view == _OOB), ONE, 0)
    xs[:, 1:50:2] = np.where(view == HAZARD, ONE, 0)
    dx, dy = ex - x0, ey - y0
    xs[:, 50] = np.where(dx < 0, ONE, 0)
    xs[:, 51] = np.where(dx > 0, ONE, 0)
    xs[:, 52] = np.where(dy < 0, ONE, 0)
    xs[:, 53] = np.where(dy > 0, ONE, 0)
    xs[:, 54] = dx * 32
    xs[:, 55] = dy * 32
    xs[:, 56] = np.where(adj, ONE, 0)
    xs[:, 57] = me[:, HP]
    xs[:, 58] = en[:, HP]
    xs[:, 59] = me[:, ST] * 16
    xs[:, 60] = me[:, TD] * 2
    xs[:, 61] = en_atk * 8
    xs[:, 62] = exp_dmg * 8
    xs[:, 63] = me[:, CRIT] * ONE
    return xs, move_labels_np(b), attack, block


# ---------------------------------------------------------------- windows


def _window_boards(state: KernelState, source: SampleSource, epoch_seed: bytes, active_mask: int,
                   lr_shift: int) -> tuple[BoardArrays | tuple[np.ndarray, np.ndarray], bool]:
    """The checks of train.prepare_window (same order, same errors) and the window's boards.

    A public source's boards are returned as their (keys, templates), drawn later together.
    """
    ctx, spurt = window_context(state, source, epoch_seed, active_mask, lr_shift)
    if type(source) is PublicSource:
        return public_keys_np(ctx.seed_core, ctx.parent_h128, ctx.epoch_seed, ctx.first_step), spurt
    boards = source.window_boards(ctx)
    if len(boards) != WINDOW_STEPS:
        raise KernelError(f"a sample source must yield {WINDOW_STEPS} boards per window, got {len(boards)}")
    return BoardArrays.from_boards(boards), spurt


@lru_cache(maxsize=256)
def _unit_mask(active_mask: int, slot_width: int, n_slots: int) -> np.ndarray:
    """window_inputs.unit_mask, cached and read-only (the same array is shared by windows)."""
    a = unit_mask(active_mask, slot_width, n_slots)
    a.flags.writeable = False
    return a


def prepare_windows_fast(
    states: Sequence[KernelState], sources: Sequence[SampleSource], epoch_seeds: Sequence[bytes],
    active_masks: Sequence[int], lr_shifts: Sequence[int],
) -> list[tuple[WindowInputs, bool]]:
    """train.prepare_window for many beasts; the boards of all windows are drawn and encoded together."""
    drawn = [_window_boards(*a) for a in zip(states, sources, epoch_seeds, active_masks, lr_shifts, strict=True)]
    if not drawn:
        return []
    public = [d[0] for d in drawn if not isinstance(d[0], BoardArrays)]
    pub = draw_boards_np(np.concatenate([k for k, _ in public]), np.concatenate([t for _, t in public])) if public else None
    if len(public) == len(drawn):
        boards = pub
    else:
        parts, off = [], 0
        for d, _ in drawn:
            if isinstance(d, BoardArrays):
                parts.append(d)
            else:
                parts.append(pub.take(slice(off, off + len(d[0]))))  # type: ignore[union-attr]
                off += len(d[0])
        boards = BoardArrays.concat(parts)
    xs, move, attack, block = encode_np(boards)  # type: ignore[arg-type]
    out = []
    off = 0
    for st, (d, spurt), m, k in zip(states, drawn, active_masks, lr_shifts, strict=True):
        s = slice(off, off + (len(d) if isinstance(d, BoardArrays) else len(d[0])))
        off = s.stop
        p = st.params
        out.append((WindowInputs(xs[s], move[s], attack[s], block[s], heads_for_epoch(window_epoch(st)),
                                 _unit_mask(m, p.slot_width, p.n_slots), k, block_weight_for(st.spec_version)), spurt))
    return out


def prepare_window_fast(
    state: KernelState, source: SampleSource, epoch_seed: bytes, active_mask: int, lr_shift: int
) -> tuple[WindowInputs, bool]:
    """Drop-in for train.prepare_window (same inputs, same result, same errors)."""
    return prepare_windows_fast([state], [source], [epoch_seed], [active_mask], [lr_shift])[0]
