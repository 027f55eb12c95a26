"""Shared fixtures for the curriculum tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from curriculum.importers import read_csv
from kernel.board import Board
from tests.curriculum.helpers import EXAMPLE_CSV


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
