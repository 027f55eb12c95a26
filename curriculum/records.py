"""The v2 records commitment R_dataset and Merkle paths of single records (SPEC §10.2).

C_dataset = keccak256(file bytes) cannot be opened one record at a time on chain, so a
spec-version-2 beast also commits to its records by a Merkle tree:

    leaf_i   = keccak256(record_i)            (the 28 record bytes), i < LEN
    leaf_i   = bytes32(0)                     LEN <= i < 2^D
    node     = keccak256(left || right)
    D        = smallest integer with 2^D >= LEN  (D = 0 for one record: the root is the leaf)
    R_dataset = keccak256(u32_be(LEN) || merkle_root)

A proof for record i is the D sibling hashes, bottom-up. The padding subtrees are all
zero leaves, so their hashes are the constants ``zero_node(k)`` and never recomputed:
a tree costs LEN + (number of real inner nodes) keccaks, about 262k for MAX_RECORDS.
Trees are cached per records content (small LRU), since a node asks for many paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from curriculum.dataset import HEADER_SIZE, MAGIC, MAX_RECORDS, Dataset
from curriculum.errors import RecordProofError
from kernel.board import RECORD_SIZE
from kernel.hashing import keccak256

HASH_SIZE: Final = 32
MAX_DEPTH: Final = (MAX_RECORDS - 1).bit_length()  # 17
ZERO32: Final = bytes(HASH_SIZE)

RecordsInput = Dataset | bytes | bytearray | Sequence[bytes]


def tree_depth(dataset_len: int) -> int:
    """D: the smallest integer with 2**D >= dataset_len (0 for one record)."""
    _check_len(dataset_len)
    return (dataset_len - 1).bit_length()


@lru_cache(maxsize=MAX_DEPTH + 1)
def zero_node(level: int) -> bytes:
    """The hash of an all-padding subtree of height ``level`` (level 0: the zero leaf)."""
    if level == 0:
        return ZERO32
    below = zero_node(level - 1)
    return keccak256(below + below)


def _check_len(dataset_len: object) -> None:
    if not isinstance(dataset_len, int) or isinstance(dataset_len, bool) or not 1 <= dataset_len <= MAX_RECORDS:
        raise RecordProofError(f"DATASET_LEN must be an integer in 1..{MAX_RECORDS}, got {dataset_len!r}")


def records_bytes(content_or_records: RecordsInput) -> bytes:
    """The concatenated 28-byte records of a Dataset, a decompressed dataset content
    (12-byte header + records), concatenated records, or a sequence of single records.

    The two byte forms cannot be confused: a content is 12 mod 28 bytes long, records 0 mod 28.
    """
    if isinstance(content_or_records, Dataset):
        return content_or_records.records
    if isinstance(content_or_records, (bytes, bytearray)):
        data = bytes(content_or_records)
        if len(data) % RECORD_SIZE == HEADER_SIZE and data[:4] == MAGIC:
            count = int.from_bytes(data[8:12], "big")
            if len(data) != HEADER_SIZE + count * RECORD_SIZE:
                raise RecordProofError(f"dataset content declares {count} records but holds {(len(data) - HEADER_SIZE) // RECORD_SIZE}")
            data = data[HEADER_SIZE:]
        if len(data) % RECORD_SIZE:
            raise RecordProofError(f"records are a whole number of {RECORD_SIZE}-byte records, got {len(data)} bytes")
        _check_len(len(data) // RECORD_SIZE)
        return data
    if isinstance(content_or_records, str):
        raise RecordProofError("records are bytes, not str")
    items = list(content_or_records)
    for i, rec in enumerate(items):
        if not isinstance(rec, (bytes, bytearray)) or len(rec) != RECORD_SIZE:
            raise RecordProofError(f"record {i} is not {RECORD_SIZE} bytes")
    _check_len(len(items))
    return b"".join(bytes(r) for r in items)


@dataclass(frozen=True, slots=True, repr=False)
class RecordsTree:
    """The Merkle tree of a dataset's records: ``levels[k]`` holds the real nodes of level k
    (level 0 = leaves) concatenated, 32 bytes each; absent nodes are ``zero_node(k)``.
    """

    dataset_len: int
    levels: tuple[bytes, ...]

    @property
    def depth(self) -> int:
        """D (len(levels) - 1)."""
        return len(self.levels) - 1

    @property
    def merkle_root(self) -> bytes:
        """The root (the single leaf when D = 0)."""
        return self.levels[-1][:HASH_SIZE]

    @property
    def records_root(self) -> bytes:
        """R_dataset = keccak256(u32_be(LEN) || merkle_root)."""
        return bind_root(self.dataset_len, self.merkle_root)

    def node(self, level: int, index: int) -> bytes:
        """Node ``index`` of ``level`` (a padding node when beyond the real ones)."""
        row = self.levels[level]
        start = index * HASH_SIZE
        return row[start : start + HASH_SIZE] if start < len(row) else zero_node(level)

    def path(self, index: int) -> list[bytes]:
        """The D sibling hashes of record ``index``, bottom-up."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.dataset_len:
            raise RecordProofError(f"record index {index!r} out of range 0..{self.dataset_len - 1}")
        return [self.node(level, (index >> level) ^ 1) for level in range(self.depth)]

    def __repr__(self) -> str:
        return f"RecordsTree(records={self.dataset_len}, depth={self.depth}, records_root=0x{self.records_root.hex()})"


def bind_root(dataset_len: int, merkle_root: bytes) -> bytes:
    """R_dataset from its two parts: keccak256(u32_be(dataset_len) || merkle_root)."""
    _check_len(dataset_len)
    if not isinstance(merkle_root, (bytes, bytearray)) or len(merkle_root) != HASH_SIZE:
        raise RecordProofError("a Merkle root is 32 bytes")
    return keccak256(dataset_len.to_bytes(4, "big") + bytes(merkle_root))


