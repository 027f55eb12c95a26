"""Dataset cache: hits, corrupt entries discarded and rebuilt, location and permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from curriculum import files as files_module
from curriculum.cache import DatasetCache, default_cache_dir
from curriculum.files import load_dataset, write_dataset
from kernel.board import Board


@pytest.fixture()
def dataset_path(example_boards: list[Board], tmp_path: Path) -> Path:
    write_dataset(tmp_path / "d.zst", example_boards)
    return tmp_path / "d.zst"


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = files_module.decode_dataset

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(files_module, "decode_dataset", counting)
    return calls


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHAINBEASTS_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("CHAINBEASTS_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "chainbeasts"


def test_hit_skips_decoding(dataset_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache_dir = tmp_path / "cache"
    calls = _count_decodes(monkeypatch)
    first = load_dataset(dataset_path, cache_dir=cache_dir)
    entry = DatasetCache(cache_dir).path_for(first.commitment)
    assert entry.exists() and stat.S_IMODE(os.stat(entry).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(entry.parent).st_mode) == 0o700
    second = load_dataset(dataset_path, cache_dir=cache_dir)
    assert calls == [1] and second == first


def test_env_cache_dir_used_by_default(dataset_path: Path, _private_cache: Path) -> None:
    ds = load_dataset(dataset_path)
    assert DatasetCache(_private_cache).path_for(ds.commitment).exists()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # content flipped: keccak differs
        lambda b: b[:10] + bytes([b[10] ^ 1]) + b[11:],  # names another commitment
        lambda b: b[:-28],  # truncated
        lambda b: b"",  # empty
    ],
    ids=["content", "commitment", "truncated", "empty"],
)
def test_corrupt_entry_discarded_and_rebuilt(dataset_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corrupt) -> None:  # type: ignore[no-untyped-def]
    cache_dir = tmp_path / "cache"
    good = load_dataset(dataset_path, cache_dir=cache_dir)
    entry = DatasetCache(cache_dir).path_for(good.commitment)
    pristine = entry.read_bytes()
    entry.write_bytes(corrupt(pristine))
    calls = _count_decodes(monkeypatch)
    again = load_dataset(dataset_path, cache_dir=cache_dir)
    assert again == good and calls == [1]
    assert entry.read_bytes() == pristine


def test_unwritable_cache_is_not_fatal(dataset_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_bytes(b"")
    ds = load_dataset(dataset_path, cache_dir=blocker)
    assert len(ds) > 0


def test_no_cache(dataset_path: Path, _private_cache: Path) -> None:
    load_dataset(dataset_path, use_cache=False)
    assert not (_private_cache / "datasets").exists()
