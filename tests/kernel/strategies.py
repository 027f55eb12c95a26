"""Hypothesis strategies for SPEC §2 boards and creatures, shared by the kernel's property tests."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from kernel.board import EMPTY, HAZARD, N_TILES, WALL, Board, Creature


ANY_TEMP_DEF = st.integers(0, 96)
ONE_WALL = st.just(1)


def creatures(temp_def: st.SearchStrategy[int] = ANY_TEMP_DEF) -> st.SearchStrategy[Creature]:
    """Valid creatures; ``temp_def`` draws the temporary defence (the rules tests use its reachable steps)."""
    return st.builds(Creature, hp=st.integers(1, 255), stamina=st.integers(0, 15), defense=st.integers(0, 255),
                     temp_def=temp_def, crit=st.integers(0, 1), last_action=st.integers(0, 4))


def boards(creature: st.SearchStrategy[Creature], walls: st.SearchStrategy[int] = ONE_WALL,
           empties: int = 3) -> Callable[[], st.SearchStrategy[Board]]:
    """A strategy of valid boards: tiles drawn ``empties`` : ``walls`` : 1 as empty, wall and hazard
    (``walls`` is drawn once per board, so one strategy covers open fields and mazes), the two
    creatures on distinct empty tiles."""

    @st.composite
    def draw_board(draw: st.DrawFn) -> Board:
        wall_weight = draw(walls)
        tiles = draw(st.lists(st.sampled_from([EMPTY] * empties + [WALL] * wall_weight + [HAZARD]), min_size=N_TILES, max_size=N_TILES))
        a = draw(st.integers(0, N_TILES - 1))
        b = draw(st.integers(0, N_TILES - 1).filter(lambda v: v != a))
        tiles[a] = tiles[b] = EMPTY
        board = Board(tuple(tiles), a, b, draw(creature), draw(creature))
        board.validate()
        return board

    return draw_board
