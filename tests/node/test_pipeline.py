"""The pipelined round (node.pipeline) on the embedded chain: commits in flight while the next round
trains, the same lineage as the sequential loop, at most two uncommitted windows per beast, no
window opening an epoch trained before the commit closing the epoch before is mined, staggered
epochs; and hatch_many, which hatches the many beasts a pipeline trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.sources import PublicSource
from kernel.train import train_window
from kernel.window_settings import window_epoch
from node import pipeline, store, training
from node.beast_run import BeastRun
from node.embedded import embedded_chain
from node.reconcile import reconcile
from node.store import COMMITTED, PERSISTED, SENT
from node.trainer import Engine

from tests.node.conftest import make_engine


def _uncommitted(run: BeastRun) -> list[int]:
    return [r.window for r in run.store.with_status(PERSISTED, SENT)]


def _replay(engine: Engine, run: BeastRun) -> None:
    """Every window of ``run`` is committed, on chain with our word, and the reference lineage (numpy, chain seeds)."""
    state = run.store.load_state(0)
    ledger = engine.ledger
    rows = run.store.rows(1)
    assert ledger.window_count(run.beast_id) == len(rows)
    for row in rows:
        assert row.status == COMMITTED, (row.window, row.status)
        ref = train_window(state, PublicSource(), epoch_seed=ledger.epoch_seed(run.beast_id, window_epoch(state)))
        assert ref.payload.pack() == row.word == ledger.word(run.beast_id, row.window)
        state = ref.state


@pytest.fixture(scope="module")
def chain():  # type: ignore[no-untyped-def]
    h = embedded_chain(accounts=5)
    yield h
    h.close()


def test_pipelined_rounds_commit_the_reference_lineage_across_an_epoch(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(chain, tmp_path / "data", account_index=1)
    runs = [engine.hatch() for _ in range(2)]
    epoch_windows = runs[0].params.epoch_steps // 128
    skipped_at_boundary = 0
    for _ in range(epoch_windows + 3):
        trained = engine.pipelined_round(runs)
        for r in runs:
            assert len(_uncommitted(r)) <= 1  # the commit thread finished: only this round's window waits
        got = {row.window for row in trained}
        skipped_at_boundary += len(runs) - len(trained)
        assert len(got) <= 1  # the beasts move in step
    engine.commit_pending(runs)
    engine.close()
    assert skipped_at_boundary >= len(runs)  # the epoch-opening windows waited one round for their seed
    for r in runs:
        _replay(engine, r)


def test_two_windows_of_a_beast_in_one_commit_and_no_epoch_opening_behind(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(chain, tmp_path / "data", account_index=2)
    run = engine.hatch()
    trainer = engine.trainer
    assert [r.window for r in trainer.train_next([run])] == [1]
    # window 1 is persisted, uncommitted: the sequential plan waits, the pipelined one trains window 2 on it
    assert trainer.plan([run]).runs == []
    assert [r.window for r in trainer.train_planned(trainer.plan([run], pipelined=True))] == [2]
    assert trainer.plan([run], pipelined=True).runs == []  # never a third uncommitted window
    assert engine.commit_pending([run]) == 2  # both in order in one commitMany
    assert _uncommitted(run) == []
    # up to the last window of the epoch, committed; then the closing window uncommitted
    epoch_windows = run.params.epoch_steps // 128
    while run.store.latest().window < epoch_windows - 1:
        engine.step([run])
    assert [r.window for r in trainer.train_next([run])] == [epoch_windows]  # closes epoch 0, not committed
    assert trainer.plan([run], pipelined=True).runs == []  # epoch 1's seed is the closing commit's block hash
    engine.commit_pending([run])
    assert trainer.plan([run], pipelined=True).runs == [run]  # now it is sealed first and trained
    engine.step([run])
    _replay(engine, run)


def test_staggered_epochs_keep_every_round_training(chain, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With staggering on (STAGGER_MIN lowered to 2), beasts of different slots wait for their epoch seeds in
    different rounds, so no round after the first cycle trains nothing; no beast is left behind for good and
    the lineage is the reference's."""
    monkeypatch.setattr(pipeline, "STAGGER_MIN", 2)
    engine = make_engine(chain, tmp_path / "data", account_index=3)
    runs = [engine.hatch() for _ in range(2)]
    cycle = runs[0].params.epoch_steps // 128 + 1
    trained = [len(engine.pipelined_round(runs)) for _ in range(3 * cycle)]
    engine.commit_pending(runs)
    engine.close()
    assert min(trained[cycle:]) >= 1, trained  # never an idle round once in step
    assert max(trained) == 2, trained  # ... and rounds in which both train
    for r in runs:
        assert r.store.latest().window >= 2 * (cycle - 1)  # each beast trains all but one round per cycle
        _replay(engine, r)


