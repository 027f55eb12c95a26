"""Per-step digests on demand (node.step_digests): the node trains without them and re-derives a
window's digests from its parent checkpoint when asked; never digests of another lineage."""

from __future__ import annotations

import pytest

from kernel.sources import PublicSource
from kernel.train import train_window
from kernel.window_settings import window_epoch
from node.errors import DataError, PrunedError
from node.step_digests import StepDigests

from tests.node.conftest import Trained


class ReversedSource:
    """Another trainer's boards: the public ones in reverse order."""

    private = False

    def window_boards(self, ctx):  # type: ignore[no-untyped-def]
        return PublicSource().window_boards(ctx)[::-1]


def test_the_node_trains_without_digests_and_recomputes_them_exactly(trained: Trained) -> None:
    store = trained.run.store
    assert store.step_data(2) is not None and store.step_data(2)[1] == []  # nothing stored on the hot path
    parent = store.load_state(1)
    ref = train_window(parent, PublicSource(), epoch_seed=trained.ledger.epoch_seed(trained.run.beast_id,
                                                                                   window_epoch(parent)),
                       want_digests=True)
    sd = StepDigests(lambda s: PublicSource())
    losses, digests = sd.get(store, 2)  # type: ignore[misc]
    assert digests == ref.digests and losses == ref.losses == store.step_data(2)[0]
    assert sd.get(store, 99) is None


def test_a_recomputation_of_another_lineage_is_refused(trained: Trained) -> None:
    with pytest.raises(DataError, match="re-training it from window 1"):
        StepDigests(lambda s: ReversedSource()).get(trained.run.store, 2)


def test_a_pruned_parent_is_a_pruned_error(trained: Trained) -> None:
    store = trained.run.store
    row = store.get(1)
    assert row is not None
    path = store.checkpoints / row.file
    saved = path.read_bytes()
    store._db.execute("UPDATE windows SET file = '' WHERE window = 1")
    try:
        with pytest.raises(PrunedError):
            StepDigests(lambda s: PublicSource()).get(store, 2)
    finally:
        store._db.execute("UPDATE windows SET file = ? WHERE window = 1", (row.file,))
        assert path.read_bytes() == saved
