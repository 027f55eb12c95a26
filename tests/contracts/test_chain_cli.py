"""cb-devnet as a user runs it: help, exit codes, `up` serving other processes, `deploy`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account

import devnet

from chain_helpers import make_word

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devnet.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args", [["--help"], ["up", "--help"], ["deploy", "--help"]])
def test_help(args: list[str]) -> None:
    proc = _cli(*args)
    assert proc.returncode == 0 and "usage: cb-devnet" in proc.stdout


def test_config_errors_exit_1(tmp_path: Path) -> None:
    assert _cli("up", "--engine", "geth").returncode == 1
    assert _cli("deploy", "--keystore", "x").returncode == 1  # --rpc missing
    proc = _cli("deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(tmp_path / "missing.json"))
    assert proc.returncode == 1 and "cannot read keystore" in proc.stderr
    ks = tmp_path / "ks.json"
    ks.write_text(json.dumps(Account.encrypt(b"\x01" * 32, "pw")))
    proc = subprocess.run([sys.executable, "-m", "devnet.cli", "deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(ks)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "CB_KEYSTORE_PASSWORD": "wrong"})
    assert proc.returncode == 1 and "cannot decrypt" in proc.stderr


def test_unreachable_rpc_exits_2(tmp_path: Path) -> None:
    ks = tmp_path / "ks.json"
    ks.write_text(json.dumps(Account.encrypt(b"\x01" * 32, "pw")))
    (tmp_path / "pw").write_text("pw\n")
    proc = _cli("deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(ks), "--password-file", str(tmp_path / "pw"))
    assert proc.returncode == 2 and "cannot reach" in proc.stderr


def test_up_serves_other_processes_and_deploy_reaches_it(tmp_path: Path) -> None:
    out = tmp_path / "deployments.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devnet.cli", "up", "--port", "0", "--deployments", str(out), "--run-dir", str(tmp_path / "run")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no deployments file"
            time.sleep(0.1)
        data = json.loads(out.read_text())
        assert data["engine"] == "pyevm" and data["rpcUrl"].startswith("http://127.0.0.1:")
        assert set(data["contracts"]) == {"Energy", "Beast", "SeasonRegistry", "CheckpointLedger", "DisputeGame"}
        cb = devnet.connect(out)
        owner = cb.accounts[1]
        bid = cb.hatch(owner)
        cb.commit(owner, bid, make_word(0))
        assert cb.window_count(bid) == 1

        # `deploy` to the same RPC with an encrypted keystore of a funded dev account.
        ks = tmp_path / "ks.json"
        ks.write_text(json.dumps(Account.encrypt(cb.accounts[2].key, "pw")))
        (tmp_path / "pw").write_text("pw\n")
        dep_out = tmp_path / "second.json"
        res = _cli("deploy", "--rpc", data["rpcUrl"], "--keystore", str(ks), "--password-file", str(tmp_path / "pw"),
                   "--deployments", str(dep_out))
        assert res.returncode == 0, res.stderr
        second = devnet.connect(dep_out)
        assert second.addresses["CheckpointLedger"] != cb.addresses["CheckpointLedger"]
        assert second.ledger.functions.disputeGame().call() == second.addresses["DisputeGame"]
        assert json.loads(dep_out.read_text())["accounts"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_connect_errors(tmp_path: Path) -> None:
    with pytest.raises(devnet.ConfigError, match="not found"):
        devnet.connect(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(devnet.ConfigError, match="not a version-1"):
        devnet.connect(bad)
    good = {"version": 1, "rpcUrl": "http://127.0.0.1:9", "contracts": {}}
    with pytest.raises(devnet.ChainError, match="cannot reach"):
        devnet.connect(good)


@pytest.mark.parametrize("engine", ["pyevm", "anvil"])
def test_port_in_use_is_a_config_error(engine: str, tmp_path: Path) -> None:
    import socket

    from devnet.anvil import find_anvil

    if engine == "anvil":
        try:
            find_anvil()
        except devnet.ConfigError:
            pytest.skip("anvil binary missing: run `cd contracts && npm ci` (CI does)")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = _cli("up", "--engine", engine, "--port", str(port), "--run-dir", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "config error" in proc.stderr
