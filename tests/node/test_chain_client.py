"""ChainClient on a real py-evm devnet: decoded contract errors, status-0 receipts, replaced and
dropped transactions (and the engine recommitting after them), RPC retries, torch backend parity."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain import ChainClient
from node.embedded import embedded_chain
from node.errors import EXIT_CHAIN, ChainError, DataError, TxDroppedError, TxRevertedError
from node.ledger import Ledger
from node.store import COMMITTED, PERSISTED
from node.trainer import Engine

from tests.node.conftest import Trained


def test_reverts_are_decoded_before_sending(trained: Trained) -> None:
    bid = trained.run.beast_id
    word = trained.run.store.get(1).word  # window 1 again: out of order
    with pytest.raises(TxRevertedError) as info:
        trained.ledger.client.sign("commit", trained.ledger.commit_call([(bid, word)]), gas=180_000)
    assert "LedgerStepOutOfOrder" in str(info.value) and info.value.exit_code == EXIT_CHAIN
    with pytest.raises(TxRevertedError) as info:  # the estimate path decodes too
        trained.ledger.client.sign("commit", trained.ledger.commit_call([(bid, word)]))
    assert "LedgerStepOutOfOrder" in str(info.value)


def test_status_zero_receipt_is_decoded_from_a_replay(trained: Trained) -> None:
    client = trained.ledger.client
    bid = trained.run.beast_id
    word = trained.run.store.get(1).word
    signed = client.sign("commit", trained.ledger.commit_call([(bid, word)]), gas=180_000, preflight=False)
    client.broadcast(signed)
    with pytest.raises(TxRevertedError) as info:
        client.wait(signed, "commit")
    assert "LedgerStepOutOfOrder" in info.value.reason and info.value.tx_hash == signed.tx_hash


def test_replaced_transaction_is_detected_and_the_window_recommitted(tmp_path: Path) -> None:
    chain = embedded_chain()
    try:
        client = ChainClient(chain.w3, chain.accounts[1], decoder=chain.decoder, replaced_after_s=0.2)
        engine = Engine(tmp_path, Ledger(client, chain.contracts))
        run = engine.hatch()
        row = engine.train_next([run])[0]
        call = engine.ledger.commit_call([(run.beast_id, row.word)])
        signed = client.sign("commit", call, gas=180_000)
        run.store.mark_sent(row.window, signed.tx_hash, signed.nonce, signed.raw)
        # Another transaction takes the same nonce before ours is broadcast.
        other = client.sign("approve", engine.ledger.energy.functions.approve(engine.ledger.ledger.address, 1),
                            gas=120_000, nonce=signed.nonce)
        client.broadcast(other)
        client.wait(other)
        with pytest.raises(TxDroppedError):
            client.wait(signed, "commit")
        # Restart logic: the sent window is not on chain and its tx is gone -> requeued, recommitted.
        engine.runs.clear()
        run = engine.open(run.beast_id)
        assert engine.reconcile(run)["requeued"] == 1 and run.store.get(1).status == PERSISTED
        assert engine.commit_pending([run]) == 1
        assert run.store.get(1).status == COMMITTED and engine.ledger.word(run.beast_id, 1) == row.word
    finally:
        chain.close()


def test_unreachable_rpc_is_a_chain_error_after_retries(trained: Trained) -> None:
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 1}))
    client = ChainClient(w3, trained.chain.accounts[1], retries=2, backoff_s=0.01)
    with pytest.raises(ChainError) as info:
        client.chain_nonce()
    assert "3 attempts" in str(info.value) and info.value.exit_code == EXIT_CHAIN


def test_torch_backend_commits_the_reference_words(trained: Trained, tmp_path: Path) -> None:
    """A node on the torch backend produces the numpy node's words for the same beast."""
    src = trained.run.store
    torch_engine = Engine(tmp_path, trained.ledger, backend="torch")
    state = src.load_state(0)
    from kernel.train import train_window

    for w in (1, 2):
        res = train_window(state, trained.run.source, epoch_seed=trained.ledger.epoch_seed(trained.run.beast_id, 0),
                           backend=torch_engine.backend)
        assert res.payload.pack() == src.get(w).word
        state = res.state


def test_authorized_trainer_adopts_a_public_beast(trained: Trained, tmp_path: Path) -> None:
    """A hired trainer (authorizeTrainer) trains a beast another account hatched."""
    cb = trained.chain.bindings
    owner, trainer = trained.chain.accounts[2], trained.chain.accounts[3]
    bid = cb.hatch(owner)
    engine = Engine(tmp_path, Ledger(ChainClient(trained.chain.w3, trainer, decoder=trained.chain.decoder),
                                     trained.chain.contracts))
    with pytest.raises(DataError) as info:
        engine.open(bid)
    assert "not its authorized trainer" in str(info.value)
    cb.authorize_trainer(owner, bid, trainer.address)
    run = engine.open(bid)
    engine.reconcile(run)
    engine.step([run])
    assert engine.ledger.window_count(bid) == 1 and run.store.get(1).status == COMMITTED


