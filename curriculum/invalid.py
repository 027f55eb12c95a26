"""The on-chain proof that a committed dataset is invalid (SPEC §10.6 *Fault*, BisectionGame.proveInvalidDataset).

A spec-version-2 beast commits its records by ``recordsRoot = keccak256(u32_be(LEN) || merkle_root)``
(SPEC §10.2). When the owner's file (its bytes match C_dataset) is not a valid dataset but its
records still open that root, the fault can be shown on chain without the owner secret:

* ``LEN`` is 0 (or over MAX_RECORDS, which no file this reader decodes can hold), or
* one record, proven under ``merkle_root`` by its path, is not a valid board record (SPEC §2.3).

:func:`invalid_dataset_proof` builds that proof from the file, or returns None when the file's
invalidity is of another kind (not one zstd frame, a bad header, a length that disagrees with the
content, a records root that is not the hatch's): then nobody can show it on chain, and the loaders
keep refusing the file (SPEC §10.6). Decoding is bounded as :func:`curriculum.dataset.decompress_frame`
is: never more than MAX_CONTENT_SIZE bytes of content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from curriculum.dataset import FORMAT_VERSION, HEADER_SIZE, MAGIC, decompress_frame
from curriculum.errors import CurriculumError
from curriculum.records import ZERO32, records_tree
from kernel.board import RECORD_SIZE, decode_record
from kernel.errors import BoardError
from kernel.hashing import keccak256

EMPTY_MERKLE_ROOT: Final = ZERO32  # the single (padding) leaf of a tree of 0 records (SPEC §10.2, D = 0)


@dataclass(frozen=True, slots=True, repr=False)
class InvalidDatasetProof:
    """proveInvalidDataset's arguments after the game id, and why the dataset is invalid.

    ``record`` is private dataset content (an invalid one, but the owner's): it stays out of ``repr``.
    """

    dataset_len: int
    merkle_root: bytes
    index: int  # the invalid record's index (0 when the length is the fault)
    record: bytes  # b"" when the length is the fault
    path: tuple[bytes, ...]
    reason: str  # public: the index and the rule the record breaks, never its bytes

    @property
    def records_root(self) -> bytes:
        """The recordsRoot the proof opens: keccak256(u32_be(dataset_len) || merkle_root)."""
        return keccak256(self.dataset_len.to_bytes(4, "big") + self.merkle_root)

    def args(self) -> tuple[Any, ...]:
        """(datasetLen, merkleRoot, index, record, path) as the bindings take them."""
        return (self.dataset_len, self.merkle_root, self.index, self.record, list(self.path))

    def __repr__(self) -> str:
        return f"InvalidDatasetProof(len={self.dataset_len}, index={self.index}, reason={self.reason!r})"


def invalid_dataset_proof(data: bytes, records_root: bytes) -> InvalidDatasetProof | None:
    """The proof that the dataset file ``data`` committed under ``records_root`` is invalid, or None
    when its invalidity (if any) cannot be shown on chain (module docstring)."""
    try:
        content = decompress_frame(bytes(data))
    except CurriculumError:
        return None
    if (len(content) < HEADER_SIZE or content[:4] != MAGIC or int.from_bytes(content[4:6], "big") != FORMAT_VERSION
            or int.from_bytes(content[6:8], "big") != RECORD_SIZE):
        return None
    count = int.from_bytes(content[8:12], "big")
    if len(content) != HEADER_SIZE + count * RECORD_SIZE:
        return None
    if count == 0:
        proof = InvalidDatasetProof(0, EMPTY_MERKLE_ROOT, 0, b"", (), "the dataset holds no records (LEN 0)")
        return proof if proof.records_root == bytes(records_root) else None
    records = content[HEADER_SIZE:]
    tree = records_tree(records)  # count <= MAX_RECORDS: the content is at most MAX_CONTENT_SIZE bytes
    if tree.records_root != bytes(records_root):
        return None
    for i in range(count):
        rec = records[i * RECORD_SIZE : (i + 1) * RECORD_SIZE]
        try:
            decode_record(rec)
        except BoardError as exc:
            return InvalidDatasetProof(count, tree.merkle_root, i, rec, tuple(tree.path(i)),
                                       f"record {i} is not a valid board record ({exc})")
    return None


__all__ = ["EMPTY_MERKLE_ROOT", "InvalidDatasetProof", "invalid_dataset_proof"]
