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
the commit thread only commits windows whose checkpoints were written before it started (and syncs
them with its ``sent`` records before each broadcast), and a
window is only trained on top of its predecessor's stored state. What changes is that a beast
may have two uncommitted windows (the one in flight, the one just trained), never more. After a
SIGKILL at any point -- including ``in_flight_trained`` (node.crash): the next round persisted
while the commit may or may not have been mined -- :mod:`node.reconcile` settles the ``sent``
window against the chain (committed, still pending, or requeued) and the next round commits
both in order, oldest first (tests/node/test_crash.py). A window that opens an epoch is not
trained while the window closing the epoch before is in flight (its seed is that commit's block
hash), so a closing and an opening window never share a transaction.

**Staggered epochs.** Waiting for that seed costs each beast one round per epoch. Beasts hatched
together share their epoch phase, so that round would train nothing at all: one round in
``windows per epoch + 1`` idle. From :data:`STAGGER_MIN` beasts on (128), a window that opens an epoch
is trained only in the rounds of its beast's slot (beast id modulo the cycle of ``windows per
epoch + 1`` rounds): a beast out of step waits up to a cycle once (at its first epoch, genesis
included), then its waiting round is its slot's, so every round trains about ``windows per epoch``
in ``windows per epoch + 1`` of the beasts. A held-back beast is not skipped for good: it trains in
its slot's next round, and the ledger's rules do not change (the node only chooses when to train).
The price: a ``sealEpochSeeds`` on the training thread every round instead of every cycle; with few
beasts a round is short and that may cost more than the idle round (64 beasts on anvil: 34% and
38% of the kernel in two runs with staggering, 49% in one without; docs/PERFORMANCE.md, Node),
hence the threshold.

**GIL switch interval.** While the commit thread runs, the node's process switches threads every
:data:`SWITCH_INTERVAL_S` (Python's default is 5 ms). Each torch operation of the training
thread releases the GIL and must take it back; with the commit thread running Python (encoding,
signing, index writes) the default made the training thread wait up to 5 ms at each of thousands
of operations a round: at 256 beasts on anvil the node passed on 26,300 beast-micro-steps/s with
5 ms and 38,400/s with 0.5 ms, alternating segments of one run (docs/PERFORMANCE.md, Node). Since the
batched kernel's micro-steps run compiled, without the GIL (kernel.batched.window_steps), the interval
no longer measurably matters (256 beasts: 73% / 72.5% of the kernel with it, 71% / 74% without); kept,
as the rest of the training thread's work is still Python.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

from kernel.payload import WINDOW_STEPS
from node.crash import crash_point
from node.store import WindowRow

if TYPE_CHECKING:
    from kernel.params import KernelParams
    from node.beast_run import BeastRun
    from node.trainer import Engine

STAGGER_MIN: Final = 128  # beasts per round from which epochs are staggered (fewer: each extra seal costs more than it saves)
SWITCH_INTERVAL_S: Final = 0.0005  # the GIL switch interval while the commit thread runs (Python's default: 5 ms)


def epoch_cycle(params: KernelParams) -> int:
    """Pipelined rounds per epoch of one beast: its windows per epoch, plus the round it waits for the commit
    closing the epoch before (the seed of the next one is that commit's block hash)."""
    return params.epoch_steps // WINDOW_STEPS + 1


class Pipeline:
    """Runs an Engine's rounds with the commits of one round in flight while the next one trains."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pool: ThreadPoolExecutor | None = None
        self._switch: float | None = None  # the process's switch interval before the commit thread started
        self._round = 0

    def round(self, runs: list[BeastRun], train: list[BeastRun] | None = None) -> list[WindowRow]:
        """Commit every window persisted so far (of ``runs``) while training the next window of each
        ready beast of ``train`` (default: ``runs``); returns the rows trained."""
        engine = self.engine
        todo = runs if train is None else train
        plan = engine.trainer.plan(todo, pipelined=True, opens=self._opens(len(todo)))
        pending = engine.committer.pending(runs)
        fut: Future[int] | None = None
        if pending:
            batch = engine.committer.batch_size()  # its chain read on this thread, before the commit thread starts
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cb-node-commit")
                self._switch = sys.getswitchinterval()
                sys.setswitchinterval(min(self._switch, SWITCH_INTERVAL_S))
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

    def _opens(self, beasts: int) -> Callable[[BeastRun], bool] | None:
        """Whether a beast may train a window opening an epoch this round (staggered epochs; module
        docstring), or None (any beast may) below STAGGER_MIN beasts. Counts the round."""
        cycle = epoch_cycle(self.engine.params())
        slot = self._round % cycle
        self._round += 1
        if beasts < STAGGER_MIN:
            return None
        return lambda run: run.beast_id % cycle == slot

    def close(self) -> None:
        """Stop the commit thread (after the commit it runs, if any) and restore the switch interval."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._switch is not None:
            sys.setswitchinterval(self._switch)
            self._switch = None


__all__ = ["Pipeline", "epoch_cycle"]
