"""Reading and writing dataset files: bounded reads, commitment checks, atomic writes, cache."""

from __future__ import annotations

import os
from collections.abc import Iterable

from curriculum.cache import DatasetCache
from curriculum.dataset import (
    MAX_DATASET_BYTES,
    Dataset,
    dataset_commitment,
    decode_dataset,
    encode_dataset,
    parse_payload,
)
from curriculum.errors import CommitmentMismatchError, CurriculumError, DatasetTooLargeError, OutputExistsError
from curriculum.hexutil import ZERO32
from kernel.board import Board
from kernel.host import FileTooLargeError, HostError, atomic_write, read_file


def read_dataset_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_DATASET_BYTES) -> bytes:
    """The exact bytes of a dataset file, refusing non-regular files (a FIFO is refused, not
    waited on) and files over ``max_bytes`` (DatasetTooLargeError)."""
    try:
        return read_file(path, limit=max_bytes, what="dataset file")
    except FileTooLargeError as exc:
        raise DatasetTooLargeError(str(exc)) from None
    except HostError as exc:
        raise CurriculumError(str(exc)) from None


def write_private_file(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` atomically with mode 0600 (kernel.host.atomic_write); without ``overwrite``
    an existing ``path`` is never replaced (OutputExistsError) and nothing is written."""
    try:
        atomic_write(path, data, overwrite=overwrite)
    except FileExistsError:
        raise OutputExistsError(f"{path} already exists; refusing to overwrite it") from None


def check_commitment(what: str, expected: bytes | None, actual: bytes) -> None:
    """Raise CommitmentMismatchError when ``expected`` is given and differs from ``actual``."""
    if expected is None:
        return
    if len(expected) != 32:
        raise CurriculumError(f"expected {what} commitment must be 32 bytes, got {len(expected)}")
    if expected != actual:
        raise CommitmentMismatchError(what, expected, actual)


def load_dataset(
    path: str | os.PathLike[str],
    *,
    expected_commitment: bytes | None = None,
    max_bytes: int = MAX_DATASET_BYTES,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> Dataset:
    """Load a dataset file: hash its bytes, check the commitment, then decode (or use the cache).

    The commitment is checked before anything is decompressed. An all-zero expected
    commitment means "no private curriculum" and is refused.
    """
    if expected_commitment == ZERO32:
        raise CurriculumError("C_dataset is 0x00..00: this beast has no private curriculum")
    data = read_dataset_bytes(path, max_bytes=max_bytes)
    commitment = dataset_commitment(data)
    check_commitment("dataset", expected_commitment, commitment)
    cache = DatasetCache(cache_dir) if use_cache else None
    content = cache.get(commitment) if cache else None
    if content is not None:
        return Dataset(commitment=commitment, records=parse_payload(content, validate_records=False))
    dataset = decode_dataset(data, max_bytes=max_bytes)
    if cache:
        cache.put(commitment, dataset.payload())
    return dataset


def write_dataset(
    path: str | os.PathLike[str],
    boards: Iterable[Board],
    *,
    max_bytes: int = MAX_DATASET_BYTES,
    overwrite: bool = False,
) -> Dataset:
    """Encode ``boards`` and write the dataset file atomically (mode 0600); nothing is written on error.

    The written bytes are decoded again before the write, so a file this function
    produces always loads.
    """
    data = encode_dataset(boards, max_bytes=max_bytes)
    dataset = decode_dataset(data, max_bytes=max_bytes)
    write_private_file(path, data, overwrite=overwrite)
    return dataset
