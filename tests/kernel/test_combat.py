"""SPEC §9 combat, checked against values worked out by hand from the SPEC text.

Each expected number below comes from the SPEC's rules (§9.1 a turn, §9.2 the appendage,
victory), never from calling the code under test: a change to the turn order, the
appendage's clamp, rounding or tie rule, the crit roll, the turn limit or the winner rule
fails here even where the committed vectors (which never play a battle) stay green.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kernel.board import ACT_ATTACK, ACT_BLOCK, ACT_MOVE, ACT_NONE, ACT_REST, EMPTY, HAZARD, N_TILES, WALL, Board, Creature
from kernel.rules import Action, appendage, battle, decode_power, resolve_turn, start_turn

# Directions as SPEC §5.2 numbers them.
N, S, E, W = 0, 1, 2, 3
NO_CRIT = 2**64 - 1  # top three bits set: never a crit
CRIT = 2**61 - 1  # top three bits clear: a crit (the largest such draw)

OPEN = tuple([EMPTY] * N_TILES)


def fresh(hp: int = 100, stamina: int = 15, defense: int = 0, temp_def: int = 0, crit: int = 0,
          last_action: int = ACT_NONE) -> Creature:
    return Creature(hp=hp, stamina=stamina, defense=defense, temp_def=temp_def, crit=crit, last_action=last_action)


def board(self_pos: int, enemy_pos: int, me: Creature | None = None, enemy: Creature | None = None,
          tiles: tuple[int, ...] = OPEN) -> Board:
    b = Board(tiles, self_pos, enemy_pos, me or fresh(), enemy or fresh())
    b.validate()
    return b


def turn(b: Board, a0: Action, a1: Action, rolls: tuple[int, int] = (0, 0)) -> Board:
    return resolve_turn(start_turn(b, rolls), a0, a1)


def stream(*values: int, then: int = NO_CRIT) -> tuple[Callable[[], int], list[int]]:
    """A crit stream yielding ``values`` then ``then`` forever; the list records every draw."""
    drawn: list[int] = []
    it: Iterator[int] = iter(values)

    def nxt() -> int:
        v = next(it, then)
        drawn.append(v)
        return v

    return nxt, drawn


REST = Action(ACT_REST)
BLOCK = Action(ACT_BLOCK)


def attack(power: int) -> Action:
    return Action(ACT_ATTACK, power=power)


def move(d: int) -> Action:
    return Action(ACT_MOVE, direction=d)


def always(a: Action) -> Callable[[Board], Action]:
    return lambda _b: a


def attack_while_able(power: int) -> Callable[[Board], Action]:
    """Attack at ``power`` whenever stamina allows, else rest."""
    return lambda b: attack(power) if b.me.stamina > 0 else REST


# ---------------------------------------------------------------- §9.2 decode_power

@pytest.mark.parametrize(("z4", "power"), [
    # clamp((z4 + 32) // 64, 0, 15): round half up, saturate at both ends
    (0, 0), (31, 0), (32, 1), (95, 1), (96, 2), (64, 1), (63, 1),
    (-32, 0), (-33, 0), (-64, 0), (-10**6, 0),
    (927, 14), (928, 15), (959, 15), (960, 15), (991, 15), (992, 15), (10**6, 15),
    (14 * 64 + 31, 14), (14 * 64 + 32, 15), (5 * 64 - 33, 4), (5 * 64 - 32, 5),
])
def test_decode_power_rounds_half_up_and_clamps(z4: int, power: int) -> None:
    assert decode_power(z4) == power


# ---------------------------------------------------------------- §9.2 appendage

ADJ = board(9, 10)  # (1,1) and (2,1): adjacent
FAR = board(9, 12)  # (1,1) and (4,1): three apart


def logits(move: tuple[int, int, int, int] = (0, 0, 0, 0), atk: int = 0, blk: int = 0) -> list[int]:
    return [*move, atk, blk]


def test_exhausted_creature_blocks_or_rests_whatever_else_the_net_says() -> None:
    tired = board(9, 10, me=fresh(stamina=0))
    assert appendage(tired, logits(atk=960, blk=1)) == BLOCK
    assert appendage(tired, logits(move=(0, 0, 900, 0), atk=960, blk=0)) == REST  # z5 = 0 is not > 0
    assert appendage(tired, logits(atk=960, blk=-5)) == REST
    far_tired = board(9, 12, me=fresh(stamina=0))
    assert appendage(far_tired, logits(move=(0, 0, 900, 0), blk=0)) == REST


def test_adjacent_attack_needs_power_one_and_beats_the_block_flag() -> None:
    assert appendage(ADJ, logits(atk=32, blk=100)) == attack(1)  # (32 + 32) // 64 = 1
    assert appendage(ADJ, logits(atk=960, blk=100)) == attack(15)
    assert appendage(ADJ, logits(atk=2000)) == attack(15)
    assert appendage(ADJ, logits(atk=300)) == attack(5)  # 332 // 64 = 5
    # power 0 does not attack: the block flag, else a move
    assert appendage(ADJ, logits(atk=31, blk=1)) == BLOCK
    assert appendage(ADJ, logits(move=(0, 7, 0, 0), atk=31, blk=0)) == move(S)
    assert appendage(ADJ, logits(move=(0, 7, 0, 0), atk=-500, blk=0)) == move(S)


def test_not_adjacent_never_attacks() -> None:
    assert appendage(FAR, logits(atk=960, blk=1)) == BLOCK
    assert appendage(FAR, logits(move=(0, 0, 0, 3), atk=960, blk=0)) == move(W)
    # diagonal is not adjacent (Manhattan distance 2)
    assert appendage(board(9, 18), logits(move=(0, 0, 5, 0), atk=960, blk=0)) == move(E)


@pytest.mark.parametrize(("z", "d"), [
    ((5, 5, 5, 5), N),  # all tied: the lowest index
    ((1, 7, 7, 0), S),
    ((0, 0, 3, 3), E),
    ((-1, -2, -3, 0), W),
    ((9, 1, 9, 1), N),
    ((-9, -4, -4, -4), S),
    ((0, 1, 2, 3), W),
    ((3, 2, 1, 0), N),
])
def test_move_is_the_argmax_with_the_lowest_index_on_ties(z: tuple[int, int, int, int], d: int) -> None:
    assert appendage(FAR, logits(move=z, blk=0)) == move(d)
    assert appendage(FAR, logits(move=z, blk=-1)) == move(d)


def test_block_flag_is_strictly_positive() -> None:
    assert appendage(FAR, logits(move=(0, 0, 1, 0), blk=0)) == move(E)
    assert appendage(FAR, logits(move=(0, 0, 1, 0), blk=1)) == BLOCK


# ---------------------------------------------------------------- §9.1 start of turn

@pytest.mark.parametrize(("last", "stamina", "after"), [
    (ACT_ATTACK, 5, 4), (ACT_BLOCK, 5, 4), (ACT_MOVE, 5, 5), (ACT_REST, 5, 5), (ACT_NONE, 5, 5),
    (ACT_ATTACK, 0, 0), (ACT_BLOCK, 1, 0), (ACT_ATTACK, 15, 14),
])
def test_start_of_turn_costs_one_stamina_after_attack_or_block(last: int, stamina: int, after: int) -> None:
    b = board(0, 63, me=fresh(stamina=stamina, last_action=last), enemy=fresh(stamina=stamina, last_action=last))
    started = start_turn(b, (0, 0))
    assert started.me.stamina == after and started.enemy.stamina == after


def test_start_of_turn_replaces_the_crit_flags_creature_0_first() -> None:
    b = board(0, 63, me=fresh(crit=1), enemy=fresh(crit=0))
    started = start_turn(b, (0, 1))
    assert (started.me.crit, started.enemy.crit) == (0, 1)
    started = start_turn(b, (1, 0))
    assert (started.me.crit, started.enemy.crit) == (1, 0)


# ---------------------------------------------------------------- §9.1 block, rest, legality

def test_block_and_rest_amounts_and_caps() -> None:
    b = board(0, 63, me=fresh(stamina=3, temp_def=64), enemy=fresh(stamina=12, temp_def=0))
    after = turn(b, BLOCK, REST)
    assert after.me.temp_def == 96 and after.me.stamina == 3  # 64 + 32; block costs only next turn
    assert after.enemy.stamina == 15 and after.enemy.temp_def == 0  # min(15, 12 + 4)
    after = turn(board(0, 63, me=fresh(stamina=3, temp_def=96)), REST, BLOCK)
    assert after.me.stamina == 7 and after.me.temp_def == 96  # 3 + 4; the block bonus stays until hit
    assert after.enemy.temp_def == 32
    assert (after.me.last_action, after.enemy.last_action) == (ACT_REST, ACT_BLOCK)
    assert turn(board(0, 63, me=fresh(temp_def=96)), BLOCK, REST).me.temp_def == 96  # min(96, 128)


@pytest.mark.parametrize("bad", [attack(16), attack(-1), move(4), move(-1)])
def test_illegal_actions_become_rest_for_either_creature(bad: Action) -> None:
    b = board(9, 10, me=fresh(stamina=2), enemy=fresh(stamina=2))
    after = turn(b, bad, bad)
    assert (after.self_pos, after.enemy_pos) == (9, 10)
    assert after.me.hp == after.enemy.hp == 100
    assert after.me.stamina == after.enemy.stamina == 6
    assert after.me.last_action == after.enemy.last_action == ACT_REST


def test_exhausted_second_creature_cannot_attack() -> None:
    b = board(9, 10, me=fresh(), enemy=fresh(stamina=0))
    after = turn(b, REST, attack(15))
    assert after.me.hp == 100 and after.enemy.stamina == 4 and after.enemy.last_action == ACT_REST


# ---------------------------------------------------------------- §9.1 movement order

def test_both_into_one_tile_creature_0_gets_it() -> None:
    after = turn(board(0, 2), move(E), move(W))
    assert (after.self_pos, after.enemy_pos) == (1, 2)


def test_creature_1_may_step_into_the_tile_creature_0_left() -> None:
    after = turn(board(1, 2), move(W), move(W))
    assert (after.self_pos, after.enemy_pos) == (0, 1)


def test_creature_0_cannot_step_into_the_tile_creature_1_is_about_to_leave() -> None:
    after = turn(board(1, 2), move(E), move(E))
    assert (after.self_pos, after.enemy_pos) == (1, 3)


def test_moves_off_the_board_or_into_a_wall_cancel() -> None:
    tiles = list(OPEN)
    tiles[1] = WALL
    b = board(0, 63, tiles=tuple(tiles))
    assert turn(b, move(N), move(S)).self_pos == 0 and turn(b, move(N), move(S)).enemy_pos == 63
    assert turn(b, move(W), move(E)).self_pos == 0 and turn(b, move(W), move(E)).enemy_pos == 63
    assert turn(b, move(E), REST).self_pos == 0
    assert turn(b, move(S), move(N)).self_pos == 8 and turn(b, move(S), move(N)).enemy_pos == 55


# ---------------------------------------------------------------- §9.1 attacks

def test_a_hazard_costs_two_stamina_down_to_zero() -> None:
    tiles = list(OPEN)
    tiles[1] = HAZARD
    after = turn(board(0, 63, me=fresh(stamina=1), tiles=tuple(tiles)), move(E), REST)
    assert after.self_pos == 1 and after.me.stamina == 0  # max(0, 1 - 2)
    after = turn(board(0, 63, me=fresh(stamina=5), tiles=tuple(tiles)), move(E), REST)
    assert after.me.stamina == 3


def test_attacks_resolve_after_movement() -> None:
    # enemy steps next to self, then self's attack (declared while apart) hits
    after = turn(board(0, 2), attack(15), move(W))
    assert after.enemy_pos == 1 and after.enemy.hp == 85
    # the enemy steps away: self's attack misses
    after = turn(board(0, 1), attack(15), move(E))
    assert after.enemy_pos == 2 and after.enemy.hp == 100


def test_creature_0_strikes_first_and_a_knocked_out_creature_does_not_strike_back() -> None:
    b = board(9, 10, me=fresh(hp=100), enemy=fresh(hp=15))
    after = turn(b, attack(15), attack(15))
    assert after.enemy.hp == 0 and after.me.hp == 100
    # neither falls: both hit
    after = turn(board(9, 10), attack(15), attack(10))
    assert after.enemy.hp == 85 and after.me.hp == 90
    # creature 1 knocks out creature 0 after being hit
    after = turn(board(9, 10, me=fresh(hp=10), enemy=fresh(hp=100)), attack(1), attack(15))
    assert after.enemy.hp == 99 and after.me.hp == 0


def test_damage_uses_defense_plus_block_and_the_hit_clears_the_block() -> None:
    b = board(9, 10, enemy=fresh(defense=64, temp_def=64))
    after = turn(b, attack(15), REST)
    assert after.enemy.hp == 100 - 10  # 15 * 256 // (256 + 128) = 3840 // 384 = 10
    assert after.enemy.temp_def == 0
    after = turn(after, attack(15), REST)
    assert after.enemy.hp == 90 - 12  # 3840 // 320 = 12


def test_crit_doubles_one_hit_and_is_cleared_by_it() -> None:
    b = board(9, 10)
    after = turn(b, attack(15), attack(7), rolls=(1, 1))
    assert after.enemy.hp == 70 and after.me.hp == 86  # 2 * 15, 2 * 7
    assert after.me.crit == 0 and after.enemy.crit == 0
    after = turn(b, attack(15), REST, rolls=(1, 1))
    assert after.me.crit == 0 and after.enemy.crit == 1  # the enemy did not attack: its crit is still there


def test_a_missed_attack_keeps_the_crit() -> None:
    after = turn(board(0, 2), attack(15), REST, rolls=(1, 0))
    assert after.enemy.hp == 100 and after.me.crit == 1


def test_an_attack_without_a_power_deals_nothing() -> None:
    after = turn(board(9, 10), Action(ACT_ATTACK), REST)  # Action's power defaults to 0
    assert after.enemy.hp == 100 and after.me.last_action == ACT_ATTACK


def test_hp_floors_at_zero() -> None:
    after = turn(board(9, 10, enemy=fresh(hp=7)), attack(15), REST, rolls=(1, 0))
    assert after.enemy.hp == 0


# ---------------------------------------------------------------- battles: winner, limit, crit stream

WALLED = tuple(WALL if i % 8 == 4 else EMPTY for i in range(N_TILES))  # column x=4 walls the board in two


def test_knockout_by_creature_0() -> None:
    crit, drawn = stream()
    r = battle(board(9, 10, enemy=fresh(hp=31)), always(attack(15)), always(REST), crit)
    assert (r.winner, r.turns) == (0, 3)  # 31 -> 16 -> 1 -> 0
    assert r.final.enemy.hp == 0 and r.final.me.hp == 100
    assert len(drawn) == 6  # one draw per creature per turn


def test_knockout_by_creature_1() -> None:
    crit, _ = stream()
    r = battle(board(9, 10, me=fresh(hp=30)), always(REST), always(attack(15)), crit)
    assert (r.winner, r.turns) == (1, 2)
    assert r.final.me.hp == 0 and r.final.enemy.hp == 100


def test_creature_0_striking_first_wins_an_even_exchange() -> None:
    crit, _ = stream()
    r = battle(board(9, 10, me=fresh(hp=15), enemy=fresh(hp=15)), always(attack(15)), always(attack(15)), crit)
    assert (r.winner, r.turns) == (0, 1)
    assert r.final.me.hp == 15


def test_sixty_turns_then_higher_hp_wins() -> None:
    # Power 1 against defense 0 deals 1. Attacking whenever stamina allows from 15: turns 1..15 attack
    # (stamina 15, then 14..1 after the start-of-turn cost), turn 16 rests (stamina 0 -> 4), then cycles
    # of four attacks and a rest: turns 17..56 are 8 cycles (32 hits), turns 57..60 four more hits.
    # 15 + 32 + 4 = 51 hits: enemy 100 -> 49 at the limit.
    crit, drawn = stream()
    r = battle(board(9, 10), attack_while_able(1), always(REST), crit)
    assert (r.winner, r.turns) == (0, 60)
    assert (r.final.me.hp, r.final.enemy.hp) == (100, 49)
    assert len(drawn) == 120
    crit, _ = stream()
    r = battle(board(9, 10), always(REST), attack_while_able(1), crit)
    assert (r.winner, r.turns) == (1, 60)
    assert (r.final.me.hp, r.final.enemy.hp) == (49, 100)


def test_sixty_turns_with_equal_hp_is_a_draw() -> None:
    crit, _ = stream()
    r = battle(board(9, 10), attack_while_able(1), attack_while_able(1), crit)
    assert (r.winner, r.turns) == (-1, 60)
    assert r.final.me.hp == r.final.enemy.hp == 49


def test_hp_difference_of_one_at_the_limit_decides() -> None:
    crit, _ = stream()
    r = battle(board(0, 7, me=fresh(hp=51), enemy=fresh(hp=50), tiles=WALLED), always(attack(15)), always(attack(15)), crit)
    assert (r.winner, r.turns) == (0, 60)  # unreachable: every attack misses
    crit, _ = stream()
    r = battle(board(0, 7, me=fresh(hp=50), enemy=fresh(hp=51), tiles=WALLED), always(REST), always(REST), crit)
    assert (r.winner, r.turns) == (1, 60)


@pytest.mark.parametrize(("value", "crits"), [(0, True), (2**61 - 1, True), (2**61, False), (2**64 - 1, False)])
def test_crit_when_the_top_three_bits_of_the_draw_are_zero(value: int, crits: bool) -> None:
    crit, _ = stream(value)
    r = battle(board(9, 10, enemy=fresh(hp=30)), always(attack(15)), always(REST), crit)
    assert r.turns == (1 if crits else 2)
    crit, _ = stream(NO_CRIT, value)  # the same rule for creature 1's draw
    r = battle(board(9, 10, me=fresh(hp=30)), always(REST), always(attack(15)), crit)
    assert r.turns == (1 if crits else 2)


def test_crit_draws_go_to_creature_0_then_creature_1() -> None:
    # turn 1: creature 0 draws a crit, creature 1 does not. 45 - 30 = 15, then 15 - 15 = 0 in turn 2.
    # Drawn the other way round (creature 1 first) creature 0 would take three turns.
    crit, drawn = stream(CRIT, NO_CRIT)
    r = battle(board(9, 10, enemy=fresh(hp=45)), always(attack(15)), always(REST), crit)
    assert (r.winner, r.turns) == (0, 2)
    assert len(drawn) == 4
    crit, _ = stream(NO_CRIT, CRIT)
    r = battle(board(9, 10, me=fresh(hp=45)), always(REST), always(attack(15)), crit)
    assert (r.winner, r.turns) == (1, 2)


def test_policies_see_the_started_turn_and_creature_1_sees_the_board_mirrored() -> None:
    seen0: list[Board] = []
    seen1: list[Board] = []

    def p0(b: Board) -> Action:
        seen0.append(b)
        return attack(15)

    def p1(b: Board) -> Action:
        seen1.append(b)
        return REST

    crit, _ = stream(CRIT, NO_CRIT, NO_CRIT, CRIT)
    start = board(9, 10, me=fresh(stamina=5, last_action=ACT_ATTACK), enemy=fresh(hp=45, stamina=7, crit=1))
    r = battle(start, p0, p1, crit)
    assert r.turns == 2  # 45 - 30 - 15
    first0, first1 = seen0[0], seen1[0]
    assert (first0.self_pos, first0.enemy_pos) == (9, 10)
    assert (first0.me.stamina, first0.me.crit, first0.enemy.crit) == (4, 1, 0)  # after the start-of-turn cost and rolls
    assert (first1.self_pos, first1.enemy_pos) == (10, 9)
    assert (first1.me.hp, first1.me.stamina, first1.enemy.stamina) == (45, 7, 4)
    assert (seen0[1].me.crit, seen1[1].me.crit) == (0, 1)  # turn 2: creature 1 crits, and its flag reads 1
