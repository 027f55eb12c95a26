"""What a user sees from `cb-node run`, `cb-node watch` and `cb-node eval` (issue 17 items 1-2).

Each command runs as a user runs it: a subprocess of the real CLI on a real (embedded py-evm)
chain, a real gRPC stream between `watch` and a running node. The formatting helpers are tested
on their own where a number is easier to check than a line.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainbeasts.units import format_energy
from node.cli import main
from node.live import LiveReporter, WindowLine, format_duration, head_switch_note

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough passphrase"
WINDOW_LINE = re.compile(r"^beast \d+  window (\d+)  loss ([\d,]+)( \([+-][\d,]+\))?  burned ([\d.,]+) ENERGY "
                         r"\(total ([\d.,]+) ENERGY\)  tx 0x[0-9a-f]{8}…[0-9a-f]{4}  commit \d+\.\d\d s$", re.M)


def env() -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k != "CB_NODE_PASSWORD"}
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "proto"), e.get("PYTHONPATH", "")])
    return e


def cb_node(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=ROOT, env=env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def deployments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real `cb-devnet up --engine pyevm` in the background, as the README starts it; its deployments file."""
    folder = tmp_path_factory.mktemp("devnet")
    dep = folder / "deployments.json"
    with open(folder / "devnet.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "devnet.cli", "up", "--engine", "pyevm", "--port", "0",
                                 "--deployments", str(dep), "--run-dir", str(folder / "run")], cwd=ROOT, env=env(),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (dep.exists() and dep.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert dep.exists(), (folder / "devnet.log").read_text()
        yield dep
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def new_node(tmp: Path, deployments: Path, eval_every: int | None = None) -> tuple[Path, Path]:
    """`cb-node init` on the devnet: the RPC URL comes from the deployments file (no --rpc)."""
    pw = tmp / "password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    node = tmp / "node"
    assert main(["init", str(node), "--password-file", str(pw), "--grpc", "127.0.0.1:0", "--json",
                 "--deployments", str(deployments)]) == 0
    assert f'rpc = "{json.loads(deployments.read_text())["rpcUrl"]}"' in (node / "node.toml").read_text()
    if eval_every is not None:
        toml = node / "node.toml"
        toml.write_text(re.sub(r"(?m)^eval_every = \d+$", f"eval_every = {eval_every}", toml.read_text()))
    return node, pw


def beast_dir(node: Path) -> Path:
    """The run directory of the one beast a test node hatched (ids depend on the shared devnet)."""
    (only,) = (node / "data" / "beasts").iterdir()
    return only


# ---- formatting ---------------------------------------------------------------------------


def test_energy_is_written_in_tokens_with_sensible_rounding() -> None:
    assert format_energy(256 * 10**15) == "0.256 ENERGY"
    assert format_energy(1_234_567_890_123_456_789_012) == "1,234.5679 ENERGY"  # 4 places, half up
    assert format_energy(5 * 10**13) == "0.0001 ENERGY"  # half of the last place rounds up
    assert format_energy(4 * 10**13) == "<0.0001 ENERGY"  # never "0" for a nonzero amount
    assert format_energy(0) == "0 ENERGY"
    assert format_energy(-15 * 10**17) == "-1.5 ENERGY"
    assert format_energy(1, places=18) == "0.000000000000000001 ENERGY"  # exact when asked
    with pytest.raises(ValueError):
        format_energy(1, places=19)


def test_a_head_switching_on_is_explained_and_nothing_else_is() -> None:
    assert head_switch_note(1, 1) == "" and head_switch_note(3, 1) == ""
    assert head_switch_note(1, 3).startswith("attack head switched on")
    assert head_switch_note(3, 7).startswith("block head switched on")
    assert "attack and block heads" in head_switch_note(1, 7)


def test_progress_bar_rate_and_eta_from_the_clock() -> None:
    now = [100.0]
    err = io.StringIO()
    rep = LiveReporter("human", total=10, out=io.StringIO(), err=err, clock=lambda: now[0])
    assert rep.bar is False  # a StringIO is no terminal: no bar
    assert rep.bar_text().endswith("0/10 windows  0.00/s  ETA --:--")
    now[0] += 8.0
    rep.done = 4
    assert rep.bar_text() == "[#########...............] 4/10 windows  0.50/s  ETA 0:12"
    rep.done = 10
    assert rep.bar_text().endswith("10/10 windows  1.25/s  ETA done")
    assert format_duration(3725) == "1:02:05" and format_duration(59.6) == "1:00"


def test_a_closed_stdout_silences_the_reporter_without_stopping_it() -> None:
    class Closed(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError

    err = io.StringIO()
    rep = LiveReporter("human", out=Closed(), err=err)
    line = WindowLine(1, 1, 100, None, 10**18, 10**18, "0x" + "ab" * 32, 0.5)
    rep.window(line)  # no exception
    rep.window(line)
    assert rep.done == 2
    rep.log("still here")  # stderr still carries the progress messages
    assert err.getvalue() == "cb-node: still here\n"


# ---- cb-node run ----------------------------------------------------------------------------


def test_run_prints_a_line_per_committed_window_and_json_and_quiet(tmp_path: Path, deployments: Path) -> None:
    node, pw = new_node(tmp_path, deployments, eval_every=2)
    out = cb_node("run", "--node-dir", str(node), "--password-file", str(pw), "--hatch", "1", "--until-window", "3")
    assert out.returncode == 0, out.stderr
    lines = WINDOW_LINE.findall(out.stdout)
    assert [int(w) for w, *_ in lines] == [1, 2, 3], out.stdout
    assert lines[0][2] == "" and lines[1][2] != ""  # the loss change from window 2 on
    burned = [float(b) for *_, b, _t in lines]
    totals = [float(t) for *_, t in lines]
    assert totals == pytest.approx([sum(burned[:i + 1]) for i in range(3)])
    # the held-out figures of window 2 (eval_every = 2), printed and recorded
    assert re.search(r"^beast \d+  window 2  held-out: move accuracy 0\.\d{3}  attack error \d+\.\d\d  block recall "
                     r"\d\.\d\d  won \d+% of 20 battles vs untrained$", out.stdout, re.M), out.stdout
    metrics = [json.loads(x) for x in (beast_dir(node) / "metrics.jsonl").read_text().splitlines()]
    evals = [m for m in metrics if m.get("kind") == "eval"]
    assert [m["window"] for m in evals] == [2] and 0 <= evals[0]["move_accuracy"] <= 1
    assert "every beast reached window 3" in out.stderr and "Traceback" not in out.stderr

    js = cb_node("run", "--node-dir", str(node), "--password-file", str(pw), "--until-window", "4", "--json")
    assert js.returncode == 0, js.stderr
    records = [json.loads(x) for x in js.stdout.splitlines()]
    evals = [r for r in records if r["event"] == "eval"]
    windows = [r for r in records if r["event"] == "window_committed"]
    assert [r["window"] for r in windows] == [4] and [r["window"] for r in evals] == [4]
    assert windows[0]["energyBurnWei"] > 0 and windows[0]["energyTotalWei"] == 4 * windows[0]["energyBurnWei"]
    assert re.fullmatch(r"0x[0-9a-f]{64}", windows[0]["tx"])

    quiet = cb_node("run", "--node-dir", str(node), "--password-file", str(pw), "--until-window", "5", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    both = cb_node("run", "--node-dir", str(node), "--password-file", str(pw), "--quiet", "--json")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_run_draws_a_progress_bar_on_a_terminal(tmp_path: Path, deployments: Path) -> None:
    node, pw = new_node(tmp_path, deployments, eval_every=0)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file",
                             str(pw), "--hatch", "1", "--until-window", "2"], cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, text=True)
    os.close(slave)
    tty = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            tty += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read() if proc.stdout else ""
    assert proc.wait(30) == 0
    text = tty.decode()
    assert re.search(r"\r\[#{12}\.{12}\] 1/2 windows  \d+\.\d\d/s  ETA \d+:\d\d", text), text
    assert re.search(r"\r\[#{24}\] 2/2 windows  \d+\.\d\d/s  ETA done", text), text
    assert len(WINDOW_LINE.findall(stdout)) == 2  # the lines go to stdout, the bar only to the terminal


# ---- cb-node watch and eval ---------------------------------------------------------------


def test_watch_follows_a_running_node_and_eval_scores_its_checkpoints(tmp_path: Path, deployments: Path) -> None:
    node, pw = new_node(tmp_path, deployments, eval_every=0)
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file",
                             str(pw), "--hatch", "1", "--until-window", "400", "--quiet", "--ready-file", str(ready)],
                            cwd=ROOT, env=env(), stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        port = json.loads(ready.read_text())["grpcPort"]
        # --count 5: the first commits may be of windows trained before the watcher joined (a slow commit
        # carries two windows of the beast), and the first window seen training may be half done
        js = cb_node("watch", "--grpc", f"127.0.0.1:{port}", "--count", "5", "--json")
        assert js.returncode == 0, js.stderr
        events = [json.loads(x) for x in js.stdout.splitlines()]
        kinds = [e["kind"] for e in events]
        assert kinds.count("window_committed") == 5 and kinds.count("window_trained") >= 2
        # every step of a window watched from its start arrives, in order, before the window is reported trained
        whole = [i for i, e in enumerate(events) if e["kind"] == "window_trained"
                 and any(x["kind"] == "step" and x["window"] == e["window"] and x["step"] == 0 for x in events[:i])]
        assert whole, kinds
        last = whole[-1]
        window = events[last]["window"]
        steps = [e["step"] for e in events[:last] if e["kind"] == "step" and e["window"] == window]
        assert steps == list(range(128))
        # the port from the node directory; --count 5: up to two trained windows wait for their commit and a third
        # may be half trained when the watcher joins, so the fourth commit onwards is of a window watched whole
        human = cb_node("watch", "--node-dir", str(node), "--count", "5")
        assert human.returncode == 0, human.stderr
        assert re.search(r"^\d\d:\d\d:\d\d  beast \d+  window \d+  training step  16/128  loss [\d,]+$", human.stdout, re.M), human.stdout
        committed = re.findall(r"^\d\d:\d\d:\d\d  beast \d+  window (\d+)  committed  burned ([\d.,<]+ ENERGY)  "
                               r"tx 0x[0-9a-f]{64}$", human.stdout, re.M)
        assert committed, human.stdout
        assert "step   1/128" not in human.stdout  # one step line every 16
    finally:
        proc.terminate()
        assert proc.wait(60) in (0, 130)
    # the ENERGY of each trained and committed window is the one the node stored (the word's energyBurn)
    burned = {m["window"]: m["energy_burn"] for m in map(json.loads, (beast_dir(node) / "metrics.jsonl").read_text().splitlines())
              if "energy_burn" in m}
    for e in events:
        if e["kind"] in ("window_trained", "window_committed"):
            assert e["energyBurnWei"] == burned[e["window"]] > 0, e
        else:
            assert "energyBurnWei" not in e
    for window, text in committed:
        assert text == format_energy(burned[int(window)])
    dead = cb_node("watch", "--grpc", f"127.0.0.1:{port}", "--count", "1")
    assert dead.returncode == 4 and "no cb-node answers" in dead.stderr and "Traceback" not in dead.stderr

    beast = beast_dir(node).name
    ev = cb_node("eval", "--node-dir", str(node), "--beast", beast, "--window", "2", "--json", "--boards", "200",
                 "--battles", "10")
    assert ev.returncode == 0, ev.stderr
    fig = json.loads(ev.stdout)
    assert fig["window"] == 2 and fig["heads"] == ["move"] and fig["heldout_boards"] == 200
    assert 0 <= fig["move_accuracy"] <= 1 and 0 <= fig["block_recall"] <= 1 and fig["attack_mae"] >= 0
    genesis = json.loads(cb_node("eval", "--node-dir", str(node), "--beast", beast, "--window", "0", "--json",
                                 "--boards", "200", "--battles", "10").stdout)
    assert genesis["heads"] == [] and genesis["loss_sum"] is None
    text = cb_node("eval", "--node-dir", str(node), "--beast", beast, "--boards", "200", "--battles", "10")
    assert text.returncode == 0 and "move accuracy" in text.stdout and "switches on" in text.stdout
    missing = cb_node("eval", "--node-dir", str(node), "--beast", beast, "--window", "9999")
    assert missing.returncode == 3 and "no stored window 9999" in missing.stderr
    other = cb_node("eval", "--node-dir", str(node), "--beast", "999")
    assert other.returncode == 2 and "no beast 999" in other.stderr
