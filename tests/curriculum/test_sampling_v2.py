"""spec_version 2 private sampling (SPEC §10.5) and the v2 PrivateDatasetSource."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from curriculum.dataset import decode_dataset, encode_dataset
from curriculum.errors import CommitmentMismatchError, CurriculumError, SamplingError
from curriculum.files import write_dataset
from curriculum.records import records_root, verify_path
from curriculum.sampling import SampleKey, sample_index, sample_index_v2, sample_indices_v2, sample_key_v2
from curriculum.secret import OwnerSecret, write_secret_file
from curriculum.source import PrivateDatasetSource, load_private_source
from kernel.board import Board
from kernel.context import SampleSource, WindowContext

TAG = b"chainbeasts/sample-key/v2"


def spec_index(seed: bytes, secret: bytes, g: int, n: int) -> int:
    key = keccak(TAG + seed + secret)
    return int.from_bytes(keccak(key + g.to_bytes(4, "big")), "big") % n


@settings(max_examples=300, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    secret=st.binary(min_size=32, max_size=32),
    g=st.integers(0, 2**32 - 1),
    n=st.integers(1, 2**17),
)
def test_index_matches_formula(seed: bytes, secret: bytes, g: int, n: int) -> None:
    key = sample_key_v2(seed, secret)
    assert key.reveal() == keccak(TAG + seed + secret) and len(TAG) == 25
    idx = sample_index_v2(key, g, n)
    assert idx == spec_index(seed, secret, g, n) == sample_index_v2(key.reveal(), g, n)
    assert 0 <= idx < n


def test_every_secret_bit_counts() -> None:
    """v1's fold64 cancels a secret with equal 8-byte words to 0 and ignores swapped words; v2 does not."""
    seed = b"\x11" * 32
    same_words = b"\xab" * 8 * 4
    swapped = b"\xab" * 8 * 2 + b"\xcd" * 8 * 2
    swapped2 = b"\xcd" * 8 * 2 + b"\xab" * 8 * 2
    zero = bytes(32)
    assert [sample_index(seed, same_words, g, 1 << 17) for g in range(16)] == [sample_index(seed, zero, g, 1 << 17) for g in range(16)]
    assert [sample_index(seed, swapped, g, 1 << 17) for g in range(16)] == [sample_index(seed, swapped2, g, 1 << 17) for g in range(16)]
    keys = {sample_key_v2(seed, s).reveal() for s in (same_words, zero, swapped, swapped2)}
    assert len(keys) == 4
    base = sample_key_v2(seed, zero)
    for bit in range(256):  # every single-bit change of S_owner changes the key
        flipped = bytearray(32)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert sample_key_v2(seed, bytes(flipped)) != base


def test_window_indices_wrap_u32() -> None:
    key = sample_key_v2(b"\x01" * 32, b"\x02" * 32)
    first = 2**32 - 5
    got = sample_indices_v2(key, first, 128, 332)
    assert got == [sample_index_v2(key, (first + j) % 2**32, 332) for j in range(128)]
    assert got[5] == sample_index_v2(key, 0, 332)
    assert sample_indices_v2(key, 0, 0, 3) == []


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sample_key_v2(bytes(31), bytes(32)), "seed_core must be 32 bytes"),
        (lambda: sample_key_v2(bytes(32), bytes(33)), "owner secret must be 32 bytes"),
        (lambda: sample_index_v2(bytes(31), 0, 1), "sample key is 32 bytes"),
        (lambda: sample_index_v2(bytes(32), -1, 1), "global_step"),
        (lambda: sample_index_v2(bytes(32), 2**32, 1), "global_step"),
        (lambda: sample_index_v2(bytes(32), True, 1), "global_step"),
        (lambda: sample_index_v2(bytes(32), 0, 0), "dataset_len"),
        (lambda: sample_index_v2(bytes(32), 0, 2.0), "dataset_len"),
        (lambda: sample_indices_v2(bytes(32), 0, -1, 3), "count"),
        (lambda: SampleKey(b"x"), "sample key is 32 bytes"),
    ],
)
def test_refuses(call: object, match: str) -> None:
    with pytest.raises(SamplingError, match=match):
        call()  # type: ignore[operator]


def test_key_and_secret_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    secret = bytes(range(32))
    key = sample_key_v2(b"\x05" * 32, OwnerSecret(secret))
    raw = key.reveal().hex()
    for text in (repr(key), str(key), f"{key}", repr([key])):
        assert raw not in text and secret.hex() not in text
    with pytest.raises(SamplingError) as info:
        sample_index_v2(key, 2**32, 3)
    assert raw not in str(info.value)
    caplog.set_level(logging.DEBUG)
    assert raw not in caplog.text


