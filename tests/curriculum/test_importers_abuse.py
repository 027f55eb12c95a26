"""Importer input that used to crash, exhaust memory or be misread (issue 15 item 5).

Every case here ends in a RowError or CurriculumError naming the file and line, never a
traceback: deep JSON nesting, integers too long for ``int()``, a 16 MiB line of commas (the
reader streams and bounds a line, it does not split the whole file into fields first),
digits wrapped in Unicode whitespace. A raw U+2028 inside a JSON string is valid JSON and
is accepted: lines end at ``\\n`` only.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path

import pytest

from curriculum.cli import EXIT_DATA, EXIT_OK, main
from curriculum.errors import CurriculumError, RowError
from curriculum.importers import (
    MAX_INPUT_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_INT_DIGITS,
    MAX_LINE_BYTES,
    board_to_fields,
    parse_csv_text,
    parse_jsonl_text,
    read_csv,
    read_jsonl,
)
from kernel.board import Board
from tests.curriculum.helpers import GOOD, HEADER, TILES



def _good_json(example_boards: list[Board], **extra: object) -> str:
    return json.dumps({**board_to_fields(example_boards[0]), **extra})


# --- JSON lines ------------------------------------------------------------------------


def _nested(example_boards: list[Board], depth: int, opener: str = "[", closer: str = "]") -> str:
    """A good line whose battle_id nests ``depth`` levels (the line's object being one more)."""
    return _good_json(example_boards)[:-1] + ', "battle_id": ' + opener * depth + closer * depth + "}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 2_000, 30_000])
def test_deep_nesting_is_a_row_error(example_boards: list[Board], depth: int) -> None:
    with pytest.raises(RowError, match=rf"^<jsonl>:2: JSON nested more than {MAX_JSON_DEPTH} levels deep"):
        parse_jsonl_text(_good_json(example_boards) + "\n" + _nested(example_boards, depth) + "\n")


def test_deep_nesting_of_objects_is_a_row_error(example_boards: list[Board]) -> None:
    line = _good_json(example_boards)[:-1] + ', "turn": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    with pytest.raises(RowError, match=rf"^<jsonl>:1: JSON nested more than {MAX_JSON_DEPTH} levels deep"):
        parse_jsonl_text(line + "\n")


def test_nesting_up_to_the_limit_in_an_ignored_column_is_accepted(example_boards: list[Board]) -> None:
    assert parse_jsonl_text(_nested(example_boards, MAX_JSON_DEPTH - 1) + "\n") == example_boards[:1]
    assert parse_jsonl_text(_nested(example_boards, MAX_JSON_DEPTH - 1, "{\"k\": ", "}").replace("{\"k\": }", "{}") + "\n")


@pytest.mark.parametrize("column", ["battle_id", "self_hp"])
@pytest.mark.parametrize("digits", [MAX_JSON_INT_DIGITS + 1, 4_301, 20_000])
def test_overlong_integer_is_a_row_error_in_any_column(example_boards: list[Board], column: str, digits: int) -> None:
    fields = json.loads(_good_json(example_boards))
    fields[column] = 0
    line = json.dumps(fields).replace(f'"{column}": 0', f'"{column}": -{"9" * digits}')
    with pytest.raises(RowError, match=rf"^<jsonl>:1: .*integer of {digits} digits"):
        parse_jsonl_text(line + "\n")


def test_longest_integer_is_parsed(example_boards: list[Board]) -> None:
    line = _good_json(example_boards, battle_id=int("9" * MAX_JSON_INT_DIGITS))
    assert parse_jsonl_text(line + "\n") == example_boards[:1]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_raw_unicode_line_separator_inside_a_string_is_valid_json(example_boards: list[Board], char: str) -> None:
    line = _good_json(example_boards)[:-1] + f', "battle_id": "a{char}b"}}'
    json.loads(line)  # valid JSON
    assert parse_jsonl_text(line + "\n" + _good_json(example_boards) + "\n") == example_boards[:1] * 2
    with pytest.raises(RowError, match=r"^<jsonl>:3: "):  # line numbers count \n only
        parse_jsonl_text(line + "\n" + _good_json(example_boards) + "\n{bad\n")


def test_jsonl_blank_lines_are_json_whitespace_only(example_boards: list[Board]) -> None:
    assert parse_jsonl_text(" \t\n" + _good_json(example_boards) + "\n") == example_boards[:1]
    with pytest.raises(RowError, match=r"^<jsonl>:1: invalid JSON"):
        parse_jsonl_text("\u3000\n" + _good_json(example_boards) + "\n")


def test_jsonl_crlf_lines(example_boards: list[Board]) -> None:
    assert parse_jsonl_text(_good_json(example_boards) + "\r\n\r\n" + _good_json(example_boards) + "\r\n") == example_boards[:1] * 2


def test_cli_pack_jsonl_deep_nesting_and_big_int_exit_data(example_boards: list[Board], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    deep = _good_json(example_boards)[:-1] + ', "battle_id": ' + "[" * 5_000 + "]" * 5_000 + "}"
    big = _good_json(example_boards)[:-1] + ', "turn": 1' + "0" * 5_000 + "}"
    for name, line in (("deep.jsonl", deep), ("big.jsonl", big)):
        (tmp_path / name).write_text(line + "\n")
        assert main(["pack", "--jsonl", str(tmp_path / name), "-o", str(tmp_path / "d.zst")]) == EXIT_DATA
        err = capsys.readouterr().err
        assert err.startswith("cb-curriculum: error:") and f"{name}:1:" in err and "Traceback" not in err
    assert not (tmp_path / "d.zst").exists()


# --- CSV -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    ["\u00a0200", "200\u00a0", "\u3000200", "200\u3000", "\u2007200", "\u2002200\u2003", "\u200b200", "\u0660\u0662",
     "\uff12\uff10\uff10", "+200", "\t-1"],
)
def test_digits_must_be_ascii(cell: str) -> None:
    row = GOOD.replace(",200,10,", f",{cell},10,")
    with pytest.raises(RowError, match=r"^<csv>:2: .*self_hp must be a non-negative decimal integer"):
        parse_csv_text(f"{HEADER}\n{row}\n")


