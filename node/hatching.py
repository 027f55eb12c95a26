"""Hatching a beast on chain, finishing interrupted hatches, and adopting a beast hatched elsewhere.

Order of operations of a hatch (each step durable before the next starts):

1. sign the hatch transaction locally (its hash and nonce are known before broadcast);
2. record the signed bytes in the hatch journal (``DATA_DIR/hatching/<tx>.json``, atomic);
3. broadcast them and wait for the receipt (the request: Beast 3.0.0 reserves the id), then
   send ``finalizeHatch`` unless someone already did (it lands in a later block; seedCore takes
   the request block's hash, docs/PROTOCOL.md §2);
4. write ``beast.json`` (atomic), then the genesis checkpoint and its index row;
5. forget the journal record.

Crash safety: a node killed before 2 has sent nothing; killed after 2, the next start finds the
record (:meth:`Hatchery.recover`) and broadcasts the same signed bytes again if the chain never
saw them -- one nonce, so at most one beast is minted -- then finishes 3's finalize, 4 and 5, which are
idempotent (beast.json is rewritten with the same content, genesis is written only when its row
is missing). A record whose nonce went to another transaction, or whose hatch reverted, is
dropped with a log line. So a killed hatch never loses the beast nor mints a second one.

Adoption (a public beast whose owner called ``authorizeTrainer`` for this key) writes only
``beast.json``; windows already on chain without their states make the following reconcile fail
loudly (:mod:`node.reconcile`), as they must.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from curriculum.errors import CurriculumError
from devnet.records import Param
from kernel.params import KernelParams
from kernel.state import ZERO32
from node.beast_meta import BeastMeta
from node.beast_run import write_genesis
from node.crash import crash_point
from node.errors import ChainError, DataError, TxDroppedError, TxRevertedError
from node.hatch_journal import HatchJournal, PendingHatch
from node.ledger import Ledger
from node.store import BeastStore, beast_dir


class Hatchery:
    """Hatches, finishes interrupted hatches and adopts beasts into the run directories under ``data_dir``."""

    def __init__(self, data_dir: Path, ledger: Ledger, journal: HatchJournal, params: Callable[[], KernelParams],
                 log: Callable[[str], None]) -> None:
        self.data_dir = Path(data_dir)
        self.ledger = ledger
        self.journal = journal
        self.params = params  # the season's kernel parameters (read from the chain on first use)
        self.log = log

    def hatch(self, dataset_path: Path | None = None, secret_path: Path | None = None) -> int:
        """Hatch a beast (with a private curriculum when both files are given); returns its id.

        The beast gets the deployment's spec version (Beast.SPEC_VERSION); on a version 2
        deployment a private beast also commits to its records root R_dataset, computed here
        from the checked file. The signed transaction is journaled before it is broadcast
        (module docstring).
        """
        dataset_c = secret_c = records_r = ZERO32
        if (dataset_path is None) != (secret_path is None):
            raise DataError("a private curriculum needs both --dataset and --secret-file")
        if dataset_path is not None and secret_path is not None:
            from curriculum.files import load_dataset
            from curriculum.secret import read_secret_file

            try:
                # A dataset the game would refuse in openDispute (over the season's maxDatasetBytes)
                # or one no validator can decode would make every window of the beast undisputable.
                max_bytes = self.ledger.season_value(Param.MAX_DATASET_BYTES)
                dataset = load_dataset(dataset_path, max_bytes=max_bytes, cache_dir=self.data_dir / "cache")
                secret_c = read_secret_file(secret_path).commitment
                if self.ledger.spec_version() >= 2:
                    from curriculum.records import records_root

                    records_r = records_root(dataset)
            except CurriculumError as exc:
                raise DataError(f"cannot use the private curriculum: {exc}") from exc
            dataset_c = dataset.commitment
        signed = self.ledger.sign_hatch(dataset_c, secret_c, records_r)
        pending = PendingHatch(
            signed.tx_hash, signed.nonce, signed.raw, signed.gas, "0x" + dataset_c.hex(), "0x" + secret_c.hex(),
            str(Path(dataset_path).resolve()) if dataset_path is not None else None,
            str(Path(secret_path).resolve()) if secret_path is not None else None)
        return self._start([pending])[0]

    def hatch_many(self, count: int) -> list[int]:
        """Hatch ``count`` public beasts with their transactions in flight together; returns their ids.

        The order of :meth:`hatch` for each beast, a phase at a time for all of them: every request
        signed (consecutive nonces; the first one's preflight raises a revert before anything is
        recorded) and journaled, each record durable before any is broadcast; then all broadcast and
        their receipts awaited; then every ``finalizeHatch`` sent and awaited (in blocks after the
        requests'); then each run directory written and its record forgotten. A node killed anywhere
        finishes every recorded hatch on restart (:meth:`recover`), so none is lost or minted twice.
        One request after another took about a fifth of a second per beast on anvil (docs/PERFORMANCE.md).
        """
        if count < 1:
            return []
        zero = "0x" + ZERO32.hex()
        pendings = []
        try:
            for i in range(count):
                signed = self.ledger.sign_hatch(ZERO32, ZERO32, ZERO32, preflight=i == 0)
                pendings.append(PendingHatch(signed.tx_hash, signed.nonce, signed.raw, signed.gas, zero, zero))
        except BaseException:
            self.ledger.client.resync_nonce()  # nothing was recorded or sent: the nonces signed so far are free
            raise
        return self._start(pendings)

    def _start(self, pendings: list[PendingHatch]) -> list[int]:
        """Journal the signed hatches (each durable before any broadcast), then finish them."""
        try:
            for pending in pendings:
                self.journal.record(pending)
        except BaseException:
            self.ledger.client.resync_nonce()  # unrecorded hatches are never sent: their nonces are free again
            raise
        crash_point("hatch_after_sign")
        return self._finish_many(pendings)

    def recover(self) -> list[int]:
        """Finish every hatch a killed node left in the journal; returns the ids of the beasts it finished.

        A recorded transaction the chain never saw is broadcast again (the same signed bytes,
        so it can mint at most once). One that can no longer be mined (its nonce went to another
        transaction) or that reverted is dropped from the journal with a log line. All recorded
        hatches are finished together (:meth:`_finish_many`): every one is broadcast, oldest nonce
        first, before any ``finalizeHatch`` is signed, whose nonce would otherwise take the nonce
        of a recorded hatch not yet sent (``run --hatch N`` records N at once).
        """
        client = self.ledger.client
        live = []
        for pending in self.journal.pending():  # oldest nonce first
            rcpt = client.receipt_wire(pending.tx_hash)
            if rcpt is None and not client.known(pending.tx_hash) and client.chain_nonce("latest") > pending.nonce:
                self.log(f"hatch {pending.tx_hash} can no longer be mined (nonce {pending.nonce} was used by "
                         "another transaction); dropped it")
                self.journal.done(pending.tx_hash)
                continue
            live.append(pending)
        while live:
            try:
                ids = self._finish_many(live)
            except (TxDroppedError, TxRevertedError) as exc:  # that hatch's record is dropped: finish the others
                left = {p.tx_hash for p in self.journal.pending()}
                rest = [p for p in live if p.tx_hash in left]
                if len(rest) == len(live):  # nothing was dropped (a finalize failed): the next start tries again
                    self.log(f"the interrupted hatches did not complete ({exc}); the next start tries again")
                    return []
                self.log(f"a hatch did not complete ({exc}); dropped it")
                live = rest
                continue
            for pending, beast_id in zip(live, ids, strict=True):
                self.log(f"finished the interrupted hatch of beast {beast_id} (tx {pending.tx_hash})")
            return ids
        return []

    def _finish_many(self, pendings: list[PendingHatch]) -> list[int]:
        """Finish recorded hatches, a phase at a time: broadcast every one the chain has not mined (oldest nonce
        first), await every receipt, finalize them all, then write each run directory and forget its record."""
        client = self.ledger.client
        sent = False
        for pending in pendings:
            with self._settling(pending):
                if client.receipt_wire(pending.tx_hash) is None:
                    client.broadcast(pending.signed)
                    sent = True
        if sent:
            crash_point("hatch_after_broadcast")
        rcpts = []
        for pending in pendings:
            with self._settling(pending):
                rcpts.append(client.wait(pending.signed, "Beast.hatch", light=True))
        crash_point("hatch_after_mined")
        ids = self.ledger.finalize_hatches([self.ledger.hatch_request_id(rcpt) for rcpt in rcpts])
        for pending, beast_id in zip(pendings, ids, strict=True):
            self._write_run(pending, beast_id)
        return ids

    @contextlib.contextmanager
    def _settling(self, pending: PendingHatch) -> Iterator[None]:
        """What a chain failure while sending or awaiting ``pending`` leaves: the nonce read again; a hatch that
        can never be mined (dropped, reverted) forgotten; any other failure keeps the record for the next start."""
        try:
            yield
        except (TxDroppedError, TxRevertedError):
            self.ledger.client.resync_nonce()
            self.journal.done(pending.tx_hash)
            raise
        except ChainError:
            self.ledger.client.resync_nonce()  # the records stay: the next start finishes them
            raise

    def _write_run(self, pending: PendingHatch, beast_id: int) -> None:
        """Write the run directory of a hatched, finalized beast (beast.json, genesis), then forget its record."""
        client = self.ledger.client
        hd = self.ledger.hatch_data(beast_id)
        private = pending.dataset_path is not None and pending.secret_path is not None
        meta = BeastMeta(beast_id, hd, owner=client.address, hatch_tx=pending.tx_hash,
                         dataset_path=pending.dataset_path if private else None,
                         secret_path=pending.secret_path if private else None)
        store = BeastStore(beast_dir(self.data_dir, meta.beast_id), meta.beast_id)
        store.write_meta(meta)
        crash_point("hatch_after_meta")
        g = write_genesis(store, meta, self.params())
        if g is not None:
            extra = {"records_root": "0x" + hd.records_root.hex()} if hd.records_root != ZERO32 else {}
            store.event("hatched", seed_core="0x" + hd.seed_core.hex(), dataset_commitment="0x" + hd.dataset_commitment.hex(),
                        spec_version=hd.spec_version, **extra, h128="0x" + g.h128().hex(), tx=pending.tx_hash)
        store.close()
        self.journal.done(pending.tx_hash)

    def adopt(self, beast_id: int) -> None:
        """Write the run directory of a public beast hatched elsewhere that this key may train."""
        hd = self.ledger.hatch_data(beast_id)
        if hd.dataset_commitment != ZERO32:
            raise DataError(f"beast {beast_id} trains on a private dataset; run `cb-node hatch` on the owner's node "
                            "or copy its run directory (beast.json names the dataset and secret files)")
        if not self.ledger.is_committer(beast_id):
            raise DataError(f"beast {beast_id} was not hatched by this node and {self.ledger.client.address} is not "
                            "its authorized trainer")
        store = BeastStore(beast_dir(self.data_dir, beast_id), beast_id)
        store.write_meta(BeastMeta(beast_id, hd, adopted=True))
        store.event("adopted", seed_core="0x" + hd.seed_core.hex())
        store.close()


__all__ = ["Hatchery"]