# --- the v2 source -------------------------------------------------------------------


@pytest.fixture()
def dataset(example_boards: list[Board]):  # type: ignore[no-untyped-def]
    return decode_dataset(encode_dataset(example_boards))


def test_v2_source_samples_by_v2(dataset, example_boards: list[Board]) -> None:  # type: ignore[no-untyped-def]
    seed, secret = b"\x07" * 32, b"\x08" * 32
    src = PrivateDatasetSource(dataset, secret, spec_version=2)
    assert isinstance(src, SampleSource) and src.private and src.spec_version == 2
    ctx = WindowContext(seed, bytes(16), bytes(32), 2**32 - 64)
    want = [spec_index(seed, secret, (ctx.first_step + j) % 2**32, 332) for j in range(128)]
    assert src.indices(ctx) == want
    assert src.window_boards(ctx) == [example_boards[i] for i in want]
    v1 = PrivateDatasetSource(dataset, secret)
    assert v1.spec_version == 1 and v1.indices(ctx) == [sample_index(seed, secret, ctx.step(j), 332) for j in range(128)]
    assert v1.indices(ctx) != want


def test_v2_source_proofs_open_the_trained_record(dataset) -> None:  # type: ignore[no-untyped-def]
    seed, secret = b"\x07" * 32, b"\x08" * 32
    src = PrivateDatasetSource(dataset, secret, spec_version=2)
    assert src.records_root == records_root(dataset)
    ctx = WindowContext(seed, bytes(16), bytes(32), 1000)
    for j, i in enumerate(src.indices(ctx)):
        proof = src.proof(seed, ctx.step(j))
        assert proof.index == i and proof.record == dataset.record(i)
        verify_path(src.records_root, len(dataset), i, proof.record, proof.path)
        assert src.board_at(seed, ctx.step(j)) == dataset.board(i)
    with pytest.raises(SamplingError, match="spec_version 2"):
        PrivateDatasetSource(dataset, secret).proof(seed, 0)


@pytest.mark.parametrize("version", [0, 3, True, "2"])
def test_source_refuses_unknown_version(dataset, version: object) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SamplingError, match="spec_version"):
        PrivateDatasetSource(dataset, bytes(32), spec_version=version)  # type: ignore[arg-type]


def test_v2_source_repr_hides_secret_and_key(dataset) -> None:  # type: ignore[no-untyped-def]
    secret = bytes(range(32))
    src = PrivateDatasetSource(dataset, secret, spec_version=2)
    src.indices(WindowContext(b"\x01" * 32, bytes(16), bytes(32), 0))
    key = sample_key_v2(b"\x01" * 32, secret).reveal().hex()
    assert secret.hex() not in repr(src) and key not in repr(src) and "spec_version=2" in repr(src)


@pytest.fixture()
def files(example_boards: list[Board], tmp_path: Path) -> tuple[Path, Path, bytes, OwnerSecret]:
    ds = write_dataset(tmp_path / "dataset.zst", example_boards)
    secret = OwnerSecret(bytes(range(32)))
    write_secret_file(tmp_path / "owner.secret", secret)
    return tmp_path / "dataset.zst", tmp_path / "owner.secret", ds.commitment, secret


def test_load_v2_source_checks_records_root(files: tuple[Path, Path, bytes, OwnerSecret]) -> None:
    dpath, spath, c_dataset, secret = files
    r = records_root(decode_dataset(dpath.read_bytes()))
    src = load_private_source(dpath, spath, dataset_commitment=c_dataset, secret_commitment=secret.commitment,
                              records_root=r, spec_version=2)
    assert src.spec_version == 2 and src.records_root == r
    other = bytes([r[0] ^ 1]) + r[1:]
    with pytest.raises(CommitmentMismatchError, match="dataset records commitment mismatch"):
        load_private_source(dpath, spath, dataset_commitment=c_dataset, records_root=other, spec_version=2)
    with pytest.raises(CurriculumError, match="no private curriculum"):
        load_private_source(dpath, spath, records_root=bytes(32), spec_version=2)
    with pytest.raises(CurriculumError, match="spec_version 1 beast has no records root"):
        load_private_source(dpath, spath, records_root=r, spec_version=1)
    assert load_private_source(dpath, spath, records_root=bytes(32)).spec_version == 1
