"""Crash safety: `cb-node run` killed at many points, restarted, must agree with the chain.

The chain is a real `cb-devnet up` process serving JSON-RPC on 127.0.0.1: anvil where it is installed
(tests/engines.py; as in CI: the py-evm engine served 30+ nodes' hatches and commits one at a time, and
this module took 2.4 times the CPU on it), else the py-evm engine; both mine every transaction at once.
Each scenario is its own node directory and dev account. The first run hatches and trains
with CB_NODE_CRASH_AT=point:n (os._exit(137), like SIGKILL, at an exact place) or is
SIGKILLed at a seeded random moment; the second run restarts it to the same target
window. Then the chain and the local index must hold exactly the same windows (no loss,
no duplicate, no gap) and the words must equal an independent numpy replay from genesis.
"""

from __future__ import annotations

import ast
import atexit
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import pytest

import devnet
from kernel.sources import PublicSource
from kernel.state import decode_state_blob, genesis
from kernel.train import train_window, window_epoch
from node.config import create_keystore, write_config
from node.crash import CRASH_POINTS
from node.store import COMMITTED, FINALIZED, BeastStore, beast_dir, known_beasts

from tests.engines import fastest_engine
from tests.node.crash_child import run_cli_child

ROOT = Path(__file__).resolve().parents[2]
TARGET = 5  # windows per beast; crosses the epoch boundary at 4 (epoch seed read from the ledger)
PARALLEL = 6

# (crash point, n-th time, beasts). Counts > 1 with 2 beasts land between the beasts of one round.
SCENARIOS = [
    ("mid_persist", 1, 1), ("mid_persist", 4, 2),
    ("after_persist", 1, 1), ("after_persist", 3, 1), ("after_persist", 3, 2),
    ("after_sign", 1, 1), ("after_sign", 2, 1), ("after_sign", 2, 2), ("after_sign", 5, 1),
    ("after_broadcast", 1, 1), ("after_broadcast", 3, 1), ("after_broadcast", 2, 2),
    ("after_mined", 1, 1), ("after_mined", 4, 1), ("after_mined", 3, 2),
    ("after_mark_committed", 1, 1), ("after_mark_committed", 3, 2), ("after_mark_committed", 5, 1),
    ("after_persist", 5, 1), ("after_mined", 5, 2),
    # Killed after the next round persisted while the previous round's commit was in flight (node.pipeline).
    ("in_flight_trained", 1, 1), ("in_flight_trained", 3, 2), ("in_flight_trained", 2, 1),
    # Killed while hatching: the restart (without --hatch) must finish the hatch, not lose the
    # beast, and the account must own exactly as many beasts as the node trains.
    ("hatch_after_sign", 1, 1), ("hatch_after_broadcast", 1, 1), ("hatch_after_mined", 1, 1),
    # `run --hatch 2` hatches both at once (Hatchery.hatch_many): killed with both requests journaled, with both
    # mined, and after the second beast's beast.json (the first one's run directory complete).
    ("hatch_after_meta", 1, 1), ("hatch_after_sign", 1, 2), ("hatch_after_mined", 1, 2), ("hatch_after_meta", 2, 2),
]
SIGKILL_RUNS = 4


@dataclass
class Devnet:
    url: str
    deployments: Path
    accounts: list[dict[str, str]]
    proc: subprocess.Popen[str]


@contextmanager
def cb_devnet_up(run_dir: Path, accounts: int, *extra: str, engine: str = "pyevm") -> Iterator[Devnet]:
    """A real `cb-devnet up --engine ENGINE` process on a free port (``extra``: more options of `up`);
    SIGTERM (then kill) on exit."""
    proc = subprocess.Popen([sys.executable, "-m", "devnet.cli", "up", "--engine", engine, "--port", "0",
                             "--run-dir", str(run_dir), "--accounts", str(accounts), *extra],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"cb-devnet up failed: {proc.stderr.read() if proc.stderr else ''}")
        info = json.loads(line)
        dep = Path(info["deployments"])
        yield Devnet(info["rpcUrl"], dep, json.loads(dep.read_text())["accounts"], proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def devnet_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with cb_devnet_up(tmp_path_factory.mktemp("devnet"), len(SCENARIOS) + SIGKILL_RUNS + 2,
                      engine=fastest_engine()) as net:
        yield net


def make_node(net: Devnet, root: Path, account: int) -> Path:
    root.mkdir(parents=True)
    write_config(root, rpc=net.url, deployments=str(net.deployments), backend="numpy", grpc="127.0.0.1:0")
    key = bytes.fromhex(net.accounts[account]["privateKey"][2:])
    create_keystore(root / "keystore.json", "crash-test-pw", key, iterations=1024)  # cheap KDF for tests
    pw = root / "password"
    pw.write_text("crash-test-pw\n")
    pw.chmod(0o600)
    return root


# Runs are separate processes forked from a fork server that imported the node once, so
# a kill is a real process death but 30+ runs do not pay the import time each.
_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["node.cli", "node.daemon", "node.service", "tests.node.crash_child"])
_LIVE: list[NodeProc] = []  # every run started; a test that failed mid-way may have left one running


