"""Training the next round while the previous round's commits are in flight.

A round of the sequential loop waits for its ``commitMany`` receipts before the next round
trains, so the chain's time (signing, broadcast, mining, confirmations) and the kernel's add up.
:meth:`Pipeline.round` overlaps them:

1. plan the round on the calling thread (:meth:`node.training.WindowTrainer.plan`): the chain
   reads and any ``sealEpochSeeds`` happen here, while nothing else uses the chain;
2. take the windows that are ``persisted`` now (durable checkpoint, index row) and hand them to
   one commit thread, which runs :mod:`node.committing`'s order unchanged (each batch recorded
   ``sent`` before broadcast, then receipt, then ``committed``);
3. meanwhile train and persist the planned windows on the calling thread -- with no chain access;
4. wait for the commit thread and raise what it raised (after the training's own error, if any).

Every guarantee of the sequential loop holds, because neither side changes the other's rows:
the commit thread only commits windows whose checkpoints were durable before it started, and a
window is only trained on top of its predecessor's stored state. What changes is that a beast
may have two uncommitted windows (the one in flight, the one just trained), never more. After a
SIGKILL at any point -- including ``in_flight_trained`` (node.crash): the next round persisted
while the commit may or may not have been mined -- :mod:`node.reconcile` settles the ``sent``
window against the chain (committed, still pending, or requeued) and the next round commits
both in order, oldest first (tests/node/test_crash.py). A window that opens an epoch is not
trained while the window closing the epoch before is in flight (its seed is that commit's block
hash), so a closing and an opening window never share a transaction.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from node.crash import crash_point
from node.store import WindowRow

if TYPE_CHECKING:
    from node.beast_run import BeastRun
    from node.trainer import Engine


class Pipeline:
    """Runs an Engine's rounds with the commits of one round in flight while the next one trains."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pool: ThreadPoolExecutor | None = None

    def round(self, runs: list[BeastRun], train: list[BeastRun] | None = None) -> list[WindowRow]:
        """Commit every window persisted so far (of ``runs``) while training the next window of each
        ready beast of ``train`` (default: ``runs``); returns the rows trained."""
        engine = self.engine
        plan = engine.trainer.plan(runs if train is None else train, pipelined=True)
        pending = engine.committer.pending(runs)
        fut: Future[int] | None = None
        if pending:
            batch = engine.committer.batch_size()  # its chain read on this thread, before the commit thread starts
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cb-node-commit")
            fut = self._pool.submit(engine.committer.commit_items, pending, batch)
        try:
            rows = engine.trainer.train_planned(plan)
            if fut is not None and rows:
                crash_point("in_flight_trained")
        except BaseException:
            if fut is not None:
                fut.exception()  # wait for the commit; the training error goes first
            raise
        if fut is not None:
            fut.result()  # raises what the commit raised
        return rows

    def close(self) -> None:
        """Stop the commit thread (after the commit it runs, if any)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


__all__ = ["Pipeline"]
