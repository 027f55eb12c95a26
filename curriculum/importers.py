"""Importers: battle boards from CSV or JSON lines into kernel Boards (SPEC §10.3).

Every row is checked (columns, tile characters, coordinates, stat ranges through the
kernel's Board.validate); the first bad row raises RowError with its line number. The
importers only parse: writing happens afterwards, so a bad input never produces a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Mapping
from typing import Final

from curriculum.dataset import MAX_RECORDS
from curriculum.errors import CurriculumError, RowError
from kernel.board import BOARD_SIZE, N_TILES, Board, Creature, encode_record
from kernel.errors import BoardError

TILE_CHARS: Final = {".": 0, "0": 0, "#": 1, "1": 1, "~": 2, "2": 2}
TILE_OUT: Final = ".#~"  # canonical characters for EMPTY, WALL, HAZARD
ACTION_NAMES: Final = ("none", "move", "attack", "block", "rest")  # codes 0..4
CREATURE_FIELDS: Final = ("hp", "stamina", "defense", "temp_def", "crit", "last_action")
COLUMNS: Final = (
    "tiles",
    "self_x",
    "self_y",
    "enemy_x",
    "enemy_y",
    *(f"self_{f}" for f in CREATURE_FIELDS),
    *(f"enemy_{f}" for f in CREATURE_FIELDS),
)
IGNORED_COLUMNS: Final = ("battle_id", "turn")  # accepted, informational only
MAX_INPUT_BYTES: Final = 64 << 20
_UINT = re.compile(r"[0-9]{1,3}")


class _FieldError(ValueError):
    """A field-level problem; the caller adds the file name and line number."""


def _int_field(name: str, value: object, text: bool) -> int:
    if isinstance(value, str) and text:
        text = value.strip()
        if not _UINT.fullmatch(text):
            raise _FieldError(f"{name} must be a non-negative decimal integer, got {value!r}")
        return int(text)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _FieldError(f"{name} must be an integer, got {value!r}")


def _action_field(name: str, value: object, text: bool) -> int:
    if isinstance(value, str) and value.strip().lower() in ACTION_NAMES:
        return ACTION_NAMES.index(value.strip().lower())
    try:
        return _int_field(name, value, text)
    except _FieldError:
        raise _FieldError(f"{name} must be 0..4 or one of {', '.join(ACTION_NAMES)}, got {value!r}") from None


def _tiles_field(value: object) -> tuple[int, ...]:
    if not isinstance(value, str):
        raise _FieldError(f"tiles must be a string of {N_TILES} characters, got {value!r}")
    text = value.strip()
    if len(text) != N_TILES:
        raise _FieldError(f"tiles must be {N_TILES} characters ('.', '#', '~' or 0, 1, 2), got {len(text)}")
    for i, ch in enumerate(text):
        if ch not in TILE_CHARS:
            raise _FieldError(f"tile {i} (x={i % BOARD_SIZE}, y={i // BOARD_SIZE}) has invalid character {ch!r}")
    return tuple(TILE_CHARS[ch] for ch in text)


def _pos(fields: Mapping[str, object], who: str, text: bool) -> int:
    x = _int_field(f"{who}_x", fields[f"{who}_x"], text)
    y = _int_field(f"{who}_y", fields[f"{who}_y"], text)
    for axis, v in (("x", x), ("y", y)):
        if not 0 <= v < BOARD_SIZE:
            raise _FieldError(f"{who}_{axis} must be in 0..{BOARD_SIZE - 1}, got {v}")
    return y * BOARD_SIZE + x


def _creature(fields: Mapping[str, object], who: str, text: bool) -> Creature:
    values = {f: _int_field(f"{who}_{f}", fields[f"{who}_{f}"], text) for f in CREATURE_FIELDS if f != "last_action"}
    return Creature(last_action=_action_field(f"{who}_last_action", fields[f"{who}_last_action"], text), **values)


def _check_columns(names: list[str]) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise _FieldError(f"column {n!r} appears twice")
        seen.add(n)
        if n not in COLUMNS and n not in IGNORED_COLUMNS:
            raise _FieldError(f"unknown column {n!r}")
    missing = [c for c in COLUMNS if c not in seen]
    if missing:
        raise _FieldError(f"missing column(s): {', '.join(missing)}")


def board_from_fields(fields: Mapping[str, object], *, text: bool = True) -> Board:
    """A validated Board from one row's named fields.

    ``text=True`` (CSV): numbers are decimal strings. ``text=False`` (JSON): numbers must
    be JSON integers; only ``tiles`` and action names are strings. Raises ValueError (with
    a message naming the field) on any problem.
    """
    board = Board(
        tiles=_tiles_field(fields["tiles"]),
        self_pos=_pos(fields, "self", text),
        enemy_pos=_pos(fields, "enemy", text),
        me=_creature(fields, "self", text),
        enemy=_creature(fields, "enemy", text),
    )
    try:
        board.validate()
    except BoardError as exc:
        raise _FieldError(str(exc)) from None
    return board


def _read_text(path: str | os.PathLike[str]) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise CurriculumError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise CurriculumError(f"{path} is over the import limit of {MAX_INPUT_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RowError(str(path), data.count(b"\n", 0, exc.start) + 1, "not valid UTF-8") from None


def _check_count(boards: list[Board], source: str, line: int) -> None:
    if len(boards) > MAX_RECORDS:
        raise RowError(source, line, f"too many rows: a dataset holds at most {MAX_RECORDS} records")


def parse_csv_text(text: str, source: str = "<csv>") -> list[Board]:
    """Boards from CSV text: a header row naming the columns, then one board per row.

    Errors carry the physical line number on which the offending row starts.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    boards: list[Board] = []
    header: list[str] | None = None
    line = 1
    try:
        while True:
            line = reader.line_num + 1  # the physical line this row starts on
            row = next(reader, None)
            if row is None:
                break
            if not row or all(not cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip() for cell in row]
                try:
                    _check_columns(header)
                except _FieldError as exc:
                    raise RowError(source, line, f"bad header: {exc}") from None
                continue
            if len(row) != len(header):
                raise RowError(source, line, f"expected {len(header)} fields, got {len(row)}")
            try:
                boards.append(board_from_fields(dict(zip(header, row, strict=True))))
            except _FieldError as exc:
                raise RowError(source, line, str(exc)) from None
            _check_count(boards, source, line)
    except csv.Error as exc:
        raise RowError(source, line, f"malformed CSV: {exc}") from None
    if header is None:
        raise RowError(source, 1, "no header row")
    if not boards:
        raise RowError(source, max(reader.line_num, 1), "no data rows (a dataset needs at least one board)")
    return boards


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise _FieldError(f"key {k!r} appears twice")
        out[k] = v
    return out


