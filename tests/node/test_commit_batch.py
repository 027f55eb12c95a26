"""commitMany batches sized to what one transaction may carry (issue 16): the block gas limit and the
2^24 per-transaction cap (EIP-7825), read from the real embedded chain."""

from __future__ import annotations

import pytest

from devnet.tx import TX_GAS_CAP
from node.errors import ChainError
from node.ledger import _SEAL, Ledger, _two_arrays
from tests.node.conftest import Trained


def test_batch_is_the_most_windows_one_transaction_may_carry(trained: Trained) -> None:
    committer = trained.engine.committer
    n = committer.batch_size()
    limit = int(trained.chain.w3.eth.get_block("latest")["gasLimit"])
    cap = min(limit, TX_GAS_CAP)
    assert Ledger.commit_gas(n) <= cap < Ledger.commit_gas(n + 1)
    assert n > 64  # more than the fixed 64 the node used before, on this chain
    assert committer.batch_size() == n  # read once



def test_commit_calldata_encoded_by_the_node_is_web3s(trained: Trained) -> None:
    # The commit path encodes its calldata itself (node.ledger.commit_data, no web3 on the hot path):
    # byte for byte what web3 encodes from the ABI, for commit and for commitMany of several beasts.
    ledger = trained.engine.ledger
    for items in ([(7, bytes(range(32)))], [(1, b"\x01" * 32), (2**255 + 3, b"\xfe" * 32), (1, bytes(32))]):
        ours = Ledger.commit_data(items)
        theirs = ledger.commit_call(items)._encode_transaction_data()
        assert "0x" + ours.hex() == theirs
    # the epoch seal goes out the same way (Ledger.seal_epoch_seeds)
    keys = [(3, 1), (2**200, 7)]
    ours = _two_arrays(_SEAL, [b for b, _ in keys], [e.to_bytes(32, "big") for _, e in keys])
    theirs = ledger.ledger.functions.sealEpochSeeds([b for b, _ in keys], [e for _, e in keys])._encode_transaction_data()
    assert "0x" + ours.hex() == theirs


def test_a_word_that_is_not_32_bytes_is_refused_before_encoding() -> None:
    with pytest.raises(ChainError, match="32-byte words"):
        Ledger.commit_data([(1, b"\x00" * 31), (2, b"\x00" * 32)])
    with pytest.raises(ChainError, match="31-byte word"):
        Ledger.commit_data([(1, b"\x00" * 31)])
