"""Public sample sources: PRNG self-play positions and curriculum templates (SPEC §4.2, §5)."""

from __future__ import annotations

from typing import Final

from kernel.board import ACT_REST, BOARD_SIZE, EMPTY, HAZARD, N_TILES, WALL, Board, Creature
from kernel.context import WindowContext
from kernel.payload import WINDOW_STEPS
from kernel.prng import GOLDEN_GAMMA, MASK64, SplitMix64Stream, fold64
from kernel.rules import neighbor

TEMPLATE_PERIOD: Final = 4  # micro-step g uses a template when g mod 4 == 3

# Curriculum templates, 8 rows of 8 tiles each: '.' EMPTY, '#' WALL, '~' HAZARD.
TEMPLATE_ROWS: Final[tuple[tuple[str, ...], ...]] = (
    ("........", "........", "........", "........", "........", "........", "........", "........"),  # open
    ("........", "........", "........", "...##...", "...##...", "........", "........", "........"),  # pillar
    ("...#....", "...#....", "...#....", "........", "...#....", "...#....", "...#....", "...#...."),  # gap wall
    ("........", "........", "........", "##.####.", "........", "........", "........", "........"),  # ridge
    ("........", "........", "........", "~~~~~~~~", "........", "........", "........", "........"),  # river
    ("...#....", "...#....", "...#....", "###.####", "...#....", "...#....", "...#....", "........"),  # rooms
    ("........", ".#....#.", "........", "........", "........", ".#....#.", "........", "........"),  # pillars
    ("........", "........", "..~~~~..", "..~..~..", "..~..~..", "..~~~~..", "........", "........"),  # ring
)
_CODE = {".": EMPTY, "#": WALL, "~": HAZARD}
TEMPLATES: Final[tuple[tuple[int, ...], ...]] = tuple(
    tuple(_CODE[c] for row in rows for c in row) for rows in TEMPLATE_ROWS
)
N_TEMPLATES: Final = len(TEMPLATES)
assert all(len(t) == N_TILES for t in TEMPLATES)


def stream_key(seed_core: bytes, parent_h128: bytes, g: int) -> int:
    """K = fold64(seed_core) ^ fold64(parent_h128) ^ (g * GOLDEN_GAMMA mod 2**64)."""
    return fold64(seed_core) ^ fold64(parent_h128) ^ ((g * GOLDEN_GAMMA) & MASK64)


def _creature(r: int) -> Creature:
    """Creature stats from one 64-bit draw (SPEC §5 step 4)."""
    return Creature(
        hp=1 + (r & 0xFF) % 255,
        stamina=(r >> 8) & 15,
        defense=(r >> 12) & 63,
        temp_def=((r >> 18) & 3) * 32,
        crit=(r >> 20) & 1,
        last_action=((r >> 21) & 7) % (ACT_REST + 1),
    )


def draw_board(key: int, template: tuple[int, ...] | None) -> Board:
    """The board drawn from stream(key) (SPEC §5); template replaces the drawn layout."""
    rng = SplitMix64Stream(key)
    words = [rng.next() for _ in range(4)]
    if template is None:
        tiles = []
        for i in range(N_TILES):
            v = (words[i >> 4] >> (4 * (i & 15))) & 15
            tiles.append(WALL if v == 0 else HAZARD if v == 1 else EMPTY)
    else:
        tiles = list(template)
    r4 = rng.next()
    self_pos = r4 & 63
    enemy_pos = (r4 >> 6) & 63
    if enemy_pos == self_pos:
        enemy_pos = (self_pos + 1 + ((r4 >> 12) % 63)) % N_TILES
    if (r4 >> 20) & 3 == 0:
        q = neighbor(self_pos, (r4 >> 22) & 3)
        if q >= 0:
            enemy_pos = q
    tiles[self_pos] = EMPTY
    tiles[enemy_pos] = EMPTY
    me = _creature(rng.next())
    enemy = _creature(rng.next())
    return Board(tuple(tiles), self_pos, enemy_pos, me, enemy)


def template_index(epoch_seed: bytes) -> int:
    """uint256_be(epoch_seed) mod N_TEMPLATES."""
    return int.from_bytes(epoch_seed, "big") % N_TEMPLATES


def public_board(ctx: WindowContext, j: int) -> Board:
    """The public-source board of micro-step j of the window."""
    g = ctx.step(j)
    template = TEMPLATES[template_index(ctx.epoch_seed)] if g % TEMPLATE_PERIOD == TEMPLATE_PERIOD - 1 else None
    return draw_board(stream_key(ctx.seed_core, ctx.parent_h128, g), template)


class PublicSource:
    """Self-play positions and curriculum templates; the source of beasts without a dataset."""

    private = False

    def board(self, ctx: WindowContext, j: int) -> Board:
        """The board of micro-step j of the window (one board, for a single micro-step)."""
        return public_board(ctx, j)

    def window_boards(self, ctx: WindowContext) -> list[Board]:
        """The 128 boards of the window in micro-step order."""
        return [public_board(ctx, j) for j in range(WINDOW_STEPS)]


assert BOARD_SIZE == 8
