"""Dataset file format: round trips, commitment, and every refusal of SPEC §10.2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zstandard

from curriculum.dataset import (
    HEADER_SIZE,
    MAGIC,
    MAX_DATASET_BYTES,
    MAX_RECORDS,
    compress_payload,
    dataset_commitment,
    decode_dataset,
    encode_dataset,
    encode_payload_records,
    records_of,
)
from curriculum.errors import CurriculumError, DatasetFormatError, DatasetTooLargeError, OutputExistsError
from curriculum.files import load_dataset, read_dataset_bytes, write_dataset
from curriculum.importers import read_csv
from kernel.board import Board, decode_record, encode_record
from kernel.hashing import keccak256
from tests.curriculum.helpers import EXAMPLE_COMMITMENT, EXAMPLE_CSV, EXAMPLE_RECORDS, listing, patch_content_size


def _payload(boards: list[Board]) -> bytes:
    return encode_payload_records(records_of(boards))


def test_round_trip_csv_to_records(example_boards: list[Board], tmp_path: Path) -> None:
    out = tmp_path / "dataset.zst"
    written = write_dataset(out, example_boards)
    loaded = load_dataset(out)
    assert len(loaded) == EXAMPLE_RECORDS
    assert loaded.records == written.records == records_of(example_boards)
    assert loaded.boards() == example_boards
    assert all(decode_record(loaded.record(i)) == b for i, b in enumerate(example_boards))
    assert loaded.commitment == keccak256(out.read_bytes())
    assert os.stat(out).st_mode & 0o777 == 0o600


def test_example_commitment_is_stable(example_boards: list[Board]) -> None:
    data = encode_dataset(read_csv(EXAMPLE_CSV))
    assert "0x" + dataset_commitment(data).hex() == EXAMPLE_COMMITMENT
    assert encode_dataset(example_boards) == data


def test_writer_parameters() -> None:
    """One frame, content size written, no checksum, no dictionary id."""
    boards = read_csv(EXAMPLE_CSV)[:3]
    params = zstandard.get_frame_parameters(encode_dataset(boards))
    assert params.content_size == HEADER_SIZE + 3 * 28
    assert not params.has_checksum
    assert params.dict_id == 0


def test_header_layout(example_boards: list[Board]) -> None:
    payload = _payload(example_boards[:2])
    assert payload[:HEADER_SIZE] == b"CBDS" + bytes([0, 1, 0, 28, 0, 0, 0, 2])
    assert payload[HEADER_SIZE:] == encode_record(example_boards[0]) + encode_record(example_boards[1])


def test_commitment_hashes_file_bytes_not_content(example_boards: list[Board]) -> None:
    """The same content compressed differently is a different dataset commitment."""
    payload = _payload(example_boards[:10])
    other = zstandard.ZstdCompressor(level=1, write_content_size=True).compress(payload)
    a, b = decode_dataset(compress_payload(payload)), decode_dataset(other)
    assert a.records == b.records
    assert a.commitment != b.commitment == keccak256(other)


def test_frame_with_checksum_is_accepted(example_boards: list[Board]) -> None:
    data = zstandard.ZstdCompressor(level=3, write_checksum=True).compress(_payload(example_boards[:4]))
    assert len(decode_dataset(data)) == 4


def test_single_record_dataset(example_boards: list[Board]) -> None:
    assert len(decode_dataset(encode_dataset(example_boards[:1]))) == 1


def test_repr_hides_records(example_boards: list[Board]) -> None:
    ds = decode_dataset(encode_dataset(example_boards[:2]))
    assert repr(ds).startswith("Dataset(commitment=0x") and "records=2" in repr(ds)
    assert ds.records.hex() not in repr(ds)


# --- refusals -------------------------------------------------------------------------


def _refuses(data: bytes, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        decode_dataset(data)


def test_truncated_frame(example_boards: list[Board]) -> None:
    data = encode_dataset(example_boards)
    for cut in (1, 3, 5, 17, len(data) // 2, len(data) - 1):
        with pytest.raises(DatasetFormatError):
            decode_dataset(data[:cut])


def test_trailing_bytes(example_boards: list[Board]) -> None:
    data = encode_dataset(example_boards[:5])
    _refuses(data + b"\x00", DatasetFormatError, "trailing bytes")
    _refuses(data + data, DatasetFormatError, "trailing bytes")


def test_not_zstd() -> None:
    _refuses(b"CBDS\x00\x01\x00\x1c", DatasetFormatError, "not a zstd frame")
    _refuses(b"", DatasetFormatError, "not a zstd frame")
    skippable = (0x184D2A50).to_bytes(4, "little") + (0).to_bytes(4, "little")
    _refuses(skippable, DatasetFormatError, "not a zstd frame")


def test_no_content_size(example_boards: list[Board]) -> None:
    cobj = zstandard.ZstdCompressor(level=3).compressobj()
    data = cobj.compress(_payload(example_boards[:5])) + cobj.flush()
    assert zstandard.get_frame_parameters(data).content_size == zstandard.CONTENTSIZE_UNKNOWN
    _refuses(data, DatasetFormatError, "does not declare its content size")


def test_zstd_bomb_declared_size(example_boards: list[Board]) -> None:
    """64 MiB of zeros compresses to a few kB; the declared size is refused before decompressing."""
    payload = _payload(example_boards[:1]) + bytes(64 << 20)
    data = zstandard.ZstdCompressor(level=3).compress(payload)
    assert len(data) < MAX_DATASET_BYTES
    _refuses(data, DatasetTooLargeError, "over the format limit")


def test_zstd_bomb_lying_size(example_boards: list[Board]) -> None:
    """A frame that claims one record but holds 64 MiB is refused without inflating it."""
    payload = _payload(example_boards[:1]) + bytes(64 << 20)
    data = patch_content_size(zstandard.ZstdCompressor(level=3).compress(payload), HEADER_SIZE + 28)
    assert zstandard.get_frame_parameters(data).content_size == HEADER_SIZE + 28
    _refuses(data, DatasetFormatError, "zstd")


def test_dictionary_frame_refused(example_boards: list[Board]) -> None:
    samples = [_payload(example_boards[i : i + 3]) for i in range(0, 300, 3)]
    dictionary = zstandard.train_dictionary(1024, samples)
    data = zstandard.ZstdCompressor(dict_data=dictionary).compress(samples[0])
    _refuses(data, DatasetFormatError, "dictionary")


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: b"XBDS" + p[4:], "bad dataset magic"),
        (lambda p: p[:4] + b"\x00\x02" + p[6:], "unsupported dataset format version 2"),
        (lambda p: p[:6] + b"\x00\x1d" + p[8:], "record size is 29"),
        (lambda p: p[:8] + (3).to_bytes(4, "big") + p[12:], "declares 3 records"),
        (lambda p: p[:8] + bytes(4) + p[12:], "no records"),
        (lambda p: p[:8] + (MAX_RECORDS + 1).to_bytes(4, "big") + p[12:], "over the limit"),
        (lambda p: p[:HEADER_SIZE - 4], "shorter than"),
        (lambda p: p[: HEADER_SIZE + 16] + p[HEADER_SIZE + 17 : HEADER_SIZE + 18] + p[HEADER_SIZE + 17 :], "record 0 is invalid"),
        (lambda p: p[: HEADER_SIZE + 28 + 18] + b"\x00" + p[HEADER_SIZE + 28 + 19 :], "record 1 is invalid"),
    ],
    ids=["magic", "version", "record-size", "count-mismatch", "zero-records", "too-many", "short", "same-tile", "dead"],
)
def test_bad_content(example_boards: list[Board], mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    payload = _payload(example_boards[:2])
    bad = compress_payload(mutate(payload))
    with pytest.raises(DatasetFormatError, match=match):
        decode_dataset(bad)


def test_oversize_file(example_boards: list[Board], tmp_path: Path) -> None:
    data = encode_dataset(example_boards)
    with pytest.raises(DatasetTooLargeError, match="over the limit of 100"):
        decode_dataset(data, max_bytes=100)
    big = tmp_path / "big.zst"
    big.write_bytes(data + bytes(MAX_DATASET_BYTES))
    with pytest.raises(DatasetTooLargeError, match=f"over the limit of {MAX_DATASET_BYTES}"):
        read_dataset_bytes(big)
    with pytest.raises(DatasetTooLargeError):
        load_dataset(big)


def test_write_refuses_oversize_and_writes_nothing(example_boards: list[Board], tmp_path: Path) -> None:
    with pytest.raises(DatasetTooLargeError):
        write_dataset(tmp_path / "d.zst", example_boards, max_bytes=64)
    assert listing(tmp_path) == []


def test_write_refuses_overwrite(example_boards: list[Board], tmp_path: Path) -> None:
    out = tmp_path / "d.zst"
    out.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError):
        write_dataset(out, example_boards)
    assert out.read_bytes() == b"keep me" and listing(tmp_path) == ["d.zst"]
    write_dataset(out, example_boards, overwrite=True)
    assert len(load_dataset(out)) == EXAMPLE_RECORDS


def test_load_refuses_wrong_commitment_before_decoding(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.zst"
    bogus.write_bytes(b"not even zstd")
    with pytest.raises(CurriculumError, match="dataset commitment mismatch"):
        load_dataset(bogus, expected_commitment=b"\x11" * 32)
    with pytest.raises(CurriculumError, match="no private curriculum"):
        load_dataset(bogus, expected_commitment=bytes(32))


def test_load_refuses_non_regular_and_missing(tmp_path: Path) -> None:
    with pytest.raises(CurriculumError, match="not a regular file"):
        load_dataset(tmp_path)
    with pytest.raises(CurriculumError, match="cannot open dataset file .*No such file"):
        load_dataset(tmp_path / "missing.zst")


def test_encode_refuses_empty_and_too_many(example_boards: list[Board]) -> None:
    with pytest.raises(DatasetFormatError):
        encode_dataset([])
    with pytest.raises(DatasetTooLargeError):
        encode_payload_records(encode_record(example_boards[0]) * (MAX_RECORDS + 1))
    assert MAGIC == b"CBDS"
