"""CSV and JSON-lines importers: columns, validation, line numbers (SPEC §10.3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curriculum.errors import CurriculumError, RowError
from curriculum.examples import make_battles
from curriculum.importers import (
    COLUMNS,
    board_to_fields,
    boards_to_csv,
    parse_csv_text,
    parse_jsonl_text,
    read_csv,
    read_jsonl,
)
from kernel.board import ACT_BLOCK, HAZARD, WALL, Board
from tests.curriculum.helpers import EXAMPLE_CSV, GOOD, HEADER, TILES, boards_to_jsonl



def test_example_csv_is_reproducible() -> None:
    assert EXAMPLE_CSV.read_text() == make_battles.render()


def test_example_csv_shape(example_boards: list[Board]) -> None:
    assert 300 <= len(example_boards) <= 400
    assert any(WALL in b.tiles for b in example_boards) and any(HAZARD in b.tiles for b in example_boards)


def test_good_row() -> None:
    (board,) = parse_csv_text(f"{HEADER}\n{GOOD}\n")
    assert board.tiles[9] == WALL and board.tiles[10] == HAZARD
    assert board.self_pos == 0 and board.enemy_pos == 4 * 8 + 3
    assert board.me.hp == 200 and board.enemy.temp_def == 32 and board.enemy.crit == 1
    assert board.enemy.last_action == ACT_BLOCK


def test_digit_tiles_columns_any_order_and_ignored_columns() -> None:
    cols = ["turn", *reversed(COLUMNS), "battle_id"]
    fields = dict(zip(COLUMNS, GOOD.split(","), strict=True))
    fields["tiles"] = TILES.replace(".", "0").replace("#", "1").replace("~", "2")
    row = ",".join(["7", *(fields[c] for c in reversed(COLUMNS)), "x"])
    (board,) = parse_csv_text(",".join(cols) + "\n" + row + "\n")
    assert board == parse_csv_text(f"{HEADER}\n{GOOD}\n")[0]


def test_csv_round_trip(example_boards: list[Board]) -> None:
    assert parse_csv_text(boards_to_csv(example_boards)) == example_boards


def test_blank_lines_skipped_and_bom_accepted(tmp_path: Path) -> None:
    f = tmp_path / "b.csv"
    f.write_bytes(("\ufeff" + f"{HEADER}\n\n{GOOD}\n\n{GOOD}\n").encode())
    assert len(read_csv(f)) == 2


def _bad(row: str) -> str:
    return f"{HEADER}\n{GOOD}\n{GOOD}\n{row}\n{GOOD}\n"


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (GOOD.replace(TILES, TILES[:-1]), "tiles must be 64 characters"),
        (GOOD.replace(TILES, "X" + TILES[1:]), "tile 0 .* invalid character 'X'"),
        (GOOD.replace(TILES, "3" + TILES[1:]), "invalid character '3'"),
        (GOOD.replace(",0,0,3,4,", ",8,0,3,4,"), "self_x must be in 0..7"),
        (GOOD.replace(",0,0,3,4,", ",1,1,3,4,"), "self_pos 9 is on a WALL"),
        (GOOD.replace(",0,0,3,4,", ",3,4,3,4,"), "cannot share a tile"),
        (GOOD.replace(",200,10,", ",256,10,"), r"self.hp must be an integer in 0..255"),
        (GOOD.replace(",200,10,", ",0,10,"), "both creatures must be alive"),
        (GOOD.replace(",200,10,", ",200,16,"), r"self.stamina must be an integer in 0..15"),
        (GOOD.replace(",30,32,1,", ",30,97,1,"), r"enemy.temp_def must be an integer in 0..96"),
        (GOOD.replace(",30,32,1,", ",30,32,2,"), r"enemy.crit must be an integer in 0..1"),
        (GOOD.replace(",none,", ",jump,"), "self_last_action must be 0..4 or one of"),
        (GOOD.replace(",none,", ",5,"), r"self.last_action must be an integer in 0..4"),
        (GOOD.replace(",200,", ",-1,"), "non-negative decimal integer"),
        (GOOD.replace(",200,", ",2e2,"), "non-negative decimal integer"),
        (GOOD + ",extra", "expected 17 fields, got 18"),
        (GOOD.rsplit(",", 1)[0], "expected 17 fields, got 16"),
        ('"unterminated', "malformed CSV"),
    ],
)
def test_bad_row_reports_line(row: str, match: str) -> None:
    with pytest.raises(RowError, match=rf"^<csv>:4: .*{match}") as info:
        parse_csv_text(_bad(row))
    assert info.value.line == 4


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        ("", 1, "no header row"),
        (f"{HEADER}\n", 1, "no data rows"),
        (HEADER.replace("self_hp", "self_hpp") + f"\n{GOOD}\n", 1, "unknown column 'self_hpp'"),
        (HEADER.replace(",self_hp", "") + f"\n{GOOD}\n", 1, "missing column"),
        (HEADER + ",tiles\n", 1, "appears twice"),
        (f"\n\n{HEADER}\n{GOOD}\n{GOOD.replace(TILES, '')}\n", 5, "tiles must be"),
    ],
)
def test_bad_file(text: str, line: int, match: str) -> None:
    with pytest.raises(RowError, match=match) as info:
        parse_csv_text(text)
    assert info.value.line == line


def test_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "b.csv"
    f.write_bytes(f"{HEADER}\n{GOOD}\n".encode() + b"\xff\xfe,1\n")
    with pytest.raises(RowError, match=r"b.csv:3: not valid UTF-8"):
        read_csv(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CurriculumError, match="cannot open import file .*nope.csv: No such file"):
        read_csv(tmp_path / "nope.csv")


def test_jsonl_round_trip(example_boards: list[Board], tmp_path: Path) -> None:
    f = tmp_path / "b.jsonl"
    f.write_text(boards_to_jsonl(example_boards[:50]) + "\n")
    assert read_jsonl(f) == example_boards[:50]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: {**d, "self_hp": "200"}, "self_hp must be a non-negative|self_hp must be an integer"),
        (lambda d: {**d, "self_hp": 200.0}, "self_hp must be an integer"),
        (lambda d: {**d, "self_crit": True}, "self_crit must be an integer"),
        (lambda d: {**d, "self_hp": 300}, r"self.hp must be an integer in 0..255"),
        (lambda d: {k: v for k, v in d.items() if k != "enemy_y"}, "missing column"),
        (lambda d: {**d, "colour": 1}, "unknown column"),
        (lambda d: {**d, "tiles": list(range(64))}, "tiles must be a string"),
    ],
)
def test_jsonl_bad_line(example_boards: list[Board], mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    good = board_to_fields(example_boards[0])
    text = json.dumps(good) + "\n\n" + json.dumps(mutate(good)) + "\n"
    with pytest.raises(RowError, match=rf"^<jsonl>:3: .*(?:{match})"):
        parse_jsonl_text(text)


@pytest.mark.parametrize(
    ("line", "match"),
    [("{not json", "invalid JSON"), ("[1, 2]", "must be a JSON object"), ('{"tiles": 1, "tiles": 2}', "appears twice")],
)
def test_jsonl_malformed(line: str, match: str) -> None:
    with pytest.raises(RowError, match=rf"^<jsonl>:1: .*{match}"):
        parse_jsonl_text(line + "\n")


def test_jsonl_empty() -> None:
    with pytest.raises(RowError, match="no data rows"):
        parse_jsonl_text("\n\n")