def test_a_large_round_trains_in_parts_whose_files_are_written_meanwhile(chain, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A round of PART_MIN beasts or more is trained in parts, each part's files written on the writer thread
    while the next part trains (lowered here to parts of 4 from 8 beasts): every window is persisted with its
    durable file, committed, and the lineage is the reference's, as for a round trained in one piece."""
    monkeypatch.setattr(training, "PART_MIN", 8)
    monkeypatch.setattr(training, "PART_BEASTS", 4)
    engine = make_engine(chain, tmp_path / "data", account_index=0)
    runs = engine.hatch_many(8)
    assert engine.trainer._parts(8) == [(0, 4), (4, 8)] and engine.trainer._parts(7) == [(0, 7)]
    written: list[int] = []
    real = training.write_checkpoints
    monkeypatch.setattr(training, "write_checkpoints", lambda items: written.append(len(items)) or real(items))
    for _ in range(3):
        engine.pipelined_round(runs)
    engine.commit_pending(runs)
    engine.close()
    assert written == [4, 4] * 3  # two parts a round, each written by the writer thread
    for r in runs:
        assert r.store.latest().window == 3
        for row in r.store.rows(1):
            assert r.store.load_state(row.window).h128() == row.h128  # the file the row names, complete
        _replay(engine, r)


def test_a_trained_round_is_synced_with_its_commit_and_a_power_loss_before_it_is_repaired(chain, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A trained round's checkpoint files are synced by the commit, before its broadcast, with its sent
    records (not on the training thread); a power loss before that sync can leave persisted rows naming a
    lost or partial file, which reconcile drops at start (never a sent window) so the windows train again."""
    engine = make_engine(chain, tmp_path / "data", account_index=1)
    run = engine.hatch()
    synced: list[list[Path]] = []
    real = store.sync_files
    monkeypatch.setattr(store, "sync_files", lambda paths: synced.append(list(paths)) or real(paths))
    [w1] = engine.trainer.train_next([run])
    assert synced == []  # written, not synced: the training thread made no sync
    assert engine.commit_pending([run]) == 1
    assert run.store.checkpoints / w1.file in synced[0] and run.store.wal_path in synced[0]  # one sync, before the broadcast
    # Window 2 persisted, window 3 persisted on top of it (pipelined), neither sent: a power loss took
    # window 3's file and left window 2's partial.
    engine.trainer.train_next([run])
    engine.trainer.train_planned(engine.trainer.plan([run], pipelined=True))
    w2, w3 = run.store.get(2), run.store.get(3)
    assert (w2.status, w3.status) == ("persisted", "persisted")
    (run.store.checkpoints / w3.file).unlink()
    blob = (run.store.checkpoints / w2.file).read_bytes()
    (run.store.checkpoints / w2.file).write_bytes(blob[: len(blob) // 2])
    logs: list[str] = []
    changed = reconcile(run, engine.ledger, logs.append)
    assert changed["dropped_lost"] == 2 and run.store.latest().window == 1
    assert [e for e in run.store.events() if e["event"] == "checkpoint_lost"][0]["dropped"] == [2, 3]
    assert "lost its checkpoint" in logs[0]
    for _ in range(2):
        engine.step([run])
    engine.close()
    assert run.store.latest().window == 3
    _replay(engine, run)  # trained again: the same lineage, committed once each


def test_hatch_many_hatches_each_beast_once_with_its_run_directory(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """hatch_many: every request in flight together, each journaled first; the beasts, their run directories and
    genesis checkpoints are those of one-by-one hatches, and the journal is empty afterwards."""
    engine = make_engine(chain, tmp_path / "data", account_index=4)
    owned = chain.bindings.beast.functions.balanceOf(chain.accounts[4].address).call()
    runs = engine.hatch_many(3)
    ids = [r.beast_id for r in runs]
    assert len(set(ids)) == 3
    assert chain.bindings.beast.functions.balanceOf(chain.accounts[4].address).call() == owned + 3
    assert engine.hatches.pending() == []
    for run in runs:
        hd = engine.ledger.hatch_data(run.beast_id)
        assert run.meta.hatch.seed_core == hd.seed_core != b"\0" * 32  # finalized: seedCore fixed
        assert run.store.latest().window == 0 and run.store.load_state(0).h128() == run.store.latest().h128
    engine.step(runs)
    engine.close()
    for run in runs:
        _replay(engine, run)
