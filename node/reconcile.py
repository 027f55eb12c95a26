"""Bringing a beast's local window index in line with the ledger when the node starts.

The training and commit order (:mod:`node.training`, :mod:`node.committing`) leaves every
window in one of these local states after a crash: ``persisted`` (checkpoint written, nothing
sent), ``sent`` (signed transaction recorded, maybe broadcast, maybe mined), ``committed`` or
``finalized``. :func:`reconcile` settles each against the chain, after :func:`drop_lost` dropped a
``persisted`` window a power loss left without its checkpoint file (it was never sent):

* a ``persisted`` or ``sent`` window the ledger holds is marked ``committed`` -- after checking
  that the ledger's word equals ours;
* a ``sent`` window the ledger does not hold is waited for while its transaction is still
  pending, else set back to ``persisted`` (and committed again: the ledger's order check makes a
  late duplicate revert, never double-commit);
* the newest settled window both sides claim must carry the same word (a different chain, a
  reset devnet or another trainer's lineage is caught by one call);
* a window the ledger holds but the node has no state for, or a ``committed`` window the ledger
  lacks, is a loud ReconcileError: another trainer committed for the beast, local data was
  lost, or the chain was reset. The node never guesses in those cases.
"""

from __future__ import annotations

from collections.abc import Callable

from node.beast_run import BeastRun
from node.errors import DataError, ReconcileError, TxDroppedError, TxRevertedError
from node.ledger import Ledger
from node.store import COMMITTED, DISPUTED, FINALIZED, PERSISTED, SENT, WindowRow


def drop_lost(run: BeastRun, log: Callable[[str], None]) -> list[int]:
    """Drop the ``persisted`` windows whose checkpoint file is missing, partial or not the state the row
    names, and every window after them; returns the windows dropped.

    Only a power loss leaves such a row: a trained round's files and rows are synced together right
    before their commit's broadcast (node.store.persist_round), so a ``persisted`` window was never
    sent and nobody outside the node has seen it. It is trained again. A ``sent`` or later window
    is never dropped: its file was synced before its transaction left the node.
    """
    store = run.store
    for row in store.with_status(PERSISTED):
        try:
            store.load_state(row.window)
        except DataError as exc:
            gone = [r.window for r in store.drop_after(row.window - 1)]
            store.event("checkpoint_lost", window=row.window, dropped=gone, reason=str(exc))
            log(f"beast {run.beast_id}: window {row.window} lost its checkpoint before it was sent ({exc}); "
                f"dropped windows {gone} to train them again")
            run.forget()
            return gone
    return []


def reconcile(run: BeastRun, ledger: Ledger, log: Callable[[str], None]) -> dict[str, int]:
    """Bring the local index of ``run`` in line with the ledger; returns counts of what changed."""
    bid, store = run.beast_id, run.store
    lost = len(drop_lost(run, log))
    count = ledger.window_count(bid)
    latest = store.latest()
    local_max = latest.window if latest else 0
    if count > local_max:
        raise ReconcileError(
            f"beast {bid}: the ledger holds {count} windows but this node has states up to window {local_max}; "
            "another trainer committed for this beast or local checkpoints were lost")
    changed = {"marked_committed": 0, "requeued": 0, "dropped_lost": lost}
    rows = store.rows(1)
    # The newest window both sides claim must carry the same word: one call that catches a
    # different chain, a reset devnet, or another trainer's lineage.
    settled = [r for r in rows if r.window <= count and r.status in (COMMITTED, FINALIZED, DISPUTED)]
    check = {r.window for r in rows if r.window <= count and r.status in (PERSISTED, SENT)}
    if settled:
        check.add(settled[-1].window)
    for row in rows:
        if row.window in check:
            chain_word = ledger.word(bid, row.window)
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
            # Not on chain. Still pending at the node: wait for it. Gone: commit it again.
            if settle_sent(run, row, ledger):
                changed["marked_committed"] += 1
            else:
                changed["requeued"] += 1
        elif row.status in (COMMITTED, FINALIZED):
            raise ReconcileError(f"beast {bid} window {row.window} is {row.status} locally but the ledger holds "
                                 f"only {count} windows (chain reset or reorganized?)")
    if any(changed.values()):
        log(f"beast {bid}: reconciled {changed}")
    return changed


def settle_sent(run: BeastRun, row: WindowRow, ledger: Ledger) -> bool:
    """Resolve a ``sent`` window missing on chain: True when it got committed, False when requeued."""
    client = ledger.client
    rcpt = client.receipt(row.tx_hash)
    if rcpt is None and client.known(row.tx_hash):
        try:
            rcpt = client.wait(row.tx_hash, f"commit of window {row.window}", nonce=row.tx_nonce)
        except (TxDroppedError, TxRevertedError):
            rcpt = None
    if rcpt is not None and int(rcpt["status"]) == 1 and ledger.window_count(run.beast_id) >= row.window:
        run.store.mark_status(row.window, COMMITTED, block=int(rcpt["blockNumber"]))
        return True
    run.store.mark_status(row.window, PERSISTED, tx_hash="")
    run.store.event("requeued", window=row.window, tx=row.tx_hash)
    client.resync_nonce()
    return False


__all__ = ["drop_lost", "reconcile", "settle_sent"]
