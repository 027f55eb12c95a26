"""The tools behave as one (issue 17 item 5), each run as a user runs it (a subprocess of the real CLI):

- a closed stdout (``cb-node status | head``) ends a tool quietly, exit 0, no traceback;
- a dead RPC endpoint gets the same actionable hint, and exit 4 (a chain error), from every tool;
- a beast the chain does not have (a devnet restarted under the node) is named as such, not as
  an authorization problem;
- a password file others may read is refused (exit 2) before anything is decrypted;
- every command that prints a result takes ``--json`` (the services that run until stopped excepted).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "a long enough passphrase"
HINT = "is `cb-devnet up` running? check"


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in ("CB_NODE_PASSWORD", "CB_DEPLOYMENTS", "GRPC_VERBOSITY")}
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "proto"), e.get("PYTHONPATH", "")])
    return e


def tool(module: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def password_file(folder: Path, mode: int = 0o600) -> Path:
    pw = folder / "password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(mode)
    return pw


class Devnet:
    """`cb-devnet up --engine pyevm` in the background on one port, writing ``deployments``; restartable there
    (a fresh chain under the same URL and deployments path, as a developer restarting their devnet)."""

    def __init__(self, deployments: Path) -> None:
        self.deployments = deployments
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the chain; its RPC URL once the deployments file is written."""
        self.deployments.unlink(missing_ok=True)
        log = self.deployments.with_suffix(".log")
        with open(log, "w") as f:
            self.proc = proc = subprocess.Popen(
                [sys.executable, "-m", "devnet.cli", "up", "--engine", "pyevm", "--port", str(self.port),
                 "--deployments", str(self.deployments), "--run-dir", str(self.deployments.parent / "devnet-run")],
                cwd=ROOT, env=env(), stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not (self.deployments.exists() and self.deployments.stat().st_size) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.deployments.exists(), log.read_text()
        return str(json.loads(self.deployments.read_text())["rpcUrl"])

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def restart(self) -> str:
        """Stop the chain and start a fresh one on the same port and deployments path."""
        self.stop()
        return self.start()


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """One devnet for the module's tests that need a chain (starting one costs seconds of CPU); a test that
    needs a fresh chain restarts it (and leaves the fresh one running for the others)."""
    net = Devnet(tmp_path_factory.mktemp("devnet") / "deployments.json")
    net.start()
    try:
        yield net
    finally:
        net.stop()


@pytest.fixture(scope="module")
def initialised_node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `cb-node init` home (embedded chain) for the tests that only run status and control commands on it:
    each init encrypts a keystore with the user's scrypt cost and a tool start, seconds a test."""
    folder = tmp_path_factory.mktemp("initialised")
    node = folder / "node"
    init = tool("node.cli", "init", str(node), "--password-file", str(password_file(folder)))
    assert init.returncode == 0, init.stderr
    return node


@pytest.mark.parametrize("module,args", [
    ("node.cli", ["--help"]), ("node.cli", ["status"]), ("node.cli", ["status", "--json"]),
    ("validator.cli", ["--help"]), ("validator.dispute_cli", ["--help"]),
])
def test_a_closed_stdout_ends_a_tool_quietly(request: pytest.FixtureRequest, module: str, args: list[str]) -> None:
    if module == "node.cli" and args[0] == "status":
        args = [*args, "--node-dir", str(request.getfixturevalue("initialised_node"))]
    # The reader closes its end before the tool writes a byte, as `| head -0` would.
    r, w = os.pipe()
    os.close(r)
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env(), stdout=w,
                          stderr=subprocess.PIPE, text=True, timeout=120, stdin=subprocess.DEVNULL)
    os.close(w)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_dead_rpc_gets_one_hint_and_exit_4_from_every_tool(tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9"  # the discard port: nothing listens there
    dep = tmp_path / "deployments.json"
    dep.write_text(json.dumps({"version": 1, "engine": "pyevm", "rpcUrl": dead, "chainId": 1, "deployBlock": 0,
                               "contracts": {n: "0x" + "11" * 20 for n in ("Energy", "Beast", "SeasonRegistry",
                                                                           "CheckpointLedger", "StepVerifier",
                                                                           "BisectionGame")}}))
    pw = password_file(tmp_path)
    node = tmp_path / "node"
    init = tool("node.cli", "init", str(node), "--deployments", str(dep), "--password-file", str(pw))
    assert init.returncode == 0, init.stderr
    assert f'rpc = "{dead}"' in (node / "node.toml").read_text()  # taken from the deployments file
    runs = {
        "cb-node run": tool("node.cli", "run", "--node-dir", str(node), "--password-file", str(pw), "--until-window", "1"),
        "cb-node hatch": tool("node.cli", "hatch", "--node-dir", str(node), "--password-file", str(pw)),
        "cb-validator replay": tool("validator.cli", "replay", "--deployments", str(dep), "--beast", "1", "--window", "1"),
        "cb-dispute check": tool("validator.dispute_cli", "check", "--deployments", str(dep), "--beast", "1",
                                 "--window", "1"),
        "cb-validator watch": tool("validator.cli", "watch", "--once", "--deployments", str(dep), "--dev-account", "0",
                                   "--record", str(tmp_path / "games.json")),
        "cb-dispute status": tool("validator.dispute_cli", "status", "--deployments", str(dep), "--beast", "1",
                                  "--window", "1"),
    }
    for name, out in runs.items():
        assert out.returncode == 4, (name, out.stderr)
        assert f"cannot reach the chain at {dead} (connection refused): {HINT}" in out.stderr, (name, out.stderr)
        assert "HTTPConnectionPool" not in out.stderr and "Traceback" not in out.stderr, (name, out.stderr)
    assert "`rpc` in node.toml" in runs["cb-node run"].stderr
    status = tool("node.cli", "status", "--node-dir", str(node))
    assert status.returncode == 0  # status works while the chain is down; no beasts, so it never asked


def test_a_beast_missing_from_a_restarted_devnet_is_named_as_such(devnet: Devnet, tmp_path: Path) -> None:
    dep = devnet.deployments
    pw = password_file(tmp_path)
    node = tmp_path / "node"
    # The module's chain: no test hatches on it but the one below, which restarts it.
    assert tool("node.cli", "init", str(node), "--deployments", str(dep), "--password-file", str(pw),
                "--grpc", "127.0.0.1:0").returncode == 0
    first = tool("node.cli", "run", "--node-dir", str(node), "--password-file", str(pw), "--hatch", "1",
                 "--until-window", "1", "--quiet")
    assert first.returncode == 0, first.stderr
    devnet.restart()  # the same URL and deployments path, a fresh chain: the beast is gone
    again = tool("node.cli", "run", "--node-dir", str(node), "--password-file", str(pw), "--until-window", "2")
    replay = tool("validator.cli", "replay", "--deployments", str(dep), "--beast", "1", "--window", "1")
    check = tool("validator.dispute_cli", "check", "--deployments", str(dep), "--beast", "1", "--window", "1")
    assert again.returncode == 4, again.stderr
    assert "beast 1 does not exist on this chain: devnet restarted?" in again.stderr, again.stderr
    assert "may not commit" not in again.stderr
    for out in (replay, check):  # the validator's and the challenger's tools say the same
        assert out.returncode == 4 and "no such beast on this chain: devnet restarted?" in out.stderr, out.stderr


def test_a_password_file_others_can_read_is_refused(tmp_path: Path) -> None:
    loose = password_file(tmp_path, 0o644)
    out = tool("node.cli", "init", str(tmp_path / "node"), "--password-file", str(loose))
    assert out.returncode == 2 and "chmod 600" in out.stderr and PASSWORD not in out.stderr + out.stdout
    assert not (tmp_path / "node" / "keystore.json").exists()
    loose.chmod(0o600)
    assert tool("node.cli", "init", str(tmp_path / "node"), "--password-file", str(loose)).returncode == 0
    loose.chmod(0o640)
    run = tool("node.cli", "run", "--node-dir", str(tmp_path / "node"), "--password-file", str(loose))
    assert run.returncode == 2 and "chmod 600" in run.stderr


def test_one_way_to_name_a_key_in_every_tool(devnet: Devnet, tmp_path: Path) -> None:
    dep = devnet.deployments
    pw = password_file(tmp_path)
    # The module's chain (none of this sends a transaction that another test reads)
    accounts = json.loads(dep.read_text())["accounts"]
    key = tmp_path / "four.key"
    key.write_text(accounts[4]["privateKey"] + "\n")
    key.chmod(0o600)

    def init(name: str, *key_args: str) -> subprocess.CompletedProcess[str]:
        return tool("node.cli", "init", str(tmp_path / name), "--deployments", str(dep), "--password-file", str(pw),
                    "--json", *key_args)

    # cb-node init: a dev account, a key file (and its old name), a keystore (unlocked with --password-file)
    for name, args, n in (("dev", ["--dev-account", "3"], 3), ("file", ["--key-file", str(key)], 4),
                          ("old", ["--import-key", str(key)], 4), ("five", ["--dev-account", "5"], 5)):
        out = init(name, *args)
        assert out.returncode == 0, (name, out.stderr)
        assert json.loads(out.stdout)["address"] == accounts[n]["address"], name
    ks = init("ks", "--keystore", str(tmp_path / "file" / "keystore.json"))
    assert ks.returncode == 0 and json.loads(ks.stdout)["address"] == accounts[4]["address"], ks.stderr

    # cb-validator: the same flags (a dev account, a keystore unlocked with --password-file)
    for name, args in (("dev", ["--dev-account", "5"]),
                       ("keystore", ["--keystore", str(tmp_path / "five" / "keystore.json"), "--password-file", str(pw)])):
        record = tmp_path / f"games-{name}.json"
        w = tool("validator.cli", "watch", "--once", "--deployments", str(dep), "--record", str(record), *args)
        assert w.returncode == 0, (name, w.stderr)
        assert json.loads(record.read_text())["account"] == accounts[5]["address"], name

    # cb-dispute: the same flags, checked before anything is sent
    base = ["check", "--deployments", str(dep), "--beast", "1", "--window", "1"]
    two = tool("validator.dispute_cli", *base, "--key-file", str(key), "--dev-account", "1")
    assert two.returncode == 2 and "give one key, not --key-file and --dev-account" in two.stderr
    far = tool("validator.dispute_cli", *base, "--dev-account", "99")
    assert far.returncode == 2 and f"lists {len(accounts)} dev accounts" in far.stderr
    key.chmod(0o644)
    loose = tool("validator.dispute_cli", *base, "--key-file", str(key))
    assert loose.returncode == 2 and "chmod 600" in loose.stderr
    assert accounts[4]["privateKey"][2:] not in loose.stderr + two.stderr

    # A real chain's deployments file lists no dev accounts: --dev-account is refused there.
    real = json.loads(dep.read_text())
    real.pop("accounts")
    (tmp_path / "real.json").write_text(json.dumps(real))
    out = tool("node.cli", "init", str(tmp_path / "real"), "--deployments", str(tmp_path / "real.json"),
               "--password-file", str(pw), "--dev-account", "0")
    assert out.returncode == 2 and "only a devnet has them" in out.stderr
    assert not (tmp_path / "real").exists()


def test_control_commands_print_text_or_json(initialised_node: Path) -> None:
    node = initialised_node
    text = tool("node.cli", "pause", "--node-dir", str(node))
    assert text.returncode == 0 and text.stdout.startswith("no cb-node is running on ")
    js = tool("node.cli", "resume", "--node-dir", str(node), "--json")
    assert js.returncode == 0, js.stderr
    assert json.loads(js.stdout) == {"dataDir": str((node / "data").resolve()), "requested": "running", "pid": None,
                                     "outcome": "not_running"}


def test_a_closed_stdout_does_not_stop_a_training_node(tmp_path: Path) -> None:
    """`cb-node run | head -1`: the node stops printing, not training (embedded chain, so no devnet here)."""
    pw = password_file(tmp_path)
    node = tmp_path / "node"
    assert tool("node.cli", "init", str(node), "--password-file", str(pw), "--grpc", "127.0.0.1:0").returncode == 0
    r, w = os.pipe()
    os.close(r)
    proc = subprocess.run([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file", str(pw),
                           "--hatch", "1", "--until-window", "2"], cwd=ROOT, env=env(), stdout=w,
                          stderr=subprocess.PIPE, text=True, timeout=180, stdin=subprocess.DEVNULL)
    os.close(w)
    assert proc.returncode == 0, proc.stderr
    assert "every beast reached window 2" in proc.stderr and "Traceback" not in proc.stderr
    status = json.loads(tool("node.cli", "status", "--node-dir", str(node), "--json").stdout)
    assert status["beasts"][0]["windows"]["committed"] + status["beasts"][0]["windows"]["finalized"] == 2


# Services that run until stopped and log as they go (JSON lines always, or anvil-like text whose first
# line is already a JSON summary): the only commands without --json.
SERVICES = {("cb-node", "tavern"), ("cb-validator", "serve"), ("cb-validator", "watch"), ("cb-devnet", "up")}


def _commands(parser: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], object]]:
    import argparse

    assert isinstance(parser, argparse.ArgumentParser)
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _commands(sub, (*path, name))


def test_every_command_that_prints_a_result_takes_json() -> None:
    """Human output by default and ``--json`` everywhere (issue 17 item 5): every leaf command of every tool
    has the flag, except the long-running services above; a new command without it fails here."""
    import importlib

    tools = {"cb-node": ("node.cli", "build_parser"), "cb-validator": ("validator.cli", "build_parser"),
             "cb-dispute": ("validator.dispute_cli", "build_parser"), "cb-devnet": ("devnet.cli", "_parser"),
             "cb-curriculum": ("curriculum.cli", "build_parser"), "cb-kernel": ("kernel.cli", "build_parser")}
    missing, seen = [], set()
    for tool_name, (module, factory) in tools.items():
        for path, parser in _commands(getattr(importlib.import_module(module), factory)()):
            seen.add((tool_name, *path))
            if not any("--json" in a.option_strings for a in parser._actions) and (tool_name, *path) not in SERVICES:  # type: ignore[attr-defined]
                missing.append(" ".join((tool_name, *path)))
    assert not missing, f"commands without --json: {missing}"
    assert seen >= SERVICES  # the exemptions name real commands
    assert seen >= {("cb-curriculum", "secret", "new"), ("cb-devnet", "deploy"), ("cb-devnet", "mine")}