@atexit.register
def _kill_leftovers() -> None:
    """SIGKILL runs a failed test left behind (one waiting for its stopped chain would keep pytest from
    exiting: multiprocessing joins its children at exit, after this handler)."""
    for run in _LIVE:
        run.kill()


class NodeProc:
    """One `cb-node run` process (stderr to a file)."""

    def __init__(self, node: Path, args: tuple[str, ...], crash: str | None) -> None:
        self.log = node / f"run-{time.monotonic_ns()}.log"
        argv = ["run", "--node-dir", str(node), "--password-file", str(node / "password"), "--grpc", "127.0.0.1:0",
                *args]
        self.proc = _CTX.Process(target=run_cli_child, args=(argv, crash, str(self.log)))
        self.proc.start()
        _LIVE.append(self)

    def kill(self) -> bool:
        """SIGKILL the run; False when it had already exited (and been reaped: no pid to signal)."""
        assert self.proc.pid is not None
        if self.proc.exitcode is not None:
            return False
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # exited between the look and the signal
            return False
        return True

    def finish(self, timeout: float = 150) -> tuple[int, str]:
        self.proc.join(timeout)
        if self.proc.exitcode is None:
            self.kill()
            self.proc.join(10)
            raise AssertionError(f"cb-node run did not finish in {timeout}s: {self.log.read_text()[-2000:]}")
        return self.proc.exitcode, self.log.read_text() if self.log.exists() else ""


def cb_node(node: Path, *args: str, crash: str | None = None) -> NodeProc:
    return NodeProc(node, args, crash)


def finish(proc: NodeProc, timeout: float = 150) -> tuple[int, str]:
    return proc.finish(timeout)


def check_agreement(net: Devnet, node: Path, target: int) -> int:
    """Chain and index hold exactly windows 1..target, same words, equal to a numpy replay."""
    cb = devnet.connect(net.deployments)
    data = node / "data"
    beasts = known_beasts(data)
    assert beasts, "no beast was hatched before the crash?"
    params = cb.kernel_params()
    owners = set()
    for bid in beasts:
        meta_store = BeastStore(beast_dir(data, bid), bid, readonly=True)
        owners.add(meta_store.read_meta().owner)
        meta_store.close()
    assert len(owners) == 1
    minted = cb.beast.functions.balanceOf(owners.pop()).call()
    assert minted == len(beasts), f"the account owns {minted} beasts, the node trains {len(beasts)}"
    assert not list((data / "hatching").glob("*.json")), "a hatch record was left behind"
    for bid in beasts:
        store = BeastStore(beast_dir(data, bid), bid, readonly=True)
        try:
            assert cb.window_count(bid) == target, f"beast {bid}: chain has {cb.window_count(bid)} windows"
            rows = store.rows()
            assert [r.window for r in rows] == list(range(target + 1)), f"beast {bid}: index windows {rows}"
            hd = cb.hatch_data(bid)
            state = genesis(hd.seed_core, params, spec_version=hd.spec_version)
            assert rows[0].h128 == state.h128()
            for r in rows[1:]:
                assert r.status in (COMMITTED, FINALIZED), f"beast {bid} window {r.window} is {r.status}"
                assert r.word == cb.word(bid, r.window - 1), f"beast {bid} window {r.window}: word differs"
                ref = train_window(state, PublicSource(), epoch_seed=cb.epoch_seed(bid, window_epoch(state)))
                assert ref.payload.pack() == r.word, f"beast {bid} window {r.window}: not the reference lineage"
                state = ref.state
                stored = decode_state_blob((store.checkpoints / r.file).read_bytes())
                assert stored.h128() == r.h128
            leftovers = list(store.checkpoints.glob(".*.tmp"))
            assert not leftovers, leftovers
        finally:
            store.close()
    return len(beasts)


def crash_point_calls() -> list[str]:
    """The point named by every ``crash_point(...)`` call in the node's code (a non-literal name is listed as-is)."""
    names = []
    for path in sorted((ROOT / "node").glob("*.py")):
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "crash_point":
                arg = call.args[0] if call.args else None
                names.append(arg.value if isinstance(arg, ast.Constant) else f"{path.name}:{call.lineno}")
    return names


