"""A py-evm backend that finds a transaction by its hash through the chain's index, not by a scan.

eth-tester's PyEVMBackend looks up a transaction (``eth_getTransactionByHash``,
``eth_getTransactionReceipt``) by walking every block back from the head and hashing every
transaction in it, and ``eth_getLogs`` asks for the receipt of every transaction in its block
range: on a devnet that has mined N blocks a log query costs O(N^2) keccaks, so every poll of a
long-lived devnet (a watcher's, a defender's, ``cb-dispute status``) gets slower with each block.
py-evm already keeps a hash -> (block number, index) lookup for the canonical chain
(``ChainDB.get_transaction_index``); this backend reads it, checks that the canonical block at
that number holds the transaction at that index, and falls back to eth-tester's own search when
the index has no (or a stale) answer: the pending block, a hash the chain does not know, a
transaction of blocks a revert to a snapshot abandoned. Same results, same chain; only the lookup differs.
"""

from __future__ import annotations

from typing import Any

from eth.exceptions import BlockNotFound, HeaderNotFound, TransactionNotFound
from eth_tester import PyEVMBackend
from eth_tester.backends.pyevm.main import _get_transaction_by_hash
from eth_tester.backends.pyevm.serializers import serialize_transaction, serialize_transaction_receipt


def find_transaction(chain: Any, transaction_hash: bytes) -> tuple[Any, Any, int]:
    """(block, transaction, index) of ``transaction_hash``: the pending block first (as eth-tester does), then
    the canonical index, then eth-tester's scan (which raises its TransactionNotFound for an unknown hash)."""
    head = chain.get_block()
    for index, tx in enumerate(head.transactions):
        if tx.hash == transaction_hash:
            return head, tx, index
    try:
        number, index = chain.chaindb.get_transaction_index(transaction_hash)
        block = chain.get_canonical_block_by_number(number)
    except (TransactionNotFound, HeaderNotFound, BlockNotFound):
        return _get_transaction_by_hash(chain, transaction_hash)
    # After a revert to a snapshot the number -> block lookups above the new head stay in the database:
    # only blocks below the pending one are the chain's (eth-tester's scan starts there too).
    if number < head.number and index < len(block.transactions) and block.transactions[index].hash == transaction_hash:
        return block, block.transactions[index], index
    return _get_transaction_by_hash(chain, transaction_hash)  # a stale entry: search as eth-tester does


class IndexedBackend(PyEVMBackend):  # type: ignore[misc]
    """PyEVMBackend whose transaction and receipt lookups use the canonical index (module docstring)."""

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, tx, index = find_transaction(self.chain, transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return serialize_transaction(block, tx, index, is_pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, tx, index = find_transaction(self.chain, transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return serialize_transaction_receipt(block, receipts, tx, index, is_pending, self.chain.get_vm())


__all__ = ["IndexedBackend", "find_transaction"]
