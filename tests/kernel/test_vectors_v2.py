"""The committed spec_version 2 vectors (tests/vectors/kernel_v2.json) match the reference and the generator."""

from __future__ import annotations

import json

import pytest

from kernel.board import decode_record
from kernel.heads import BLOCK_POS_WEIGHT
from kernel.observe import observe
from kernel.rules import labels
from tests.kernel.kernel_v2_vectors import PATH, VERSION, build, illegal_vectors, render, run_vectors, step_vectors


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(PATH.read_text())


def test_version_and_block_weight(committed: dict) -> None:
    assert committed["spec_version"] == VERSION == 2
    assert committed["block_pos_weight"] == BLOCK_POS_WEIGHT


def test_step_vectors(committed: dict) -> None:
    assert step_vectors() == committed["steps"]


def test_step_records_reproduce_observation_and_labels(committed: dict) -> None:
    for v in committed["steps"]:
        board = decode_record(bytes.fromhex(v["record"][2:]))
        assert observe(board) == v["observation"]
        lab = labels(board)
        assert {"move": lab.move, "attack": lab.attack, "block": lab.block} == v["labels"]


def test_step_vectors_cover_the_verifiers_corners(committed: dict) -> None:
    steps = {v["name"]: v for v in committed["steps"]}
    assert {v["heads"] for v in steps.values()} >= {1, 3, 7}
    assert {v["j"] for v in steps.values()} >= {0, 5, 127}
    assert steps["last-step-127"]["post"]["step"] == 0 and steps["last-step-127"]["post"]["window"] == 1
    blk = steps["block-labelled"]
    assert blk["labels"]["block"] == 1 and blk["heads"] == 7
    assert blk["grad_logits"][5] % BLOCK_POS_WEIGHT == 0 and blk["grad_logits"][5] != 0
    assert steps["growth-spurt"]["post"]["flags"] == 2
    assert steps["wrap-first-step"]["post"]["global_step"] == 0
    assert steps["saturating-lr0"]["window_start"]["lr_shift"] == 0


def test_saturating_pre_state_is_given_and_rebuilt(committed: dict) -> None:
    """The saturating step's pre-state is in the file, and it is the genesis state with its weights from the stream."""
    from dataclasses import replace

    from kernel.hashing import keccak256
    from kernel.params import KernelParams
    from kernel.state import from_bytes, genesis
    from tests.kernel.kernel_v2_vectors import SATURATING_VALUES, _saturated

    v = next(s for s in committed["steps"] if s["name"] == "saturating-lr0")
    raw = bytes.fromhex(v["pre_state"][2:])
    assert "0x" + keccak256(raw).hex() == v["pre"]["keccak"]
    pre = from_bytes(raw)
    g = replace(genesis(keccak256(b"v2-step-vectors"), KernelParams(epoch_steps=128)), global_step=768)
    assert _saturated(g).to_bytes() == raw
    assert set(pre.w1.ravel().tolist()) == set(SATURATING_VALUES)


def test_illegal_vectors(committed: dict) -> None:
    assert illegal_vectors() == committed["illegal"]
    assert {v["kind"] for v in committed["illegal"]} == {
        "lr_shift_out_of_range", "mask_out_of_range", "mask_drops_slots", "spurt_too_large"}


def test_window_words_and_step_hashes(committed: dict) -> None:
    assert run_vectors() == committed["runs"]
    for r in committed["runs"]:
        first = r["windows"][0]
        hashes = first["step_hashes"]
        assert len(hashes) == 129 and len(set(hashes)) == 129
        assert hashes[0] == r.get("start_h128", r["genesis_h128"])
        assert hashes[-1] == first["word"][:34]  # h_128 is the word's h128


def test_private_run_is_v2_sampled(committed: dict) -> None:
    from curriculum import decode_dataset
    from curriculum.records import records_root

    run = next(r for r in committed["runs"] if r["name"] == "private")
    data = bytes.fromhex(run["dataset_file"][2:])
    assert records_root(decode_dataset(data)).hex() == run["records_root"][2:]
    assert all(int(w["word"], 16) & 4 for w in run["windows"])


def test_file_is_exactly_what_the_generator_writes() -> None:
    assert render(build()) == PATH.read_text()
