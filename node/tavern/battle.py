"""The battle viewer's data: one seeded battle of a trained beast against its untrained self, turn by turn.

Battle ``i`` is the ``i``-th battle of ``kernel.evaluate.win_rate`` (same seeded stream of starts and
crit rolls, same alternation of sides: the trained beast moves first in even battles), so the viewer
shows exactly the battles the win rate counts. The turns are played with ``kernel.rules.start_turn``
and ``resolve_turn``, as ``kernel.rules.battle`` plays them; tests check both reach the same end.
Not consensus code: nothing here is hashed.
"""

from __future__ import annotations

from typing import Any, Final

from kernel.board import ACT_ATTACK, ACT_BLOCK, ACT_MOVE, ACT_NONE, ACT_REST, BOARD_SIZE, Board, Creature
from kernel.state import KernelState

MAX_BATTLE_INDEX: Final = 999  # battles 0..999: the stream is replayed from its start for each request
ACTION_NAMES: Final = {ACT_NONE: "none", ACT_MOVE: "move", ACT_ATTACK: "attack", ACT_BLOCK: "block", ACT_REST: "rest"}
DIRECTION_NAMES: Final = ("N", "S", "E", "W")


def battle_setup(index: int) -> tuple[Board, Any]:
    """The start board and the crit stream of battle ``index`` of kernel.evaluate.win_rate."""
    from kernel.evaluate import BATTLE_TAG, battle_start
    from kernel.hashing import keccak256
    from kernel.prng import SplitMix64Stream, fold64

    rng = SplitMix64Stream(fold64(keccak256(BATTLE_TAG)))
    for _ in range(index):
        battle_start(rng)
        rng.next()
    start = battle_start(rng)
    return start, SplitMix64Stream(rng.next())


def _creature(c: Creature, pos: int) -> dict[str, int]:
    return {"pos": pos, "x": pos % BOARD_SIZE, "y": pos // BOARD_SIZE, "hp": c.hp, "stamina": c.stamina,
            "defense": c.defense, "tempDef": c.temp_def, "crit": c.crit}


def _action(a: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": ACTION_NAMES.get(a.kind, str(a.kind))}
    if a.kind == ACT_MOVE:
        out["direction"] = DIRECTION_NAMES[a.direction] if 0 <= a.direction < 4 else str(a.direction)
    if a.kind == ACT_ATTACK:
        out["power"] = a.power
    return out


def battle_turns(trained: KernelState, untrained: KernelState, index: int) -> dict[str, Any]:
    """Battle ``index`` (0..MAX_BATTLE_INDEX) of ``trained`` against ``untrained``, every turn recorded.

    ``sides[k]`` names who plays creature k (creature 0 is the start board's ``me``); each turn holds
    both creatures after the turn and the action each chose. ``winner`` is "trained", "untrained" or "draw".
    """
    from kernel.evaluate import logits
    from kernel.rules import MAX_TURNS, appendage, mirror, resolve_turn, start_turn

    if not 0 <= index <= MAX_BATTLE_INDEX:
        raise ValueError(f"battle index must be 0..{MAX_BATTLE_INDEX}, got {index}")
    start, crit = battle_setup(index)
    sides = ("trained", "untrained") if index % 2 == 0 else ("untrained", "trained")
    states = {"trained": trained, "untrained": untrained}
    p0, p1 = states[sides[0]], states[sides[1]]
    board = start
    turns: list[dict[str, Any]] = []
    winner = -1
    for turn in range(1, MAX_TURNS + 1):
        rolls = (1 if crit.next() >> 61 == 0 else 0, 1 if crit.next() >> 61 == 0 else 0)
        board = start_turn(board, rolls)
        a0 = appendage(board, logits(p0, board))
        seen = mirror(board)
        a1 = appendage(seen, logits(p1, seen))
        board = resolve_turn(board, a0, a1)
        turns.append({"turn": turn, "creatures": [_creature(board.me, board.self_pos), _creature(board.enemy, board.enemy_pos)],
                      "actions": [_action(a0), _action(a1)]})
        if board.enemy.hp == 0:
            winner = 0
            break
        if board.me.hp == 0:
            winner = 1
            break
    else:
        if board.me.hp != board.enemy.hp:
            winner = 0 if board.me.hp > board.enemy.hp else 1
    return {
        "index": index, "size": BOARD_SIZE, "tiles": list(start.tiles), "sides": list(sides),
        "start": [_creature(start.me, start.self_pos), _creature(start.enemy, start.enemy_pos)],
        "turns": turns, "winner": sides[winner] if winner >= 0 else "draw",
        "tileCodes": {"0": "empty", "1": "wall", "2": "hazard"},
    }


__all__ = ["MAX_BATTLE_INDEX", "battle_setup", "battle_turns"]
