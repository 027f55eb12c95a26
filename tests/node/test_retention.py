"""Retention (issue 16): old finalized checkpoints are pruned, everything a game could still need is kept.

A real embedded chain, the node engine, its real gRPC service and a real bisection game: the node
prunes while a game on its latest window is open, then a restarted defense (node.defense, which
replays the window from its stored start checkpoint) still answers every move, and the lying
challenger loses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devnet.bindings import Param, WindowStatus
from node.cli import main
from node.defense import Defense
from node.embedded import embedded_chain
from node.lineage import verify_lineage
from node.retention import KeepPolicy, mark_pruned, prunable, prune
from node.service import StoreDirectory, create_server
from node.store import COMMITTED, FINALIZED, BeastStore
from tests.node.conftest import make_engine
from tests.node.game_helpers import DEFENDER_WON, OPEN, challenger_move, open_game, true_states
from tests.node.test_cli import init_node
from validator.errors import NotFoundError
from validator.node_client import NodeClient


def files(store: BeastStore) -> set[int]:
    return {int(p.name[1:9]) for p in store.checkpoints.iterdir() if p.name.endswith(".cbs.zst")}


def test_prune_under_a_running_game_and_still_defend_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = embedded_chain()
    server = None
    try:
        data = tmp_path / "node" / "data"
        engine = make_engine(chain, data)
        run = engine.hatch()
        store, cb = run.store, chain.bindings
        for _ in range(6):
            engine.step([run])
        chain.mine(cb.param(Param.CHALLENGE_PERIOD) + 2)
        assert engine.finalize_due([run]) == 6
        for _ in range(2):  # windows 7 and 8: committed, inside their challenge period
            engine.step([run])
        assert [r.status for r in store.rows(7)] == [COMMITTED, COMMITTED]
        challenger = chain.accounts[2]
        truth = true_states(run, 8)  # what the challenger knows (it lies anyway)
        gid = open_game(cb, challenger, run.beast_id, 8)  # node window 8 (ledger index 7), trained from checkpoint 7
        assert Defense(data, engine.ledger, cb, {run.beast_id: run}).poll().moves == [(gid, "bisect")]

        # What goes: finalized windows whose successor is finalized too, but not genesis, not a multiple of
        # keep_every (4), not the newest keep_latest (1). Window 6 stays: window 7 can still be challenged.
        node, _ = init_node(tmp_path, "cfg")
        toml = node / "node.toml"
        toml.write_text(toml.read_text().replace('data_dir = "data"', f'data_dir = "{data}"')
                        .replace("keep_every = 64", "keep_every = 4").replace("keep_latest = 8", "keep_latest = 1"))
        capsys.readouterr()
        assert main(["prune", "--node-dir", str(node), "--dry-run", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["beasts"][0]["windows"] == [1, 2, 3, 5] and doc["dryRun"] and doc["beasts"][0]["kept"] == 5
        assert files(store) == set(range(9))  # a dry run deletes nothing
        assert main(["prune", "--node-dir", str(node), "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "would delete 4 checkpoints" in out and "windows 1-3, 5; 5 kept" in out

        # The daemon's path: prune after the finalization sweep, which leaves the challenged window alone.
        engine.retention = KeepPolicy(keep_every=4, keep_latest=1)
        assert engine.finalize_due([run]) == 0
        assert files(store) == {0, 4, 6, 7, 8}
        assert [r.window for r in store.rows() if not r.file] == [1, 2, 3, 5]
        assert all(r.status == FINALIZED for r in store.rows() if not r.file)
        assert cb.window_status(run.beast_id, 7) == WindowStatus.CHALLENGED

        # Still defends it: a restarted node's defense replays window 8 from the kept checkpoint 7 and
        # answers every move; the challenger that disagrees with everything loses its bond to the node.
        defense = Defense(data, engine.ledger, cb, {run.beast_id: run})
        for _ in range(64):
            if cb.game_of(gid).outcome != OPEN:
                break
            if not challenger_move(cb, challenger, gid, truth, liar=True):
                assert defense.poll().moves
        assert cb.game_of(gid).outcome == DEFENDER_WON
        # A pruned window is NOT_FOUND over gRPC, not a corrupt store; the lineage re-derives through it.
        stores = StoreDirectory(data, shared=lambda b: store if b == run.beast_id else None)
        server, port = create_server("127.0.0.1:0", stores=stores)
        addr = f"127.0.0.1:{port}"
        assert NodeClient().get_state(addr, run.beast_id, 7)  # the start of the challenged window is served
        with pytest.raises(NotFoundError, match="NOT_FOUND: .*pruned"):
            NodeClient().get_state(addr, run.beast_id, 2)
        report = verify_lineage(store, run.meta, run.source, engine.ledger)
        assert report.retrained == 8 and report.kept_checked == 4
    finally:
        if server is not None:
            server.stop(0)
        chain.close()


def test_a_killed_prune_is_finished_by_the_next(tmp_path: Path) -> None:
    """Killed after the index forgot the files but before they were deleted: no row names a missing file,
    and the next prune removes the orphans (and never a file a killed persist left before its row)."""
    chain = embedded_chain()
    try:
        engine = make_engine(chain, tmp_path / "data")
        run = engine.hatch()
        store = run.store
        for _ in range(5):
            engine.step([run])
        chain.mine(chain.bindings.param(Param.CHALLENGE_PERIOD) + 2)
        engine.finalize_due([run])
        policy = KeepPolicy(keep_every=0, keep_latest=1)
        go = prunable(store.rows(), policy)
        assert [r.window for r in go] == [1, 2, 3, 4]
        mark_pruned(store, go[:2])  # the state a kill right after step (1) leaves
        assert files(store) == set(range(6))
        stray = store.checkpoints / store.checkpoint_name(6, b"\x07" * 16)  # a killed persist's file, no row yet
        stray.write_bytes(b"x")
        for r in store.rows():
            assert not r.file or (store.checkpoints / r.file).is_file()
        result = prune(store, policy)
        assert result.windows == [3, 4] and result.orphans == 2
        assert files(store) == {0, 5, 6} and stray.exists()
        assert prune(store, policy).windows == []  # idempotent
    finally:
        chain.close()


def test_bad_retention_settings_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node, _ = init_node(tmp_path)
    toml = node / "node.toml"
    original = toml.read_text()
    for old, new, message in (("keep_latest = 8", "keep_latest = 0", "keep_latest must be 1..1000000"),
                              ("keep_every = 64", "keep_every = -1", "keep_every must be 0..1000000"),
                              ("auto_prune = false", "auto_prune = 1", "auto_prune must be a boolean")):
        toml.write_text(original.replace(old, new))
        capsys.readouterr()
        assert main(["prune", "--node-dir", str(node)]) == 2
        assert message in capsys.readouterr().err
    toml.write_text(original)
    assert main(["prune", "--node-dir", str(node), "--keep-every", "-3"]) == 2
    assert main(["prune", "--node-dir", str(node), "--beast", "4"]) == 2
