"""Observation encoding: a board to the 64-entry Q8 input vector (SPEC §6.2)."""

from __future__ import annotations

from typing import Final

from kernel.board import BOARD_SIZE, HAZARD, WALL, Board
from kernel.rules import adjacent, enemy_attack, expected_damage

D_IN: Final = 64
VIEW_RADIUS: Final = 2  # egocentric 5x5 window
ONE: Final = 256


def observe(board: Board) -> list[int]:
    """The 64 integer inputs of a board (Q8: 256 means 1.0)."""
    x0, y0 = board.self_pos % BOARD_SIZE, board.self_pos // BOARD_SIZE
    ex, ey = board.enemy_pos % BOARD_SIZE, board.enemy_pos // BOARD_SIZE
    obs: list[int] = []
    for dy in range(-VIEW_RADIUS, VIEW_RADIUS + 1):
        for dx in range(-VIEW_RADIUS, VIEW_RADIUS + 1):
            x, y = x0 + dx, y0 + dy
            if 0 <= x < BOARD_SIZE and 0 <= y < BOARD_SIZE:
                t = board.tiles[y * BOARD_SIZE + x]
                obs.append(ONE if t == WALL else 0)
                obs.append(ONE if t == HAZARD else 0)
            else:
                obs.append(ONE)
                obs.append(0)
    dx, dy = ex - x0, ey - y0
    me, en = board.me, board.enemy
    adj = adjacent(board.self_pos, board.enemy_pos)
    obs += [
        ONE if dx < 0 else 0,
        ONE if dx > 0 else 0,
        ONE if dy < 0 else 0,
        ONE if dy > 0 else 0,
        dx * 32,
        dy * 32,
        ONE if adj else 0,
        me.hp,
        en.hp,
        me.stamina * 16,
        me.temp_def * 2,
        enemy_attack(board) * 8,
        expected_damage(board) * 8,
        me.crit * ONE,
    ]
    assert len(obs) == D_IN
    return obs
