"""cb-devnet as a user runs it: help, exit codes, `up` serving other processes, `deploy`, season constants."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account

import devnet
from devnet import artifacts, cli, season
from devnet.bindings import Param
from devnet.errors import revert_data
from devnet.embedded import DEFAULT_STAKE
from devnet.season import DEFAULT_PARAMS, DEFAULT_SPEC_VERSION
from kernel.host import exit_codes_epilog

from chain_helpers import make_word

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devnet.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args", [["--help"], ["up", "--help"], ["deploy", "--help"]])
def test_help(args: list[str]) -> None:
    proc = _cli(*args)
    assert proc.returncode == 0 and "usage: cb-devnet" in proc.stdout and exit_codes_epilog() in proc.stdout
    if args[0] != "--help":  # the season options and a table of every constant with its default
        assert "--param NAME=VALUE" in proc.stdout and "--season FILE.toml" in proc.stdout
        for name, default in DEFAULT_PARAMS.items():
            assert re.search(rf"^  {name} +{default} ", proc.stdout, re.M), name


def test_config_errors_exit_2(tmp_path: Path) -> None:
    assert _cli("up", "--engine", "geth").returncode == 2
    assert _cli("deploy", "--keystore", "x").returncode == 2  # --rpc missing
    proc = _cli("deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(tmp_path / "missing.json"), "--password-file", "/dev/null")
    assert proc.returncode == 2 and "password file /dev/null is not a regular file" in proc.stderr
    loose = tmp_path / "loose"
    loose.write_text("pw\n")
    loose.chmod(0o644)
    proc = _cli("deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(tmp_path / "missing.json"), "--password-file", str(loose))
    assert proc.returncode == 2 and "chmod 600" in proc.stderr  # a password file others may read: refused, as in every tool
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "pw").chmod(0o600)
    proc = _cli("deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(tmp_path / "missing.json"),
                "--password-file", str(tmp_path / "pw"))
    assert proc.returncode == 2 and "cannot open keystore" in proc.stderr and "No such file" in proc.stderr
    ks = tmp_path / "ks.json"
    ks.write_text(json.dumps(Account.encrypt(b"\x01" * 32, "pw")))
    proc = subprocess.run([sys.executable, "-m", "devnet.cli", "deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(ks)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "CB_KEYSTORE_PASSWORD": "wrong"})
    assert proc.returncode == 2 and "cannot decrypt keystore" in proc.stderr and "wrong password" in proc.stderr


def test_unreachable_rpc_exits_4(tmp_path: Path) -> None:
    ks = tmp_path / "ks.json"
    ks.write_text(json.dumps(Account.encrypt(b"\x01" * 32, "pw")))
    (tmp_path / "pw").write_text("pw\n")
    (tmp_path / "pw").chmod(0o600)
    proc = _cli("deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(ks), "--password-file", str(tmp_path / "pw"))
    assert proc.returncode == 4 and "cannot reach" in proc.stderr


@contextmanager
def _up(out: Path, *args: str) -> Iterator[dict[str, Any]]:
    """`cb-devnet up --port 0 ARGS` in a child process; yields the deployments file once written, stops it with SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devnet.cli", "up", "--port", "0", "--deployments", str(out), "--run-dir", str(out.parent / "run"), *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no deployments file"
            time.sleep(0.1)
        yield json.loads(out.read_text())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=20) == 130  # stopped by a signal: interrupted, as every tool reports it
        finally:
            if proc.poll() is None:
                proc.kill()


