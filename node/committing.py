"""Committing persisted windows to the ledger and finalizing them after the challenge period.

Order of operations of a commit batch (steps 2-4 of the window order in :mod:`node.trainer`):

1. top up the stake the ledger requires of a committer (:mod:`node.staking`: node.toml's ``stake``),
   then the ENERGY deposit and allowance the ledger locks from;
2. sign the commit transaction locally and record its hash and nonce on every window of the
   batch, and its raw bytes with the batch's first window (``sent``) -- the hash is known before
   broadcast; every record is made durable with one sync before the broadcast, together with the
   windows' checkpoint files and index rows (the training loop leaves their sync to this one);
3. broadcast it, wait for the receipt and confirmations;
4. mark the windows ``committed`` with the block, then log and publish.

Crash safety: killed before 2, the windows are still ``persisted`` and are committed on
restart. Killed after 2 (before or after the broadcast, or after mining), the windows are
``sent`` with their transaction hash, and :func:`node.reconcile.reconcile` finds them on chain,
waits for the pending transaction, or requeues them -- never loses a window and never commits
one twice (the ledger rejects an out-of-order duplicate). An unreachable endpoint leaves the
windows ``sent`` (reconcile settles them); a dropped or reverted transaction puts them back to
``persisted``.

Finalizing needs no journal: ``finalize`` is idempotent on chain (anyone may call it), and a
window finalized on chain but still ``committed`` locally is marked ``finalized`` on the next sweep.
"""

from __future__ import annotations

import time

from devnet.bindings import WindowStatus
from node.beast_run import BeastRun
from node.crash import crash_point
from node.errors import ChainError, RpcUnavailableError, TxDroppedError, TxRevertedError
from node.ledger import Ledger
from node.metrics import MetricsBus
from node.signed_tx import SignedTx
from node.staking import StakePolicy, ensure_stake, stake_error
from node.store import COMMITTED, DISPUTED, FINALIZED, PERSISTED, WindowRow, sync_windows


