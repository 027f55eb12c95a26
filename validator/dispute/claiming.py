"""Claiming a slashed window's reward: BisectionGame pays it to the winning challenger with the earliest
commitment once no game on the window is open (anyone may send the claim)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from devnet.bindings import ChainBeasts
from validator.dispute.connection import chain_call
from validator.dispute.errors import RefusedError
from validator.dispute.formatting import format_energy


@dataclass(frozen=True)
class ClaimResult:
    """The reward paid: to whom, how much, and the transaction."""

    beast_id: int
    index: int
    to: str
    amount: int
    tx_hash: str
    gas: int

    def to_json(self) -> dict[str, Any]:
        return {"beastId": self.beast_id, "window": self.index + 1, "to": self.to, "amount": str(self.amount),
                "amountEnergy": format_energy(self.amount), "txHash": self.tx_hash, "gas": {"claimReward": self.gas}}


def claim_reward(chain: ChainBeasts, account: LocalAccount, beast_id: int, index: int, stored: int) -> ClaimResult:
    """Send claimReward for the window (ledger ``index``, slot ``stored``); RefusedError when nothing is claimable yet."""
    pot = chain_call("reading the window's pot", lambda: chain.pot_of(beast_id, index, stored))
    if pot.open:
        raise RefusedError(f"{pot.open} game(s) on beast {beast_id} window {index + 1} are still open; the reward is "
                           "paid once all have ended (nothing was sent)")
    if pot.reward == 0:
        why = "it was claimed already" if pot.claimed else "no game on it was won by a challenger"
        raise RefusedError(f"beast {beast_id} window {index + 1} holds no reward: {why} (nothing was sent)")
    r = chain_call("claimReward", lambda: chain.claim_reward(account, beast_id, index, stored))
    ev = r.event("RewardClaimed").args
    return ClaimResult(beast_id, index, str(ev["challenger"]), int(ev["amount"]), r.tx_hash, r.gas_used)


__all__ = ["ClaimResult", "claim_reward"]
