"""What every ChainBeasts command-line tool shares (kernel.host): one exit-code table in every
--help, FIFOs refused instead of waited on, and SIGINT/SIGTERM ending each tool with 130 and no
traceback (issue 15 items 4 and 6).

The signal tests run the real tool in a subprocess and wait for an event (a line of output, a
connection to a socket the test holds, the input file being open), never a sleep.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kernel.host import ExitCode, exit_codes_epilog, tool_modules

ROOT = Path(__file__).resolve().parents[1]
SEED = "0x" + "11" * 32
TOOLS = tool_modules()  # console-script name -> module whose main() it runs


def parsers() -> dict[str, argparse.ArgumentParser]:
    from curriculum.cli import build_parser as curriculum_parser
    from devnet.cli import _parser as devnet_parser
    from kernel.cli import build_parser as kernel_parser
    from node.cli import build_parser as node_parser
    from validator.cli import build_parser as validator_parser
    from validator.dispute_cli import build_parser as dispute_parser

    return {"cb-kernel": kernel_parser(), "cb-curriculum": curriculum_parser(), "cb-devnet": devnet_parser(),
            "cb-node": node_parser(), "cb-validator": validator_parser(), "cb-dispute": dispute_parser()}


def every_parser(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from every_parser(sub)


def run(tool: str, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """The tool in a subprocess; a tool that hangs (a FIFO read) fails the test by its timeout."""
    return subprocess.run([sys.executable, "-m", TOOLS[tool], *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, **kw)


def _sigint_as_at_a_terminal() -> None:
    """SIGINT not ignored here, so that the tools started below get its default disposition, as a
    shell gives a foreground command. A suite launched as a background job of a shell without job
    control inherits SIGINT ignored (an ignored signal stays ignored across exec) and Python then
    never installs its KeyboardInterrupt handler: the SIGINT tests would test the launcher, not the
    tool. Done in this process, not in a preexec_fn: that forces fork() with grpc's fork handlers,
    and the child aborted in grpc's poller (SIGABRT, 'epoll_wait error: Bad file descriptor')."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a handler is reset to the default at exec


