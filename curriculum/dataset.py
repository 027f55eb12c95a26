"""The private-dataset file format (SPEC §10.2): header + 28-byte board records in one zstd frame.

A dataset file is committed to by ``C_dataset = keccak256(file bytes)``. Decoding never
re-compresses: the commitment is always the hash of the exact bytes read. Decoding is
bounded: the frame must declare its content size, that size is checked against the
format's limits before anything is decompressed, and decompression stops as soon as the
output would exceed it (a zstd bomb cannot make us allocate more).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import zstandard

from curriculum.errors import DatasetFormatError, DatasetTooLargeError
from kernel.board import RECORD_SIZE, Board, decode_record, encode_record
from kernel.errors import BoardError, ZstdFrameError
from kernel.hashing import keccak256
from kernel.zstd_frame import single_frame_parameters

MAGIC: Final = b"CBDS"  # ChainBeasts DataSet
FORMAT_VERSION: Final = 1
HEADER_SIZE: Final = 12  # magic(4) | version u16 BE | record_size u16 BE | record_count u32 BE
MAX_RECORDS: Final = 1 << 17  # 131072 records: 3,670,028 decompressed bytes at most
MAX_DATASET_BYTES: Final = 262144  # the season default (maxDatasetBytes): 256 KiB compressed (a season may set at most 384 KiB)
MAX_CONTENT_SIZE: Final = HEADER_SIZE + MAX_RECORDS * RECORD_SIZE
# The most file bytes a dispute tool reads whatever the season's limit (SPEC §10.6 *Fault*): above
# zstd's worst case for MAX_CONTENT_SIZE bytes of content (ZSTD_compressBound: 3,684,364), so any file a
# writer makes of a valid content fits, and the read stays bounded (no memory bomb).
MAX_FILE_BYTES: Final = 4 << 20

# Writer parameters (SPEC §10.2). Readers accept any frame meeting the format rules; these
# only make our own output reproducible byte for byte with the pinned zstandard version.
ZSTD_LEVEL: Final = 19
_READ_CHUNK: Final = 1 << 16


@dataclass(frozen=True, slots=True, repr=False)
class Dataset:
    """A decoded, validated dataset and the commitment of the file it came from.

    ``records`` is the concatenation of the ``len(self)`` 28-byte records; it is private
    data and kept out of ``repr``.
    """

    commitment: bytes  # keccak256 of the exact file bytes (C_dataset)
    records: bytes

    def __post_init__(self) -> None:
        if len(self.commitment) != 32:
            raise DatasetFormatError(f"a dataset commitment is 32 bytes, got {len(self.commitment)}")
        if not self.records or len(self.records) % RECORD_SIZE:
            raise DatasetFormatError("records must be a non-empty multiple of 28 bytes")

    def __len__(self) -> int:
        return len(self.records) // RECORD_SIZE

    def __repr__(self) -> str:
        return f"Dataset(commitment=0x{self.commitment.hex()}, records={len(self)})"

    def record(self, index: int) -> bytes:
        """The 28-byte record at ``index`` (0-based)."""
        if not 0 <= index < len(self):
            raise IndexError(f"record index {index} out of range 0..{len(self) - 1}")
        return self.records[index * RECORD_SIZE : (index + 1) * RECORD_SIZE]

    def board(self, index: int) -> Board:
        """The board at ``index``, decoded and validated by the kernel codec."""
        return decode_record(self.record(index))

    def boards(self) -> list[Board]:
        """All boards in record order."""
        return [self.board(i) for i in range(len(self))]

    def payload(self) -> bytes:
        """The decompressed file content: header followed by the records."""
        return encode_payload_records(self.records)


def dataset_commitment(data: bytes) -> bytes:
    """C_dataset of a dataset file: keccak256 of its exact bytes."""
    return keccak256(data)


def encode_payload_records(records: bytes) -> bytes:
    """Header + records for ``records``, a concatenation of 28-byte records."""
    count, rest = divmod(len(records), RECORD_SIZE)
    if rest or count == 0:
        raise DatasetFormatError("a dataset holds at least one whole 28-byte record")
    if count > MAX_RECORDS:
        raise DatasetTooLargeError(f"a dataset holds at most {MAX_RECORDS} records, got {count}")
    header = MAGIC + FORMAT_VERSION.to_bytes(2, "big") + RECORD_SIZE.to_bytes(2, "big") + count.to_bytes(4, "big")
    return header + records


def compress_payload(payload: bytes) -> bytes:
    """One zstd frame of ``payload`` with the writer parameters of SPEC §10.2."""
    cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=False, write_content_size=True, write_dict_id=False)
    return cctx.compress(payload)


def encode_dataset(boards: Iterable[Board], *, max_bytes: int = MAX_DATASET_BYTES) -> bytes:
    """The dataset file bytes for ``boards`` (each validated by the kernel codec).

    Raises DatasetTooLargeError when the result would exceed ``max_bytes``.
    """
    try:
        records = b"".join(encode_record(b) for b in boards)
    except BoardError as exc:
        raise DatasetFormatError(f"invalid board: {exc}") from exc
    data = compress_payload(encode_payload_records(records))
    if len(data) > max_bytes:
        raise DatasetTooLargeError(f"compressed dataset is {len(data)} bytes, over the limit of {max_bytes}")
    return data


def decompress_frame(data: bytes) -> bytes:
    """The content of ``data``, which must be exactly one zstd frame that declares its size.

    The declared content size is checked against MAX_CONTENT_SIZE before decompressing,
    and decompression reads at most one chunk past it, so output is bounded whatever the
    frame claims.
    """
    try:
        params = single_frame_parameters(data)
    except ZstdFrameError as exc:
        raise DatasetFormatError(f"a dataset file must be exactly one zstd frame: {exc}") from None
    if params.dict_id != 0:
        raise DatasetFormatError("zstd frame needs a dictionary; datasets must not use one")
    size = params.content_size
    if size == zstandard.CONTENTSIZE_UNKNOWN:
        raise DatasetFormatError("zstd frame does not declare its content size")
    if size > MAX_CONTENT_SIZE:
        raise DatasetTooLargeError(f"zstd frame declares {size} content bytes, over the format limit of {MAX_CONTENT_SIZE}")
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=False)
        while len(out) <= size:
            chunk = reader.read(_READ_CHUNK)
            if not chunk:
                break
            out += chunk
    except zstandard.ZstdError as exc:
        raise DatasetFormatError(f"zstd decompression failed: {exc}") from None
    if len(out) != size:
        raise DatasetFormatError(f"zstd frame declares {size} content bytes but decompresses to {len(out)}{'+' if len(out) > size else ''}")
    return bytes(out)


def parse_payload(payload: bytes, *, validate_records: bool = True) -> bytes:
    """Check the header of a decompressed dataset and return its records.

    With ``validate_records`` every record is decoded and validated (SPEC §2.2).
    """
    if len(payload) < HEADER_SIZE:
        raise DatasetFormatError(f"dataset content is {len(payload)} bytes, shorter than the {HEADER_SIZE}-byte header")
    if payload[:4] != MAGIC:
        raise DatasetFormatError(f"bad dataset magic {payload[:4]!r}, expected {MAGIC!r}")
    version = int.from_bytes(payload[4:6], "big")
    if version != FORMAT_VERSION:
        raise DatasetFormatError(f"unsupported dataset format version {version}, this reader knows {FORMAT_VERSION}")
    record_size = int.from_bytes(payload[6:8], "big")
    if record_size != RECORD_SIZE:
        raise DatasetFormatError(f"dataset record size is {record_size}, expected {RECORD_SIZE}")
    count = int.from_bytes(payload[8:12], "big")
    if count == 0:
        raise DatasetFormatError("dataset holds no records (DATASET_LEN must be >= 1)")
    if count > MAX_RECORDS:
        raise DatasetTooLargeError(f"dataset declares {count} records, over the limit of {MAX_RECORDS}")
    if len(payload) != HEADER_SIZE + count * RECORD_SIZE:
        raise DatasetFormatError(f"dataset header declares {count} records ({HEADER_SIZE + count * RECORD_SIZE} bytes) "
                                 f"but content is {len(payload)} bytes")
    records = payload[HEADER_SIZE:]
    if validate_records:
        for i in range(count):
            try:
                decode_record(records[i * RECORD_SIZE : (i + 1) * RECORD_SIZE])
            except BoardError as exc:
                raise DatasetFormatError(f"record {i} is invalid: {exc}") from None
    return records


def decode_dataset(data: bytes, *, max_bytes: int = MAX_DATASET_BYTES) -> Dataset:
    """Decode and fully validate dataset file bytes; the commitment is keccak256(data).

    Raises DatasetFormatError (DatasetTooLargeError for size limits) on anything SPEC §10.2
    refuses, a non-bytes value included.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise DatasetFormatError(f"dataset file content is bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DatasetTooLargeError(f"dataset file is {len(data)} bytes, over the limit of {max_bytes}")
    records = parse_payload(decompress_frame(data))
    return Dataset(commitment=dataset_commitment(data), records=records)


def records_of(boards: Sequence[Board]) -> bytes:
    """Concatenated records of ``boards`` (a convenience for tests and importers)."""
    return b"".join(encode_record(b) for b in boards)