def test_the_crash_point_list_is_what_the_node_calls() -> None:
    """CRASH_POINTS names exactly the points the node's code calls, each once; a point not listed would be untested."""
    calls = crash_point_calls()
    assert sorted(calls) == sorted(CRASH_POINTS), calls


def test_the_scenarios_reach_every_crash_point() -> None:
    from tests.node.test_rewind import REWIND_POINTS  # node.rewind's points: killed mid-rewind there

    assert {point for point, _, _ in SCENARIOS} | set(REWIND_POINTS) == set(CRASH_POINTS)


def test_crash_points_then_restart(devnet_up: Devnet, tmp_path: Path) -> None:
    nodes = [make_node(devnet_up, tmp_path / f"s{i:02d}", account=i + 1) for i in range(len(SCENARIOS))]

    def crash_then_recover(i: int) -> tuple[int, int, str]:
        point, count, beasts = SCENARIOS[i]
        rc1, err1 = finish(cb_node(nodes[i], "--hatch", str(beasts), "--until-window", str(TARGET),
                                   crash=f"{point}:{count}"))
        rc2, err2 = finish(cb_node(nodes[i], "--until-window", str(TARGET)))
        return rc1, rc2, err1 + err2

    with ThreadPoolExecutor(PARALLEL) as pool:
        results = list(pool.map(crash_then_recover, range(len(SCENARIOS))))
    for (point, count, beasts), (rc1, rc2, err), node in zip(SCENARIOS, results, nodes, strict=True):
        where = f"{point}:{count} with {beasts} beast(s)"
        assert rc1 == 137, f"{where}: the crash run should die at the crash point (rc {rc1}): {err[-2000:]}"
        assert rc2 == 0, f"{where}: the restart failed (rc {rc2}): {err[-2000:]}"
        assert check_agreement(devnet_up, node, TARGET) == beasts, where


def test_sigkill_at_random_moments_then_restart(devnet_up: Devnet, tmp_path: Path) -> None:
    rng = random.Random(20261122)
    target = 10
    base = len(SCENARIOS) + 1
    nodes = [make_node(devnet_up, tmp_path / f"k{i}", account=base + i) for i in range(SIGKILL_RUNS)]

    def kill_then_recover(i: int) -> tuple[bool, int, int, str]:
        ready = nodes[i] / "ready.json"
        proc = cb_node(nodes[i], "--hatch", "2", "--until-window", str(target), "--ready-file", str(ready))
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.proc.exitcode is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.1, 1.5))
        killed = proc.kill()  # False: the run had already reached its target (a fast chain)
        rc1, err1 = finish(proc)
        rc2, err2 = finish(cb_node(nodes[i], "--until-window", str(target)))
        return killed, rc1, rc2, err1 + err2

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(kill_then_recover, range(SIGKILL_RUNS)))
    assert any(rc1 == -signal.SIGKILL for _, rc1, _, _ in results), results  # at least one run died mid-way
    for i, ((killed, rc1, rc2, err), node) in enumerate(zip(results, nodes, strict=True)):
        # signalled, a run may still have exited on its own just before (a zombie takes the signal): rc 0
        assert rc1 in ((-signal.SIGKILL, 0) if killed else (0,)), f"run {i}: killed {killed}, rc {rc1} {err[-2000:]}"
        assert rc2 == 0, f"run {i}: restart failed (rc {rc2}): {err[-2000:]}"
        assert check_agreement(devnet_up, node, target) == 2


def test_unknown_chain_window_is_a_loud_error(devnet_up: Devnet, tmp_path: Path) -> None:
    """Another trainer committed for our beast: restart refuses with exit code 3 and says why."""
    account = len(SCENARIOS) + SIGKILL_RUNS + 1
    node = make_node(devnet_up, tmp_path / "other", account=account)
    rc, err = finish(cb_node(node, "--hatch", "1", "--until-window", "1"))
    assert rc == 0, err
    bid = known_beasts(node / "data")[0]
    cb = devnet.connect(devnet_up.deployments)
    owner = devnet.bindings.ChainBeasts.account(devnet_up.accounts[account]["privateKey"])
    store = BeastStore(beast_dir(node / "data", bid), bid, readonly=True)
    state = store.load_state(1)
    store.close()
    rogue = train_window(state, PublicSource(), epoch_seed=cb.epoch_seed(bid, 0), lr_shift=5)
    cb.commit(owner, bid, rogue.payload.pack())  # window 2 committed behind the node's back
    rc, err = finish(cb_node(node, "--until-window", "3"))
    assert rc == 3 and "the ledger holds 2 windows" in err, err
