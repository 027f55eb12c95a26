"""Boards, creatures and the 28-byte board record (SPEC §2).

A board record is the unit every sample source yields and the unit a private dataset
stores: the kernel computes labels and the observation from it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kernel.errors import BoardError

BOARD_SIZE: Final = 8
N_TILES: Final = BOARD_SIZE * BOARD_SIZE

EMPTY: Final = 0
WALL: Final = 1
HAZARD: Final = 2

# last_action codes
ACT_NONE: Final = 0
ACT_MOVE: Final = 1
ACT_ATTACK: Final = 2
ACT_BLOCK: Final = 3
ACT_REST: Final = 4

MAX_HP: Final = 255
MAX_STAMINA: Final = 15
MAX_DEFENSE: Final = 255
TEMP_DEF_STEP: Final = 32
TEMP_DEF_CAP: Final = 96

RECORD_SIZE: Final = 28


@dataclass(frozen=True, slots=True)
class Creature:
    """One creature's state; every field is a small non-negative integer."""

    hp: int  # 0..255; 0 means defeated
    stamina: int  # 0..15
    defense: int  # 0..255
    temp_def: int  # 0..96, block bonus that lasts one received hit
    crit: int  # 0 or 1: this creature's next attack deals double damage
    last_action: int  # ACT_* code 0..4

    def validate(self, who: str) -> None:
        """Raise BoardError naming the first field out of range."""
        for name, value, hi in (
            ("hp", self.hp, MAX_HP),
            ("stamina", self.stamina, MAX_STAMINA),
            ("defense", self.defense, MAX_DEFENSE),
            ("temp_def", self.temp_def, TEMP_DEF_CAP),
            ("crit", self.crit, 1),
            ("last_action", self.last_action, ACT_REST),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= hi:
                raise BoardError(f"{who}.{name} must be an integer in 0..{hi}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Board:
    """An 8x8 arena with two creatures. Tile index i = y*8 + x, y grows to the south."""

    tiles: tuple[int, ...]  # 64 tile codes
    self_pos: int  # tile index of the creature being trained
    enemy_pos: int  # tile index of its opponent
    me: Creature
    enemy: Creature

    def validate(self) -> None:
        """Raise BoardError when the board breaks a rule of SPEC §2."""
        if len(self.tiles) != N_TILES:
            raise BoardError(f"a board has {N_TILES} tiles, got {len(self.tiles)}")
        for i, t in enumerate(self.tiles):
            if t not in (EMPTY, WALL, HAZARD):
                raise BoardError(f"tile {i} has invalid code {t!r} (0 EMPTY, 1 WALL, 2 HAZARD)")
        for name, pos in (("self_pos", self.self_pos), ("enemy_pos", self.enemy_pos)):
            if not isinstance(pos, int) or not 0 <= pos < N_TILES:
                raise BoardError(f"{name} must be a tile index in 0..63, got {pos!r}")
            if self.tiles[pos] == WALL:
                raise BoardError(f"{name} {pos} is on a WALL tile")
        if self.self_pos == self.enemy_pos:
            raise BoardError("the two creatures cannot share a tile")
        self.me.validate("self")
        self.enemy.validate("enemy")
        if self.me.hp == 0 or self.enemy.hp == 0:
            raise BoardError("both creatures must be alive (hp >= 1) in a board record")


def _creature_bytes(c: Creature) -> bytes:
    return bytes((c.hp, c.stamina, c.defense, c.temp_def, c.crit | (c.last_action << 1)))


def _creature_from(b: bytes, who: str) -> Creature:
    flags = b[4]
    if flags >> 4:
        raise BoardError(f"{who} flags byte has reserved bits set: 0x{flags:02x}")
    return Creature(hp=b[0], stamina=b[1], defense=b[2], temp_def=b[3], crit=flags & 1, last_action=(flags >> 1) & 7)


def encode_record(board: Board) -> bytes:
    """The canonical 28-byte record of a valid board (SPEC §2.3)."""
    board.validate()
    packed = bytearray(16)
    for i, t in enumerate(board.tiles):
        packed[i >> 2] |= t << ((i & 3) * 2)
    return bytes(packed) + bytes((board.self_pos, board.enemy_pos)) + _creature_bytes(board.me) + _creature_bytes(board.enemy)


def decode_record(data: bytes) -> Board:
    """Parse and validate one 28-byte record; raises BoardError on any violation."""
    if len(data) != RECORD_SIZE:
        raise BoardError(f"a board record is {RECORD_SIZE} bytes, got {len(data)}")
    tiles = tuple((data[i >> 2] >> ((i & 3) * 2)) & 3 for i in range(N_TILES))
    board = Board(
        tiles=tiles,
        self_pos=data[16],
        enemy_pos=data[17],
        me=_creature_from(data[18:23], "self"),
        enemy=_creature_from(data[23:28], "enemy"),
    )
    board.validate()
    return board
