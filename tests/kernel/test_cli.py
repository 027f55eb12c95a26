"""cb-kernel as a user runs it: a real subprocess of the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.payload import Payload

SEED = "0x" + "11" * 32


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kernel.cli", *args], capture_output=True, text=True, timeout=120)


def test_train_json_lines_decode_back() -> None:
    out = run("train", "--seed", SEED, "--windows", "3", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [o["window"] for o in lines] == [1, 2, 3]  # window N = checkpoint after N windows
    assert [o["globalStep"] for o in lines] == [128, 256, 384]
    for o in lines:
        p = Payload.from_hex(o["word"])
        assert "0x" + p.h128.hex() == o["h128"] and p.energy_burn == o["energyBurn"]
    dec = run("decode", lines[-1]["word"], "--json")
    assert dec.returncode == 0 and json.loads(dec.stdout)["globalStep"] == 384


def test_spec_version_1_prints_the_committed_v1_words() -> None:
    """``--spec-version 1`` trains exactly the frozen version: the words of tests/vectors/kernel.json's default run."""
    committed = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "kernel.json").read_text())
    default = next(r for r in committed["runs"] if r["name"] == "default")
    out = run("train", "--seed", default["seed_core"], "--windows", "2", "--json", "--spec-version", "1")
    assert out.returncode == 0, out.stderr
    assert [json.loads(x)["word"] for x in out.stdout.splitlines()] == [w["word"] for w in default["windows"][:2]]
    v2 = run("train", "--seed", default["seed_core"], "--windows", "1", "--json")  # the default is version 2
    assert v2.returncode == 0, v2.stderr
    assert json.loads(v2.stdout)["word"] != default["windows"][0]["word"]


def test_unknown_spec_version_is_a_usage_error() -> None:
    out = run("train", "--seed", SEED, "--windows", "1", "--spec-version", "3")
    assert out.returncode == 2 and "spec-version" in out.stderr


@pytest.mark.parametrize("version", ["1", "2"])
def test_backends_print_the_same_words(version: str) -> None:
    words = []
    for backend in ("numpy", "torch", "batched"):
        out = run("train", "--seed", SEED, "--windows", "2", "--json", "--backend", backend, "--spec-version", version)
        assert out.returncode == 0, out.stderr
        words.append([json.loads(x)["word"] for x in out.stdout.splitlines()])
    assert words[0] == words[1] == words[2]


def test_bad_input_is_refused_clearly() -> None:
    bad_seed = run("train", "--seed", "0x1234", "--windows", "1")
    assert bad_seed.returncode == 2 and "64 hex digits" in bad_seed.stderr
    bad_word = run("decode", "0xabc")
    assert bad_word.returncode == 2 and "64 hex digits" in bad_word.stderr
    half = run("train", "--seed", SEED, "--windows", "1", "--dataset", "x.zst")
    assert half.returncode == 2 and "--secret-file" in half.stderr


def test_eval_reports_figures() -> None:
    out = run("eval", "--seed", SEED, "--windows", "2", "--json", "--heldout", "50", "--battles", "4")
    assert out.returncode == 0, out.stderr
    fig = json.loads(out.stdout)
    for key in ("move_accuracy", "attack_mae", "block_accuracy", "win_rate_vs_untrained", "loss_first_window",
                "loss_last_window"):
        assert key in fig


def test_train_from_a_private_dataset(tmp_path) -> None:
    pack = subprocess.run([sys.executable, "-m", "curriculum.cli", "pack", "--csv",
                           str(Path(__file__).resolve().parents[2] / "curriculum" / "examples" / "battles.csv"),
                           "-o", str(tmp_path / "d.zst")],
                          capture_output=True, text=True, timeout=120)
    assert pack.returncode == 0, pack.stderr
    sec = subprocess.run([sys.executable, "-m", "curriculum.cli", "secret", "new", "-o", str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=60)
    assert sec.returncode == 0, sec.stderr
    by_version = {}
    for version in ("1", "2"):
        words = []
        for backend in ("numpy", "torch"):
            out = run("train", "--seed", SEED, "--windows", "2", "--json", "--backend", backend,
                      "--spec-version", version, "--dataset", str(tmp_path / "d.zst"), "--secret-file", str(tmp_path / "s"))
            assert out.returncode == 0, out.stderr
            words.append([json.loads(x)["word"] for x in out.stdout.splitlines()])
        assert words[0] == words[1]
        assert all(Payload.from_hex(w).flags & 4 for w in words[0])  # PRIVATE flag
        by_version[version] = words[0]
    assert by_version["1"] != by_version["2"]
    (tmp_path / "s").chmod(0o644)
    refused = run("train", "--seed", SEED, "--windows", "1", "--spec-version", "1", "--dataset", str(tmp_path / "d.zst"),
                  "--secret-file", str(tmp_path / "s"))
    assert refused.returncode == 3 and "secret" in refused.stderr.lower()
