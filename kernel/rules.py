"""Combat rules, the action appendage and the training labels (SPEC §5 and §9).

Pure integer functions of a Board. The battle simulator plays two policies under the
turn order of SPEC §9.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Final
from collections.abc import Callable

from kernel.board import (
    ACT_ATTACK,
    ACT_BLOCK,
    ACT_MOVE,
    ACT_NONE,
    ACT_REST,
    BOARD_SIZE,
    MAX_STAMINA,
    N_TILES,
    TEMP_DEF_CAP,
    TEMP_DEF_STEP,
    WALL,
    HAZARD,
    Board,
)

# Directions in tie-break order: N (y-1), S (y+1), E (x+1), W (x-1).
DIRS: Final = ((0, -1), (0, 1), (1, 0), (-1, 0))
NO_MOVE: Final = -1

MAX_POWER: Final = 15
ATK_SCALE: Final = 64  # Q8 logit per unit of attack power: label 15 -> target 960
MAX_TURNS: Final = 60
HAZARD_STAMINA: Final = 2
REST_STAMINA: Final = 4
UNREACHABLE: Final = 255


def neighbor(pos: int, d: int) -> int:
    """Tile index one step in direction d from pos, or -1 when that leaves the board."""
    x, y = pos % BOARD_SIZE + DIRS[d][0], pos // BOARD_SIZE + DIRS[d][1]
    if 0 <= x < BOARD_SIZE and 0 <= y < BOARD_SIZE:
        return y * BOARD_SIZE + x
    return -1


def adjacent(a: int, b: int) -> bool:
    """True when tiles a and b share an edge."""
    ax, ay, bx, by = a % BOARD_SIZE, a // BOARD_SIZE, b % BOARD_SIZE, b // BOARD_SIZE
    return abs(ax - bx) + abs(ay - by) == 1


def damage(power: int, defense: int, crit: int) -> int:
    """power*256 // (256 + defense), doubled on crit (multiply first, then floor)."""
    d = (power * 256) // (256 + defense)
    return d * 2 if crit else d


def distance_field(tiles: tuple[int, ...], target: int) -> list[int]:
    """Shortest-path step counts to ``target`` over non-WALL tiles (4-neighbour), 255 = unreachable."""
    dist = [UNREACHABLE] * N_TILES
    dist[target] = 0
    queue = deque([target])
    while queue:
        p = queue.popleft()
        nd = dist[p] + 1
        for d in range(4):
            q = neighbor(p, d)
            if q >= 0 and dist[q] == UNREACHABLE and tiles[q] != WALL:
                dist[q] = nd
                queue.append(q)
    return dist


def move_label(board: Board) -> int:
    """The A* (shortest-path) first step toward the enemy, N/S/E/W tie-break; NO_MOVE when none.

    NO_MOVE when the creatures are already adjacent or the enemy cannot be reached.
    """
    dist = distance_field(board.tiles, board.enemy_pos)
    here = dist[board.self_pos]
    if here == UNREACHABLE or here <= 1:
        return NO_MOVE
    for d in range(4):
        q = neighbor(board.self_pos, d)
        if q >= 0 and board.tiles[q] != WALL and dist[q] == here - 1:
            return d
    raise AssertionError("a reachable tile always has a neighbour one step closer")


def expected_damage(board: Board) -> int:
    """Damage self would deal now at full power: 0 unless adjacent with stamina left."""
    if not adjacent(board.self_pos, board.enemy_pos) or board.me.stamina == 0:
        return 0
    return damage(MAX_POWER, board.enemy.defense + board.enemy.temp_def, board.me.crit)


def max_damage(board: Board) -> int:
    """The most self could deal this turn: full power against zero defense, with self's crit."""
    return damage(MAX_POWER, 0, board.me.crit)


def attack_label(board: Board) -> int:
    """expected_damage * 15 // max_damage, an integer 0..15 (max_damage is 15 or 30, never 0)."""
    return expected_damage(board) * MAX_POWER // max_damage(board)


def enemy_attack(board: Board) -> int:
    """Damage the enemy could deal to self now at full power against self's base defense."""
    if not adjacent(board.self_pos, board.enemy_pos) or board.enemy.stamina == 0:
        return 0
    return damage(MAX_POWER, board.me.defense, board.enemy.crit)


def block_label(board: Board) -> int:
    """1 when temp_def < 0.8 * enemy_atk, i.e. 5*temp_def < 4*enemy_atk."""
    return 1 if 5 * board.me.temp_def < 4 * enemy_attack(board) else 0


@dataclass(frozen=True, slots=True)
class Labels:
    """The three training labels of one board."""

    move: int  # 0..3 or NO_MOVE
    attack: int  # 0..15
    block: int  # 0 or 1


def labels(board: Board) -> Labels:
    """All labels of a board (SPEC §5)."""
    return Labels(move_label(board), attack_label(board), block_label(board))


# ---------------------------------------------------------------- actions and battles


@dataclass(frozen=True, slots=True)
class Action:
    """What a creature does in a turn."""

    kind: int  # ACT_MOVE, ACT_ATTACK, ACT_BLOCK or ACT_REST
    direction: int = NO_MOVE  # for ACT_MOVE
    power: int = 0  # for ACT_ATTACK, 0..15


