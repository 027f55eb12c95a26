"""One training round: the next window of every ready beast, trained and persisted.

Order of operations per round (the first step of a window's crash-safety order, see
:mod:`node.trainer`): train the windows in memory, then :func:`node.store.persist_round` writes
every checkpoint file, and only then adds the index rows that name them (``persisted``); only
then are events, metrics and bus messages emitted. Files and
rows are made durable by the sync of their ``sent`` records before the commit's broadcast
(node.committing): until then nothing outside the node has seen the windows, and a power loss
before it costs only retraining them (node.reconcile drops a row whose file it lost).

Crash safety: a node killed while training loses only work in memory and retrains the same
window (training is deterministic). Killed after the file but before the row, the next persist
of the identical state writes the row. A beast whose latest window is not yet committed is not
trained further, so at most one uncommitted window per beast waits for :mod:`node.committing`;
the pipelined plan (:mod:`node.pipeline`) trains on top of one window in flight, so at most two.
Per-step digests are not computed here by default (:mod:`node.step_digests` recomputes them on request).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any, Final

from kernel.payload import WINDOW_STEPS
from kernel.sources import PublicSource
from kernel.state import KernelState
from kernel.train import WindowResult, get_backend, train_window
from kernel.window_settings import window_epoch
from node.beast_run import BeastRun
from node.crash import crash_point
from node.ledger import Ledger
from node.lineage import produced_by
from node.metrics import STEPS, MetricsBus
from node.owner_controls import WindowPlanner, spurt_done
from node.store import PERSISTED, SENT, BeastStore, Checkpoint, WindowRow, persist_round, sync_windows, write_checkpoints
from node.streaming import CHUNK_STEPS, StreamingBackend, train_windows_streamed

BATCHED_MIN: Final = 8  # beasts per round from which kernel.batched (torch) beats per-beast numpy
# micro-steps per reported chunk on the batched path while someone watches steps: each chunk
# re-enters the kernel (stacks and splits every beast's weights), 16 cost about +35% of a 64..512
# beast window, 32 about +13% (docs/PERFORMANCE.md, Node); with nobody watching, one call.
BATCHED_CHUNK_STEPS: Final = 32
# A batched round of at least PART_MIN beasts is trained in parts of about PART_BEASTS, each part's files
# written while the next trains (WindowTrainer.train_planned). kernel.batched trains 128-beast blocks as
# fast as larger ones (81,000-99,000 beast-steps/s against 79,000-92,000 for 256 and 1,024 on this machine),
# 32-beast blocks ~35% slower: hence no parts below two of ~96 (docs/PERFORMANCE.md, Node).
PART_BEASTS: Final = 128
PART_MIN: Final = 192


@dataclass(frozen=True)
class RoundPlan:
    """The beasts one round trains, their start states and the epoch seeds of their next windows."""

    runs: list[BeastRun]
    states: list[KernelState]
    seeds: list[bytes]


class WindowTrainer:
    """Trains and persists the next window of each ready beast (batched over beasts when that pays)."""

    def __init__(self, ledger: Ledger, bus: MetricsBus, timings: dict[str, float], *, backend: str = "numpy",
                 want_digests: bool = False, batched: bool = True, torch_threads: int = 1,
                 planner: WindowPlanner | None = None) -> None:
        self.ledger = ledger
        self.bus = bus
        self.timings = timings  # shared with the Engine: train_s, chain_s, persist_s
        self.backend_name = backend
        self.backend = get_backend(backend)
        self.want_digests = want_digests
        self.batched = batched  # several beasts per round go through kernel.batched
        # torch intra-op threads for the batched path. 1 by default: on a busy 2-core machine two
        # threads made a 64-beast window 20x slower (spin-waiting); see docs/PERFORMANCE.md, Node.
        self.torch_threads = torch_threads
        self._threads_set = False
        self._seeds: dict[tuple[int, int], bytes] = {}
        self._streamed: set[tuple[int, int]] = set()  # (beast, window) whose step events went out while training
        self.planner = planner or WindowPlanner()  # the owner's spurts and lr schedule (node.owner_controls)
        self._write_pool: ThreadPoolExecutor | None = None  # writes a part's files while the next trains

    def train_next(self, runs: list[BeastRun]) -> list[WindowRow]:
        """Train and persist the next window of each beast whose latest window is committed.

        Beasts with uncommitted windows are skipped (their windows are committed first).
        """
        return self.train_planned(self.plan(runs))

    def plan(self, runs: list[BeastRun], *, pipelined: bool = False,
             opens: Callable[[BeastRun], bool] | None = None) -> RoundPlan:
        """The beasts to train this round with their start states and epoch seeds (the round's chain reads).

        Sequential: every window on top of a committed one. ``pipelined`` (node.pipeline): a beast
        whose latest window is still uncommitted (its commit in flight) is trained too, as long as
        the window before that one is settled -- at most two uncommitted windows per beast -- and
        its next window's epoch seed is already sealed: a window that opens an epoch waits until
        the commit closing the epoch before is mined (the seed is that block's hash, PROTOCOL §4).
        Seals are sent here, never while a commit is in flight. ``opens``: whether a beast whose next
        window opens an epoch may train it this round (node.pipeline staggers the beasts' epochs; the
        others wait, unsealed, for a later round); None: every beast may.
        """
        ready, behind = [], []
        for r in runs:
            row = r.store.latest()
            if row is None:
                continue
            if row.status not in (PERSISTED, SENT):
                ready.append(r)
                behind.append(False)
            elif pipelined and row.window > 0 and (prev := r.store.get(row.window - 1)) is not None \
                    and prev.status not in (PERSISTED, SENT):
                ready.append(r)
                behind.append(True)
        if not ready:
            return RoundPlan([], [], [])
        states = [r.latest_state() for r in ready]
        if opens is not None:
            keep = [i for i, (r, s) in enumerate(zip(ready, states, strict=True))
                    if s.global_step % s.params.epoch_steps or opens(r)]
            ready, behind, states = [ready[i] for i in keep], [behind[i] for i in keep], [states[i] for i in keep]
            if not ready:
                return RoundPlan([], [], [])
        t0 = time.perf_counter()
        seeds = self._epoch_seeds(ready, states, behind)
        self.timings["chain_s"] += time.perf_counter() - t0
        keep = [i for i, seed in enumerate(seeds) if seed is not None]
        return RoundPlan([ready[i] for i in keep], [states[i] for i in keep], [seeds[i] for i in keep])  # type: ignore[misc]

    def train_planned(self, plan: RoundPlan) -> list[WindowRow]:
        """Train and persist the planned windows (no chain access: safe while a commit is in flight).

        A large batched round is trained in parts (:data:`PART_BEASTS`); each part's checkpoint files
        are written on a writer thread while the next part trains (creating and writing a file costs
        0.1-0.6 ms of system time, up to 1/4 of a 1,024-beast round when done after training). Every
        file of the round is written before any of its index rows is added, as in one piece.
        """
        ready, states, seeds = plan.runs, plan.states, plan.seeds
        if not ready:
            return []
        t0 = time.perf_counter()
        settings = [self.planner.settings(r.store, s) for r, s in zip(ready, states, strict=True)]
        results: list[WindowResult] = []
        items: list[tuple[BeastStore, Checkpoint]] = []
        writes: list[Future[list[tuple[bytes, Path]]]] = []
        parts = self._parts(len(ready))
        try:
            for lo, hi in parts:
                part, used_batched = self._train_many(ready[lo:hi], states[lo:hi], seeds[lo:hi], settings[lo:hi])
                part_items = [(run.store, self._checkpoint(run, res, seed, used_batched))
                              for run, res, seed in zip(ready[lo:hi], part, seeds[lo:hi], strict=True)]
                results += part
                items += part_items
                if len(parts) > 1:
                    writes.append(self._writer().submit(write_checkpoints, part_items))
        except BaseException:  # a retry of these windows must publish its steps again
            self._streamed.difference_update((r.beast_id, (s.window + 1) & 0xFFFFFFFF) for r, s in zip(ready, states, strict=True))
            for w in writes:
                w.exception()  # no file of this round is written after the error went up
            raise
        self.timings["train_s"] += time.perf_counter() - t0
        rows = []
        t0 = time.perf_counter()
        written = [w for f in writes for w in f.result()] if writes else None
        # every file written, then the index rows; made durable by the sync before their commit's
        # broadcast (node.store.persist_round): a power loss before it only costs retraining the windows
        persisted = persist_round(items, durable=False, written=written)
        spurts = [(run.store, row) for run, start, res, row in zip(ready, states, results, persisted, strict=True)
                  if res.state.active_mask != start.active_mask]
        if spurts:  # a carried-out spurt request is removed below: only once the window that did it is durable
            sync_windows(spurts)
        for run, start, res, row in zip(ready, states, results, persisted, strict=True):
            run.remember(res.state)
            spurt_done(run.store, start, res.state)
            self._report(run, row, res)
            rows.append(row)
            crash_point("after_persist")
        self.timings["persist_s"] += time.perf_counter() - t0
        return rows

    def _checkpoint(self, run: BeastRun, res: WindowResult, seed: bytes, used_batched: bool) -> Checkpoint:
        """What persisting a trained window stores: its state, word, losses, digests if kept, lineage."""
        return Checkpoint(res.state, res.payload, seed, res.losses, res.digests if self.want_digests else None,
                          produced_by(run.meta, res.state, self.backend_name, used_batched, self.config(run.beast_id)))

    def _parts(self, n: int) -> list[tuple[int, int]]:
        """The round's training parts as (start, end): one unless the round is large, batched and nobody
        watches its steps (a streamed round publishes as it trains: node.streaming)."""
        if n < PART_MIN or not self.batched or self.bus.wants(STEPS):
            return [(0, n)]
        k = max(2, round(n / PART_BEASTS))
        return [(n * i // k, n * (i + 1) // k) for i in range(k)]

    def _writer(self) -> ThreadPoolExecutor:
        """The thread that writes a part's checkpoint files while the next part trains (started on first use)."""
        if self._write_pool is None:
            self._write_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cb-node-write")
        return self._write_pool

    def close(self) -> None:
        """Stop the writer thread, if it was started (its writes are all awaited by then)."""
        if self._write_pool is not None:
            self._write_pool.shutdown(wait=True)
            self._write_pool = None

    def _report(self, run: BeastRun, row: WindowRow, res: WindowResult) -> None:
        """Log the persisted window and publish its steps and the window on the metrics bus."""
        run.store.event("persisted", window=row.window, h128="0x" + row.h128.hex(), loss_sum=row.loss_sum)
        run.store.metric(window=row.window, global_step=row.global_step, loss_sum=row.loss_sum,
                         loss_first=res.losses[0], loss_last=res.losses[-1], energy_burn=row.energy_burn)
        now = int(time.time() * 1000)
        streamed = (run.beast_id, row.window) in self._streamed  # its steps went out while it trained
        self._streamed.discard((run.beast_id, row.window))
        if not streamed:  # one event for the window's 128 steps (node.metrics), none when nobody listens
            self.bus.publish_steps(run.beast_id, row.window, 0, row.global_step - WINDOW_STEPS + 1, res.losses, now)
        self.bus.publish({"kind": "window_trained", "beast_id": run.beast_id, "window": row.window,
                          "global_step": row.global_step, "loss": row.loss_sum, "energy_burn": row.energy_burn,
                          "time_unix_ms": now})

    def config(self, beast_id: int) -> dict[str, Any]:
        """The training configuration of a beast whose hash a checkpoint's lineage records (node.lineage)."""
        return {"backend": self.backend_name, "batched": self.batched,
                "lr_schedule": [list(e) for e in self.planner.schedule(beast_id)]}

    def _epoch_seeds(self, runs: list[BeastRun], states: list[KernelState], behind: list[bool]) -> list[bytes | None]:
        """The ledger's seed of the epoch each next window lies in (cached: a sealed seed never changes).

        A seed the ledger has not sealed yet (the closing window is committed, the next epoch
        not begun) is sealed first with one ``sealEpochSeeds`` for the round, so the node trains
        on the value the chain fixed, never on a guess of it; the seal's receipt carries the seeds
        (Ledger.seal_epoch_seeds). A next window that opens its epoch is sealed without asking the
        ledger first (the seal keeps a seed sealed before, so asking would only cost a call per
        beast at every epoch); any other uncached seed is read. A beast ``behind`` (its latest window
        not yet committed) gets None for an unsealed seed: its closing commit is not mined yet.
        """
        keys = [(run.beast_id, window_epoch(state)) for run, state in zip(runs, states, strict=True)]
        missing: dict[tuple[int, int], bool] = {}  # unsealed key -> may it be sealed now
        for key, late, state in zip(keys, behind, states, strict=True):
            if key in self._seeds or key in missing:
                continue
            if key[1] > 0 and state.global_step % state.params.epoch_steps == 0:
                missing[key] = not late  # opens its epoch: sealed by the commit of the window before, or now
                continue
            seed = self.ledger.sealed_epoch_seed(*key)
            if seed is None:
                missing[key] = not late
            else:
                self._seeds[key] = seed
        sealable = [k for k, ok in missing.items() if ok]
        if sealable:
            self._seeds.update(self.ledger.seal_epoch_seeds(sealable))
        return [self._seeds.get(key) for key in keys]

    def _train_many(self, runs: list[BeastRun], states: list[KernelState], seeds: list[bytes],
                    settings: list[tuple[int, int]]) -> tuple[list[WindowResult], bool]:
        """The trained windows, and whether kernel.batched trained them together.

        While someone subscribes to step events (``cb-node watch``, WatchMetrics) the round is
        trained in chunks of micro-steps whose step events go on the bus as each chunk is
        trained (node.streaming), on both paths; otherwise in one kernel call per round or beast.
        """
        masks = [m for m, _ in settings]
        shifts = [k for _, k in settings]
        watched = self.bus.wants(STEPS)
        if len(runs) >= BATCHED_MIN and self.batched:
            batched = _batched_trainer()
            if batched is not None:
                if not self._threads_set and self.torch_threads > 0:
                    import torch

                    torch.set_num_threads(self.torch_threads)
                    self._threads_set = True
                sources = [r.source for r in runs]
                if not watched:
                    return batched(states, sources, seeds, masks, shifts, self.want_digests), True
                fast = all(isinstance(s, PublicSource) for s in sources)
                return train_windows_streamed(states, sources, epoch_seeds=seeds, active_masks=masks,
                                              lr_shifts=shifts, on_steps=self._batch_reporter(runs, states),
                                              want_digests=self.want_digests, inputs="fast" if fast else "scalar",
                                              chunk=BATCHED_CHUNK_STEPS), True
        return [train_window(s, r.source, epoch_seed=seed, active_mask=m, lr_shift=k,
                             backend=self._streaming(r, s) if watched else self.backend,
                             want_digests=self.want_digests)
                for r, s, seed, m, k in zip(runs, states, seeds, masks, shifts, strict=True)], False

    def _streaming(self, run: BeastRun, start: KernelState) -> StreamingBackend:
        """The backend, run in chunks whose step events go on the bus as each chunk is trained (node.streaming)."""
        window = (start.window + 1) & 0xFFFFFFFF

        def on_steps(first: int, losses: list[int]) -> None:
            self.bus.publish_steps(run.beast_id, window, first, start.global_step + first + 1, losses,
                                   int(time.time() * 1000))

        self._streamed.add((run.beast_id, window))
        return StreamingBackend(self.backend, on_steps, CHUNK_STEPS)

    def _batch_reporter(self, runs: list[BeastRun], starts: list[KernelState]) -> Callable[[int, list[list[int]]], None]:
        """node.streaming's ``on_steps`` for a batched round: one bus event per beast and trained chunk."""
        keys = [(run.beast_id, (start.window + 1) & 0xFFFFFFFF, start.global_step) for run, start in zip(runs, starts,
                                                                                                          strict=True)]
        self._streamed.update((beast, window) for beast, window, _ in keys)

        def on_steps(first: int, losses: list[list[int]]) -> None:
            now = int(time.time() * 1000)
            for (beast, window, g0), part in zip(keys, losses, strict=True):
                self.bus.publish_steps(beast, window, first, g0 + first + 1, part, now)

        return on_steps


def _batched_trainer() -> Callable[..., list[WindowResult]] | None:
    """kernel.batched's many-beast trainer (torch), or None when it cannot be imported."""
    try:
        from kernel.batched import train_windows_batched
    except ImportError:
        return None

    def run(states: list[KernelState], sources: list[Any], seeds: list[bytes], masks: list[int], shifts: list[int],
            want_digests: bool) -> list[WindowResult]:
        # Same words, losses and digests as train_window per beast (kernel tests check that);
        # public sources take the vectorized board preparation, checked equal in kernel tests.
        fast = all(isinstance(s, PublicSource) for s in sources)
        return train_windows_batched(states, sources, epoch_seeds=seeds, active_masks=masks, lr_shifts=shifts,
                                     want_digests=want_digests, inputs="fast" if fast else "scalar")

    return run


__all__ = ["BATCHED_MIN", "PART_BEASTS", "PART_MIN", "RoundPlan", "WindowTrainer"]
