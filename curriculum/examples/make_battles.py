"""Regenerate ``battles.csv``: a few hundred boards from simulated example battles.

Run ``python -m curriculum.examples.make_battles > curriculum/examples/battles.csv``.
Deterministic (a fixed splitMix64 stream, no other randomness), so the committed file
can be rebuilt byte for byte; tests/curriculum check that it still is.

The simulation is a simplified stand-in for real match logs: both creatures walk
toward each other around walls (BFS), attack when adjacent
(``damage = atk * 256 // (256 + defense + temp_def)``, doubled on crit), sometimes
block (+32 temporary defense, cap 96, spent by the next hit), and rest when tired
(+4 stamina). One row is the board before "self" acts, for every turn until a creature
would fall or the battle reaches its turn limit. It is not the kernel's combat engine.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import deque
from dataclasses import dataclass

from curriculum.importers import COLUMNS, board_to_fields
from kernel.board import ACT_ATTACK, ACT_BLOCK, ACT_MOVE, ACT_NONE, ACT_REST, EMPTY, HAZARD, WALL, Board, Creature
from kernel.prng import SplitMix64Stream

SEED = 0xCB_0000_BA77_1E5
N_BATTLES = 36
MAX_TURNS = 16


class Rng:
    """Small helpers over a splitMix64 stream."""

    def __init__(self, seed: int) -> None:
        self.s = SplitMix64Stream(seed)

    def below(self, n: int) -> int:
        return self.s.next() % n

    def between(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)


@dataclass
class Fighter:
    pos: int
    hp: int
    stamina: int
    defense: int
    atk: int
    temp_def: int = 0
    crit: int = 0
    last_action: int = ACT_NONE

    def creature(self) -> Creature:
        return Creature(self.hp, self.stamina, self.defense, self.temp_def, self.crit, self.last_action)


def _neighbors(pos: int) -> list[int]:
    x, y = pos % 8, pos // 8
    out = []
    for dx, dy in ((0, -1), (0, 1), (1, 0), (-1, 0)):
        if 0 <= x + dx < 8 and 0 <= y + dy < 8:
            out.append((y + dy) * 8 + x + dx)
    return out


def _step_toward(tiles: list[int], start: int, goal: int) -> int | None:
    """First tile of a shortest wall-avoiding path from start to a tile next to goal."""
    prev = {start: start}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if goal in _neighbors(cur):
            while prev[cur] != start:
                cur = prev[cur]
            return None if cur == start else cur
        for n in _neighbors(cur):
            if n not in prev and tiles[n] != WALL and n != goal:
                prev[n] = cur
                queue.append(n)
    return None


def _arena(rng: Rng) -> list[int]:
    tiles = [EMPTY] * 64
    for _ in range(rng.between(2, 4)):  # short wall segments
        x, y, horizontal = rng.below(8), rng.below(8), rng.below(2)
        for k in range(rng.between(2, 4)):
            xx, yy = (x + k, y) if horizontal else (x, y + k)
            if xx < 8 and yy < 8:
                tiles[yy * 8 + xx] = WALL
    for _ in range(rng.between(2, 6)):
        p = rng.below(64)
        if tiles[p] == EMPTY:
            tiles[p] = HAZARD
    return tiles


def _act(rng: Rng, tiles: list[int], me: Fighter, foe: Fighter) -> None:
    if me.stamina < 2:
        me.stamina, me.last_action = min(me.stamina + 4, 15), ACT_REST
    elif foe.pos in _neighbors(me.pos):
        if me.temp_def == 0 and rng.below(4) == 0:
            me.temp_def, me.stamina, me.last_action = min(me.temp_def + 32, 96), me.stamina - 1, ACT_BLOCK
        else:
            dmg = me.atk * 256 // (256 + foe.defense + foe.temp_def)
            foe.hp -= dmg * 2 if me.crit else dmg
            foe.temp_def, me.crit, me.stamina, me.last_action = 0, 0, me.stamina - 2, ACT_ATTACK
    else:
        step = _step_toward(tiles, me.pos, foe.pos)
        if step is None:
            me.stamina, me.last_action = min(me.stamina + 4, 15), ACT_REST
        else:
            cost = 1 + (2 if tiles[step] == HAZARD else 0)
            me.pos, me.stamina, me.last_action = step, max(me.stamina - cost, 0), ACT_MOVE
    if me.crit == 0 and rng.below(10) == 0:
        me.crit = 1


def battles() -> list[tuple[int, int, Board]]:
    """(battle_id, turn, board) for every recorded turn of every example battle."""
    rng = Rng(SEED)
    rows: list[tuple[int, int, Board]] = []
    for battle in range(N_BATTLES):
        tiles = _arena(rng)
        free = [i for i in range(64) if tiles[i] != WALL]
        a = free[rng.below(len(free))]
        b = free[rng.below(len(free))]
        while b == a or abs(a % 8 - b % 8) + abs(a // 8 - b // 8) < 3:
            b = free[rng.below(len(free))]
        me = Fighter(a, rng.between(120, 255), rng.between(8, 15), rng.between(20, 100), rng.between(20, 60))
        foe = Fighter(b, rng.between(120, 255), rng.between(8, 15), rng.between(20, 100), rng.between(20, 60))
        for turn in range(MAX_TURNS):
            if me.hp <= 0 or foe.hp <= 0:
                break
            rows.append((battle, turn, Board(tuple(tiles), me.pos, foe.pos, me.creature(), foe.creature())))
            _act(rng, tiles, me, foe)
            if foe.hp > 0:
                _act(rng, tiles, foe, me)
    return rows


def render() -> str:
    """The CSV text of battles.csv."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=["battle_id", "turn", *COLUMNS], lineterminator="\n")
    writer.writeheader()
    for battle, turn, board in battles():
        writer.writerow({"battle_id": battle, "turn": turn, **board_to_fields(board)})
    return buf.getvalue()


if __name__ == "__main__":
    sys.stdout.write(render())
