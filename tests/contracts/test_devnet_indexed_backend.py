"""devnet.indexed_backend: transactions found through py-evm's canonical index give what eth-tester's scan gives.

The devnet (devnet.start, cb-devnet up's py-evm engine) and the contract tests' chains use this backend so
that a log query or a receipt on a long-lived chain costs the same at block 500 as at block 5; these
tests pin that it answers exactly as the stock lookup does, on the pending block, on mined blocks, for an
unknown hash and across a revert to a snapshot (whose abandoned transactions are no longer found).
"""

from __future__ import annotations

import pytest
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import _get_transaction_by_hash
from eth_tester.exceptions import TransactionNotFound

from devnet.indexed_backend import IndexedBackend, find_transaction


@pytest.fixture
def tester() -> EthereumTester:
    return EthereumTester(IndexedBackend(genesis_parameters=PyEVMBackend.generate_genesis_params()))


def send(t: EthereumTester, value: int) -> str:
    a, b = t.get_accounts()[:2]
    return t.send_transaction({"from": a, "to": b, "value": value, "gas": 21_000})


def same_as_stock(t: EthereumTester, tx_hash: str) -> None:
    raw = bytes.fromhex(tx_hash[2:])
    block, tx, index = find_transaction(t.backend.chain, raw)
    stock_block, stock_tx, stock_index = _get_transaction_by_hash(t.backend.chain, raw)
    assert (block.hash, tx.hash, index) == (stock_block.hash, stock_tx.hash, stock_index)
    receipt = t.get_transaction_receipt(tx_hash)
    assert receipt["block_number"] == block.number and receipt["transaction_index"] == index
    assert t.get_transaction_by_hash(tx_hash)["hash"] == tx_hash


def test_mined_and_pending_transactions_are_found_where_the_scan_finds_them(tester: EthereumTester) -> None:
    hashes = [send(tester, v) for v in range(1, 6)]  # auto-mined: one block each
    tester.mine_blocks(3)
    for h in hashes:
        same_as_stock(tester, h)
    tester.disable_auto_mine_transactions()
    pending = send(tester, 99)
    with pytest.raises(TransactionNotFound):  # pending: not mined yet, so no receipt (as eth-tester says)
        tester.get_transaction_receipt(pending)
    assert tester.get_transaction_by_hash(pending)["hash"] == pending
    tester.enable_auto_mine_transactions()
    same_as_stock(tester, pending)
    # The log query reads every receipt of its range through the same lookup.
    assert tester.get_logs(from_block=0) == ()


def test_an_unknown_hash_and_a_reverted_transaction_are_not_found(tester: EthereumTester) -> None:
    with pytest.raises(TransactionNotFound):
        tester.get_transaction_receipt("0x" + "ab" * 32)
    kept = send(tester, 1)
    snap = tester.take_snapshot()
    dropped = send(tester, 2)
    same_as_stock(tester, dropped)
    tester.revert_to_snapshot(snap)
    with pytest.raises(TransactionNotFound):
        tester.get_transaction_receipt(dropped)
    replacement = send(tester, 3)  # the same block number and index as the dropped one, another transaction
    same_as_stock(tester, replacement)
    same_as_stock(tester, kept)
    assert tester.get_transaction_receipt(replacement)["block_number"] == tester.get_transaction_receipt(kept)["block_number"] + 1
