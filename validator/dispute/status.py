"""A dispute as the chain sees it now: votes, quorum, deadline, outcome, credits; and finding one by window.

Whether a dispute can be resolved is the bindings' rule (``DisputeInfo.resolution``, which
mirrors ``DisputeGame.resolve``); votes and openings are the bindings' event queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devnet.bindings import ChainBeasts, DisputeInfo, Outcome, Param, VoteCast
from validator.dispute.connection import chain_call
from validator.dispute.errors import ChainDataError, UsageError
from validator.dispute.formatting import format_energy


@dataclass(frozen=True)
class DisputeStatus:
    """A dispute as the chain sees it now."""

    info: DisputeInfo
    votes: tuple[VoteCast, ...]
    block: int
    quorum: int
    owner: str
    credits: dict[str, int]  # address -> credited, unclaimed ENERGY (challenger, owner, voters)

    @property
    def open(self) -> bool:
        return self.info.outcome == Outcome.OPEN

    @property
    def resolvable(self) -> bool:
        """Whether resolve() would succeed now (a quorum with more votes, or the deadline passed).

        Judged at the latest block read (``block``): one block earlier than the block a resolve
        sent now executes in, so a dispute whose deadline is the latest block reads as not yet
        resolvable.
        """
        return self.info.resolution(self.quorum, self.block) is not None

    @property
    def blocks_left(self) -> int:
        return max(0, self.info.voting_deadline - self.block)

    def to_json(self) -> dict[str, Any]:
        i = self.info
        return {
            "disputeId": i.dispute_id, "beastId": i.beast_id, "window": i.index + 1, "ledgerIndex": i.index,
            "challenger": i.challenger, "owner": self.owner, "bond": str(i.bond), "bondEnergy": format_energy(i.bond),
            "word": "0x" + i.word.hex(), "agree": i.agree, "against": i.against, "quorum": self.quorum,
            "votingDeadline": i.voting_deadline, "block": self.block, "blocksLeft": self.blocks_left,
            "outcome": i.outcome.name.lower(), "resolvable": self.resolvable,
            "votes": [{"validator": v.validator, "computedWord": "0x" + v.computed_word.hex(), "agrees": v.agrees,
                       "block": v.block_number} for v in self.votes],
            "credits": {a: str(c) for a, c in self.credits.items()},
        }


def find_dispute(chain: ChainBeasts, beast_id: int, window: int) -> int:
    """The id of the latest dispute opened on window ``window`` (K >= 1) of ``beast_id``."""
    if beast_id < 1 or window < 1:
        raise UsageError("--beast and --window must be >= 1")
    ids = chain_call(f"searching disputes of beast {beast_id} window {window}", lambda: chain.disputes_on(beast_id, window - 1))
    if not ids:
        raise ChainDataError(f"no dispute was opened on beast {beast_id} window {window}")
    return ids[-1]


def dispute_status(chain: ChainBeasts, dispute_id: int) -> DisputeStatus:
    """Votes so far, deadline, outcome and credits of a dispute."""
    if dispute_id < 1:
        raise UsageError(f"dispute id must be >= 1, got {dispute_id}")
    info = chain_call(f"reading dispute {dispute_id}", lambda: chain.dispute(dispute_id))
    votes = chain_call(f"reading the votes of dispute {dispute_id}", lambda: chain.votes_cast(dispute_id))
    block = chain_call("reading the block number", chain.block_number)
    quorum = chain_call("reading the quorum", lambda: chain.param(Param.VALIDATOR_QUORUM))
    owner = chain_call("reading the beast owner", lambda: chain.owner_of(info.beast_id))
    who = [info.challenger, owner] + [v.validator for v in votes]
    credits = {a: chain_call("reading credits", lambda a=a: chain.credit_of(a)) for a in dict.fromkeys(who)}
    return DisputeStatus(info, tuple(votes), block, quorum, owner, credits)


__all__ = ["DisputeStatus", "dispute_status", "find_dispute"]