def test_up_serves_other_processes_and_deploy_reaches_it(tmp_path: Path) -> None:
    out = tmp_path / "deployments.json"
    with _up(out) as data:
        assert data["engine"] == "pyevm" and data["rpcUrl"].startswith("http://127.0.0.1:")
        assert set(data["contracts"]) == {"Energy", "Beast", "SeasonRegistry", "CheckpointLedger", "StepVerifier", "BisectionGame"}
        cb = devnet.connect(out)
        assert data["season"]["specVersion"] == cb.spec_version() == DEFAULT_SPEC_VERSION  # a new season's default
        owner = cb.accounts[1]
        bid = cb.hatch(owner)
        assert cb.hatch_data(bid).spec_version == DEFAULT_SPEC_VERSION
        assert cb.stake_of(owner).staked == DEFAULT_STAKE  # dev accounts come staked: they commit at once
        cb.commit(owner, bid, make_word(0))
        assert cb.window_count(bid) == 1

        # `deploy` to the same RPC with an encrypted keystore of a funded dev account.
        ks = tmp_path / "ks.json"
        ks.write_text(json.dumps(Account.encrypt(cb.accounts[2].key, "pw")))
        (tmp_path / "pw").write_text("pw\n")
        (tmp_path / "pw").chmod(0o600)
        dep_out = tmp_path / "second.json"
        res = _cli("deploy", "--rpc", data["rpcUrl"], "--keystore", str(ks), "--password-file", str(tmp_path / "pw"),
                   "--deployments", str(dep_out), "--param", "VotingPeriod=33", "--timelock-delay", "13", "--spec-version", "1",
                   "--game-clock", "99")
        assert res.returncode == 0, res.stderr
        second = devnet.connect(dep_out)
        assert second.addresses["CheckpointLedger"] != cb.addresses["CheckpointLedger"]
        assert second.ledger.functions.bisectionGame().call() == second.addresses["BisectionGame"]
        assert second.clock_blocks() == 99
        assert second.params() == {**DEFAULT_PARAMS, "voting_period": 33}
        assert second.registry.functions.timelockDelay().call() == 13
        written = json.loads(dep_out.read_text())
        assert written["accounts"] == [] and written["season"] == {"timelockDelay": 13, "specVersion": 1, "gameClockBlocks": 99,
                                                                   "params": second.params()}
        assert second.spec_version() == 1 and second.hatch_data(second.hatch(cb.accounts[2])).spec_version == 1
        # Text by default (above), one JSON object with --json
        assert res.stdout.startswith(f"deployed the contracts to {data['rpcUrl']} (chain id {data['chainId']}, spec version 1)")
        assert all(address in res.stdout for address in written["contracts"].values()) and str(dep_out) in res.stdout
        third_out = tmp_path / "third.json"
        res = _cli("deploy", "--rpc", data["rpcUrl"], "--keystore", str(ks), "--password-file", str(tmp_path / "pw"),
                   "--deployments", str(third_out), "--json")
        assert res.returncode == 0, res.stderr
        third = json.loads(third_out.read_text())
        assert json.loads(res.stdout) == {"deployments": str(third_out), "rpcUrl": data["rpcUrl"], "chainId": data["chainId"],
                                          "deployBlock": third["deployBlock"], "deployer": cb.accounts[2].address,
                                          "specVersion": DEFAULT_SPEC_VERSION, "contracts": third["contracts"]}


def test_up_deploys_the_season_constants_asked_for(tmp_path: Path) -> None:
    season = tmp_path / "season.toml"
    season.write_text("CHALLENGE_PERIOD = 50  # --param wins\nvalidatorQuorum = 3\nepoch_steps = 1_024\nmin-validator-stake = 0\n")
    out = tmp_path / "deployments.json"
    with _up(out, "--param", "challenge_period=7", "--season", str(season), "--timelock-delay", "14", "--spec-version", "2",
             "--game-clock", "12", "--stake", "0") as data:
        want = {**DEFAULT_PARAMS, "challenge_period": 7, "validator_quorum": 3, "epoch_steps": 1024, "min_validator_stake": 0}
        cb = devnet.connect(out)
        assert cb.params() == want
        assert cb.ledger.functions.epochSteps().call() == 1024  # read once by the ledger at deployment
        assert cb.registry.functions.timelockDelay().call() == 14
        assert data["season"] == {"timelockDelay": 14, "specVersion": 2, "gameClockBlocks": 12, "params": want}
        assert cb.spec_version() == 2 and cb.clock_blocks() == 12
        assert cb.stake_of(cb.accounts[1]) == (0, 0, 0)  # --stake 0: unstaked dev accounts
        # A file written before "season" was recorded still loads and connects.
        old = tmp_path / "old.json"
        old.write_text(json.dumps({k: v for k, v in data.items() if k != "season"}))
        assert "season" not in devnet.load_deployments(old) and devnet.connect(old).params() == want


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:  # argparse
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err


BAD_SEASON = [
    (["--param", "foo=1"], "unknown season parameter 'foo' (known: window_steps, base_cost,"),
    (["--param", "challenge_period"], "--param 'challenge_period': expected NAME=VALUE"),
    (["--param", "challenge_period=abc"], "season parameter challenge_period: 'abc' is not an integer"),
    (["--param", "bond_multiplier=-1"], "season parameter bond_multiplier = -1: must not be negative"),
    (["--param", "window_steps=256"], "window_steps = 256: must be 128 (fixed by spec version 1)"),
    (["--param", "epoch_steps=100"], "epoch_steps = 100: must be a positive multiple of 128 below 2**32"),
    (["--param", f"epoch_steps={2**32}"], f"epoch_steps = {2**32}: must be a positive multiple of 128 below 2**32"),
    (["--param", "validator_quorum=33"], "validator_quorum = 33: must be 1..32"),
    (["--param", "wrongVoteSlashBps=5001"], "wrong_vote_slash_bps = 5001: must be 0..5000 (basis points of a wrong voter's stake)"),
    (["--param", f"base_cost={2**96}"], f"base_cost = {2**96}: must be 0..2**96-1"),
    (["--season", "FILE", "--param", "epoch_steps=128"], "season file FILE: season parameter spurt_cost: 1.5 is not an integer"),
    (["--season", "MISSING"], "cannot open season file MISSING"),
    *((["--timelock-delay", bad], f"timelock delay must be an integer 10..1000000 blocks, got {bad}")
      for bad in ("-1", "0", "9", "1000001")),
    (["--timelock-delay", "x"], "argument --timelock-delay: invalid int value: 'x'"),
    *((["--spec-version", bad], f"argument --spec-version: invalid choice: {bad} (choose from 1, 2)") for bad in ("0", "3")),
    (["--spec-version", "two"], "argument --spec-version: invalid int value: 'two'"),
    *((["--game-clock", bad], f"game clock must be an integer 8..16777216 blocks, got {bad}") for bad in ("0", "7", "16777217")),
    (["--game-clock", "x"], "argument --game-clock: invalid int value: 'x'"),
]