@lru_cache(maxsize=4)
def _tree_of(records: bytes) -> RecordsTree:
    n = len(records) // RECORD_SIZE
    level = b"".join([keccak256(records[i : i + RECORD_SIZE]) for i in range(0, len(records), RECORD_SIZE)])
    levels = [level]
    for k in range(tree_depth(n)):
        if (len(level) // HASH_SIZE) % 2:
            level += zero_node(k)  # the real row's last node pairs with a padding node
        level = b"".join([keccak256(level[i : i + 2 * HASH_SIZE]) for i in range(0, len(level), 2 * HASH_SIZE)])
        levels.append(level)
    return RecordsTree(dataset_len=n, levels=tuple(levels))


def records_tree(content_or_records: RecordsInput) -> RecordsTree:
    """The (cached) Merkle tree of the records (see :func:`records_bytes` for the accepted forms)."""
    return _tree_of(records_bytes(content_or_records))


def merkle_root(content_or_records: RecordsInput) -> bytes:
    """The Merkle root over the records (not yet bound to LEN)."""
    return records_tree(content_or_records).merkle_root


def records_root(content_or_records: RecordsInput) -> bytes:
    """R_dataset of the records: the value a v2 state's ``dataset_root`` and the hatch's ``recordsRoot`` hold."""
    return records_tree(content_or_records).records_root


def merkle_path(content_or_records: RecordsInput, index: int) -> list[bytes]:
    """The D sibling hashes (bottom-up) proving record ``index``."""
    return records_tree(content_or_records).path(index)


def root_from_path(record: bytes, index: int, path: Sequence[bytes]) -> bytes:
    """The Merkle root a path implies for ``record`` at ``index`` (len(path) = D levels).

    Raises RecordProofError on a record that is not 28 bytes, a sibling that is not 32
    bytes or an index that does not fit in len(path) levels.
    """
    if not isinstance(record, (bytes, bytearray)) or len(record) != RECORD_SIZE:
        raise RecordProofError(f"a record is {RECORD_SIZE} bytes")
    _check_path_type(path)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0 or index >> len(path):
        raise RecordProofError(f"record index {index!r} does not fit a path of {len(path)} levels")
    node = keccak256(bytes(record))
    for level, sibling in enumerate(path):
        if not isinstance(sibling, (bytes, bytearray)) or len(sibling) != HASH_SIZE:
            raise RecordProofError(f"path entry {level} is not 32 bytes")
        node = keccak256(node + bytes(sibling)) if (index >> level) & 1 == 0 else keccak256(bytes(sibling) + node)
    return node


def _check_path_type(path: object) -> None:
    if not isinstance(path, (list, tuple)):
        raise RecordProofError(f"a Merkle path is a list of 32-byte hashes, got {type(path).__name__}")


def verify_path(root: bytes, dataset_len: int, index: int, record: bytes, path: Sequence[bytes]) -> None:
    """Check that ``record`` is record ``index`` of the dataset committed by R_dataset ``root``.

    Checks, as the on-chain verifier does: 0 <= index < dataset_len, len(path) == D(dataset_len),
    and keccak256(u32_be(dataset_len) || root_from_path(...)) == root. Raises
    RecordProofError saying which check failed; returns None when the path proves the record.
    """
    _check_len(dataset_len)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < dataset_len:
        raise RecordProofError(f"record index {index!r} out of range 0..{dataset_len - 1}")
    depth = tree_depth(dataset_len)
    _check_path_type(path)
    if len(path) != depth:
        raise RecordProofError(f"a path for {dataset_len} records has {depth} entries, got {len(path)}")
    if not isinstance(root, (bytes, bytearray)) or len(root) != HASH_SIZE:
        raise RecordProofError("a records root is 32 bytes")
    if bind_root(dataset_len, root_from_path(record, index, path)) != bytes(root):
        raise RecordProofError(f"the path does not prove record {index} against the records root")


@dataclass(frozen=True, slots=True, repr=False)
class RecordProof:
    """What a dispute needs to open one record on chain: (LEN, merkle_root, record, path) and the index.

    ``record`` is private dataset content: it is not in ``repr``.
    """

    dataset_len: int
    merkle_root: bytes
    index: int
    record: bytes
    path: tuple[bytes, ...]

    @property
    def records_root(self) -> bytes:
        """R_dataset the proof is checked against."""
        return bind_root(self.dataset_len, self.merkle_root)

    def verify(self, root: bytes) -> None:
        """verify_path against R_dataset ``root`` (RecordProofError when it does not prove the record)."""
        verify_path(root, self.dataset_len, self.index, self.record, self.path)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (0x-hex strings); it contains the record, so it is private data."""
        return {
            "dataset_len": self.dataset_len,
            "merkle_root": "0x" + self.merkle_root.hex(),
            "records_root": "0x" + self.records_root.hex(),
            "index": self.index,
            "record": "0x" + self.record.hex(),
            "path": ["0x" + p.hex() for p in self.path],
        }

    def __repr__(self) -> str:
        return f"RecordProof(index={self.index}, dataset_len={self.dataset_len}, records_root=0x{self.records_root.hex()})"


def record_proof(content_or_records: RecordsInput, index: int) -> RecordProof:
    """The RecordProof of record ``index``."""
    data = records_bytes(content_or_records)
    tree = _tree_of(data)
    path = tree.path(index)
    return RecordProof(tree.dataset_len, tree.merkle_root, index, data[index * RECORD_SIZE : (index + 1) * RECORD_SIZE], tuple(path))
