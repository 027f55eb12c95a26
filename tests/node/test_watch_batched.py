"""`cb-node watch` on a node that trains many beasts at once (issue 17 item 1, the batched path).

From BATCHED_MIN (8) beasts a round trains every beast's window in one tensor program
(kernel.batched). The issue asks for step events while a window trains, not after it: a real
node with 8 beasts on a real devnet, a real `cb-node watch --json` over gRPC, and the stream must
carry every step of a window before that window is reported trained and committed, chunk by chunk
*across the beasts* -- every beast's first chunk of steps before any beast's second -- which is
only possible when the steps are published between the chunks of the one batched computation
(published after the window, beast 1's 128 steps would come before beast 2's first).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from node.training import BATCHED_CHUNK_STEPS, BATCHED_MIN
from tests.node.test_live_output import ROOT, cb_node, deployments, env, new_node

__all__ = ["deployments"]  # the module's devnet fixture (a real `cb-devnet up`)


def test_watch_gets_a_batched_windows_steps_chunk_by_chunk_before_its_commit(tmp_path: Path,
                                                                               deployments: Path) -> None:
    node, pw = new_node(tmp_path, deployments, eval_every=0)
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file",
                             str(pw), "--hatch", str(BATCHED_MIN), "--until-window", "400", "--quiet",
                             "--ready-file", str(ready)], cwd=ROOT, env=env(), stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert ready.exists(), "cb-node run did not get ready"
        port = json.loads(ready.read_text())["grpcPort"]
        # four rounds of commits: up to two rounds wait for their commit and a third may be half trained when the
        # watcher joins, so the last round committed was watched from its first step
        js = cb_node("watch", "--grpc", f"127.0.0.1:{port}", "--count", str(4 * BATCHED_MIN), "--json", timeout=300)
        assert js.returncode == 0, js.stderr
    finally:
        proc.terminate()
        assert proc.wait(60) in (0, 130)
    events = [json.loads(x) for x in js.stdout.splitlines()]
    at: dict[tuple[str, int, int], int] = {}  # (kind, beast, window) -> position in the stream (window kinds)
    steps: dict[tuple[int, int], list[int]] = defaultdict(list)  # (beast, window) -> positions of its step events
    for i, e in enumerate(events):
        if e["kind"] == "step":
            steps[e["beastId"], e["window"]].append(i)
        else:
            at.setdefault((e["kind"], e["beastId"], e["window"]), i)
    whole = {key: pos for key, pos in steps.items() if events[pos[0]]["step"] == 0}  # watched from its first step
    # a round the watcher joined while it trained publishes its steps after it (nobody listened when it began):
    # only rounds begun after the first window event of the stream count as watched from their start
    joined = min(at.values())
    for (beast, window), pos in whole.items():
        assert [events[p]["step"] for p in pos] == list(range(128)), (beast, window)
        assert [events[p]["loss"] for p in pos] and all(events[p]["loss"] >= 0 for p in pos)
        trained, committed = at.get(("window_trained", beast, window)), at.get(("window_committed", beast, window))
        assert trained is None or pos[-1] < trained  # every step before the window is reported trained ...
        assert committed is None or pos[-1] < committed  # ... and before it is committed
    rounds: dict[int, list[int]] = defaultdict(list)  # window -> the beasts whose window was watched whole
    for beast, window in whole:
        if ("window_committed", beast, window) in at and whole[beast, window][0] > joined:
            rounds[window].append(beast)
    full = [w for w, beasts in rounds.items() if len(beasts) >= BATCHED_MIN]
    assert full, f"no round of {BATCHED_MIN} beasts was watched from its first step to its commits: {dict(rounds)}"
    for window in full:
        # the steps of the round in stream order: chunk 0 of every beast, then chunk 1 of every beast, ...
        order = sorted(p for beast in rounds[window] for p in whole[beast, window])
        chunks = [events[p]["step"] // BATCHED_CHUNK_STEPS for p in order]
        assert chunks == sorted(chunks), f"window {window}: steps not streamed chunk by chunk across the beasts"
        assert len(set(chunks)) == 128 // BATCHED_CHUNK_STEPS
        times = [events[p]["timeUnixMs"] for p in order]
        assert times == sorted(times) and all(t > 0 for t in times)  # stamped when each chunk was trained
        first_commit = min(at["window_committed", b, window] for b in rounds[window])
        assert order[-1] < first_commit  # the round's steps all came before any of its commits
