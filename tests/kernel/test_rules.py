"""Properties of the combat rules and the labels (SPEC §5, §9)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.board import (ACT_ATTACK, ACT_BLOCK, ACT_MOVE, ACT_REST, EMPTY, HAZARD, MAX_STAMINA, N_TILES, TEMP_DEF_CAP,
                          WALL, Board, Creature)
from kernel.prng import SplitMix64Stream
from kernel.rules import (MAX_TURNS, NO_MOVE, UNREACHABLE, Action, Policy, adjacent, attack_label, battle, block_label, damage,
                          distance_field, move_label, neighbor, resolve_turn, start_turn)
from kernel.sources import draw_board
from tests.kernel import strategies

creatures = strategies.creatures(temp_def=st.sampled_from([0, 32, 64, 96]))
boards = strategies.boards(creatures)


actions = st.one_of(
    st.builds(Action, st.just(ACT_MOVE), st.integers(0, 3)),
    st.builds(Action, st.just(ACT_ATTACK), st.just(-1), st.integers(0, 15)),
    st.just(Action(ACT_BLOCK)),
    st.just(Action(ACT_REST)),
)


@given(st.integers(0, 15), st.integers(0, 255 + 96), st.integers(0, 1))
def test_damage_never_negative_and_bounded(power: int, defense: int, crit: int) -> None:
    d = damage(power, defense, crit)
    assert 0 <= d <= power * (2 if crit else 1)
    assert d == (power * 256 // (256 + defense)) * (1 + crit)


def test_damage_table() -> None:
    assert damage(15, 0, 0) == 15
    assert damage(15, 0, 1) == 30
    assert damage(15, 256, 0) == 7  # 3840 // 512
    assert damage(1, 1, 0) == 0  # 256 // 257 floors to zero
    assert damage(10, 32, 0) == 8  # 2560 // 288 = 8.88 floored


@settings(max_examples=200)
@given(boards(), actions, actions, st.integers(0, 1), st.integers(0, 1))
def test_turn_keeps_every_field_in_range(board: Board, a0: Action, a1: Action, r0: int, r1: int) -> None:
    after = resolve_turn(start_turn(board, (r0, r1)), a0, a1)
    for c in (after.me, after.enemy):
        assert 0 <= c.stamina <= MAX_STAMINA
        assert 0 <= c.temp_def <= TEMP_DEF_CAP
        assert 0 <= c.hp <= 255
    assert after.self_pos != after.enemy_pos
    assert after.tiles[after.self_pos] != WALL and after.tiles[after.enemy_pos] != WALL


@given(boards())
def test_block_caps_temp_def(board: Board) -> None:
    b = board
    for _ in range(5):
        b = resolve_turn(start_turn(b, (0, 0)), Action(ACT_BLOCK), Action(ACT_REST))
    assert b.me.temp_def == TEMP_DEF_CAP


@given(boards())
def test_exhausted_creature_can_only_block_or_rest(board: Board) -> None:
    tired = replace(board, me=replace(board.me, stamina=0, last_action=ACT_REST))
    after = resolve_turn(start_turn(tired, (0, 0)), Action(ACT_MOVE, 0), Action(ACT_REST))
    assert after.self_pos == tired.self_pos  # the move was refused and turned into a rest
    assert after.me.last_action == ACT_REST


def test_hazard_costs_two_stamina_and_wall_cancels() -> None:
    tiles = [EMPTY] * N_TILES
    tiles[1] = HAZARD
    tiles[8] = WALL
    fresh = Creature(100, 10, 0, 0, 0, 0)
    board = Board(tuple(tiles), 0, 63, fresh, fresh)
    moved = resolve_turn(start_turn(board, (0, 0)), Action(ACT_MOVE, 2), Action(ACT_REST))  # east onto the hazard
    assert moved.self_pos == 1 and moved.me.stamina == 8
    blocked = resolve_turn(start_turn(board, (0, 0)), Action(ACT_MOVE, 1), Action(ACT_REST))  # south into the wall
    assert blocked.self_pos == 0 and blocked.me.stamina == 10


def test_block_lasts_one_hit() -> None:
    fresh = Creature(100, 10, 0, 0, 0, 0)
    board = Board(tuple([EMPTY] * N_TILES), 0, 1, fresh, fresh)
    b = resolve_turn(start_turn(board, (0, 0)), Action(ACT_REST), Action(ACT_BLOCK))
    assert b.enemy.temp_def == 32
    b = resolve_turn(start_turn(b, (0, 0)), Action(ACT_ATTACK, power=15), Action(ACT_REST))
    assert b.enemy.hp == 100 - damage(15, 32, 0) and b.enemy.temp_def == 0


def fighter(b: Board) -> Action:
    """Attack at full power when adjacent, else take the move label's step, else rest."""
    if b.me.stamina > 0 and adjacent(b.self_pos, b.enemy_pos):
        return Action(ACT_ATTACK, power=15)
    d = move_label(b)
    return Action(ACT_MOVE, d) if d != NO_MOVE and b.me.stamina > 0 else Action(ACT_REST)


def guard(b: Board) -> Action:
    """Attack at full power when adjacent, else block."""
    return Action(ACT_ATTACK, power=15) if adjacent(b.self_pos, b.enemy_pos) else Action(ACT_BLOCK)


