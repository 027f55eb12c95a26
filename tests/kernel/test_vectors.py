"""The committed kernel vectors match the numpy reference (and the generator)."""

from __future__ import annotations

import json

import pytest

from kernel.board import decode_record
from kernel.observe import observe
from kernel.rules import labels
from tests.kernel.kernel_vectors import PATH, VERSION, build, prng_vectors, run_vectors, step_vectors


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(PATH.read_text())


def test_spec_version_matches(committed: dict) -> None:
    assert committed["spec_version"] == VERSION == 1


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


def test_vectors_exercise_saturation_wrap_and_private(committed: dict) -> None:
    from kernel.params import KernelParams
    from kernel.sources import PublicSource
    from kernel.state import genesis
    from kernel.train import train_window

    runs = {r["name"]: r for r in committed["runs"]}
    steps = [int(w["word"], 16) >> 96 & 0xFFFFFFFF for w in runs["wrap"]["windows"]]
    assert steps == [2**32 - 128, 0, 128, 256]
    assert all(int(w["word"], 16) & 4 for w in runs["private"]["windows"])
    # the saturating run really reaches the i16 bounds
    seed = bytes.fromhex(runs["saturating"]["seed_core"][2:])
    st = genesis(seed, KernelParams(**runs["saturating"]["params"]), spec_version=1)
    for w in runs["saturating"]["windows"]:
        st = train_window(st, PublicSource(), active_mask=w["active_mask"], lr_shift=w["lr_shift"]).state
    assert int(abs(st.w1).max()) >= 32767 or int(abs(st.w2).max()) >= 32767
