"""Resolving a dispute (anyone may, once the contract's rule allows it) and claiming the caller's credit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from devnet.bindings import ChainBeasts, Outcome
from validator.dispute.connection import chain_call
from validator.dispute.errors import RefusedError
from validator.dispute.formatting import format_energy
from validator.dispute.status import dispute_status


def resolve(chain: ChainBeasts, account: LocalAccount, dispute_id: int) -> tuple[Outcome, int]:
    """Resolve a dispute; returns (outcome, gas used)."""
    r = chain_call(f"resolving dispute {dispute_id}", lambda: chain.resolve_tx(account, dispute_id))
    return Outcome(int(r.event("DisputeResolved").args["outcome"])), r.gas_used


@dataclass(frozen=True)
class ClaimResult:
    """What ``claim`` did: an optional resolve, then the transfer of the caller's credit."""

    account: str
    amount: int
    resolved: Outcome | None  # the outcome when this call resolved the dispute
    outcome: Outcome | None  # the dispute's outcome (when an id was given)
    gas: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "amount": str(self.amount), "amountEnergy": format_energy(self.amount),
                "resolvedNow": self.resolved.name.lower() if self.resolved is not None else None,
                "outcome": self.outcome.name.lower() if self.outcome is not None else None, "gas": self.gas}


def claim(chain: ChainBeasts, account: LocalAccount, dispute_id: int | None = None) -> ClaimResult:
    """Resolve ``dispute_id`` when it is resolvable and still open, then claim the caller's credit."""
    gas: dict[str, int] = {}
    resolved: Outcome | None = None
    outcome: Outcome | None = None
    if dispute_id is not None:
        st = dispute_status(chain, dispute_id)
        if st.open:
            if not st.resolvable:
                raise RefusedError(
                    f"dispute {dispute_id} is still open ({st.info.agree} agree, {st.info.against} against, quorum "
                    f"{st.quorum}); voting ends after block {st.info.voting_deadline}, the chain is at block {st.block}")
            resolved, gas["resolve"] = resolve(chain, account, dispute_id)
            outcome = resolved
        else:
            outcome = st.info.outcome
    credit = chain_call("reading the credit", lambda: chain.credit_of(account.address))
    if credit == 0:
        what = f" from dispute {dispute_id} ({outcome.name.lower()})" if dispute_id is not None and outcome else ""
        if resolved is not None:
            return ClaimResult(account.address, 0, resolved, outcome, gas)
        raise RefusedError(f"nothing to claim{what} for {account.address}")
    r = chain_call("claiming", lambda: chain.claim_tx(account))
    gas["claim"] = r.gas_used
    amount = int(r.event("Claimed").args["amount"])
    return ClaimResult(account.address, amount, resolved, outcome, gas)


__all__ = ["ClaimResult", "claim", "resolve"]
