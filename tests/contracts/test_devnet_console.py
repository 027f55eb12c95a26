"""`cb-devnet up` talks like anvil, run as a user runs it: dev accounts and keys at start-up (labelled as
public test keys), one line per transaction with its gas and decoded revert, `--block-time`, `cb-devnet mine N`."""

from __future__ import annotations

import array
import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import devnet
from devnet.txlog import MAX_MINE

from chain_helpers import devnet_up, make_word

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devnet.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _block(url: str) -> int:
    req = urllib.request.Request(url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(json.loads(r.read())["result"], 16)


def _rpc(url: str, method: str, params: list[Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_up_prints_accounts_and_one_line_per_transaction_with_gas_and_decoded_revert(tmp_path: Path) -> None:
    with devnet_up(tmp_path) as up:
        written = json.loads(up.deployments.read_text())["accounts"]
        banner = up.wait_line("PUBLIC TEST KEYS")
        assert "devnet only" in banner
        for i, acct in enumerate(written):  # every dev account and its key, numbered as anvil numbers them
            assert up.wait_line(f"({i}) {acct['address']}")
        for i, acct in enumerate(written):
            assert up.wait_line(f"({i}) {acct['privateKey']}")
        up.wait_line("Listening on " + up.info["rpcUrl"])

        cb = devnet.connect(up.deployments)
        owner = cb.accounts[1]
        bid = cb.hatch(owner)
        cb.commit(owner, bid, make_word(0))
        with pytest.raises(devnet.LedgerError, match="LedgerNotAuthorized"):
            cb.commit(owner, 999, make_word(0))  # fixed gas: mined with status 0, as a careless client would send it

        hatch = up.wait_line("Beast.hatch")
        assert f"from (1) {owner.address}" in hatch and hatch.endswith("ok") and " gas " in hatch
        ok = up.wait_line("CheckpointLedger.commit")
        assert ok.endswith("  ok")
        bad = up.wait_line("CheckpointLedger.commit")
        assert "REVERTED LedgerNotAuthorized(beastId=999" in bad
        used, limit = bad.split(" gas ")[1].split()[0].split("/")
        assert 0 < int(used.replace(",", "")) < int(limit.replace(",", ""))  # a revert's own gas, not the limit

        # The game's and the stake's calls are named too, and their reverts decoded with the game's errors.
        challenger = cb.accounts[2]
        cb.stake(challenger, 5)
        assert up.wait_line("CheckpointLedger.stake").endswith("  ok")
        cb.commit_challenge(challenger, bid, 0, b"\x07" * 32)
        gid = cb.challenge(challenger, bid, 0, b"\x07" * 32)
        assert up.wait_line("BisectionGame.commitChallenge").endswith("  ok")
        assert f"from (2) {challenger.address}" in up.wait_line("BisectionGame.challenge")
        data = bytes.fromhex(cb.game.encode_abi("timeout", args=[gid]).removeprefix("0x"))
        with pytest.raises(devnet.GameError, match="GameClockRunning"):
            cb.sender.send(challenger, cb.game.address, data, gas=200_000)  # fixed gas: mined, reverted
        assert f"REVERTED GameClockRunning(gameId={gid}" in up.wait_line("BisectionGame.timeout")


def test_mine_advances_the_block_clock_and_refuses_bad_counts(tmp_path: Path) -> None:
    with devnet_up(tmp_path, "--no-tx-log") as up:
        url = up.info["rpcUrl"]
        before = _block(url)
        res = _cli("mine", "7", "--deployments", str(up.deployments))
        assert res.returncode == 0, res.stderr
        assert f"mined 7 block(s) on {url}: now at block {before + 7}" in res.stdout
        # $CB_DEPLOYMENTS names the file when --deployments is not given; --json for scripts
        res = _cli("mine", "--json", env={**os.environ, "CB_DEPLOYMENTS": str(up.deployments)})
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == {"rpcUrl": url, "from": before + 7, "to": before + 8, "mined": 1}
        for bad in ("0", "-3", str(MAX_MINE + 1)):
            res = _cli("mine", bad, "--rpc", url)
            assert res.returncode == 2 and "N must be" in res.stderr
        assert _block(url) == before + 8
        # a raw client asking the server for more blocks than one request may mine is refused, not obeyed
        answer = _rpc(url, "anvil_mine", [hex(10**12)])
        assert "block count must be" in answer["error"]["message"]
        assert _block(url) == before + 8
        assert up.proc.poll() is None


def test_block_time_mines_empty_blocks_while_idle(tmp_path: Path) -> None:
    with devnet_up(tmp_path, "--block-time", "0.2", "--no-tx-log") as up:
        up.wait_line("every 0.2 s (--block-time)")
        url = up.info["rpcUrl"]
        start = _block(url)
        deadline = time.monotonic() + 60
        while _block(url) < start + 3:  # no transaction is sent: only the timer can move the clock
            assert time.monotonic() < deadline, "no block mined by --block-time"
            time.sleep(0.2)


def test_mine_reports_a_dead_rpc_and_a_missing_file() -> None:
    res = _cli("mine", "3", "--rpc", "http://127.0.0.1:9")
    assert res.returncode == 4 and "cannot reach http://127.0.0.1:9" in res.stderr and "cb-devnet up" in res.stderr
    res = _cli("mine", "--deployments", "/nonexistent/deployments.json")
    assert res.returncode == 2 and "deployments file not found" in res.stderr


@pytest.mark.parametrize("value", ["0", "-1", "nan", "100000"])
def test_block_time_out_of_range_is_refused_before_any_chain(tmp_path: Path, value: str) -> None:
    res = _cli("up", "--block-time", value, "--run-dir", str(tmp_path / "run"), "--port", "0")
    assert res.returncode == 2 and "--block-time must be" in res.stderr
    assert not (tmp_path / "run" / "deployments.json").exists()


def _anvil() -> bool:
    from devnet.anvil import find_anvil

    try:
        return find_anvil().exists()
    except devnet.LedgerError:
        return False


@pytest.mark.anvil
@pytest.mark.skipif(not _anvil(), reason="anvil not installed (cd contracts && npm ci)")
def test_anvil_engine_prints_the_same_lines_and_mines(tmp_path: Path) -> None:
    with devnet_up(tmp_path, "--engine", "anvil") as up:
        up.wait_line("PUBLIC TEST KEYS")
        cb = devnet.connect(up.deployments)
        owner = cb.accounts[2]
        cb.hatch(owner)
        assert "ok" in up.wait_line("Beast.hatch")
        before = _block(up.info["rpcUrl"])
        res = _cli("mine", "5", "--rpc", up.info["rpcUrl"])
        assert res.returncode == 0, res.stderr
        assert _block(up.info["rpcUrl"]) == before + 5


def test_a_reader_that_stops_reading_never_stalls_the_chain(tmp_path: Path) -> None:
    """Scripts read only the JSON line; the transaction log filling the pipe must not block the chain or the exit.

    The pipe is shrunk to one page (4 kB, where Linux gives 64 kB), so 80 transfers (about 16 kB of log
    lines) fill it four times over instead of 450 transfers filling a default pipe; it is checked full."""
    out = tmp_path / "deployments.json"
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    size = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
    proc = subprocess.Popen([sys.executable, "-m", "devnet.cli", "up", "--port", "0", "--deployments", str(out),
                             "--run-dir", str(tmp_path / "run"), "--accounts", "3"],
                            cwd=ROOT, stdout=w, stderr=subprocess.DEVNULL)
    os.close(w)
    reader = os.fdopen(r, "rb", buffering=0)  # reads the first line and not a byte more
    try:
        json.loads(reader.readline())  # then never read again
        cb = devnet.connect(out)
        sender, to = cb.accounts[1], cb.accounts[2].address
        before = cb.balance_of(to)
        for _ in range(80):  # about 16 kB of log lines: four times the pipe
            cb.transfer(sender, to, 1)
        assert cb.balance_of(to) == before + 80
        # The log follows the chain by polling: it fills the pipe (up to less than a line) soon after.
        unread = array.array("i", [0])
        deadline = time.monotonic() + 30
        while fcntl.ioctl(r, termios.FIONREAD, unread) == 0 and unread[0] < size - 1024 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert unread[0] >= size - 1024, (unread[0], size)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 130
        finally:
            reader.close()
            if proc.poll() is None:
                proc.kill()
