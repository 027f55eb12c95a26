"""Shared fixtures for the curriculum tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from curriculum.importers import read_csv
from kernel.board import Board

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "curriculum" / "examples" / "battles.csv"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own dataset cache; nothing is written under ~/.cache."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("CHAINBEASTS_CACHE_DIR", str(root))
    return root


@pytest.fixture(scope="session")
def example_boards() -> list[Board]:
    """The 332 boards of curriculum/examples/battles.csv."""
    return read_csv(EXAMPLE_CSV)
