"""The committed kernel vectors match the numpy reference (and the generator)."""

from __future__ import annotations

import json

import pytest

from kernel import SPEC_VERSION
from kernel.board import decode_record
from kernel.observe import observe
from kernel.rules import labels
from tests.kernel.kernel_vectors import PATH, build, prng_vectors, run_vectors, step_vectors


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(PATH.read_text())


def test_spec_version_matches(committed: dict) -> None:
    assert committed["spec_version"] == SPEC_VERSION


def test_prng_vectors(committed: dict) -> None:
    assert prng_vectors() == committed["prng"]


def test_step_vectors(committed: dict) -> None:
    assert step_vectors() == committed["steps"]


def test_step_vectors_records_reproduce_observation(committed: dict) -> None:
    for v in committed["steps"]:
        board = decode_record(bytes.fromhex(v["record"][2:]))
        assert observe(board) == v["observation"]
        lab = labels(board)
        assert {"move": lab.move, "attack": lab.attack, "block": lab.block} == v["labels"]


def test_window_words(committed: dict) -> None:
    assert run_vectors() == committed["runs"]


def test_vectors_cover_growth_spurts_and_all_heads(committed: dict) -> None:
    flags = [w["word"] for r in committed["runs"] for w in r["windows"]]
    assert any(int(w, 16) & 2 for w in flags), "no growth spurt in the vectors"
    assert {v["heads"] for v in committed["steps"]} >= {1, 3, 7}


def test_file_is_exactly_what_the_generator_writes(committed: dict) -> None:
    assert build() == committed