@settings(max_examples=60, deadline=None)
@given(boards(), st.integers(0, 2**64 - 1), st.sampled_from([fighter, guard]))
def test_battle_ends_within_turn_limit(board: Board, seed: int, opponent: Policy) -> None:
    rng = SplitMix64Stream(seed)
    draws = 0

    def crit() -> int:
        nonlocal draws
        draws += 1
        return rng.next()

    result = battle(board, fighter, opponent, crit)
    me, enemy = result.final.me, result.final.enemy
    assert 1 <= result.turns <= 60 and draws == 2 * result.turns  # SPEC §9.1: 60 turns, one crit draw per creature
    if result.turns < 60:  # only a knockout ends a battle early
        assert (result.winner, enemy.hp, me.hp > 0) == (0, 0, True) or (result.winner, me.hp, enemy.hp > 0) == (1, 0, True)
    elif min(me.hp, enemy.hp) > 0:
        assert result.winner == (-1 if me.hp == enemy.hp else 0 if me.hp > enemy.hp else 1)


def test_fighters_knock_each_other_out_on_an_open_board() -> None:
    fresh = Creature(100, 15, 0, 0, 0, 0)
    result = battle(Board(tuple([EMPTY] * N_TILES), 0, 63, fresh, fresh), fighter, guard, SplitMix64Stream(7).next)
    assert result.turns < MAX_TURNS and result.winner in (0, 1)
    assert min(result.final.me.hp, result.final.enemy.hp) == 0


@settings(max_examples=300)
@given(boards())
def test_move_label_is_legal_and_on_a_shortest_path(board: Board) -> None:
    d = move_label(board)
    dist = distance_field(board.tiles, board.enemy_pos)
    here = dist[board.self_pos]
    if d == NO_MOVE:
        assert here == UNREACHABLE or here <= 1
        return
    q = neighbor(board.self_pos, d)
    assert q >= 0 and board.tiles[q] != WALL
    assert dist[q] == here - 1
    # tie-break: no earlier direction is also on a shortest path
    for e in range(d):
        r = neighbor(board.self_pos, e)
        assert r < 0 or board.tiles[r] == WALL or dist[r] != here - 1


@given(boards())
def test_attack_and_block_labels_in_range(board: Board) -> None:
    assert 0 <= attack_label(board) <= 15
    assert block_label(board) in (0, 1)
    if not adjacent(board.self_pos, board.enemy_pos):
        assert attack_label(board) == 0 and block_label(board) == 0


@given(st.integers(0, 2**64 - 1))
def test_drawn_boards_are_valid(key: int) -> None:
    draw_board(key, None).validate()


# ---------------------------------------------------------------- §5.2 by hand

def _creature(**kw: int) -> Creature:
    base = {"hp": 100, "stamina": 15, "defense": 0, "temp_def": 0, "crit": 0, "last_action": 0}
    return Creature(**{**base, **kw})


def test_off_board_neighbours_are_minus_one_and_unreachable_tiles_read_255() -> None:
    assert [neighbor(0, d) for d in range(4)] == [-1, 8, 1, -1]  # N, S, E, W of the north-west corner
    assert [neighbor(63, d) for d in range(4)] == [55, -1, -1, 62]
    tiles = tuple(WALL if i % 8 == 4 else EMPTY for i in range(N_TILES))  # column x=4 cuts the board in two
    dist = distance_field(tiles, 0)
    assert dist[0] == 0 and dist[3] == 3 and dist[59] == 10  # (3,7): 3 east + 7 south
    assert dist[4] == 255 and dist[5] == 255 and dist[63] == 255  # walls and the far side: 255 (SPEC §5.2)


@pytest.mark.parametrize(("me", "enemy", "label"), [
    # enemy_atk = damage(15, self.defense, enemy.crit); label 1 iff 5 * temp_def < 4 * enemy_atk
    ({}, {}, 1),  # 0 < 60
    ({"temp_def": 32}, {"crit": 1}, 0),  # 160 < 120 fails
    ({"defense": 255}, {}, 1),  # enemy_atk = 3840 // 511 = 7: 0 < 28
    ({}, {"stamina": 0}, 0),  # an exhausted enemy cannot attack: 0 < 0 fails
    ({"temp_def": 20}, {"crit": 1}, 1),  # a dataset record may hold any temp_def in 0..96: 100 < 120
    ({"temp_def": 24}, {"crit": 1}, 0),  # 120 < 120 fails: the comparison is strict
])
def test_block_label_by_hand(me: dict[str, int], enemy: dict[str, int], label: int) -> None:
    assert block_label(Board(tuple([EMPTY] * N_TILES), 9, 10, _creature(**me), _creature(**enemy))) == label
    assert block_label(Board(tuple([EMPTY] * N_TILES), 9, 11, _creature(**me), _creature(**enemy))) == 0  # not adjacent


@pytest.mark.parametrize(("me", "enemy", "label"), [
    # expected_damage * 15 // max_damage, max_damage = 15 (30 with crit)
    ({}, {}, 15),
    ({}, {"defense": 64, "temp_def": 64}, 10),  # 3840 // 384 = 10
    ({"crit": 1}, {"defense": 64, "temp_def": 64}, 10),  # 20 * 15 // 30
    ({}, {"defense": 255, "temp_def": 96}, 6),  # 3840 // 607 = 6
    ({"crit": 1}, {"defense": 200}, 8),  # 3840 // 456 = 8, doubled 16: 16 * 15 // 30 = 8
    ({"stamina": 0}, {}, 0),
])
def test_attack_label_by_hand(me: dict[str, int], enemy: dict[str, int], label: int) -> None:
    assert attack_label(Board(tuple([EMPTY] * N_TILES), 9, 10, _creature(**me), _creature(**enemy))) == label
    assert attack_label(Board(tuple([EMPTY] * N_TILES), 9, 18, _creature(**me), _creature(**enemy))) == 0  # diagonal
