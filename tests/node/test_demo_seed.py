"""`cb-node demo --seed S` reproduces its run (issue 17 item 6): the same seed gives the same beast,
windows and figures; another seed another beast. Run as a user runs it (the CLI in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def demo(tmp: Path, *args: str) -> dict[str, Any]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "proto"), e.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "node.cli", "demo", "--windows", "2", "--json", "--data-dir", str(tmp),
                          *args], cwd=ROOT, env=e, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_same_seed_gives_the_same_run_and_another_seed_another(tmp_path: Path) -> None:
    a, b = demo(tmp_path / "a", "--seed", "7"), demo(tmp_path / "b", "--seed", "7")
    same = ("seedCore", "secretCommitment", "datasetCommitment", "trainer")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    assert [(w["h128"], w["word"]) for w in a["windows"]] == [(w["h128"], w["word"]) for w in b["windows"]]
    assert a["figures"]["final"] == b["figures"]["final"] and a["figures"]["winRateVsGenesis"] == b["figures"]["winRateVsGenesis"]
    assert a["seed"] == 7
    c = demo(tmp_path / "c", "--seed", "8")
    assert c["seedCore"] != a["seedCore"] and c["secretCommitment"] != a["secretCommitment"]
    # the owner secret file is still private
    assert (tmp_path / "a" / "owner.secret").stat().st_mode & 0o777 == 0o600


def test_a_seed_out_of_range_is_a_usage_error() -> None:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "proto"), e.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-m", "node.cli", "demo", "--seed", str(2**32)], cwd=ROOT, env=e,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "must be 0..4294967295" in out.stderr
