"""Private sampler: spec vectors, properties, uniformity, and PrivateDatasetSource."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curriculum.dataset import decode_dataset, encode_dataset
from curriculum.errors import CommitmentMismatchError, CurriculumError, SamplingError
from curriculum.files import write_dataset
from curriculum.sampling import index_from_key, sample_index, sample_key
from curriculum.secret import OwnerSecret, write_secret_file
from curriculum.source import PrivateDatasetSource, load_private_source
from kernel.board import Board
from kernel.context import SampleSource, WindowContext
from kernel.prng import SplitMix64Stream, fold64, splitmix64
from tests.curriculum import gen_vectors
from tests.curriculum.helpers import VECTORS_PATH

VECTORS = json.loads(VECTORS_PATH.read_text())


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


def test_vector_file_is_current() -> None:
    assert VECTORS_PATH.read_text() == gen_vectors.render()


def test_splitmix64_vectors() -> None:
    for v in VECTORS["splitmix64"]:
        assert splitmix64(int(v["x"], 16)) == int(v["out"], 16)
    # Known answer of the reference splitmix64 (Vigna) seeded with 0.
    assert VECTORS["splitmix64"][0] == {"x": "0x0000000000000000", "out": "0xe220a8397b1dcdaf"}


def test_stream_vectors() -> None:
    for v in VECTORS["stream"]:
        s = SplitMix64Stream(int(v["seed"], 16))
        assert [f"0x{s.next():016x}" for _ in v["outputs"]] == v["outputs"]


def test_fold64_vectors() -> None:
    for v in VECTORS["fold64"]:
        assert fold64(_b(v["data"])) == int(v["out"], 16)


def test_sample_index_vectors() -> None:
    cases = VECTORS["sample_index"]
    assert any(c["dataset_len"] == 1 for c in cases)
    assert any(c["global_step"] == 2**32 - 1 for c in cases)
    for c in cases:
        seed, secret = _b(c["seed_core"]), _b(c["secret"])
        assert fold64(seed) == int(c["fold_seed_core"], 16)
        assert fold64(secret) == int(c["fold_secret"], 16)
        assert sample_key(seed, secret) ^ c["global_step"] == int(c["splitmix_input"], 16)
        assert sample_index(seed, secret, c["global_step"], c["dataset_len"]) == c["sample_index"]
        assert sample_index(seed, OwnerSecret(secret), c["global_step"], c["dataset_len"]) == c["sample_index"]


def test_window_vector_through_source(example_boards: list[Board]) -> None:
    """The 128 boards of a window that wraps globalStep past 2**32 (SPEC §4)."""
    w = VECTORS["window"]
    dataset = decode_dataset(encode_dataset(example_boards))
    assert len(dataset) == w["dataset_len"]
    source = PrivateDatasetSource(dataset, _b(w["secret"]))
    ctx = WindowContext(seed_core=_b(w["seed_core"]), parent_h128=bytes(16), epoch_seed=bytes(32), first_step=w["first_step"])
    assert source.indices(ctx) == w["sample_indices"]
    assert source.window_boards(ctx) == [example_boards[i] for i in w["sample_indices"]]
    assert isinstance(source, SampleSource) and source.private is True


def test_source_ignores_parent_and_epoch_seed(example_boards: list[Board]) -> None:
    source = PrivateDatasetSource(decode_dataset(encode_dataset(example_boards)), b"\x01" * 32)
    a = WindowContext(b"\x02" * 32, bytes(16), bytes(32), 128)
    b = WindowContext(b"\x02" * 32, b"\x09" * 16, b"\x07" * 32, 128)
    assert source.window_boards(a) == source.window_boards(b)
    assert source.indices(WindowContext(b"\x02" * 32, bytes(16), bytes(32), 256)) != source.indices(a)


@settings(max_examples=300, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    secret=st.binary(min_size=32, max_size=32),
    g=st.integers(0, 2**32 - 1),
    n=st.integers(1, 2**64),
)
def test_sample_index_in_range_and_matches_formula(seed: bytes, secret: bytes, g: int, n: int) -> None:
    idx = sample_index(seed, secret, g, n)
    assert 0 <= idx < n
    assert idx == splitmix64(fold64(seed) ^ fold64(secret) ^ g) % n
    if n == 1:
        assert idx == 0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((bytes(31), bytes(32), 0, 1), "seed_core must be 32 bytes"),
        ((bytes(32), bytes(33), 0, 1), "owner secret must be 32 bytes"),
        ((bytes(32), bytes(32), -1, 1), "global_step"),
        ((bytes(32), bytes(32), 2**32, 1), "global_step"),
        ((bytes(32), bytes(32), True, 1), "global_step"),
        ((bytes(32), bytes(32), 0, 0), "dataset_len"),
        ((bytes(32), bytes(32), 0, 5.0), "dataset_len"),
    ],
)
def test_sample_index_refuses(args: tuple, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SamplingError, match=match):
        sample_index(*args)


def test_secret_not_in_sampling_error() -> None:
    secret = bytes(range(32))
    with pytest.raises(SamplingError) as info:
        sample_index(bytes(32), secret, 2**32, 3)
    assert secret.hex() not in str(info.value)


# --- uniformity -----------------------------------------------------------------------

N_STEPS = 100_000
Z = 4.75  # two-sided, about 2e-6: a sound sampler on these fixed inputs sits near the centre


def _chi_square(sampler: Callable[[int], int], bins: int, first: int = 0) -> float:
    counts = [0] * bins
    for g in range(first, first + N_STEPS):
        counts[sampler(g & 0xFFFFFFFF)] += 1
    expected = N_STEPS / bins
    return sum((c - expected) ** 2 for c in counts) / expected


def _bounds(df: int) -> tuple[float, float]:
    """Wilson-Hilferty quantiles of chi-square(df) at -Z and +Z standard deviations."""
    a = 2 / (9 * df)
    return df * (1 - a - Z * math.sqrt(a)) ** 3, df * (1 - a + Z * math.sqrt(a)) ** 3


def _passes(sampler: Callable[[int], int], bins: int, first: int = 0) -> bool:
    lo, hi = _bounds(bins - 1)
    return lo < _chi_square(sampler, bins, first) < hi


@pytest.mark.parametrize(("bins", "first"), [(64, 0), (1000, 2**32 - 50_000), (3, 7)])
def test_chi_square_uniform(bins: int, first: int) -> None:
    key = sample_key(b"\x5a" * 32, bytes(range(32)))
    lo, hi = _bounds(bins - 1)
    stat = _chi_square(lambda g: index_from_key(key, g, bins), bins, first)
    assert lo < stat < hi, (lo, stat, hi)


def test_chi_square_rejects_biased_samplers() -> None:
    """The same bounds fail a sampler with 2% extra mass on one index, and the too-regular
    sampler ``g mod L`` (no mixing) which a one-sided test would let through."""
    key, bins = sample_key(b"\x5a" * 32, bytes(range(32))), 64

    def heavy(g: int) -> int:
        mixed = splitmix64(key ^ g)
        return 0 if mixed % 50 == 0 else (mixed >> 8) % bins

    def unmixed(g: int) -> int:
        return (key ^ g) % bins

    assert not _passes(heavy, bins)
    assert not _passes(unmixed, bins)
    assert _passes(lambda g: index_from_key(key, g, bins), bins)


# --- load_private_source -------------------------------------------------------------


@pytest.fixture()
def files(example_boards: list[Board], tmp_path: Path) -> tuple[Path, Path, bytes, OwnerSecret]:
    ds = write_dataset(tmp_path / "dataset.zst", example_boards)
    secret = OwnerSecret(bytes(range(32)))
    write_secret_file(tmp_path / "owner.secret", secret)
    return tmp_path / "dataset.zst", tmp_path / "owner.secret", ds.commitment, secret


def test_load_private_source(files: tuple[Path, Path, bytes, OwnerSecret], example_boards: list[Board]) -> None:
    dpath, spath, c_dataset, secret = files
    src = load_private_source(dpath, spath, dataset_commitment=c_dataset, secret_commitment=secret.commitment)
    assert src.dataset_commitment == c_dataset and src.secret_commitment == secret.commitment
    ctx = WindowContext(b"\x03" * 32, bytes(16), bytes(32), 1000)
    expected = [example_boards[sample_index(ctx.seed_core, secret, 1000 + j, len(example_boards))] for j in range(128)]
    assert src.window_boards(ctx) == expected
    assert "redacted" in repr(src) and secret.reveal().hex() not in repr(src)


def test_load_private_source_refuses_mismatches(files: tuple[Path, Path, bytes, OwnerSecret]) -> None:
    dpath, spath, c_dataset, secret = files
    with pytest.raises(CommitmentMismatchError, match="dataset commitment mismatch") as info:
        load_private_source(dpath, spath, dataset_commitment=b"\x01" * 32)
    assert info.value.actual == c_dataset
    with pytest.raises(CommitmentMismatchError, match="owner secret commitment mismatch") as info:
        load_private_source(dpath, spath, dataset_commitment=c_dataset, secret_commitment=b"\x01" * 32)
    assert secret.reveal().hex() not in str(info.value)
    with pytest.raises(CurriculumError, match="no private curriculum"):
        load_private_source(dpath, spath, dataset_commitment=bytes(32))
    with pytest.raises(CurriculumError, match="no private curriculum"):
        load_private_source(dpath, spath, secret_commitment=bytes(32))