def test_a_large_commit_batch_carries_its_access_list(trained: Trained, tmp_path: Path) -> None:
    """From about eight windows per transaction the node names the slots a commitMany touches."""
    engine = Engine(tmp_path, trained.ledger)
    runs = [engine.hatch() for _ in range(12)]
    engine.step(runs)
    hashes = {run.store.get(1).tx_hash for run in runs}
    assert len(hashes) == 1 and all(run.store.get(1).status == COMMITTED for run in runs)
    tx = trained.chain.w3.eth.get_transaction(hashes.pop())  # type: ignore[arg-type]
    listed = {e["address"]: len(e["storageKeys"]) for e in tx["accessList"]}
    # The ledger: 12 window slots (first windows have no k-1) and the deposit; Beast: 12 owners.
    assert listed == {trained.ledger.ledger.address: 13, trained.ledger.beast.address: 12}
    # A single window goes without one (the list would cost more than it saves).
    engine.step(runs[:1])
    single = trained.chain.w3.eth.get_transaction(runs[0].store.get(2).tx_hash)  # type: ignore[arg-type]
    assert not single.get("accessList")


def test_hatch_journal_finishes_or_drops_interrupted_hatches(trained: Trained, tmp_path: Path) -> None:
    """A hatch signed but never sent is finished on recovery; one whose nonce went elsewhere is dropped."""
    from node.hatch_journal import PendingHatch

    client = ChainClient(trained.chain.w3, trained.chain.accounts[0], decoder=trained.chain.decoder)
    engine = Engine(tmp_path, Ledger(client, trained.chain.contracts))
    zero = "0x" + "00" * 32

    def record() -> PendingHatch:
        s = engine.ledger.sign_hatch(bytes(32), bytes(32))
        p = PendingHatch(s.tx_hash, s.nonce, s.raw, s.gas, zero, zero)
        engine.hatches.record(p)
        assert (engine.hatches.folder / f"{s.tx_hash}.json").stat().st_mode & 0o777 == 0o600
        return p

    # Signed, recorded, never broadcast (the node died): `cb-node status` shows it, recovery
    # sends the same bytes.
    first = record()
    from node.config import NodeConfig
    from node.daemon import format_status, status

    doc = status(NodeConfig(path=tmp_path / "node.toml", data_dir=tmp_path), chain=False)
    assert doc["pendingHatches"] == [first.tx_hash] and f"interrupted hatch {first.tx_hash}" in format_status(doc)
    before = trained.chain.bindings.beast.functions.totalHatched().call()
    runs = engine.recover_hatches()
    assert [r.meta.hatch_tx for r in runs] == [first.tx_hash]
    assert trained.chain.bindings.beast.functions.totalHatched().call() == before + 1
    assert engine.hatches.pending() == [] and runs[0].store.get(0) is not None
    # Signed and recorded, then its nonce is spent by another transaction: dropped, nothing minted.
    record()
    client.resync_nonce()
    ledger = engine.ledger
    client.transact("Energy.approve", ledger.energy.functions.approve(ledger.ledger.address, 1), gas=100_000)
    assert engine.recover_hatches() == []
    assert engine.hatches.pending() == []
    assert trained.chain.bindings.beast.functions.totalHatched().call() == before + 1


def test_a_broadcast_retried_after_its_answer_was_lost_counts_as_sent(trained: Trained) -> None:
    """py-evm answers a transaction it already mined with "Invalid transaction nonce: Expected N, but got M"
    (not "nonce too low"): a broadcast retried after a lost answer (node.chain's retries, an RPC outage)
    is sent, and a nonce another transaction took is a TxDroppedError, as on other nodes."""
    client, ledger = trained.ledger.client, trained.ledger
    approve = ledger.energy.functions.approve(ledger.ledger.address, 1)
    signed = client.sign("approve", approve, gas=120_000)
    client.broadcast(signed)
    client.wait(signed)
    assert client.broadcast(signed) == signed.tx_hash  # again: already mined, so sent
    mine = client.sign("approve", approve, gas=120_000)
    other = client.sign("approve", ledger.energy.functions.approve(ledger.ledger.address, 2), gas=120_000,
                        nonce=mine.nonce)
    client.broadcast(other)
    client.wait(other)
    with pytest.raises(TxDroppedError, match="already used by another"):
        client.broadcast(mine)