def parse_jsonl_text(text: str, source: str = "<jsonl>") -> list[Board]:
    """Boards from JSON lines: one object per non-blank line, keys as the CSV columns."""
    boards: list[Board] = []
    last = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        last = line_no
        if not line.strip():
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
            if not isinstance(obj, dict):
                raise _FieldError("each line must be a JSON object")
            _check_columns(list(obj))
            boards.append(board_from_fields(obj, text=False))
        except json.JSONDecodeError as exc:
            raise RowError(source, line_no, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        except _FieldError as exc:
            raise RowError(source, line_no, str(exc)) from None
        _check_count(boards, source, line_no)
    if not boards:
        raise RowError(source, max(last, 1), "no data rows (a dataset needs at least one board)")
    return boards


def read_csv(path: str | os.PathLike[str]) -> list[Board]:
    """Boards from a CSV file (UTF-8, optional BOM)."""
    return parse_csv_text(_read_text(path), str(path))


def read_jsonl(path: str | os.PathLike[str]) -> list[Board]:
    """Boards from a JSON-lines file (UTF-8, optional BOM)."""
    return parse_jsonl_text(_read_text(path), str(path))


def board_to_fields(board: Board) -> dict[str, int | str]:
    """The canonical CSV/JSON fields of a board (inverse of board_from_fields)."""
    encode_record(board)  # validates
    out: dict[str, int | str] = {"tiles": "".join(TILE_OUT[t] for t in board.tiles)}
    for who, pos in (("self", board.self_pos), ("enemy", board.enemy_pos)):
        out[f"{who}_x"], out[f"{who}_y"] = pos % BOARD_SIZE, pos // BOARD_SIZE
    for who, c in (("self", board.me), ("enemy", board.enemy)):
        for f in CREATURE_FIELDS:
            out[f"{who}_{f}"] = getattr(c, f)
    return out


def boards_to_csv(boards: list[Board]) -> str:
    """Canonical CSV text (header + one row per board, ``\\n`` line ends) for ``boards``."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for b in boards:
        writer.writerow(board_to_fields(b))
    return buf.getvalue()
