"""The fuzz corpus as a test: every reader either accepts and round-trips, or refuses with its own error.

Surfaces: the state decoder (``decode_state_blob``, ``from_bytes``), the dataset decoder
(``decode_dataset``), the CSV and JSON-lines importers (text and files), and the checkpoint
word (``Payload.unpack``, ``Payload.from_hex``). Each runs a few hundred generated cases
(mutations of a valid input, plus arbitrary input) with a per-case deadline; any exception
other than the package's own error type fails the test, and so does an accepted input that
does not round-trip. Issue 15: "keep the fuzz corpus you build as a test".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zstandard
from hypothesis import example, given
from hypothesis import strategies as st

from curriculum.dataset import compress_payload, decode_dataset, encode_dataset, encode_payload_records, records_of
from curriculum.errors import CurriculumError, DatasetFormatError
from curriculum.importers import (
    COLUMNS,
    boards_to_csv,
    parse_csv_text,
    parse_jsonl_text,
    read_csv,
    read_jsonl,
)
from kernel.board import Board
from kernel.errors import PayloadError, StateBlobError
from kernel.hashing import keccak256
from kernel.payload import Payload
from kernel.sources import draw_board
from kernel.state import decode_state_blob, encode_state_blob, from_bytes, genesis
from tests.curriculum.helpers import boards_to_jsonl
from tests.fuzz.mutations import FUZZ, TEXT_INSERT, mutated_bytes, mutated_text, near

BOARDS: list[Board] = [draw_board(k, None) for k in range(6)]
STATE = genesis(keccak256(b"fuzz corpus"))
STATE_RAW = STATE.to_bytes()
STATE_BLOB = encode_state_blob(STATE)
DATASET = encode_dataset(BOARDS)
PAYLOAD = encode_payload_records(records_of(BOARDS))
CSV_TEXT = boards_to_csv(BOARDS)
JSONL_TEXT = boards_to_jsonl(BOARDS)
WORD = Payload(bytes(range(16)), 128, 10**9, 0b0011, 6, 0b101).pack()
SKIPPABLE = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"


def near_frames(valid: bytes, *more: bytes) -> Callable[[Callable[[bytes], None]], Callable[..., None]]:
    """FUZZ a reader of one zstd frame with inputs near the ``valid`` file, always including what
    follows a complete frame: a stray zero byte, the whole file again, a skippable frame (and ``more``)."""

    def fuzz(test: Callable[[bytes], None]) -> Callable[..., None]:
        for case in reversed((valid + b"\x00", valid + valid, valid + SKIPPABLE, *more)):
            test = example(case)(test)
        return FUZZ(given(near(valid))(test))

    return fuzz


def _zstd(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=1).compress(raw)


def _one_frame_content(data: bytes) -> bytes:
    """The content of ``data``, asserting it is exactly one complete zstd frame and nothing else."""
    dobj = zstandard.ZstdDecompressor().decompressobj()
    content = dobj.decompress(data)
    assert dobj.eof and dobj.unused_data == b"", "accepted input is not exactly one zstd frame"
    return content


# --- state decoder -------------------------------------------------------------------


def _check_state_blob(blob: bytes) -> None:
    try:
        state = decode_state_blob(blob)
    except StateBlobError:
        return
    raw = _one_frame_content(blob)
    assert state.to_bytes() == raw  # accepted means: the canonical bytes are exactly what was sent
    again = decode_state_blob(encode_state_blob(state))
    assert again.to_bytes() == raw and again.h128() == state.h128()


@near_frames(STATE_BLOB, SKIPPABLE + STATE_BLOB)
def test_state_blob(blob: bytes) -> None:
    _check_state_blob(blob)


@FUZZ
@given(mutated_bytes(STATE_RAW))
def test_state_blob_of_mutated_canonical_bytes(raw: bytes) -> None:
    """Well-formed frames around malformed state bytes reach the parser behind the frame checks."""
    _check_state_blob(_zstd(raw))
    try:
        state = from_bytes(raw)
    except StateBlobError:
        return
    assert state.to_bytes() == raw


# --- dataset decoder -----------------------------------------------------------------


def _check_dataset(data: bytes) -> None:
    try:
        ds = decode_dataset(data)
    except DatasetFormatError:
        return
    assert ds.commitment == keccak256(data)
    content = _one_frame_content(data)
    assert ds.payload() == content
    assert decode_dataset(compress_payload(ds.payload())).records == ds.records
    assert encode_dataset(ds.boards()) == compress_payload(content)


@near_frames(DATASET)
def test_dataset_file(data: bytes) -> None:
    _check_dataset(data)


@FUZZ
@given(mutated_bytes(PAYLOAD))
def test_dataset_of_mutated_content(payload: bytes) -> None:
    _check_dataset(_zstd(payload))


# --- importers -----------------------------------------------------------------------


def _check_csv(parse, arg) -> None:  # type: ignore[no-untyped-def]
    try:
        boards = parse(arg)
    except CurriculumError:
        return
    assert boards and all(isinstance(b, Board) for b in boards)
    assert parse_csv_text(boards_to_csv(boards)) == boards


def _check_jsonl(parse, arg) -> None:  # type: ignore[no-untyped-def]
    try:
        boards = parse(arg)
    except CurriculumError:
        return
    assert boards and all(isinstance(b, Board) for b in boards)
    assert parse_jsonl_text(boards_to_jsonl(boards)) == boards


csv_texts = st.one_of(mutated_text(CSV_TEXT), mutated_text(CSV_TEXT), st.lists(TEXT_INSERT, max_size=40).map("".join))
jsonl_texts = st.one_of(mutated_text(JSONL_TEXT), mutated_text(JSONL_TEXT), st.text(max_size=200))


@FUZZ
@given(csv_texts)
@example(",".join(COLUMNS) + "\n" + "," * 200_000 + "\n")
@example(CSV_TEXT.replace(",", ",\u00a0", 3))
@example(CSV_TEXT.replace("\n", "\r"))
def test_csv_text(text: str) -> None:
    _check_csv(parse_csv_text, text)


@FUZZ
@given(jsonl_texts)
@example(JSONL_TEXT.replace("}\n", ', "battle_id": ' + "[" * 3000 + "]" * 3000 + "}\n", 1))
@example(JSONL_TEXT.replace("}\n", ', "turn": ' + "9" * 5000 + "}\n", 1))
@example(JSONL_TEXT.replace('"tiles": "', '"tiles": "\u2028', 1))
def test_jsonl_text(text: str) -> None:
    _check_jsonl(parse_jsonl_text, text)


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@FUZZ
@given(data=st.one_of(mutated_bytes(CSV_TEXT.encode(), 3), mutated_bytes(JSONL_TEXT.encode(), 3)))
@example(data=b"\xef\xbb\xbf" + CSV_TEXT.encode() + b"\xff\n")
def test_import_files(scratch: Path, data: bytes) -> None:
    """Bytes, not text: invalid UTF-8, a BOM and NUL bytes reach the file readers."""
    path = scratch / "input"
    path.write_bytes(data)
    _check_csv(read_csv, path)
    _check_jsonl(read_jsonl, path)
    os.unlink(path)


# --- checkpoint word -----------------------------------------------------------------


@FUZZ
@given(st.one_of(near(WORD), st.binary(min_size=32, max_size=32)))
def test_checkpoint_word_unpack(word: bytes) -> None:
    try:
        p = Payload.unpack(word)
    except PayloadError:
        return
    assert p.pack() == word and Payload.from_hex(p.hex()) == p


@FUZZ
@given(st.one_of(mutated_text("0x" + WORD.hex()), st.text(max_size=80)))
def test_checkpoint_word_from_hex(text: str) -> None:
    try:
        p = Payload.from_hex(text)
    except PayloadError:
        return
    assert Payload.unpack(p.pack()) == p and Payload.from_hex(p.hex()) == p
