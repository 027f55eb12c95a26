"""R_dataset, Merkle paths and their abuse (SPEC §10.2), against a naive re-implementation."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from curriculum.dataset import MAX_RECORDS, decode_dataset, encode_dataset
from curriculum.errors import CurriculumError, RecordProofError
from curriculum.records import (
    RecordProof,
    bind_root,
    merkle_path,
    merkle_root,
    record_proof,
    records_root,
    records_tree,
    root_from_path,
    tree_depth,
    verify_path,
    zero_node,
)
from kernel.board import Board


def naive_root(records: list[bytes]) -> bytes:
    """The spec text, literally: pad the leaf row with bytes32(0) to 2^D, hash pairs up to one node."""
    depth = 0
    while (1 << depth) < len(records):
        depth += 1
    row = [keccak(r) for r in records] + [bytes(32)] * ((1 << depth) - len(records))
    while len(row) > 1:
        row = [keccak(row[i] + row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def recs(n: int, salt: int = 0) -> list[bytes]:
    return [keccak(f"record {salt} {i}".encode())[:28] for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33])
def test_root_matches_naive_tree(n: int) -> None:
    rs = recs(n)
    assert merkle_root(rs) == naive_root(rs)
    assert merkle_root(b"".join(rs)) == naive_root(rs)
    assert records_root(rs) == keccak(n.to_bytes(4, "big") + naive_root(rs))
    assert records_tree(rs).depth == tree_depth(n) == (0 if n == 1 else (n - 1).bit_length())


def test_single_record_root_is_its_leaf() -> None:
    (r,) = recs(1)
    assert merkle_root([r]) == keccak(r)
    assert merkle_path([r], 0) == []
    verify_path(records_root([r]), 1, 0, r, [])


def test_padding_leaves_are_zero_not_hashed_zero() -> None:
    """A 3-record tree's fourth leaf is bytes32(0), so its pair node is keccak(leaf2 || 0^32)."""
    rs = recs(3)
    assert merkle_path(rs, 2)[0] == bytes(32)
    assert merkle_root(rs) == keccak(keccak(keccak(rs[0]) + keccak(rs[1])) + keccak(keccak(rs[2]) + bytes(32)))
    assert zero_node(1) == keccak(bytes(64))


def test_root_binds_length() -> None:
    """A dataset and the same records followed by padding-looking data differ: LEN is hashed in R."""
    rs = recs(3)
    assert merkle_root(rs) != merkle_root(rs[:2])
    assert bind_root(3, merkle_root(rs)) != bind_root(4, merkle_root(rs))


def test_accepts_dataset_content_and_records(example_boards: list[Board]) -> None:
    ds = decode_dataset(encode_dataset(example_boards))
    r = records_root(ds)
    assert r == records_root(ds.records) == records_root(ds.payload())
    assert r == records_root([ds.record(i) for i in range(len(ds))])
    assert r == keccak(len(ds).to_bytes(4, "big") + naive_root([ds.record(i) for i in range(len(ds))]))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 70), data=st.data())
def test_every_path_verifies_and_only_for_its_record(n: int, data: st.DataObject) -> None:
    rs = recs(n, salt=n)
    root = records_root(rs)
    i = data.draw(st.integers(0, n - 1))
    path = merkle_path(rs, i)
    assert len(path) == tree_depth(n)
    verify_path(root, n, i, rs[i], path)
    proof = record_proof(rs, i)
    assert proof.record == rs[i] and list(proof.path) == path and proof.records_root == root
    proof.verify(root)
    if n > 1:
        j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
        with pytest.raises(RecordProofError, match="does not prove"):
            verify_path(root, n, j, rs[i], path)  # the right record at another index
        with pytest.raises(RecordProofError, match="does not prove"):
            verify_path(root, n, i, rs[j], path)  # another record at this index