def test_bad_season_input_exits_2_before_any_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text("spurt_cost = 1.5\n")
    names = {"FILE": str(bad_file), "MISSING": str(tmp_path / "missing.toml")}
    # Tripwires: were the season checked late, `up` would fail on --port and `deploy` on the keystore.
    up = ["up", "--port", "70000", "--run-dir", str(tmp_path / "run")]
    deploy = ["deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(tmp_path / "missing.json")]
    for args, message in BAD_SEASON:
        args = [names.get(a, a) for a in args]
        message = message.replace("FILE", names["FILE"]).replace("MISSING", names["MISSING"])
        for command in (up, deploy):
            rc, err = _main(capsys, *command, *args)
            assert rc == cli.EXIT_CONFIG and message in err, (command[0], args, err)
    assert not (tmp_path / "run").exists()
    # The same from a real process: exit 2, the message, no chain, no deployments file.
    proc = _cli("up", "--port", "0", "--run-dir", str(tmp_path / "run"), "--param", "challengePeriod=0")
    assert proc.returncode == 2 and "config error: season parameter challenge_period = 0: must be 1..1000000 blocks" in proc.stderr
    assert proc.stdout == "" and not (tmp_path / "run").exists()


def _deploy_error(net, delay: int, values: list[int]) -> devnet.ContractError | None:  # type: ignore[no-untyped-def]
    """The error the SeasonRegistry constructor reverts with for these arguments (eth_call), or None."""
    code = bytes.fromhex(artifacts.load("SeasonRegistry").bytecode.removeprefix("0x"))
    owner = net.admin.address
    data = code + abi_encode(["address", "uint64", f"uint96[{len(Param)}]"], [owner, delay, values])
    try:
        net.raw.w3.eth.call({"from": owner, "data": "0x" + data.hex()})
    except Exception as exc:  # noqa: BLE001 - eth-tester's revert type
        err = net.cb.decoder.decode(revert_data(exc) or b"")
        assert isinstance(err, devnet.ContractError), err
        return err
    return None


def test_python_rules_match_the_registry(net) -> None:  # type: ignore[no-untyped-def]
    """devnet.season mirrors SeasonRegistry._check: the constructor accepts exactly what it accepts."""
    candidates = (0, 1, 32, 33, 100, 101, 128, 129, 5000, 5001, 1_000_000, 1_000_001, 8 * 2**20, 8 * 2**20 + 1,
                  2**32 - 128, 2**32, 2**96 - 1)
    for p in Param:
        for v in candidates:
            values = {**DEFAULT_PARAMS, p.name.lower(): v}
            try:
                season.check_params(values)
                ours = True
            except devnet.ConfigError:
                ours = False
            err = _deploy_error(net, 10, list(values.values()))
            if err is not None:
                assert err.name == "SeasonParamInvalid" and err["param"] == int(p) and err["value"] == v, err
            theirs = err is None
            assert ours == theirs, (p.name, v, ours, theirs)


def test_timelock_delay_rule_matches_the_registry(net) -> None:  # type: ignore[no-untyped-def]
    """A delay near 2^64 would overflow block.number + delay in every queueChange (a frozen
    registry), and one below MIN_TIMELOCK_DELAY would put a change in force before anyone could
    see it (0: in its own block), so the constructor bounds it, and cb-devnet refuses the same
    values first."""
    assert net.cb.registry.functions.MAX_TIMELOCK_DELAY().call() == season.MAX_TIMELOCK_DELAY
    assert net.cb.registry.functions.MIN_TIMELOCK_DELAY().call() == season.MIN_TIMELOCK_DELAY
    low = season.MIN_TIMELOCK_DELAY
    for delay in (0, 1, low - 1, low, low + 1, season.MAX_TIMELOCK_DELAY, season.MAX_TIMELOCK_DELAY + 1, 2**64 - 1):
        err = _deploy_error(net, delay, list(DEFAULT_PARAMS.values()))
        if err is not None:
            assert err.name == "SeasonTimelockDelayInvalid" and err["delay"] == delay, err
        theirs = err is None
        try:
            season.check_timelock_delay(delay)
            ours = True
        except devnet.ConfigError:
            ours = False
        assert ours == theirs == (low <= delay <= season.MAX_TIMELOCK_DELAY), delay


def test_bad_stake_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, err = _main(capsys, "up", "--port", "0", "--run-dir", str(tmp_path / "run"), "--stake", "-1")
    assert rc == cli.EXIT_CONFIG and "--stake must be 0.." in err and not (tmp_path / "run").exists()


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
    assert proc.returncode == 2, proc.stderr
    assert "config error" in proc.stderr
