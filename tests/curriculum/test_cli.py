"""cb-curriculum end to end, through the installed entry point (subprocess)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from kernel.hashing import keccak256

from tests.curriculum.helpers import (
    EXAMPLE_COMMITMENT,
    EXAMPLE_CSV,
    EXAMPLE_RECORDS,
    EXAMPLE_RECORDS_ROOT,
    VECTORS_PATH,
    VECTORS_V2_PATH,
    boards_to_jsonl,
    listing,
    run_cli,
)

ZERO = "0x" + "00" * 32


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    return tmp_path


def test_help_for_every_command(work: Path) -> None:
    for args in ([], ["pack"], ["commit"], ["verify"], ["secret"], ["secret", "new"], ["secret", "commitment"], ["index"],
                 ["proof"]):
        r = run_cli(*args, "--help", cwd=work)
        assert r.returncode == 0 and "usage: cb-curriculum" in r.stdout, (args, r.stderr)
    assert "exit codes" in run_cli("--help", cwd=work).stdout


def test_python_dash_m(work: Path) -> None:
    import subprocess

    r = subprocess.run([sys.executable, "-m", "curriculum.cli", "--help"], cwd=work, capture_output=True, text=True)
    assert r.returncode == 0 and "pack" in r.stdout


def test_pack_commit_verify(work: Path) -> None:
    r = run_cli("pack", "--csv", str(EXAMPLE_CSV), "-o", "dataset.zst", cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"commitment {EXAMPLE_COMMITMENT}\nrecords_root {EXAMPLE_RECORDS_ROOT}\nrecords {EXAMPLE_RECORDS}\n"
    assert stat.S_IMODE(os.stat(work / "dataset.zst").st_mode) == 0o600
    r = run_cli("commit", "dataset.zst", cwd=work)
    assert (r.returncode, r.stdout) == (0, f"{EXAMPLE_COMMITMENT}\nrecords_root {EXAMPLE_RECORDS_ROOT}\n")
    r = run_cli("verify", "dataset.zst", "--commitment", EXAMPLE_COMMITMENT, cwd=work)
    assert r.returncode == 0 and r.stdout.startswith("OK")
    assert r.stdout.splitlines()[1] == f"records_root {EXAMPLE_RECORDS_ROOT}"
    r = run_cli("verify", "dataset.zst", "--commitment", EXAMPLE_COMMITMENT, "--records-root", EXAMPLE_RECORDS_ROOT, cwd=work)
    assert r.returncode == 0, r.stderr
    r = run_cli("verify", "dataset.zst", "--commitment", EXAMPLE_COMMITMENT, "--records-root", ZERO, cwd=work)
    assert r.returncode == 1 and "dataset records commitment mismatch" in r.stderr and EXAMPLE_RECORDS_ROOT in r.stderr
    r = run_cli("verify", "dataset.zst", "--commitment", ZERO, cwd=work)
    assert r.returncode == 1 and "commitment mismatch" in r.stderr and EXAMPLE_COMMITMENT in r.stderr
    r = run_cli("pack", "--csv", str(EXAMPLE_CSV), "-o", "dataset.zst", cwd=work)
    assert r.returncode == 3 and "already exists" in r.stderr
    r = run_cli("pack", "--csv", str(EXAMPLE_CSV), "-o", "dataset.zst", "--force", cwd=work)
    assert r.returncode == 0


def test_pack_jsonl(work: Path) -> None:
    from curriculum.importers import read_csv

    (work / "b.jsonl").write_text(boards_to_jsonl(read_csv(EXAMPLE_CSV)))
    r = run_cli("pack", "--jsonl", "b.jsonl", "-o", "d.zst", cwd=work)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == f"commitment {EXAMPLE_COMMITMENT}"


def test_pack_bad_row_writes_nothing(work: Path) -> None:
    lines = EXAMPLE_CSV.read_text().splitlines()
    lines[41] = lines[41].replace(",", ",999,", 1)
    (work / "bad.csv").write_text("\n".join(lines) + "\n")
    r = run_cli("pack", "--csv", "bad.csv", "-o", "d.zst", cwd=work)
    assert r.returncode == 3 and "bad.csv:42:" in r.stderr
    assert listing(work) == ["bad.csv"]


def test_pack_oversize_writes_nothing(work: Path) -> None:
    r = run_cli("pack", "--csv", str(EXAMPLE_CSV), "-o", "d.zst", "--max-bytes", "100", cwd=work)
    assert r.returncode == 3 and "over the limit of 100" in r.stderr
    assert listing(work) == []


def test_data_errors_exit_3(work: Path) -> None:
    (work / "junk.zst").write_bytes(b"\x28\xb5\x2f\xfd\x00")
    junk_commitment = "0x" + keccak256((work / "junk.zst").read_bytes()).hex()
    for args in (["commit", "junk.zst"], ["commit", "missing.zst"], ["verify", "junk.zst", "--commitment", junk_commitment]):
        r = run_cli(*args, cwd=work)
        assert r.returncode == 3 and r.stderr.startswith("cb-curriculum: error:"), (args, r.stderr)
    r = run_cli("verify", "junk.zst", "--commitment", ZERO, cwd=work)
    assert r.returncode == 1 and "commitment mismatch" in r.stderr


def test_usage_errors_exit_2(work: Path) -> None:
    for args in (
        [],
        ["pack", "-o", "x"],
        ["pack", "--csv", "a", "--jsonl", "b", "-o", "x"],
        ["verify", "d.zst", "--commitment", "0x12"],
        ["index", "--seed-core", ZERO, "--secret", ZERO, "--step", "-1", "--len", "3"],
        ["index", "--seed-core", ZERO, "--secret", ZERO, "--step", str(2**32), "--len", "3"],
        ["index", "--seed-core", ZERO, "--secret", ZERO, "--step", "1", "--len", "0"],
        ["index", "--seed-core", "nothex", "--secret", ZERO, "--step", "1", "--len", "3"],
        ["index", "--seed-core", ZERO, "--secret", ZERO, "--step", "1", "--len", "3", "--spec-version", "3"],
        ["proof", "d.zst"],
        ["verify", "d.zst", "--commitment", ZERO, "--records-root", "0x12"],
    ):
        assert run_cli(*args, cwd=work).returncode == 2, args


def test_secret_new_and_index(work: Path) -> None:
    import json

    r = run_cli("secret", "new", "-o", "owner.secret", cwd=work)
    assert r.returncode == 0
    commitment = r.stdout.strip()
    content = (work / "owner.secret").read_text().strip()
    assert commitment.startswith("0x") and len(commitment) == 66 and content[2:] not in r.stdout + r.stderr
    assert stat.S_IMODE(os.stat(work / "owner.secret").st_mode) == 0o600
    assert run_cli("secret", "commitment", "owner.secret", cwd=work).stdout.strip() == commitment
    r = run_cli("secret", "new", "-o", "owner.secret", cwd=work)
    assert r.returncode == 3 and "already exists" in r.stderr
    os.chmod(work / "owner.secret", 0o644)
    r = run_cli("secret", "commitment", "owner.secret", cwd=work)
    assert r.returncode == 3 and "chmod 600" in r.stderr and content[2:] not in r.stderr

    vectors = json.loads(VECTORS_PATH.read_text())
    for case in vectors["sample_index"][::17]:
        r = run_cli(
            "index", "--seed-core", case["seed_core"], "--secret", case["secret"],
            "--step", str(case["global_step"]), "--len", str(case["dataset_len"]), "--spec-version", "1", cwd=work,
        )  # fmt: skip
        assert (r.returncode, r.stdout) == (0, f"{case['sample_index']}\n"), r.stderr
    v2 = json.loads(VECTORS_V2_PATH.read_text())
    for i, case in enumerate(v2["sample_index"][::13]):
        version = ["--spec-version", "2"] if i % 2 else []  # 2 is the default
        r = run_cli(
            "index", "--seed-core", case["seed_core"], "--secret", case["secret"],
            "--step", str(case["global_step"]), "--len", str(case["dataset_len"]), *version, cwd=work,
        )  # fmt: skip
        assert (r.returncode, r.stdout) == (0, f"{case['sample_index']}\n"), r.stderr
    r = run_cli("index", "--seed-core", ZERO, "--secret-file", "owner.secret", "--step", "5", "--len", "332", cwd=work)
    assert r.returncode == 3 and content[2:] not in r.stdout + r.stderr  # still 0644: refused, secret not shown


def test_proof(work: Path) -> None:
    import json

    from curriculum.records import verify_path

    assert run_cli("pack", "--csv", str(EXAMPLE_CSV), "-o", "d.zst", cwd=work).returncode == 0
    for index in (0, 200, EXAMPLE_RECORDS - 1):
        r = run_cli("proof", "d.zst", "--index", str(index), cwd=work)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert (doc["index"], doc["dataset_len"], doc["records_root"]) == (index, EXAMPLE_RECORDS, EXAMPLE_RECORDS_ROOT)
        assert len(doc["path"]) == 9  # 2^9 = 512 >= 332
        path = [bytes.fromhex(p[2:]) for p in doc["path"]]
        verify_path(bytes.fromhex(EXAMPLE_RECORDS_ROOT[2:]), EXAMPLE_RECORDS, index, bytes.fromhex(doc["record"][2:]), path)
        assert keccak256(EXAMPLE_RECORDS.to_bytes(4, "big") + bytes.fromhex(doc["merkle_root"][2:])).hex() == EXAMPLE_RECORDS_ROOT[2:]
    for bad in ("-1", str(EXAMPLE_RECORDS)):
        r = run_cli("proof", "d.zst", "--index", bad, cwd=work)
        assert r.returncode == 2 and "--index must be in 0..331" in r.stderr
    (work / "junk.zst").write_bytes(b"\x28\xb5\x2f\xfd\x00")
    assert run_cli("proof", "junk.zst", "--index", "0", cwd=work).returncode == 3


def test_json_on_every_command(work: Path) -> None:
    """Human lines by default (unchanged above); ``--json`` prints one JSON object, never the secret."""
    import json

    def js(*args: str) -> dict[str, object]:
        r = run_cli(*args, "--json", cwd=work)
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("\n") == 1  # one object on one line
        return json.loads(r.stdout)

    facts = {"commitment": EXAMPLE_COMMITMENT, "recordsRoot": EXAMPLE_RECORDS_ROOT, "records": EXAMPLE_RECORDS}
    assert js("pack", "--csv", str(EXAMPLE_CSV), "-o", "d.zst") == {"dataset": "d.zst", **facts}
    assert js("commit", "d.zst") == {"dataset": "d.zst", **facts}
    assert js("verify", "d.zst", "--commitment", EXAMPLE_COMMITMENT, "--records-root", EXAMPLE_RECORDS_ROOT) == {
        "ok": True, "dataset": "d.zst", **facts}
    r = run_cli("verify", "d.zst", "--commitment", ZERO, "--json", cwd=work)
    assert r.returncode == 1 and r.stdout == ""  # a mismatch is still an error on stderr, exit 1
    proof = run_cli("proof", "d.zst", "--index", "3", cwd=work).stdout
    assert run_cli("proof", "d.zst", "--index", "3", "--json", cwd=work).stdout == proof  # JSON either way

    new = js("secret", "new", "-o", "owner.secret")
    secret = (work / "owner.secret").read_text().strip()[2:]
    assert new == {"secretFile": "owner.secret", "commitment": new["commitment"]}
    assert new["commitment"] == "0x" + keccak256(bytes.fromhex(secret)).hex()
    assert js("secret", "commitment", "owner.secret") == new
    index = js("index", "--seed-core", ZERO, "--secret-file", "owner.secret", "--step", "5", "--len", "332")
    human = run_cli("index", "--seed-core", ZERO, "--secret-file", "owner.secret", "--step", "5", "--len", "332",
                    cwd=work)
    assert index == {"specVersion": 2, "step": 5, "len": 332, "index": int(human.stdout)}
    everything = json.dumps([new, index])
    assert secret not in everything and secret.lower() not in everything.lower()
