"""The training engine of the node: hatch, train windows, persist, commit, confirm, reconcile.

Crash-safety order for every window (each step durable before the next starts):

1. train the window, write its checkpoint file atomically, add the index row (``persisted``);
2. sign the commit transaction locally and record its hash, nonce and raw bytes (``sent``)
   -- the hash is known before broadcast, so a crash right after broadcast loses nothing;
3. broadcast it;
4. wait for the receipt and confirmations, then mark the window ``committed``;
5. after the challenge period, finalize it on chain and mark it ``finalized``.

On start, :meth:`Engine.reconcile` compares the index with the ledger: windows on chain
are marked committed (their word must equal ours), ``sent`` windows whose transaction
vanished go back to ``persisted`` and are committed again, and a window on chain that the
node has no state for is a loud ReconcileError (another trainer committed for the beast,
or this node lost data).

Test hook: ``CB_NODE_CRASH_AT=point:n`` (node.crash) makes the process ``os._exit(137)`` the
n-th time it reaches ``point``, to simulate SIGKILL at exact places.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from collections.abc import Callable

from curriculum.errors import CurriculumError
from kernel.params import KernelParams
from kernel.sources import PublicSource
from kernel.state import ZERO32, KernelState, genesis
from kernel.train import WindowResult, get_backend, train_window, window_epoch
from node.crash import crash_point
from node.errors import ChainError, DataError, ReconcileError, RpcUnavailableError, TxDroppedError, TxRevertedError
from node.hatch_journal import HatchJournal, PendingHatch
from node.ledger import CHAIN_DISPUTED, CHAIN_FINALIZED, CHAIN_SLASHED, Ledger
from node.store import COMMITTED, DISPUTED, FINALIZED, PERSISTED, SENT, BeastStore, WindowRow, beast_dir
import contextlib

BATCHED_MIN: Final = 8  # beasts per round from which kernel.batched (torch) beats per-beast numpy


class MetricsBus:
    """In-process fan-out of metric events to WatchMetrics streams (bounded queues, drops when full)."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._subs: list[queue.Queue[dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def subscribe(self) -> queue.Queue[dict[str, Any] | None]:
        """A new queue receiving every event published from now on."""
        q: queue.Queue[dict[str, Any] | None] = queue.Queue(self._maxsize)
        with self._lock:
            self._subs.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any] | None]) -> None:
        """Stop delivering to ``q``."""
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)

    def publish(self, event: dict[str, Any]) -> None:
        """Deliver ``event`` to every subscriber; a full subscriber queue loses the event."""
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            with contextlib.suppress(queue.Full):
                q.put_nowait(event)

    def close(self) -> None:
        """Tell every subscriber the stream ended."""
        with self._lock:
            subs, self._subs = self._subs, []
        for q in subs:
            with contextlib.suppress(queue.Full):
                q.put_nowait(None)


@dataclass
class BeastRun:
    """One beast the node trains: its store, hatch data, sample source and kernel parameters."""

    beast_id: int
    store: BeastStore
    meta: dict[str, Any]
    source: Any
    params: KernelParams
    seed_core: bytes
    dataset_commitment: bytes
    _state: KernelState | None = field(default=None, repr=False)

    def latest_state(self) -> KernelState:
        """The newest stored state (cached in memory after the first load)."""
        row = self.store.latest()
        if row is None:
            raise DataError(f"beast {self.beast_id} has no genesis checkpoint in {self.store.root}")
        if self._state is None or self._state.window != row.window:
            self._state = self.store.load_state(row.window)
        return self._state


def _build_source(meta: dict[str, Any], dataset_commitment: bytes, secret_commitment: bytes, cache_dir: Path) -> Any:
    if dataset_commitment == ZERO32:
        return PublicSource()
    from curriculum.source import load_private_source

    try:
        return load_private_source(meta["dataset_path"], meta["secret_path"], dataset_commitment=dataset_commitment,
                                   secret_commitment=secret_commitment, cache_dir=cache_dir)
    except KeyError as exc:
        raise DataError(f"beast {meta.get('beast_id')}: beast.json lacks {exc.args[0]}") from exc
    except CurriculumError as exc:
        raise DataError(f"beast {meta.get('beast_id')}: private curriculum unusable: {exc}") from exc