def decode_power(atk_logit: int) -> int:
    """Attack power 0..15 of the Q8 atk_power logit: round(atk / ATK_SCALE) saturated."""
    return min(max((atk_logit + ATK_SCALE // 2) // ATK_SCALE, 0), MAX_POWER)


def appendage(board: Board, logits: list[int]) -> Action:
    """Map the six Q8 logits to a legal action for ``board.me`` (SPEC §9.2)."""
    move_logits, atk, blk = logits[:4], logits[4], logits[5]
    block_flag = blk > 0
    if board.me.stamina == 0:
        return Action(ACT_BLOCK) if block_flag else Action(ACT_REST)
    power = decode_power(atk)
    if adjacent(board.self_pos, board.enemy_pos) and power >= 1:
        return Action(ACT_ATTACK, power=power)
    if block_flag:
        return Action(ACT_BLOCK)
    best = 0
    for d in range(1, 4):
        if move_logits[d] > move_logits[best]:
            best = d
    return Action(ACT_MOVE, direction=best)


def mirror(board: Board) -> Board:
    """The same board seen from the enemy's side."""
    return replace(board, self_pos=board.enemy_pos, enemy_pos=board.self_pos, me=board.enemy, enemy=board.me)


Policy = Callable[[Board], Action]


@dataclass(frozen=True, slots=True)
class BattleResult:
    """Outcome of a battle: winner 0 (first policy), 1 (second) or -1 (draw)."""

    winner: int
    turns: int
    final: Board


def _legal(board: Board, a: Action) -> Action:
    """Replace an illegal action by REST (exhausted creatures may only BLOCK or REST)."""
    if board.me.stamina == 0 and a.kind not in (ACT_BLOCK, ACT_REST):
        return Action(ACT_REST)
    if a.kind == ACT_ATTACK and not 0 <= a.power <= MAX_POWER:
        return Action(ACT_REST)
    if a.kind == ACT_MOVE and a.direction not in (0, 1, 2, 3):
        return Action(ACT_REST)
    return a


def start_turn(board: Board, crit_rolls: tuple[int, int]) -> Board:
    """Start of a turn (SPEC §9.1 steps 1-2): stamina cost of last turn's attack or block, crit rolls."""
    cs = []
    for c, roll in ((board.me, crit_rolls[0]), (board.enemy, crit_rolls[1])):
        if c.last_action in (ACT_ATTACK, ACT_BLOCK):
            c = replace(c, stamina=max(0, c.stamina - 1))
        cs.append(replace(c, crit=roll))
    return replace(board, me=cs[0], enemy=cs[1])


def resolve_turn(board: Board, act0: Action, act1: Action) -> Board:
    """Resolve the actions of a started turn (SPEC §9.1 steps 3-7). act0 is board.me's."""
    cs = [board.me, board.enemy]
    pos = [board.self_pos, board.enemy_pos]
    acts = [_legal(board, act0), _legal(mirror(board), act1)]
    # 3. blocks, 4. rests
    for i in (0, 1):
        if acts[i].kind == ACT_BLOCK:
            cs[i] = replace(cs[i], temp_def=min(TEMP_DEF_CAP, cs[i].temp_def + TEMP_DEF_STEP))
        elif acts[i].kind == ACT_REST:
            cs[i] = replace(cs[i], stamina=min(MAX_STAMINA, cs[i].stamina + REST_STAMINA))
    # 5. movement, first creature first; WALL, the edge or the other creature cancels
    for i in (0, 1):
        if acts[i].kind != ACT_MOVE:
            continue
        q = neighbor(pos[i], acts[i].direction)
        if q < 0 or board.tiles[q] == WALL or q == pos[1 - i]:
            continue
        pos[i] = q
        if board.tiles[q] == HAZARD:
            cs[i] = replace(cs[i], stamina=max(0, cs[i].stamina - HAZARD_STAMINA))
    # 6. attacks, first creature first; a defeated creature does not strike back
    for i in (0, 1):
        j = 1 - i
        if acts[i].kind != ACT_ATTACK or cs[i].hp == 0 or not adjacent(pos[i], pos[j]):
            continue
        dmg = damage(acts[i].power, cs[j].defense + cs[j].temp_def, cs[i].crit)
        cs[j] = replace(cs[j], hp=max(0, cs[j].hp - dmg), temp_def=0)
        cs[i] = replace(cs[i], crit=0)
    # 7. remember the actions
    cs = [replace(cs[i], last_action=acts[i].kind) for i in (0, 1)]
    return replace(board, self_pos=pos[0], enemy_pos=pos[1], me=cs[0], enemy=cs[1])


def battle(start: Board, policy0: Policy, policy1: Policy, crit_stream: Callable[[], int]) -> BattleResult:
    """Play up to MAX_TURNS turns; policy0 controls ``start.me``, policy1 sees the mirrored board.

    crit_stream yields 64-bit values; each turn draws one per creature (first creature
    first) and a creature crits when the top three bits are zero (1 in 8).
    """
    board = start
    for turn in range(1, MAX_TURNS + 1):
        rolls = (1 if crit_stream() >> 61 == 0 else 0, 1 if crit_stream() >> 61 == 0 else 0)
        board = start_turn(board, rolls)
        board = resolve_turn(board, policy0(board), policy1(mirror(board)))
        if board.enemy.hp == 0:
            return BattleResult(0, turn, board)
        if board.me.hp == 0:
            return BattleResult(1, turn, board)
    if board.me.hp != board.enemy.hp:
        return BattleResult(0 if board.me.hp > board.enemy.hp else 1, MAX_TURNS, board)
    return BattleResult(-1, MAX_TURNS, board)


__all__ = [
    "ACT_NONE",
    "ACT_MOVE",
    "Action",
    "BattleResult",
    "Labels",
    "appendage",
    "attack_label",
    "battle",
    "block_label",
    "damage",
    "distance_field",
    "labels",
    "move_label",
    "resolve_turn",
    "start_turn",
]
