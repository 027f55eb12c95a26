"""`cb-node run` defends its windows live, loses the one it lied in, rewinds itself and trains on: real processes.

A real ``cb-devnet up`` process (anvil where installed) and real `cb-node run --dishonest step
--from-window 2` processes. The first run stops at window 2 (its false window); the second starts
paused (`cb-node pause` before it starts), so it cannot reach its last window and leave before the
game is open (a node with nothing to defend exits at ``--until-window``; a live race once made
this test wait for a node that had already gone). An honest challenger (this test, through
devnet.bindings) challenges window 2 and plays the game; the running node finds the game and
answers every move by itself from its stored (false) states; after its first move the test resumes
it, so it trains windows 3.. while it defends. It loses the one-step proof at step 77, sees the
slash, clears the voided windows, sets their checkpoints aside, trains windows 2.. again honestly
and exits 0 at window 6 once no game on its windows is open. The chain then holds exactly the
honest lineage 1..6 (test_crash's check against an independent numpy replay).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import devnet
from kernel.sources import PublicSource
from kernel.state import genesis
from kernel.step import WindowStart, window_step_states
from kernel.train import train_window, window_epoch
from node.dishonest import LIE_STEP
from node.control import write_control
from node.rewind import VOIDED_DIR
from node.store import beast_dir, known_beasts
from tests.node.game_helpers import CHALLENGER_WON, OPEN, challenger_move, h16
from tests.node.test_crash import NodeProc, cb_node, check_agreement, finish, make_node
from tests.node.test_rewind import devnet_with_long_period

TARGET = 6


def test_a_running_node_defends_loses_its_lie_rewinds_and_trains_on(tmp_path: Path) -> None:
    with devnet_with_long_period(tmp_path / "devnet", 3) as net:
        node = make_node(net, tmp_path / "node", account=1)
        lie = ("--dishonest", "step", "--from-window", "2")
        rc, log = finish(cb_node(node, "--hatch", "1", *lie, "--until-window", "2"))
        assert rc == 0, log[-3000:]
        cb = devnet.connect(net.deployments)
        challenger = devnet.bindings.ChainBeasts.account(net.accounts[2]["privateKey"])
        bid = known_beasts(node / "data")[0]
        assert cb.window_count(bid) == 2

        # The honest truth of window 2: genesis, window 1, then window 2's 129 step states.
        hd = cb.hatch_data(bid)
        g0 = genesis(hd.seed_core, cb.kernel_params(), spec_version=hd.spec_version)
        s1 = train_window(g0, PublicSource(), epoch_seed=cb.epoch_seed(bid, window_epoch(g0))).state
        truth = [s.to_bytes() for s in window_step_states(
            s1, PublicSource(), WindowStart(s1.active_mask, s1.lr_shift, cb.epoch_seed(bid, window_epoch(s1))))]
        assert cb.word(bid, 1)[:16] != h16(truth[-1])  # the node committed its false window 2

        write_control(node / "data", "paused")  # `cb-node pause`: the next run starts paused
        proc = cb_node(node, *lie, "--until-window", str(TARGET))
        try:
            salt = os.urandom(32)
            cb.commit_challenge(challenger, bid, 1, salt)
            gid = cb.challenge(challenger, bid, 1, salt)
            deadline = time.monotonic() + 180
            paused = True
            while cb.game_of(gid).outcome == OPEN:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the game did not end: does the node defend? {node_log(proc)}")
                if challenger_move(cb, challenger, gid, truth):
                    if paused:  # the defender moves first: the node has answered; let it train on
                        write_control(node / "data", "running")
                        paused = False
                else:
                    time.sleep(0.05)  # the node's move
            assert not paused, "the game ended before the node moved"
            g = cb.game_of(gid)
            assert g.outcome == CHALLENGER_WON and (g.lo, g.hi) == (LIE_STEP - 1, LIE_STEP), g
            rc, log = finish(proc, timeout=300)
        except BaseException:
            proc.kill()  # a failed test leaves no node behind (pytest would wait for it at exit)
            raise
        assert rc == 0, log[-3000:]
        assert check_agreement(net, node, TARGET) == 1
        root = beast_dir(node / "data", bid)
        assert (root / "checkpoints" / VOIDED_DIR / "").is_dir()
        assert "w00000002" in {p.name[:9] for p in (root / "checkpoints" / VOIDED_DIR).iterdir()}
        book = json.loads((node / "data" / "defense.json").read_text())
        assert book["games"][str(gid)]["state"] == "lost" and book["games"][str(gid)]["moves"] == 7
        assert "LOST: the window was shown false" in log and "lineage rewound to window 1" in log


def node_log(proc: NodeProc) -> str:
    """The running node's log so far (its end), for a failure message."""
    return proc.log.read_text()[-3000:] if proc.log.exists() else "(no log yet)"
