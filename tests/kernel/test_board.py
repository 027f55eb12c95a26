"""SPEC §2 boards: the action codes, every field's exact bounds, and the 28-byte record built by hand.

Expected bytes and bounds come from the SPEC's tables, not from the encoder under test.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from kernel.board import (ACT_ATTACK, ACT_BLOCK, ACT_MOVE, ACT_NONE, ACT_REST, EMPTY, HAZARD, N_TILES, WALL, Board, Creature,
                          decode_record, encode_record)
from kernel.errors import BoardError


def test_codes_are_the_spec_tables() -> None:
    assert (EMPTY, WALL, HAZARD) == (0, 1, 2)
    assert (ACT_NONE, ACT_MOVE, ACT_ATTACK, ACT_BLOCK, ACT_REST) == (0, 1, 2, 3, 4)


def _board(**me: int) -> Board:
    base = {"hp": 100, "stamina": 15, "defense": 0, "temp_def": 0, "crit": 0, "last_action": 0}
    return Board(tuple([EMPTY] * N_TILES), 0, 1, Creature(**{**base, **me}), Creature(**base))


@pytest.mark.parametrize(("field", "top"), [
    ("hp", 255), ("stamina", 15), ("defense", 255), ("temp_def", 96), ("crit", 1), ("last_action", 4),
])
def test_each_field_accepts_its_top_value_and_refuses_one_more(field: str, top: int) -> None:
    _board(**{field: top}).validate()
    with pytest.raises(BoardError, match=f"self.{field}"):
        _board(**{field: top + 1}).validate()
    with pytest.raises(BoardError, match=f"self.{field}"):
        _board(**{field: -1}).validate()


def test_record_layout_by_hand() -> None:
    tiles = [EMPTY] * N_TILES
    tiles[0], tiles[1], tiles[3], tiles[5], tiles[63] = WALL, HAZARD, WALL, HAZARD, HAZARD
    me = Creature(hp=200, stamina=9, defense=33, temp_def=64, crit=1, last_action=ACT_BLOCK)
    enemy = Creature(hp=1, stamina=0, defense=255, temp_def=96, crit=0, last_action=ACT_REST)
    board = Board(tuple(tiles), 10, 62, me, enemy)
    expected = bytearray(28)
    expected[0] = 1 | (2 << 2) | (1 << 6)  # tiles 0..3: WALL, HAZARD, EMPTY, WALL
    expected[1] = 2 << 2  # tile 5: HAZARD
    expected[15] = 2 << 6  # tile 63: HAZARD
    expected[16:18] = bytes((10, 62))
    expected[18:23] = bytes((200, 9, 33, 64, 1 | (3 << 1)))  # flags = crit | last_action << 1 = 7
    expected[23:28] = bytes((1, 0, 255, 96, 4 << 1))  # 8
    assert encode_record(board) == bytes(expected)
    assert decode_record(bytes(expected)) == board


@pytest.mark.parametrize("flags", [0x10, 0x20, 0x80])
def test_record_flags_bits_4_to_7_must_be_zero(flags: int) -> None:
    record = bytearray(encode_record(_board()))
    record[22] = flags | 1
    with pytest.raises(BoardError, match="reserved"):
        decode_record(bytes(record))


def test_last_action_above_rest_in_the_flags_is_refused() -> None:
    record = bytearray(encode_record(_board()))
    record[27] = 5 << 1
    with pytest.raises(BoardError, match="enemy.last_action"):
        decode_record(bytes(record))


def test_positions_on_a_wall_or_shared_are_refused() -> None:
    b = _board()
    with pytest.raises(BoardError, match="WALL"):
        replace(b, tiles=(WALL, *b.tiles[1:])).validate()
    with pytest.raises(BoardError, match="share"):
        replace(b, enemy_pos=0).validate()
    with pytest.raises(BoardError, match="enemy_pos"):
        replace(b, enemy_pos=64).validate()
