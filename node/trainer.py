"""The training engine of the node: one coordinator over the hatchery, the trainer, the committer
and reconcile, for the beasts of one data directory over one Ledger.

Each job lives in its own module, which states its part of the order and why it is crash-safe:
:mod:`node.hatching` (hatch, finish interrupted hatches, adopt), :mod:`node.beast_run` (open a
run directory), :mod:`node.reconcile` (local index vs. ledger on start), :mod:`node.training`
(train and persist a window), :mod:`node.committing` (commit, finalize), :mod:`node.metrics`
(the metric event bus), :mod:`node.pipeline` (the next round trains while this round's commits are
in flight; the order below holds per window). The order for every window, each step recorded before
the next starts and all of it durable before anything leaves the node:

1. train the window, write its checkpoint file atomically, add the index row (``persisted``);
2. sign the commit transaction locally and record its hash, nonce and raw bytes (``sent``)
   -- the hash is known before broadcast, so a crash right after broadcast loses nothing; one
   sync then makes the checkpoint files, rows and ``sent`` records of the batch durable;
3. broadcast it;
4. wait for the receipt and confirmations, then mark the window ``committed``;
5. after the challenge period, finalize it on chain and mark it ``finalized``.

On start, :meth:`Engine.reconcile` compares the index with the ledger: windows on chain
are marked committed (their word must equal ours), ``sent`` windows whose transaction
vanished go back to ``persisted`` and are committed again, a ``persisted`` window whose file a
power loss took (never sent) is dropped and trained again, and a window on chain that the
node has no state for is a loud ReconcileError (another trainer committed for the beast,
or this node lost data).

Test hook: ``CB_NODE_CRASH_AT=point:n`` (:mod:`node.crash`, which lists every point) makes the
process ``os._exit(137)`` the n-th time it reaches ``point``, to simulate SIGKILL at exact places.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kernel.params import KernelParams
from kernel.train import Backend
from node.beast_meta import META_NAME
from node.beast_run import BeastRun, open_run
from node.committing import Committer
from node.hatch_journal import HatchJournal
from node.hatching import Hatchery
from node.ledger import Ledger
from node.metrics import MetricsBus
from node.owner_controls import WindowPlanner
from node.pipeline import Pipeline
from node.retention import KeepPolicy, prune
from node.reconcile import reconcile
from node.store import BeastStore, WindowRow, beast_dir
from node.training import WindowTrainer


class Engine:
    """Trains and commits windows for the beasts of one data directory over one Ledger."""

    def __init__(
        self,
        data_dir: Path,
        ledger: Ledger,
        *,
        backend: str = "numpy",
        bus: MetricsBus | None = None,
        want_digests: bool = False,
        batched: bool = True,
        torch_threads: int = 1,
        log: Callable[[str], None] | None = None,
        planner: WindowPlanner | None = None,
        retention: KeepPolicy | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.ledger = ledger
        self.bus = bus or MetricsBus()
        self.log = log or (lambda msg: None)
        self.runs: dict[int, BeastRun] = {}
        self.hatches = HatchJournal(self.data_dir)
        self.timings = {"train_s": 0.0, "chain_s": 0.0, "persist_s": 0.0}  # shared with trainer and committer
        self.hatchery = Hatchery(self.data_dir, ledger, self.hatches, self.params, self.log)
        self.trainer = WindowTrainer(ledger, self.bus, self.timings, backend=backend, want_digests=want_digests,
                                     batched=batched, torch_threads=torch_threads, planner=planner)
        self.committer = Committer(ledger, self.bus, self.timings)
        self._params: KernelParams | None = None
        self.retention = retention  # prune after each finalization sweep (node.retention); None: keep all
        self._swept: set[int] = set()  # beasts whose folders were swept for a killed prune's files
        self.pipeline = Pipeline(self)

    @property
    def backend(self) -> Backend:
        """The kernel backend the trainer uses."""
        return self.trainer.backend

    def params(self) -> KernelParams:
        """Kernel parameters of this season (read from the registry once)."""
        if self._params is None:
            self._params = self.ledger.kernel_params()
        return self._params

    # ---- beasts --------------------------------------------------------------------

    def hatch(self, dataset_path: Path | None = None, secret_path: Path | None = None) -> BeastRun:
        """Hatch a beast on chain (with a private curriculum when both files are given) and open it.

        Journaled before broadcast, so a killed node finishes it on restart (:mod:`node.hatching`).
        """
        return self.open(self.hatchery.hatch(dataset_path, secret_path))

    def hatch_many(self, count: int) -> list[BeastRun]:
        """Hatch ``count`` public beasts with their transactions in flight together and open them
        (journaled like :meth:`hatch`, :meth:`node.hatching.Hatchery.hatch_many`)."""
        return [self.open(bid) for bid in self.hatchery.hatch_many(count)]

    def recover_hatches(self) -> list[BeastRun]:
        """Finish every hatch a killed node left in the journal; returns the beasts it finished."""
        return [self.open(bid) for bid in self.hatchery.recover()]

    def open(self, beast_id: int) -> BeastRun:
        """Open the run directory of a beast this node hatched or adopts (cached)."""
        if beast_id in self.runs:
            return self.runs[beast_id]
        root = beast_dir(self.data_dir, beast_id)
        if not (root / META_NAME).exists():
            self.hatchery.adopt(beast_id)
        run = open_run(BeastStore(root, beast_id), self.params(), self.data_dir / "cache")
        self.runs[beast_id] = run
        return run

    def reconcile(self, run: BeastRun) -> dict[str, int]:
        """Bring the local index in line with the ledger; returns counts of what changed (:mod:`node.reconcile`)."""
        return reconcile(run, self.ledger, self.log)

    # ---- rounds --------------------------------------------------------------------

    def train_next(self, runs: list[BeastRun]) -> list[WindowRow]:
        """Train and persist the next window of each beast whose latest window is committed."""
        return self.trainer.train_next(runs)

    def commit_pending(self, runs: list[BeastRun], max_batch: int | None = None) -> int:
        """Commit every ``persisted`` window, several per transaction (None: as many as a transaction's
        gas allows, node.committing); returns how many."""
        return self.committer.commit_pending(runs, max_batch)

    def finalize_due(self, runs: list[BeastRun], max_batch: int = 64) -> int:
        """Finalize committed windows whose challenge period has passed, then prune under the retention
        policy when there is one; returns how many windows were finalized."""
        done = self.committer.finalize_due(runs, max_batch)
        if self.retention is not None:
            for run in runs:
                prune(run.store, self.retention, sweep=run.beast_id not in self._swept)
                self._swept.add(run.beast_id)
        return done

    def pipelined_round(self, runs: list[BeastRun], train: list[BeastRun] | None = None) -> list[WindowRow]:
        """One round of ``cb-node run``: commit every persisted window of ``runs`` on a commit thread while
        the next window of each ready beast of ``train`` (default ``runs``) trains (:mod:`node.pipeline`)."""
        return self.pipeline.round(runs, train)

    def close(self) -> None:
        """Stop the pipeline's commit thread and the trainer's writer thread."""
        self.pipeline.close()
        self.trainer.close()

    def step(self, runs: list[BeastRun]) -> list[WindowRow]:
        """One round: commit leftovers, train one window per ready beast, commit them together."""
        self.commit_pending(runs)
        rows = self.train_next(runs)
        if rows:
            self.commit_pending(runs)
        return rows


__all__ = ["Engine"]