class Engine:
    """Trains and commits windows for the beasts of one data directory over one Ledger."""

    def __init__(
        self,
        data_dir: Path,
        ledger: Ledger,
        *,
        backend: str = "numpy",
        bus: MetricsBus | None = None,
        want_digests: bool = True,
        batched: bool = True,
        torch_threads: int = 1,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.ledger = ledger
        self.backend_name = backend
        self.backend = get_backend(backend)
        self.bus = bus or MetricsBus()
        self.want_digests = want_digests
        self.batched = batched  # several beasts per round go through kernel.batched
        # torch intra-op threads for the batched path. 1 by default: on a busy 2-core machine two
        # threads made a 64-beast window 20x slower (spin-waiting); see docs/PERFORMANCE.md, Node.
        self.torch_threads = torch_threads
        self._threads_set = False
        self.runs: dict[int, BeastRun] = {}
        self.hatches = HatchJournal(self.data_dir)
        self.log = log or (lambda msg: None)
        self.timings = {"train_s": 0.0, "chain_s": 0.0, "persist_s": 0.0}
        self._params: KernelParams | None = None
        self._seeds: dict[tuple[int, int], bytes] = {}
        self._cp: int | None = None

    # ---- beasts --------------------------------------------------------------------

    def params(self) -> KernelParams:
        """Kernel parameters of this season (read from the registry once)."""
        if self._params is None:
            self._params = self.ledger.kernel_params()
        return self._params

    def hatch(self, dataset_path: Path | None = None, secret_path: Path | None = None) -> BeastRun:
        """Hatch a beast on chain (with a private curriculum when both files are given) and store genesis.

        The signed transaction is recorded in the hatch journal before it is broadcast, so a
        node killed at any point finishes this hatch on restart (:meth:`recover_hatches`)
        instead of losing the beast or hatching a second one.
        """
        dataset_c = secret_c = ZERO32
        if (dataset_path is None) != (secret_path is None):
            raise DataError("a private curriculum needs both --dataset and --secret-file")
        if dataset_path is not None and secret_path is not None:
            from curriculum.files import load_dataset
            from curriculum.secret import read_secret_file

            try:
                dataset_c = load_dataset(dataset_path, cache_dir=self.data_dir / "cache").commitment
                secret_c = read_secret_file(secret_path).commitment
            except CurriculumError as exc:
                raise DataError(f"cannot use the private curriculum: {exc}") from exc
        signed = self.ledger.sign_hatch(dataset_c, secret_c)
        pending = PendingHatch(
            signed.tx_hash, signed.nonce, signed.raw, signed.gas, "0x" + dataset_c.hex(), "0x" + secret_c.hex(),
            str(Path(dataset_path).resolve()) if dataset_path is not None else None,
            str(Path(secret_path).resolve()) if secret_path is not None else None)
        self.hatches.record(pending)
        crash_point("hatch_after_sign")
        return self._finish_hatch(pending)

    def recover_hatches(self) -> list[BeastRun]:
        """Finish every hatch a killed node left in the journal; returns the beasts it finished.

        A recorded transaction the chain never saw is broadcast again (the same signed bytes,
        so it can mint at most once). One that can no longer be mined (its nonce went to another
        transaction) or that reverted is dropped from the journal with a log line.
        """
        client = self.ledger.client
        runs = []
        for pending in self.hatches.pending():
            rcpt = client.receipt(pending.tx_hash)
            if rcpt is None and not client.known(pending.tx_hash) and client.chain_nonce("latest") > pending.nonce:
                self.log(f"hatch {pending.tx_hash} can no longer be mined (nonce {pending.nonce} was used by "
                         "another transaction); dropped it")
                self.hatches.done(pending.tx_hash)
                continue
            try:
                run = self._finish_hatch(pending)
            except (TxDroppedError, TxRevertedError) as exc:
                self.log(f"hatch {pending.tx_hash} did not complete ({exc}); dropped it")
                continue
            self.log(f"finished the interrupted hatch of beast {run.beast_id} (tx {pending.tx_hash})")
            runs.append(run)
        return runs

    def _finish_hatch(self, pending: PendingHatch) -> BeastRun:
        """Broadcast (again) if needed, wait for the receipt, write the run directory, forget the record."""
        client = self.ledger.client
        try:
            rcpt = client.receipt(pending.tx_hash)
            if rcpt is None:
                client.broadcast(pending.signed)
                crash_point("hatch_after_broadcast")
            rcpt = client.wait(pending.signed, "Beast.hatch")
        except (TxDroppedError, TxRevertedError):
            client.resync_nonce()
            self.hatches.done(pending.tx_hash)
            raise
        except ChainError:
            client.resync_nonce()  # the record stays: the next start finishes it
            raise
        crash_point("hatch_after_mined")
        hd = self.ledger.hatched(rcpt)
        store = BeastStore(beast_dir(self.data_dir, hd.beast_id), hd.beast_id)
        meta: dict[str, Any] = {
            "beast_id": hd.beast_id,
            "seed_core": "0x" + hd.seed_core.hex(),
            "dataset_commitment": "0x" + hd.dataset_commitment.hex(),
            "secret_commitment": "0x" + hd.secret_commitment.hex(),
            "spec_version": hd.spec_version,
            "hatch_block": hd.hatch_block,
            "owner": client.address,
            "hatch_tx": pending.tx_hash,
        }
        if pending.dataset_path is not None and pending.secret_path is not None:
            meta["dataset_path"] = pending.dataset_path
            meta["secret_path"] = pending.secret_path
        store.write_meta(meta)
        crash_point("hatch_after_meta")
        if store.get(0) is None:
            g = genesis(hd.seed_core, self.params(), dataset_commitment=hd.dataset_commitment)
            store.persist(g, None, epoch_seed=hd.seed_core)
            store.event("hatched", seed_core=meta["seed_core"], dataset_commitment=meta["dataset_commitment"],
                        h128="0x" + g.h128().hex(), tx=pending.tx_hash)
        store.close()
        self.hatches.done(pending.tx_hash)
        return self.open(hd.beast_id)

    def open(self, beast_id: int) -> BeastRun:
        """Open the run directory of a beast this node hatched or adopted (cached)."""
        if beast_id in self.runs:
            return self.runs[beast_id]
        root = beast_dir(self.data_dir, beast_id)
        if not (root / "beast.json").exists():
            self._adopt(beast_id)
        store = BeastStore(root, beast_id)
        meta = store.read_meta()
        seed_core = bytes.fromhex(meta["seed_core"][2:])
        dataset_c = bytes.fromhex(meta["dataset_commitment"][2:])
        secret_c = bytes.fromhex(meta["secret_commitment"][2:])
        source = _build_source(meta, dataset_c, secret_c, self.data_dir / "cache")
        run = BeastRun(beast_id, store, meta, source, self.params(), seed_core, dataset_c)
        if store.get(0) is None:
            g = genesis(seed_core, run.params, dataset_commitment=dataset_c)
            store.persist(g, None, epoch_seed=seed_core)
        self.runs[beast_id] = run
        return run

    def _adopt(self, beast_id: int) -> None:
        """Create the run directory of a public beast hatched elsewhere that this key may train
        (its owner called ``authorizeTrainer``). Windows already on chain without their states
        make the following reconcile fail loudly, as they must."""
        hd = self.ledger.hatch_data(beast_id)
        if hd.dataset_commitment != ZERO32:
            raise DataError(f"beast {beast_id} trains on a private dataset; run `cb-node hatch` on the owner's node "
                            "or copy its run directory (beast.json names the dataset and secret files)")
        if not self.ledger.is_committer(beast_id):
            raise DataError(f"beast {beast_id} was not hatched by this node and {self.ledger.client.address} is not "
                            "its authorized trainer")
        store = BeastStore(beast_dir(self.data_dir, beast_id), beast_id)
        store.write_meta({"beast_id": beast_id, "seed_core": "0x" + hd.seed_core.hex(),
                          "dataset_commitment": "0x" + hd.dataset_commitment.hex(),
                          "secret_commitment": "0x" + hd.secret_commitment.hex(), "spec_version": hd.spec_version,
                          "hatch_block": hd.hatch_block, "adopted": True})
        store.event("adopted", seed_core="0x" + hd.seed_core.hex())
        store.close()

    # ---- reconcile -----------------------------------------------------------------

    def reconcile(self, run: BeastRun) -> dict[str, int]:
        """Bring the local index in line with the ledger; returns counts of what changed."""
        bid, store = run.beast_id, run.store
        count = self.ledger.window_count(bid)
        latest = store.latest()
        local_max = latest.window if latest else 0
        if count > local_max:
            raise ReconcileError(
                f"beast {bid}: the ledger holds {count} windows but this node has states up to window {local_max}; "
                "another trainer committed for this beast or local checkpoints were lost")
        changed = {"marked_committed": 0, "requeued": 0}
        rows = store.rows(1)
        # The newest window both sides claim must carry the same word: one call that catches a
        # different chain, a reset devnet, or another trainer's lineage.
        settled = [r for r in rows if r.window <= count and r.status in (COMMITTED, FINALIZED, DISPUTED)]
        check = {r.window for r in rows if r.window <= count and r.status in (PERSISTED, SENT)}
        if settled:
            check.add(settled[-1].window)
        for row in rows:
            if row.window in check:
                chain_word = self.ledger.word(bid, row.window)
                if chain_word != row.word:
                    raise ReconcileError(
                        f"beast {bid} window {row.window}: the ledger holds word 0x{chain_word.hex()}, this node "
                        f"persisted 0x{row.word.hex()}")
                if row.status in (PERSISTED, SENT):
                    store.mark_status(row.window, COMMITTED)
                    store.event("reconciled", window=row.window, status=COMMITTED, tx=row.tx_hash)
                    changed["marked_committed"] += 1
            elif row.window <= count:
                continue
            elif row.status == SENT:
                # Not on chain. Still pending at the node: wait for it. Gone: commit it again
                # (the ledger's order check makes a late duplicate revert, never double-commit).
                if self._settle_sent(run, row):
                    changed["marked_committed"] += 1
                else:
                    changed["requeued"] += 1
            elif row.status in (COMMITTED, FINALIZED):
                raise ReconcileError(f"beast {bid} window {row.window} is {row.status} locally but the ledger holds "
                                     f"only {count} windows (chain reset or reorganized?)")
        if any(changed.values()):
            self.log(f"beast {bid}: reconciled {changed}")
        return changed

    def _settle_sent(self, run: BeastRun, row: WindowRow) -> bool:
        """Resolve a ``sent`` window missing on chain: True when it got committed, False when requeued."""
        client = self.ledger.client
        rcpt = client.receipt(row.tx_hash)
        if rcpt is None and client.known(row.tx_hash):
            try:
                rcpt = client.wait(row.tx_hash, f"commit of window {row.window}", nonce=row.tx_nonce)
            except (TxDroppedError, TxRevertedError):
                rcpt = None
        if rcpt is not None and int(rcpt["status"]) == 1 and self.ledger.window_count(run.beast_id) >= row.window:
            run.store.mark_status(row.window, COMMITTED, block=int(rcpt["blockNumber"]))
            return True
        run.store.mark_status(row.window, PERSISTED, tx_hash="")
        run.store.event("requeued", window=row.window, tx=row.tx_hash)
        client.resync_nonce()
        return False

    # ---- training ------------------------------------------------------------------

    def train_next(self, runs: list[BeastRun]) -> list[WindowRow]:
        """Train and persist the next window of each beast whose latest window is committed.

        Beasts with uncommitted windows are skipped (their windows are committed first).
        """
        ready = [r for r in runs if (row := r.store.latest()) is not None and row.status not in (PERSISTED, SENT)]
        if not ready:
            return []
        states = [r.latest_state() for r in ready]
        t0 = time.perf_counter()
        seeds = [self._epoch_seed(r, s) for r, s in zip(ready, states, strict=True)]
        self.timings["chain_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        results = self._train_many(ready, states, seeds)
        self.timings["train_s"] += time.perf_counter() - t0
        rows = []
        t0 = time.perf_counter()
        for run, res, seed in zip(ready, results, seeds, strict=True):
            row = run.store.persist(res.state, res.payload, epoch_seed=seed, losses=res.losses,
                                    digests=res.digests if self.want_digests else None)
            run._state = res.state
            run.store.event("persisted", window=row.window, h128="0x" + row.h128.hex(), loss_sum=row.loss_sum)
            run.store.metric(window=row.window, global_step=row.global_step, loss_sum=row.loss_sum,
                             loss_first=res.losses[0], loss_last=res.losses[-1], energy_burn=row.energy_burn)
            now = int(time.time() * 1000)
            for j, loss in enumerate(res.losses):
                self.bus.publish({"kind": "step", "beast_id": run.beast_id, "window": row.window,
                                  "global_step": (row.global_step - 128 + j + 1) & 0xFFFFFFFF, "loss": loss,
                                  "step": j, "time_unix_ms": now})
            self.bus.publish({"kind": "window_trained", "beast_id": run.beast_id, "window": row.window,
                              "global_step": row.global_step, "loss": row.loss_sum, "time_unix_ms": now})
            rows.append(row)
            crash_point("after_persist")
        self.timings["persist_s"] += time.perf_counter() - t0
        return rows

    def _epoch_seed(self, run: BeastRun, state: KernelState) -> bytes:
        """The ledger's seed of the epoch the next window lies in (cached: a snapshot never changes)."""
        key = (run.beast_id, window_epoch(state))
        seed = self._seeds.get(key)
        if seed is None:
            seed = self._seeds[key] = self.ledger.epoch_seed(*key)
        return seed

    def _train_many(self, runs: list[BeastRun], states: list[KernelState], seeds: list[bytes]) -> list[WindowResult]:
        if len(runs) >= BATCHED_MIN and self.batched:
            batched = _batched_trainer()
            if batched is not None:
                if not self._threads_set and self.torch_threads > 0:
                    import torch

                    torch.set_num_threads(self.torch_threads)
                    self._threads_set = True
                return batched(states, [r.source for r in runs], seeds, self.backend_name, self.want_digests)
        return [train_window(s, r.source, epoch_seed=seed, backend=self.backend, want_digests=self.want_digests)
                for r, s, seed in zip(runs, states, seeds, strict=True)]

    # ---- committing ----------------------------------------------------------------

    def commit_pending(self, runs: list[BeastRun], max_batch: int = 64) -> int:
        """Commit every ``persisted`` window (oldest first per beast), several per transaction.

        Returns the number of windows committed.
        """
        items: list[tuple[BeastRun, WindowRow]] = []
        for run in runs:
            for row in run.store.with_status(PERSISTED):
                items.append((run, row))
        done = 0
        for i in range(0, len(items), max_batch):
            done += self._commit_batch(items[i:i + max_batch])
        return done

    def _commit_batch(self, items: list[tuple[BeastRun, WindowRow]]) -> int:
        t0 = time.perf_counter()
        client = self.ledger.client
        total_burn = sum(row.energy_burn for _, row in items)
        self.ledger.ensure_deposit(total_burn)
        self.ledger.ensure_allowance(total_burn)
        pairs = [(run.beast_id, row.word) for run, row in items]
        call = self.ledger.commit_call(pairs)
        what = f"commit of {len(items)} window(s)"
        signed = client.sign(what, call, gas=self.ledger.commit_gas(len(items)) if client.fixed_gas else None,
                             access_list=self.ledger.commit_access_list(pairs))
        for run, row in items:
            run.store.mark_sent(row.window, signed.tx_hash, signed.nonce, signed.raw)
        crash_point("after_sign")
        try:
            client.broadcast(signed)
            crash_point("after_broadcast")
            rcpt = client.wait(signed, what)
        except RpcUnavailableError as exc:
            # The transaction may or may not have reached the chain: keep the windows ``sent``
            # with their hash; reconcile settles them once the endpoint is back.
            client.resync_nonce()
            for run, row in items:
                run.store.event("commit_unconfirmed", window=row.window, tx=signed.tx_hash, reason=str(exc))
            self.timings["chain_s"] += time.perf_counter() - t0
            raise
        except (TxDroppedError, TxRevertedError, ChainError) as exc:
            client.resync_nonce()
            for run, row in items:
                run.store.mark_status(row.window, PERSISTED, tx_hash="")
                run.store.event("commit_failed", window=row.window, tx=signed.tx_hash, reason=str(exc))
            self.timings["chain_s"] += time.perf_counter() - t0
            raise
        crash_point("after_mined")
        block = int(rcpt["blockNumber"])
        now = int(time.time() * 1000)
        for run, row in items:
            run.store.mark_status(row.window, COMMITTED, block=block)
            run.store.event("committed", window=row.window, tx=signed.tx_hash, block=block,
                            gas_used=int(rcpt["gasUsed"]))
            self.bus.publish({"kind": "window_committed", "beast_id": run.beast_id, "window": row.window,
                              "global_step": row.global_step, "loss": row.loss_sum, "commit_tx": signed.tx_hash,
                              "time_unix_ms": now})
            crash_point("after_mark_committed")
        self.timings["chain_s"] += time.perf_counter() - t0
        return len(items)

    def finalize_due(self, runs: list[BeastRun], max_batch: int = 64) -> int:
        """Finalize committed windows whose challenge period has passed; returns how many."""
        t0 = time.perf_counter()
        head = self.ledger.block_number()
        due: list[tuple[BeastRun, WindowRow]] = []
        for run in runs:
            for row in run.store.with_status(COMMITTED):
                if row.block is not None and head <= row.block + self._challenge_period():
                    continue
                cs = self.ledger.status(run.beast_id, row.window)
                if cs == CHAIN_FINALIZED:  # someone else finalized it (anyone may)
                    run.store.mark_status(row.window, FINALIZED)
                elif cs in (CHAIN_DISPUTED, CHAIN_SLASHED):
                    run.store.mark_status(row.window, DISPUTED)
                    run.store.event("disputed", window=row.window, chain_status=cs)
                elif head > self.ledger.challenge_deadline(run.beast_id, row.window):
                    due.append((run, row))
        done = 0
        for i in range(0, len(due), max_batch):
            batch = due[i:i + max_batch]
            self.ledger.client.transact(f"finalize of {len(batch)} window(s)",
                                        self.ledger.finalize_call([(r.beast_id, w.window) for r, w in batch]),
                                        gas=self.ledger.finalize_gas(len(batch)))
            now = int(time.time() * 1000)
            for run, row in batch:
                run.store.mark_status(row.window, FINALIZED)
                run.store.event("finalized", window=row.window)
                self.bus.publish({"kind": "window_finalized", "beast_id": run.beast_id, "window": row.window,
                                  "global_step": row.global_step, "loss": row.loss_sum, "time_unix_ms": now})
            done += len(batch)
        self.timings["chain_s"] += time.perf_counter() - t0
        return done

    def _challenge_period(self) -> int:
        """The season's challenge period in blocks (read once)."""
        if self._cp is None:
            self._cp = self.ledger.challenge_period()
        return self._cp

    def step(self, runs: list[BeastRun]) -> list[WindowRow]:
        """One round: commit leftovers, train one window per ready beast, commit them together."""
        self.commit_pending(runs)
        rows = self.train_next(runs)
        if rows:
            self.commit_pending(runs)
        return rows


def _batched_trainer() -> Callable[..., list[WindowResult]] | None:
    """kernel.batched's many-beast trainer (torch), or None when it cannot be imported."""
    try:
        from kernel.batched import train_windows_batched
    except ImportError:
        return None

    def run(states: list[KernelState], sources: list[Any], seeds: list[bytes], backend: str,
            want_digests: bool) -> list[WindowResult]:
        # Same words, losses and digests as train_window per beast (kernel tests check that);
        # public sources take the vectorized board preparation, checked equal in kernel tests.
        fast = all(isinstance(s, PublicSource) for s in sources)
        return train_windows_batched(states, sources, epoch_seeds=seeds, want_digests=want_digests,
                                     inputs="fast" if fast else "scalar")

    return run


__all__ = ["BATCHED_MIN", "BeastRun", "Engine", "MetricsBus"]
