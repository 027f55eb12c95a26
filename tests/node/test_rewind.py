"""Rewind after a slash, killed at every point of node.rewind and restarted: nothing lost, nothing twice.

A real ``cb-devnet up --engine pyevm`` process; each scenario is its own node directory and dev
account, run as real `cb-node run` processes (the crash harness of test_crash.py):

1. ``run --hatch 1 --dishonest step --from-window 2 --until-window 3``: windows 1..3 committed,
   window 2 false (step 77);
2. the node is down; a challenger opens a game on window 2 and, once the defender's clock ran
   out, calls timeout: the window is slashed, windows 3.. voided, the lineage rewound on chain;
3. ``run --until-window 3`` with ``CB_NODE_CRASH_AT`` at a rewind point: it dies there (137);
4. ``run --until-window 3`` again: it finishes the rewind from its journal, trains windows 2 and
   3 again (honestly) and commits them into the cleared slots.

Then the chain and the index hold exactly windows 1..3 of the honest lineage (test_crash's
check: words equal an independent numpy replay from genesis), and the false checkpoints lie in
checkpoints/voided/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

import devnet
from node.rewind import JOURNAL, VOIDED_DIR
from node.store import beast_dir, known_beasts
from tests.node.game_helpers import CHALLENGER_WON
from tests.engines import fastest_engine
from tests.node.test_crash import Devnet, cb_devnet_up, cb_node, check_agreement, finish, make_node

ROOT = Path(__file__).resolve().parents[2]
# Every crash point node.rewind passes (node.crash lists them; test_crash checks the list is complete).
REWIND_POINTS = ["rewind_after_journal", "rewind_after_clear", "rewind_after_rows"]
TARGET = 3


def devnet_with_long_period(run_dir: Path, accounts: int) -> AbstractContextManager[Devnet]:
    """`cb-devnet up` (anvil where installed, as test_crash) whose challenge period outlasts the parallel
    scenarios' blocks."""
    return cb_devnet_up(run_dir, accounts, "--param", "challenge_period=100000", engine=fastest_engine())


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with devnet_with_long_period(tmp_path_factory.mktemp("devnet"), 2 * len(REWIND_POINTS) + 4) as n:
        yield n


def slash_while_down(net: Devnet, node: Path, challenger_index: int) -> int:
    """Challenge window 2 of the node's beast and win by timeout (the node is not running); returns the beast."""
    cb = devnet.connect(net.deployments)
    bid = known_beasts(node / "data")[0]
    challenger = devnet.bindings.ChainBeasts.account(net.accounts[challenger_index]["privateKey"])
    salt = os.urandom(32)
    cb.commit_challenge(challenger, bid, 1, salt)
    gid = cb.challenge(challenger, bid, 1, salt)
    cb.mine(cb.game_of(gid).defender_clock + 1)
    cb.timeout(challenger, gid)
    assert cb.game_of(gid).outcome == CHALLENGER_WON
    assert cb.window_count(bid) == 1  # the lineage was rewound to window 1 on chain
    return bid


def scenario(net: Devnet, node: Path, crash: str | None, challenger_index: int) -> tuple[list[int], str]:
    rcs, log = [], ""
    rc, err = finish(cb_node(node, "--hatch", "1", "--dishonest", "step", "--from-window", "2",
                             "--until-window", str(TARGET)))
    rcs.append(rc)
    log += err
    if rc != 0:
        return rcs, log
    slash_while_down(net, node, challenger_index)
    if crash is not None:
        rc, err = finish(cb_node(node, "--until-window", str(TARGET), crash=f"{crash}:1"))
        rcs.append(rc)
        log += err
    rc, err = finish(cb_node(node, "--until-window", str(TARGET)))
    rcs.append(rc)
    return rcs, log + err


def test_rewind_killed_at_each_point_then_restarted(net: Devnet, tmp_path: Path) -> None:
    cases: list[str | None] = [None, *REWIND_POINTS]
    nodes = [make_node(net, tmp_path / f"r{i}", account=1 + i) for i in range(len(cases))]
    with ThreadPoolExecutor(2) as pool:  # one node account and one challenger account per scenario
        results = list(pool.map(lambda i: scenario(net, nodes[i], cases[i], 1 + len(cases) + i), range(len(cases))))
    for crash, (rcs, log), node in zip(cases, results, nodes, strict=True):
        where = f"killed at {crash}" if crash else "not killed"
        want = [0, 137, 0] if crash else [0, 0]
        assert rcs == want, f"{where}: exit codes {rcs}: {log[-3000:]}"
        assert check_agreement(net, node, TARGET) == 1, where
        bid = known_beasts(node / "data")[0]
        root = beast_dir(node / "data", bid)
        assert not (root / JOURNAL).exists(), where
        aside = sorted(p.name[:9] for p in (root / "checkpoints" / VOIDED_DIR).iterdir())
        assert aside == ["w00000002", "w00000003"], f"{where}: {aside}"
        events = [json.loads(x) for x in (root / "logs" / "events.jsonl").read_text().splitlines()]
        assert [e["tip"] for e in events if e["event"] == "rewound"] == [1], where