def test_largest_dataset_tree() -> None:
    """MAX_RECORDS records: depth 17, first/last paths prove, last leaf has no padding."""
    rs = b"".join(keccak(i.to_bytes(4, "big"))[:28] for i in range(MAX_RECORDS))
    tree = records_tree(rs)
    assert tree.depth == 17
    for i in (0, 1, MAX_RECORDS // 2 + 3, MAX_RECORDS - 1):
        verify_path(tree.records_root, MAX_RECORDS, i, rs[i * 28 : (i + 1) * 28], tree.path(i))
    with pytest.raises(RecordProofError, match="at most|1..131072"):
        records_root(rs + rs[:28])


# --- abuse ---------------------------------------------------------------------------


@pytest.fixture()
def five() -> tuple[list[bytes], bytes]:
    rs = recs(5)
    return rs, records_root(rs)


@pytest.mark.parametrize("bad_len", [0, 27, 29, 32])
def test_wrong_length_record(five: tuple[list[bytes], bytes], bad_len: int) -> None:
    rs, root = five
    with pytest.raises(RecordProofError, match="28 bytes"):
        verify_path(root, 5, 1, (rs[1] * 2)[:bad_len], merkle_path(rs, 1))


@pytest.mark.parametrize("cut", [-1, 1])
def test_path_of_wrong_length(five: tuple[list[bytes], bytes], cut: int) -> None:
    rs, root = five
    path = merkle_path(rs, 4)
    bad = path[:-1] if cut < 0 else [*path, bytes(32)]
    with pytest.raises(RecordProofError, match="has 3 entries"):
        verify_path(root, 5, 4, rs[4], bad)


def test_path_proving_a_padding_leaf_is_refused(five: tuple[list[bytes], bytes]) -> None:
    """Index 5..7 are padding leaves inside the 8-leaf tree: out of range, whatever path is shown."""
    rs, root = five
    for idx in (5, 7, 8, -1):
        with pytest.raises(RecordProofError, match="out of range"):
            verify_path(root, 5, idx, rs[0], merkle_path(rs, 0))
    with pytest.raises(RecordProofError, match="out of range"):
        merkle_path(rs, 5)


def test_tampered_sibling(five: tuple[list[bytes], bytes]) -> None:
    rs, root = five
    path = merkle_path(rs, 2)
    for level in range(len(path)):
        bad = list(path)
        bad[level] = bytes([bad[level][0] ^ 1]) + bad[level][1:]
        with pytest.raises(RecordProofError, match="does not prove record 2"):
            verify_path(root, 5, 2, rs[2], bad)
    with pytest.raises(RecordProofError, match="path entry 1 is not 32 bytes"):
        verify_path(root, 5, 2, rs[2], [path[0], path[1][:31], path[2]])


def test_wrong_length_or_root_claim(five: tuple[list[bytes], bytes]) -> None:
    """The same Merkle root with another LEN is another R_dataset: a path cannot move between them."""
    rs, root = five
    for n in (6, 8):  # same depth 3, different LEN
        with pytest.raises(RecordProofError, match="does not prove"):
            verify_path(root, n, 0, rs[0], merkle_path(rs, 0))
    with pytest.raises(RecordProofError, match="records root is 32 bytes"):
        verify_path(root[:31], 5, 0, rs[0], merkle_path(rs, 0))
    for n in (0, MAX_RECORDS + 1, True):
        with pytest.raises(RecordProofError, match="DATASET_LEN"):
            verify_path(root, n, 0, rs[0], [])


@settings(max_examples=300, deadline=None)
@given(
    root=st.one_of(st.binary(max_size=40), st.none(), st.integers()),
    n=st.one_of(st.integers(-2, 40), st.booleans(), st.none(), st.floats()),
    index=st.one_of(st.integers(-3, 40), st.booleans(), st.none(), st.text(max_size=2)),
    record=st.one_of(st.binary(max_size=40), st.text(max_size=28), st.none()),
    path=st.one_of(st.lists(st.one_of(st.binary(min_size=30, max_size=33), st.text(max_size=3), st.none()), max_size=7),
                   st.none(), st.binary(max_size=64), st.text(max_size=5)),
)
def test_garbage_proofs_raise_only_record_proof_error(root: object, n: object, index: object, record: object,
                                                      path: object) -> None:
    """Whatever a dispute poster sends, verification either proves or raises RecordProofError."""
    with pytest.raises(RecordProofError):
        verify_path(root, n, index, record, path)  # type: ignore[arg-type]


def test_inner_node_is_not_a_record(five: tuple[list[bytes], bytes]) -> None:
    """Second-preimage shape: an inner node's 64 bytes are not a 28-byte record, so it cannot be opened as one."""
    rs, root = five
    inner = keccak(rs[0]) + keccak(rs[1])
    with pytest.raises(RecordProofError, match="28 bytes"):
        root_from_path(inner, 0, merkle_path(rs, 2)[1:])


SHORT_CONTENT = b"CBDS" + b"\x00\x01\x00\x1c" + (2).to_bytes(4, "big") + b"\x00" * 28  # header says 2 records, holds 1


@pytest.mark.parametrize("bad", [b"", b"\x00" * 27, b"\x00" * 29, [b"\x00" * 28, b"\x00" * 27], "x" * 28, [], SHORT_CONTENT])
def test_malformed_records_input(bad: object) -> None:
    with pytest.raises(RecordProofError):
        records_root(bad)  # type: ignore[arg-type]
    assert issubclass(RecordProofError, CurriculumError)


def test_proof_repr_hides_record() -> None:
    rs = recs(5)
    proof = record_proof(rs, 3)
    assert isinstance(proof, RecordProof)
    assert rs[3].hex() not in repr(proof) and rs[3].hex() not in str(proof)
    assert rs[3].hex() not in repr(records_tree(rs))
    assert proof.to_json()["record"] == "0x" + rs[3].hex()
