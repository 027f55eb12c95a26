"""SignedTx: a signed transaction ready to broadcast.

Apart from node.chain (which re-exports it) so that node.hatch_journal, read by `cb-node status`,
does not import web3.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction ready to broadcast: its hash, nonce and raw bytes (hex)."""

    tx_hash: str
    nonce: int
    raw: str
    gas: int