class Committer:
    """Commits ``persisted`` windows in batches and finalizes windows whose challenge period passed."""

    def __init__(self, ledger: Ledger, bus: MetricsBus, timings: dict[str, float]) -> None:
        self.ledger = ledger
        self.bus = bus
        self.timings = timings  # shared with the Engine: chain_s
        self._cp: int | None = None
        self._batch: int | None = None
        self.stake = StakePolicy()  # node.toml's stake (node.staking); auto unless the daemon sets it
        self._stake_ok = 0  # a batch burning at most this much was covered by the stake at the last check

    def batch_size(self) -> int:
        """Windows per ``commitMany``: as many as the gas bound of a batch lets into one transaction under
        the block gas limit and the per-transaction cap (EIP-7825, devnet.tx.TX_GAS_CAP); read once."""
        if self._batch is None:
            from devnet.tx import TX_GAS_CAP

            limit = int(self.ledger.client.rpc("eth_getBlock", lambda: self.ledger.client.w3.eth.get_block("latest"))
                        ["gasLimit"])
            cap = min(limit, TX_GAS_CAP)
            n = 1
            while self.ledger.commit_gas(n + 1) <= cap:
                n += 1
            self._batch = n
        return self._batch

    def commit_pending(self, runs: list[BeastRun], max_batch: int | None = None) -> int:
        """Commit every ``persisted`` window (oldest first per beast), several per transaction
        (``max_batch`` per transaction; None: :meth:`batch_size`). Returns the number of windows committed.
        """
        return self.commit_items(self.pending(runs), max_batch)

    def pending(self, runs: list[BeastRun]) -> list[tuple[BeastRun, WindowRow]]:
        """The ``persisted`` windows of ``runs``, oldest first per beast."""
        return [(run, row) for run in runs for row in run.store.with_status(PERSISTED)]

    def commit_items(self, items: list[tuple[BeastRun, WindowRow]], max_batch: int | None = None) -> int:
        """Commit ``items`` (persisted windows, oldest first per beast) in batches of ``max_batch``
        (None: :meth:`batch_size`), one transaction after the other; returns how many."""
        if max_batch is None:
            max_batch = self.batch_size()
        done = 0
        for i in range(0, len(items), max_batch):
            done += self._commit_batch(items[i:i + max_batch])
        return done

    def _commit_batch(self, items: list[tuple[BeastRun, WindowRow]]) -> int:
        t0 = time.perf_counter()
        try:
            return self._commit_batch_timed(items)
        finally:
            self.timings["chain_s"] += time.perf_counter() - t0

    def _commit_batch_timed(self, items: list[tuple[BeastRun, WindowRow]]) -> int:
        client = self.ledger.client
        total_burn = sum(row.energy_burn for _, row in items)
        fresh = self._ensure_stake(total_burn)
        self.ledger.ensure_deposit(total_burn)
        self.ledger.ensure_allowance(total_burn)
        pairs = [(run.beast_id, row.word) for run, row in items]
        what = f"commit of {len(items)} window(s)"
        try:
            try:
                signed = self._sign(what, pairs)
            except TxRevertedError as exc:
                if stake_error(exc.reason) is None or fresh:
                    raise
                # The stake shrank since it was last checked (a slash, an unstake from the owner's
                # CLI): check it again under the policy (auto tops it up), then sign once more.
                self._stake_ok = 0
                self._ensure_stake(total_burn)
                signed = self._sign(what, pairs)
        except TxRevertedError as exc:
            self._stake_ok = 0
            short = stake_error(exc.reason)
            if short is not None:
                raise short from exc
            raise
        for i, (run, row) in enumerate(items):
            # every window records the hash and nonce; the raw bytes once per transaction (the batch's first
            # window): written to every row they were up to 237 x 60 KB of index writes per batch
            run.store.mark_sent(row.window, signed.tx_hash, signed.nonce, signed.raw if i == 0 else "", durable=False)
        # every sent record durable before the broadcast, with the windows' checkpoint files and rows
        # (a trained round leaves their sync to this one: node.store.persist_round) -- one sync
        sync_windows([(run.store, row) for run, row in items])
        crash_point("after_sign")
        try:
            sent_at = time.perf_counter()
            client.broadcast(signed)
            crash_point("after_broadcast")
            rcpt = client.wait(signed, what, light=True)
        except RpcUnavailableError as exc:
            # The transaction may or may not have reached the chain: keep the windows ``sent``
            # with their hash; reconcile settles them once the endpoint is back.
            client.resync_nonce()
            self.ledger.locked(None)
            for run, row in items:
                run.store.event("commit_unconfirmed", window=row.window, tx=signed.tx_hash, reason=str(exc))
            raise
        except (TxDroppedError, TxRevertedError, ChainError) as exc:
            client.resync_nonce()
            self.ledger.locked(None)
            self._stake_ok = 0
            for run, row in items:
                run.store.mark_status(row.window, PERSISTED, tx_hash="")
                run.store.event("commit_failed", window=row.window, tx=signed.tx_hash, reason=str(exc))
            raise
        crash_point("after_mined")
        self.ledger.locked(total_burn)
        block = int(rcpt["blockNumber"])
        latency_ms = int((time.perf_counter() - sent_at) * 1000)  # broadcast to receipt (and confirmations)
        now = int(time.time() * 1000)
        for run, row in items:
            run.store.mark_status(row.window, COMMITTED, block=block)
            run.store.event("committed", window=row.window, tx=signed.tx_hash, block=block,
                            gas_used=int(rcpt["gasUsed"]))
            self.bus.publish({"kind": "window_committed", "beast_id": run.beast_id, "window": row.window,
                              "global_step": row.global_step, "loss": row.loss_sum, "commit_tx": signed.tx_hash,
                              "energy_burn": row.energy_burn, "commit_latency_ms": latency_ms, "time_unix_ms": now})
            crash_point("after_mark_committed")
        return len(items)

    def _ensure_stake(self, total_burn: int) -> bool:
        """The stake check of a batch (node.staking), read from the chain only when this batch burns more
        than the last checked one: the stake only shrinks by a slash or an unstake, and a batch signed
        against a shrunk stake fails its preflight, which checks again (_commit_batch_timed). Returns
        whether it read the chain."""
        if total_burn <= self._stake_ok:
            return False
        ensure_stake(self.ledger, self.stake, total_burn)
        self._stake_ok = total_burn
        return True

    def _sign(self, what: str, pairs: list[tuple[int, bytes]]) -> SignedTx:
        """Sign the commit of ``pairs``: calldata encoded here and sent raw (node.raw_rpc) with the bounded
        gas of a batch; through web3 with a gas estimate when the client does not use fixed gas."""
        client = self.ledger.client
        access_list = self.ledger.commit_access_list(pairs)
        if not client.fixed_gas:
            return client.sign(what, self.ledger.commit_call(pairs), gas=None, access_list=access_list)
        return client.sign_data(what, self.ledger.ledger.address, self.ledger.commit_data(pairs),
                                gas=self.ledger.commit_gas(len(pairs)), access_list=access_list)

    def finalize_due(self, runs: list[BeastRun], max_batch: int = 64) -> int:
        """Finalize committed windows whose challenge period has passed; returns how many."""
        t0 = time.perf_counter()
        head = self.ledger.block_number()
        due: list[tuple[BeastRun, WindowRow]] = []
        for run in runs:
            # In order, up to the first window that cannot be finalized yet: the ledger finalizes a
            # window only after its parent (CheckpointLedger 3.0.0), so one challenged window holds
            # back every later one of its beast until its games end.
            for row in run.store.with_status(COMMITTED):
                if row.block is not None and head <= row.block + self._challenge_period():
                    break
                cs = self.ledger.status(run.beast_id, row.window)
                if cs == WindowStatus.FINALIZED:  # someone else finalized it (anyone may)
                    run.store.mark_status(row.window, FINALIZED)
                    continue
                if cs in (WindowStatus.VOIDED, WindowStatus.SLASHED):
                    # shown false (or built on a window shown false): node.rewind takes the lineage back
                    run.store.mark_status(row.window, DISPUTED)
                    run.store.event("disputed", window=row.window, chain_status=int(cs))
                    break
                if cs != WindowStatus.COMMITTED or head <= self.ledger.challenge_deadline(run.beast_id, row.window):
                    break  # challenged (games open), or still inside its challenge period
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


__all__ = ["Committer"]