def start(tool: str, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    _sigint_as_at_a_terminal()
    return subprocess.Popen([sys.executable, "-m", TOOLS[tool], *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd or ROOT)


def interrupted(proc: subprocess.Popen[str], sig: int) -> str:
    """Send ``sig``; the tool must exit 130 without a traceback. Returns its stderr."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == ExitCode.INTERRUPTED, (proc.returncode, err)
    assert "Traceback" not in err, err
    return err


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@contextmanager
def silent_rpc() -> Iterator[tuple[str, socket.socket]]:
    """A TCP listener that accepts connections and never answers: a tool calling it blocks."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        srv.settimeout(120)
        yield f"http://127.0.0.1:{srv.getsockname()[1]}", srv


def deployments_for(path: Path, url: str) -> Path:
    path.write_text(json.dumps({"version": 1, "engine": "rpc", "rpcUrl": url, "chainId": 1, "contracts": {}}))
    return path


# ---- one exit-code table ---------------------------------------------------------------------


def test_every_tool_and_subcommand_shows_the_one_exit_code_table() -> None:
    table = exit_codes_epilog()
    for tool, parser in parsers().items():
        for p in every_parser(parser):
            assert table.rstrip("\n") in p.format_help(), f"{p.prog} --help lacks the exit-code table"
        assert parser.prog == tool


def test_usage_errors_exit_2_in_every_tool() -> None:
    for tool in TOOLS:
        out = run(tool, "no-such-command")
        assert out.returncode == ExitCode.USAGE and "usage:" in out.stderr, (tool, out.returncode, out.stderr)


# ---- FIFOs are refused, never waited on ---------------------------------------------------------


def test_curriculum_refuses_fifos(fifo: Path) -> None:
    for args in (["commit", str(fifo)], ["verify", str(fifo), "--commitment", "0x" + "00" * 31 + "01"],
                 ["pack", "--csv", str(fifo), "-o", str(fifo.parent / "out.zst")], ["secret", "commitment", str(fifo)]):
        out = run("cb-curriculum", *args, timeout=60)
        assert out.returncode == ExitCode.DATA and "not a regular file" in out.stderr, (args, out.stderr)
    assert not (fifo.parent / "out.zst").exists()


def test_validator_replay_refuses_fifos(fifo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "s"
    assert run("cb-curriculum", "secret", "new", "-o", str(secret)).returncode == 0
    nowhere = str(tmp_path / "never-read.json")  # these are read before any chain is touched (a FIFO dataset: test_chain)
    for args in (["--state-file", str(fifo)], ["--secret-file", str(fifo), "--dataset", str(tmp_path / "d.zst")]):
        out = run("cb-validator", "replay", "--beast", "1", "--window", "2", "--deployments", nowhere, *args, timeout=60)
        assert out.returncode == ExitCode.DATA and "not a regular file" in out.stderr, (args, out.stderr)


def test_kernel_and_key_readers_refuse_fifos(fifo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "s"
    assert run("cb-curriculum", "secret", "new", "-o", str(secret)).returncode == 0
    out = run("cb-kernel", "train", "--seed", SEED, "--windows", "1", "--dataset", str(fifo), "--secret-file", str(secret), timeout=60)
    assert out.returncode == ExitCode.DATA and "not a regular file" in out.stderr, out.stderr
    out = run("cb-node", "init", str(tmp_path / "node"), "--password-file", str(fifo), timeout=60)
    assert out.returncode == ExitCode.USAGE and "not a regular file" in out.stderr, out.stderr
    out = run("cb-devnet", "deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(tmp_path / "ks.json"),
              "--password-file", str(fifo), timeout=60)
    assert out.returncode == ExitCode.USAGE and "not a regular file" in out.stderr, out.stderr
    out = run("cb-dispute", "claim", "--private-key-file", str(fifo), "--deployments", str(tmp_path / "nowhere.json"), timeout=60)
    assert out.returncode == ExitCode.USAGE and "not a regular file" in out.stderr, out.stderr
    out = run("cb-devnet", "up", "--season", str(fifo), "--run-dir", str(tmp_path / "run"), timeout=60)
    assert out.returncode == ExitCode.USAGE and "not a regular file" in out.stderr, out.stderr
    (tmp_path / "nd").mkdir()
    os.mkfifo(tmp_path / "nd" / "node.toml")
    out = run("cb-node", "status", "--node-dir", str(tmp_path / "nd"), timeout=60)
    assert out.returncode == ExitCode.USAGE and "not a regular file" in out.stderr, out.stderr


# ---- SIGINT / SIGTERM: 130, no traceback -------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_kernel_train_interrupted(sig: int) -> None:
    proc = start("cb-kernel", "train", "--seed", SEED, "--windows", "100000")
    assert proc.stdout is not None and proc.stdout.readline().startswith("window"), "no first window line"
    interrupted(proc, sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_curriculum_pack_interrupted(sig: int, tmp_path: Path) -> None:
    rows = (ROOT / "curriculum/examples/battles.csv").read_text().splitlines()
    body = rows[1:] * (30_000 // (len(rows) - 1))  # seconds of parsing: the signal lands mid-import
    big = tmp_path / "big.csv"
    big.write_text("\n".join([rows[0], *body]) + "\n")
    proc = start("cb-curriculum", "pack", "--csv", str(big), "-o", str(tmp_path / "out.zst"))
    fds = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + 120
    wanted = os.path.realpath(big)  # the kernel names an open file by its resolved path
    while wanted not in _targets(fds):  # the event: the input file is open
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "cb-curriculum never opened its input"
        time.sleep(0.005)
    interrupted(proc, sig)
    assert not (tmp_path / "out.zst").exists()


def _targets(fds: Path) -> set[str]:
    """What the process's open descriptors point at; a descriptor closed while we look is skipped
    (its link vanishes between the listing and the read: FileNotFoundError, seen once in CI)."""
    out = set()
    try:
        links = list(fds.iterdir())
    except OSError:
        return out
    for fd in links:
        try:
            out.add(os.readlink(fd))
        except OSError:
            continue
    return out


@pytest.mark.parametrize(("tool", "args"), [
    ("cb-validator", ["replay", "--beast", "1", "--window", "1"]),
    ("cb-dispute", ["check", "--beast", "1", "--window", "1"]),
])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_chain_clients_interrupted_while_waiting_for_the_rpc(tool: str, args: list[str], sig: int, tmp_path: Path) -> None:
    with silent_rpc() as (url, srv):
        proc = start(tool, *args, "--deployments", str(deployments_for(tmp_path / "d.json", url)))
        conn, _ = srv.accept()  # the event: the tool is now waiting for an answer that never comes
        with conn:
            interrupted(proc, sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_validator_serve_interrupted(sig: int) -> None:
    proc = start("cb-validator", "serve", "--address", "127.0.0.1:0")
    assert proc.stdout is not None
    first = proc.stdout.readline()
    if not first.startswith('{"event": "serving"'):  # say why it did not start (it failed once in CI)
        proc.kill()
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"no serving line: {first!r}, exit {proc.returncode}, stderr: {err[-2000:]}")
    interrupted(proc, sig)  # right after the line: the handlers must already be in place


def test_node_hatch_interrupted_while_waiting_for_the_rpc(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("a long passphrase\n")
    pw.chmod(0o600)
    with silent_rpc() as (url, srv):
        dep = deployments_for(tmp_path / "d.json", url)
        node = tmp_path / "node"
        init = run("cb-node", "init", str(node), "--rpc", url, "--deployments", str(dep), "--password-file", str(pw))
        assert init.returncode == 0, init.stderr
        proc = start("cb-node", "hatch", "--node-dir", str(node), "--password-file", str(pw))
        conn, _ = srv.accept()
        with conn:
            interrupted(proc, signal.SIGTERM)


def test_node_status_ignores_fifos_planted_in_its_data_dir(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("a long passphrase\n")
    pw.chmod(0o600)
    node = tmp_path / "node"
    assert run("cb-node", "init", str(node), "--password-file", str(pw)).returncode == 0
    for name in ("status.json", "control.json", "node.pid"):
        os.mkfifo(node / "data" / name)
    out = run("cb-node", "status", "--node-dir", str(node), timeout=60)
    assert out.returncode == ExitCode.OK, out.stderr
