"""cb-node command line: help, init, config errors and exit codes, daemon control (pause/resume/stop, SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from node.cli import main
from node.config import load_config, unlock_keystore
from node.daemon import STATUS
from node.errors import EXIT_CONFIG, EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("demo", "init", "hatch", "run", "status", "pause", "resume", "stop")
PASSWORD = "correct horse battery staple"


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "CB_NODE_PASSWORD"}
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=ROOT, env=e, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def init_node(tmp: Path, name: str = "n") -> tuple[Path, Path]:
    pw = tmp / f"{name}.password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    node = tmp / name
    assert main(["init", str(node), "--password-file", str(pw), "--grpc", "127.0.0.1:0", "--json"]) == 0
    return node, pw


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "130" in out


def test_init_writes_private_keystore_and_commented_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node, pw = init_node(tmp_path)
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err
    ks = node / "keystore.json"
    assert ks.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in ks.read_text()
    address = json.loads(out.out)["address"]
    assert unlock_keystore(ks, PASSWORD).address == address
    text = (node / "node.toml").read_text()
    assert text.count("#") > 10 and 'rpc = "embedded"' in text
    cfg = load_config(node)
    assert cfg.rpc == "embedded" and cfg.grpc == "127.0.0.1:0" and cfg.data_dir == (node / "data").resolve()
    # A second init never overwrites.
    assert main(["init", str(node), "--password-file", str(pw)]) == EXIT_CONFIG


def test_config_and_password_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node, pw = init_node(tmp_path)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    wrong.chmod(0o600)  # a loose password file is refused before it is read (test_tools_uniform)
    assert main(["run", "--node-dir", str(node), "--password-file", str(wrong)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "wrong password" in err and "nope" not in err
    assert main(["status", "--node-dir", str(tmp_path / "missing")]) == EXIT_CONFIG
    toml = node / "node.toml"
    original = toml.read_text()
    for bad in ('backend = "cuda-magic"\n', "confirmations = -1\n", 'rpc = "ftp://x"\n', "colour = 3\n",
                'grpc = "nowhere"\n', "beasts = [0]\n", "rpc = [\n"):
        toml.write_text(original + bad if not bad.startswith(("backend", "rpc =", "grpc")) else
                        "\n".join(line for line in original.splitlines()
                                  if not line.startswith(bad.split("=")[0])) + "\n" + bad)
        assert main(["status", "--node-dir", str(node)]) == EXIT_CONFIG, bad
        assert "error:" in capsys.readouterr().err
    toml.write_text(original)
    # Usage errors are configuration errors too (2 is reserved for chain errors).
    with pytest.raises(SystemExit) as info:
        main(["run", "--until-window"])
    assert info.value.code == EXIT_CONFIG
    # No password source and no terminal: a clear config error, not a hang.
    assert cli("hatch", "--node-dir", str(node)).returncode == EXIT_CONFIG


def status_json(node: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert main(["status", "--node-dir", str(node), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def start_daemon(node: Path, pw: Path, ready: Path) -> subprocess.Popen[str]:
    """`cb-node run --hatch 1` in the background, returned once it wrote its ready file."""
    env = {k: v for k, v in os.environ.items() if k != "CB_NODE_PASSWORD"}
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file",
                             str(pw), "--hatch", "1", "--ready-file", str(ready)], cwd=ROOT, env=env,
                            # its line per window is not read here: an unread pipe would fill and stall the daemon
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not ready.exists():
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        raise AssertionError(f"cb-node run wrote no ready file: {proc.stderr.read() if proc.stderr else ''}")
    return proc


def wait_daemon_status(node: Path, ready: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
    """The daemon's own status file (data/status.json) once ``ready`` accepts it; fails after ``timeout`` s."""
    path = node / "data" / STATUS
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):  # not written yet
            doc = {}
        if doc and ready(doc):
            return doc
        time.sleep(0.05)
    raise AssertionError(f"the daemon's status never reached the awaited state within {timeout} s; last: {doc}")


def test_daemon_pause_resume_stop_and_sigterm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node, pw = init_node(tmp_path)
    proc = start_daemon(node, pw, tmp_path / "ready.json")
    try:
        assert main(["pause", "--node-dir", str(node)]) == 0
        # The daemon acknowledges the pause in its own status file once the current window is done;
        # then it keeps rewriting that file each time it checks the control file again.
        paused = wait_daemon_status(node, lambda doc: doc["state"] == "paused")
        st = status_json(node, capsys)
        assert st["daemon"]["running"] and st["daemon"]["state"] == "paused"
        w1 = st["beasts"][0]["latestWindow"]
        for _ in range(3):  # three more polls of the control file while paused
            paused = wait_daemon_status(node, lambda doc, t=paused["updatedAt"]: doc["state"] == "paused" and doc["updatedAt"] > t)
        assert paused["rounds"] == wait_daemon_status(node, lambda doc: True)["rounds"]
        st = status_json(node, capsys)
        assert st["beasts"][0]["latestWindow"] == w1, "a paused node must not train"
        assert main(["resume", "--node-dir", str(node)]) == 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            st = status_json(node, capsys)
            if st["beasts"][0]["latestWindow"] > w1:
                break
            time.sleep(0.2)
        assert st["beasts"][0]["latestWindow"] > w1
        assert main(["stop", "--node-dir", str(node), "--timeout", "60"]) == 0
        assert proc.wait(timeout=30) == 0
        assert PASSWORD not in (proc.stderr.read() if proc.stderr else "")
        st = status_json(node, capsys)
        assert not st["daemon"]["running"]
        assert st["beasts"][0]["windows"]["persisted"] + st["beasts"][0]["windows"]["sent"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # An embedded chain does not survive the process: a restart on old beasts is refused clearly.
    capsys.readouterr()
    assert main(["run", "--node-dir", str(node), "--password-file", str(pw)]) == EXIT_CONFIG
    assert "embedded" in capsys.readouterr().err

    # SIGTERM: finish the current window, exit 130, nothing left half-committed.
    node2, pw2 = init_node(tmp_path, "m")
    proc = start_daemon(node2, pw2, tmp_path / "ready2.json")
    try:
        wait_daemon_status(node2, lambda doc: doc["rounds"] >= 1)  # a window is committed; the next one is under way
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == EXIT_INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    st = status_json(node2, capsys)
    w = st["beasts"][0]["windows"]
    assert w["persisted"] + w["sent"] == 0 and w["committed"] >= 1


def test_confirmations_on_an_automining_devnet_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """confirmations > 0 on a chain that mines only per transaction would wait forever: exit 1, say why."""
    from devnet.launch import launch
    from node.embedded import connect_rpc, mines_only_on_transactions

    node, pw = init_node(tmp_path)
    toml = node / "node.toml"
    assert "\nconfirmations = 0" in toml.read_text()
    toml.write_text(toml.read_text().replace("\nconfirmations = 0", "\nconfirmations = 2"))
    assert main(["run", "--node-dir", str(node), "--password-file", str(pw), "--hatch", "1",
                 "--until-window", "1", "--quiet"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "confirmations = 2" in err and "set confirmations = 0" in err
    # `cb-devnet up --engine pyevm` automines too, and says so the way anvil does.
    with launch("pyevm", port=0, run_dir=tmp_path / "chain", accounts=2) as run:
        handle = connect_rpc(run.url, tmp_path / "chain" / "deployments.json")
        assert mines_only_on_transactions(handle)
