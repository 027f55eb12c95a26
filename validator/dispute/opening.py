"""Opening a dispute: refuse what would revert, approve the bond, post openDispute with the curriculum.

The calldata carries S_owner for a private beast; an error message that could echo it is redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from devnet.bindings import ChainBeasts
from kernel.state import ZERO32
from validator.dispute.connection import chain_call
from validator.dispute.curriculum import Curriculum
from validator.dispute.errors import DisputeToolError, RefusedError
from validator.dispute.formatting import format_energy
from validator.dispute.window import WindowOnChain


@dataclass(frozen=True)
class OpenResult:
    """A dispute that was opened: its id, the bond posted and the transactions sent."""

    dispute_id: int
    bond: int
    voting_deadline: int
    tx_hash: str
    block: int
    gas: dict[str, int]  # transaction name -> gas used

    def to_json(self) -> dict[str, Any]:
        return {"disputeId": self.dispute_id, "bond": str(self.bond), "bondEnergy": format_energy(self.bond),
                "votingDeadline": self.voting_deadline, "txHash": self.tx_hash, "block": self.block, "gas": self.gas}


def preflight_open(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain) -> None:
    """Refuse (RefusedError) a dispute that would revert: window state, challenge period, balance."""
    if not w.disputable:
        raise RefusedError(f"cannot dispute: {w.why_not_disputable()}; nothing was sent")
    balance = chain_call("reading the ENERGY balance", lambda: chain.balance_of(account.address))
    if balance < w.bond:
        raise RefusedError(f"the bond is {format_energy(w.bond)} but {account.address} holds {format_energy(balance)}; "
                           f"nothing was sent")


def open_dispute(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain, cur: Curriculum | None) -> OpenResult:
    """Approve the dispute game for the bond (when needed) and post openDispute with dataset and secret."""
    preflight_open(chain, account, w)
    game = chain.addresses["DisputeGame"]
    gas: dict[str, int] = {}
    allowance = chain_call("reading the allowance", lambda: chain.allowance(account.address, game))
    if allowance < w.bond:
        r = chain_call("approving the bond", lambda: chain.approve(account, game, w.bond))
        gas["approve"] = r.gas_used
    dataset = cur.dataset if cur else b""
    secret = cur.owner_secret if cur else ZERO32
    try:
        r = chain_call("openDispute", lambda: chain.open_dispute_tx(account, w.beast_id, w.index, dataset, secret))
    except DisputeToolError as exc:
        # A client error could echo the transaction's calldata, which carries S_owner.
        if cur is not None and cur.owner_secret.hex() in str(exc).lower():
            raise type(exc)(re.sub(cur.owner_secret.hex(), "<redacted>", str(exc), flags=re.I)) from None
        raise
    gas["openDispute"] = r.gas_used
    ev = r.event("DisputeOpened").args
    return OpenResult(int(ev["disputeId"]), int(ev["bond"]), int(ev["votingDeadline"]), r.tx_hash, r.block_number, gas)



__all__ = ["OpenResult", "open_dispute", "preflight_open"]