@pytest.mark.parametrize("cell", [" 200", "200 ", "\t200\t", "  200  "])
def test_ascii_spaces_around_digits_are_ignored(cell: str) -> None:
    (board,) = parse_csv_text(f"{HEADER}\n{GOOD.replace(',200,10,', f',{cell},10,')}\n")
    assert board.me.hp == 200


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (",block", ",\u00a0block", "enemy_last_action must be"),
        (",block", ",bloc\u212a", "enemy_last_action must be"),  # KELVIN SIGN lower-cases to ASCII k
        (TILES, "\u3000" + TILES, "tiles must be 64 characters"),
    ],
)
def test_other_fields_are_ascii_too(old: str, new: str, match: str) -> None:
    with pytest.raises(RowError, match=rf"^<csv>:2: .*{match}"):
        parse_csv_text(f"{HEADER}\n{GOOD.replace(old, new)}\n")


def test_header_names_are_ascii() -> None:
    header = HEADER.replace("self_hp", "self_hp\u00a0")
    with pytest.raises(RowError, match=r"^<csv>:1: bad header: unknown column"):
        parse_csv_text(f"{header}\n{GOOD}\n")


def test_one_line_of_commas_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    f = tmp_path / "commas.csv"
    f.write_bytes(b"," * (16 << 20) + b"\n")
    tracemalloc.start()
    try:
        with pytest.raises(RowError, match=rf"commas.csv:1: line is longer than {MAX_LINE_BYTES} bytes"):
            read_csv(f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_LINE_BYTES + (1 << 20), peak  # a few lines' worth, not the file (16 MiB) nor its fields


def test_a_row_spanning_many_short_lines_is_bounded() -> None:
    """Quoted fields may span lines; a row made of thousands of them is refused like one long line."""
    row = '"\n",' * (MAX_LINE_BYTES // 3)
    with pytest.raises(RowError, match=r"^<csv>:2: row is longer than"):
        parse_csv_text(f"{HEADER}\n{row}x\n")


def test_a_line_of_exactly_max_bytes_is_read(tmp_path: Path) -> None:
    pad = MAX_LINE_BYTES - len(GOOD) - len(",") - len("\n")
    f = tmp_path / "long.csv"
    f.write_text(f"{HEADER},battle_id\n{GOOD},{'x' * pad}\n")
    assert len(f.read_bytes().splitlines(keepends=True)[1]) == MAX_LINE_BYTES
    assert len(read_csv(f)) == 1
    f.write_text(f"{HEADER},battle_id\n{GOOD},{'x' * (pad + 1)}\n")
    with pytest.raises(RowError, match=rf"long.csv:2: line is longer than {MAX_LINE_BYTES} bytes"):
        read_csv(f)


def test_csv_old_mac_and_windows_line_ends() -> None:
    assert len(parse_csv_text(f"{HEADER}\r{GOOD}\r{GOOD}\r")) == 2
    assert len(parse_csv_text(f"{HEADER}\r\n{GOOD}\r\n\r\n{GOOD}\r\n")) == 2
    with pytest.raises(RowError, match=r"^<csv>:3: "):
        parse_csv_text(f"{HEADER}\r{GOOD}\r{GOOD.replace(',200,', ',999,')}\r")


@pytest.mark.parametrize("reader", [read_csv, read_jsonl])
def test_a_fifo_is_refused_not_waited_on(reader, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)
    with pytest.raises(CurriculumError, match="not a regular file"):
        reader(fifo)


# --- the input size limit --------------------------------------------------------------


@pytest.mark.parametrize("reader", [read_csv, read_jsonl])
def test_input_of_exactly_max_bytes_is_read_and_one_more_refused(reader, example_boards: list[Board], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    body = (f"{HEADER}\n{GOOD}\n" if reader is read_csv else _good_json(example_boards) + "\n").encode()
    limit = len(body) + 100
    f = tmp_path / "in.txt"
    f.write_bytes(body + b"\n" * 100)
    assert len(reader(f, max_bytes=limit)) == 1
    f.write_bytes(body + b"\n" * 101)
    with pytest.raises(CurriculumError, match=f"over the import limit of {limit} bytes"):
        reader(f, max_bytes=limit)
    assert MAX_INPUT_BYTES == 64 << 20


def test_cli_pack_accepts_ascii_and_refuses_nbsp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.csv").write_text(f"{HEADER}\n{GOOD.replace(',200,', ', 200 ,')}\n")
    assert main(["pack", "--csv", str(tmp_path / "ok.csv"), "-o", str(tmp_path / "ok.zst")]) == EXIT_OK
    nbsp = GOOD.replace(",200,", ",\u00a0200,")
    (tmp_path / "nbsp.csv").write_text(f"{HEADER}\n{nbsp}\n")
    assert main(["pack", "--csv", str(tmp_path / "nbsp.csv"), "-o", str(tmp_path / "nbsp.zst")]) == EXIT_DATA
    assert "nbsp.csv:2:" in capsys.readouterr().err and not (tmp_path / "nbsp.zst").exists()


def test_cli_pack_of_a_64_mib_line_of_commas_stays_small(tmp_path: Path) -> None:
    """The issue's case end to end: cb-curriculum's peak RSS, measured by a parent that runs only it."""
    import subprocess
    import sys

    from tests.curriculum.helpers import cli_command

    (tmp_path / "commas.csv").write_bytes(b"," * MAX_INPUT_BYTES)
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(r.stderr, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", probe, *cli_command(), "pack", "--csv", "commas.csv", "-o", "d.zst"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    code, max_rss_kib = map(int, r.stdout.split())
    assert code == EXIT_DATA and f"commas.csv:1: line is longer than {MAX_LINE_BYTES} bytes" in r.stderr, r.stderr
    assert max_rss_kib < 300 * 1024, max_rss_kib  # the unbounded parser peaked at ~940 MB on this file
    assert not (tmp_path / "d.zst").exists()
