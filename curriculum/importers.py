"""Importers: battle boards from CSV or JSON lines into kernel Boards (SPEC §10.3).

Every row is checked (columns, tile characters, coordinates, stat ranges through the
kernel's Board.validate); the first bad row raises RowError with its line number. The
importers only parse: writing happens afterwards, so a bad input never produces a file.

Reading is bounded: the file is streamed one line at a time (never split into fields or
decoded as a whole), a line or CSV row over MAX_LINE_BYTES is refused before it is parsed,
JSON nesting and integer length are bounded, and only ASCII digits, spaces and names
count: whatever the input, the result is boards or a CurriculumError, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO, Final

from curriculum.dataset import MAX_RECORDS
from curriculum.errors import CurriculumError, RowError
from kernel.board import BOARD_SIZE, N_TILES, Board, Creature, encode_record
from kernel.errors import BoardError
from kernel.host import FileReadError, FileTooLargeError, open_regular

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
MAX_LINE_BYTES: Final = 64 << 10  # a line, line end included, or a CSV row across lines; a board row is ~120
MAX_JSON_DEPTH: Final = 64  # nesting levels of a JSON line, its object being level 1
MAX_JSON_INT_DIGITS: Final = 640  # the smallest digit limit int() can be configured to: the verdict never depends on it
ASCII_BLANK: Final = " \t"  # the only blanks stripped around a field
_UINT = re.compile(r"[0-9]{1,3}")  # ASCII digits only (a str pattern's [0-9] is exactly 0x30..0x39)
_JSON_BLANK: Final = " \t\r\n"  # JSON's whitespace (RFC 8259 §2)
_BOM: Final = b"\xef\xbb\xbf"
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


class _FieldError(ValueError):
    """A field-level problem; the caller adds the file name and line number."""


def _int_field(name: str, value: object, text: bool) -> int:
    if isinstance(value, str) and text:
        text = value.strip(ASCII_BLANK)
        if not _UINT.fullmatch(text):
            raise _FieldError(f"{name} must be a non-negative decimal integer, got {value!r}")
        return int(text)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _FieldError(f"{name} must be an integer, got {value!r}")


def _action_field(name: str, value: object, text: bool) -> int:
    if isinstance(value, str) and value.isascii() and value.strip(ASCII_BLANK).lower() in ACTION_NAMES:
        return ACTION_NAMES.index(value.strip(ASCII_BLANK).lower())
    try:
        return _int_field(name, value, text)
    except _FieldError:
        raise _FieldError(f"{name} must be 0..4 or one of {', '.join(ACTION_NAMES)}, got {value!r}") from None


def _tiles_field(value: object) -> tuple[int, ...]:
    if not isinstance(value, str):
        raise _FieldError(f"tiles must be a string of {N_TILES} characters, got {value!r}")
    text = value.strip(ASCII_BLANK)
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


@contextmanager
def _open_input(path: str | os.PathLike[str], max_bytes: int) -> Iterator[BinaryIO]:
    """The import file opened for reading, after checking it is a regular file within ``max_bytes``
    (kernel.host.open_regular: a FIFO is refused rather than waited on)."""
    try:
        with open_regular(path, limit=max_bytes, what="import file") as f:
            yield f
    except FileTooLargeError:
        raise CurriculumError(f"{path} is over the import limit of {max_bytes} bytes") from None
    except FileReadError as exc:  # missing, unreadable, or not a regular file
        raise CurriculumError(str(exc)) from None


def _lines(f: BinaryIO, source: str, max_bytes: int, *, universal: bool) -> Iterator[str]:
    """Lines of ``f``, each decoded on its own, line end kept; at most ``max_bytes`` in all.

    Lines end at ``\\n`` (JSON lines); with ``universal`` (CSV) also at a lone ``\\r``, as
    Python's universal newlines do. A leading UTF-8 BOM is dropped. A line over
    MAX_LINE_BYTES or not valid UTF-8 raises RowError naming it; more than ``max_bytes``
    raises CurriculumError. Memory is one line, whatever the file holds.
    """
    total, line_no = 0, 0
    while True:
        try:
            raw = f.readline(MAX_LINE_BYTES + 1)
        except OSError as exc:
            raise CurriculumError(f"cannot read {source}: {exc.strerror or exc}") from None
        if not raw:
            return
        total += len(raw)
        if total > max_bytes:
            raise CurriculumError(f"{source} is over the import limit of {max_bytes} bytes")
        if len(raw) > MAX_LINE_BYTES:
            raise RowError(source, line_no + 1, f"line is longer than {MAX_LINE_BYTES} bytes")
        if line_no == 0 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError(source, line_no + 1, "not valid UTF-8") from None
        for piece in _LONE_CR.split(text) if universal and "\r" in text else (text,):
            if piece:  # the split leaves an empty piece after a final lone \r
                line_no += 1
                yield piece


def _text_lines(text: str, source: str, *, universal: bool) -> Iterator[str]:
    """``_lines`` of in-memory text (no size limit: the caller already holds it)."""
    data = text.encode("utf-8", "surrogatepass")
    return _lines(io.BytesIO(data), source, len(data), universal=universal)


def _check_count(boards: list[Board], source: str, line: int) -> None:
    if len(boards) > MAX_RECORDS:
        raise RowError(source, line, f"too many rows: a dataset holds at most {MAX_RECORDS} records")


def _is_blank(row: list[str]) -> bool:
    return all(not cell.strip(ASCII_BLANK) for cell in row)


def _parse_csv(lines: Iterable[str], source: str) -> list[Board]:
    """Boards from CSV lines (line ends kept); a row, across all its lines, is at most MAX_LINE_BYTES characters."""
    row_chars = 0
    line = 1

    def bounded() -> Iterator[str]:
        nonlocal row_chars
        for text in lines:
            row_chars += len(text)
            if row_chars > MAX_LINE_BYTES:
                raise RowError(source, line, f"row is longer than {MAX_LINE_BYTES} characters")
            yield text

    reader = csv.reader(bounded(), strict=True)
    boards: list[Board] = []
    header: list[str] | None = None
    try:
        while True:
            line = reader.line_num + 1  # the physical line this row starts on
            row_chars = 0
            row = next(reader, None)
            if row is None:
                break
            if not row or _is_blank(row):
                continue
            if header is None:
                header = [cell.strip(ASCII_BLANK) for cell in row]
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


def parse_csv_text(text: str, source: str = "<csv>") -> list[Board]:
    """Boards from CSV text: a header row naming the columns, then one board per row.

    Errors carry the physical line number on which the offending row starts.
    """
    return _parse_csv(_text_lines(text, source, universal=True), source)


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in pairs:
        if k in out:
            raise _FieldError(f"key {k!r} appears twice")
        out[k] = v
    return out


def _json_int(digits: str) -> int:
    """A JSON integer, refused beyond MAX_JSON_INT_DIGITS digits (int() of more is slow or refused)."""
    n = len(digits) - digits.startswith("-")
    if n > MAX_JSON_INT_DIGITS:
        raise _FieldError(f"integer of {n} digits is too long (at most {MAX_JSON_INT_DIGITS} digits)")
    return int(digits)


def _check_depth(value: object, levels_left: int) -> None:
    """Refuse ``value`` when its arrays/objects nest more than ``levels_left`` levels deep."""
    if isinstance(value, (list, dict)):
        if levels_left <= 0:
            raise _FieldError(f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
        for item in value.values() if isinstance(value, dict) else value:
            _check_depth(item, levels_left - 1)


def _parse_jsonl(lines: Iterable[str], source: str) -> list[Board]:
    """Boards from JSON lines (split at ``\\n`` only: a raw U+2028 inside a string is valid JSON)."""
    boards: list[Board] = []
    last = 0
    for line_no, line in enumerate(lines, start=1):
        last = line_no
        if not line.strip(_JSON_BLANK):
            continue
        try:
            obj = json.loads(line, object_pairs_hook=_no_duplicate_keys, parse_int=_json_int)
            if not isinstance(obj, dict):
                raise _FieldError("each line must be a JSON object")
            _check_depth(obj, MAX_JSON_DEPTH)
            _check_columns(list(obj))
            boards.append(board_from_fields(obj, text=False))
        except json.JSONDecodeError as exc:
            raise RowError(source, line_no, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        except RecursionError:  # deeper than the parser goes, so deeper than MAX_JSON_DEPTH too
            raise RowError(source, line_no, f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
        except _FieldError as exc:
            raise RowError(source, line_no, str(exc)) from None
        _check_count(boards, source, line_no)
    if not boards:
        raise RowError(source, max(last, 1), "no data rows (a dataset needs at least one board)")
    return boards


def parse_jsonl_text(text: str, source: str = "<jsonl>") -> list[Board]:
    """Boards from JSON lines: one object per non-blank line, keys as the CSV columns."""
    return _parse_jsonl(_text_lines(text, source, universal=False), source)


def read_csv(path: str | os.PathLike[str], *, max_bytes: int = MAX_INPUT_BYTES) -> list[Board]:
    """Boards from a CSV file (UTF-8, optional BOM, at most ``max_bytes``), streamed line by line."""
    with _open_input(path, max_bytes) as f:
        return _parse_csv(_lines(f, str(path), max_bytes, universal=True), str(path))


def read_jsonl(path: str | os.PathLike[str], *, max_bytes: int = MAX_INPUT_BYTES) -> list[Board]:
    """Boards from a JSON-lines file (UTF-8, optional BOM, at most ``max_bytes``), streamed line by line."""
    with _open_input(path, max_bytes) as f:
        return _parse_jsonl(_lines(f, str(path), max_bytes, universal=False), str(path))


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
