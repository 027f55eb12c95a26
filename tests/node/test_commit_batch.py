"""commitMany batches sized to what one transaction may carry (issue 16): the block gas limit and the
2^24 per-transaction cap (EIP-7825), read from the real embedded chain."""

from __future__ import annotations

from devnet.tx import TX_GAS_CAP
from node.ledger import Ledger
from tests.node.conftest import Trained


def test_batch_is_the_most_windows_one_transaction_may_carry(trained: Trained) -> None:
    committer = trained.engine.committer
    n = committer.batch_size()
    limit = int(trained.chain.w3.eth.get_block("latest")["gasLimit"])
    cap = min(limit, TX_GAS_CAP)
    assert Ledger.commit_gas(n) <= cap < Ledger.commit_gas(n + 1)
    assert n > 64  # more than the fixed 64 the node used before, on this chain
    assert committer.batch_size() == n  # read once

