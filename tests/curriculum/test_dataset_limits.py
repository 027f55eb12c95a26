"""Dataset limits pinned at their exact boundaries (issue 15 item 8).

A mutation run found these checks could change unnoticed: a file of exactly ``max_bytes``
(accepted) against one byte more (refused by the size limit, not by any other check), the
record count read as all four header bytes (a mutant that read three accepted 16,777,218
records), and exactly ``MAX_RECORDS`` records against one more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import zstandard

from curriculum.cli import EXIT_DATA, EXIT_OK, main
from curriculum.dataset import (
    HEADER_SIZE,
    MAX_DATASET_BYTES,
    MAX_RECORDS,
    compress_payload,
    decode_dataset,
    encode_payload_records,
    parse_payload,
    records_of,
)
from curriculum.errors import DatasetFormatError, DatasetTooLargeError
from curriculum.files import read_dataset_bytes
from kernel.board import Board
from tests.curriculum.helpers import dataset_file_of_size


@pytest.fixture(scope="module")
def at_limit(example_boards: list[Board]) -> tuple[bytes, int]:
    return dataset_file_of_size(example_boards, MAX_DATASET_BYTES)


@pytest.fixture(scope="module")
def over_limit(example_boards: list[Board]) -> bytes:
    return dataset_file_of_size(example_boards, MAX_DATASET_BYTES + 1)[0]


def test_a_file_of_exactly_max_bytes_is_accepted(at_limit: tuple[bytes, int], tmp_path: Path) -> None:
    data, n = at_limit
    assert len(data) == MAX_DATASET_BYTES == 262_144
    assert len(decode_dataset(data)) == n
    f = tmp_path / "max.zst"
    f.write_bytes(data)
    assert read_dataset_bytes(f) == data


def test_one_byte_more_is_refused_by_the_size_limit(over_limit: bytes, tmp_path: Path) -> None:
    """The file is otherwise valid: only the size limit can refuse it."""
    assert len(over_limit) == MAX_DATASET_BYTES + 1
    assert len(decode_dataset(over_limit, max_bytes=MAX_DATASET_BYTES + 1)) > 0
    with pytest.raises(DatasetTooLargeError, match=f"{MAX_DATASET_BYTES + 1} bytes, over the limit of {MAX_DATASET_BYTES}"):
        decode_dataset(over_limit)
    f = tmp_path / "over.zst"
    f.write_bytes(over_limit)
    with pytest.raises(DatasetTooLargeError, match=f"over the limit of {MAX_DATASET_BYTES}"):
        read_dataset_bytes(f)


def test_cli_commit_at_and_over_the_limit(at_limit: tuple[bytes, int], over_limit: bytes, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "max.zst").write_bytes(at_limit[0])
    (tmp_path / "over.zst").write_bytes(over_limit)
    assert main(["commit", str(tmp_path / "max.zst")]) == EXIT_OK
    assert main(["commit", str(tmp_path / "over.zst")]) == EXIT_DATA
    assert f"over the limit of {MAX_DATASET_BYTES}" in capsys.readouterr().err


@pytest.mark.parametrize("count", [0x0100_0002, 0x8000_0002, 0x0002_0002, MAX_RECORDS + 1])
def test_record_count_is_all_four_header_bytes(example_boards: list[Board], count: int) -> None:
    """Two records whose header count differs from 2 only in a high byte are refused, not read as 2."""
    payload = encode_payload_records(records_of(example_boards[:2]))
    bad = payload[:8] + count.to_bytes(4, "big") + payload[HEADER_SIZE:]
    with pytest.raises(DatasetTooLargeError, match=f"declares {count} records, over the limit of {MAX_RECORDS}"):
        parse_payload(bad)
    with pytest.raises(DatasetTooLargeError):
        decode_dataset(compress_payload(bad))


def test_exactly_max_records_is_accepted_and_one_more_refused(example_boards: list[Board]) -> None:
    """The count limit is checked before the (slow) record validation, so the records are not revalidated here."""
    records = records_of(example_boards) * (MAX_RECORDS // len(example_boards) + 1)
    full = records[: MAX_RECORDS * 28]
    payload = encode_payload_records(full)
    assert len(parse_payload(payload, validate_records=False)) == MAX_RECORDS * 28
    with pytest.raises(DatasetTooLargeError, match=f"at most {MAX_RECORDS} records"):
        encode_payload_records(full + records[:28])
    over = b"CBDS\x00\x01\x00\x1c" + (MAX_RECORDS + 1).to_bytes(4, "big") + full + records[:28]
    with pytest.raises(DatasetTooLargeError):
        decode_dataset(zstandard.ZstdCompressor(level=1).compress(over))


@pytest.mark.parametrize("value", [None, 42, "CBDS", [1, 2, 3]])
def test_non_bytes_is_refused_with_the_readers_error(value: object) -> None:
    with pytest.raises(DatasetFormatError):
        decode_dataset(value)  # type: ignore[arg-type]
