"""Opening a challenge: refuse what would revert, approve the bond, commit, then reveal one block later.

``commitChallenge(keccak256(abi.encode(me, beast, index, salt)))`` hides which window is challenged
until ``challenge(beast, index, salt)`` reveals it; the reveal must land in a later block than the
commitment. The commitment's receipt is awaited first, so the reveal sent after it cannot land in
the commitment's block. A tool interrupted between the two has spent only the commitment's gas.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from devnet.bindings import ChainBeasts
from devnet.errors import LedgerError
from validator.dispute.connection import chain_call
from validator.dispute.errors import ChainDataError, RefusedError, tool_error
from validator.dispute.formatting import format_energy
from validator.dispute.window import WindowOnChain


@dataclass(frozen=True)
class ChallengeResult:
    """A game that was opened: its id, the bond posted and the transactions sent."""

    game_id: int
    bond: int
    commit_block: int
    tx_hash: str
    block: int
    gas: dict[str, int]  # transaction name -> gas used

    def to_json(self) -> dict[str, Any]:
        return {"gameId": self.game_id, "bond": str(self.bond), "bondEnergy": format_energy(self.bond),
                "commitBlock": self.commit_block, "txHash": self.tx_hash, "block": self.block, "gas": self.gas}


def preflight_challenge(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain) -> None:
    """Refuse (RefusedError) a challenge that would revert: window state, challenge period, balance."""
    if not w.challengeable:
        raise RefusedError(f"cannot challenge: {w.why_not_challengeable()}; nothing was sent")
    balance = chain_call("reading the ENERGY balance", lambda: chain.balance_of(account.address))
    if balance < w.bond:
        raise RefusedError(f"the bond is {format_energy(w.bond)} but {account.address} holds {format_energy(balance)}; "
                           f"nothing was sent")


def _reveal(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain, salt: bytes, commit_block: int,
            wait_s: float = 60.0) -> Any:
    """Send ``challenge``; when the node judged it in the commitment's own block (some estimate gas in the
    latest block), wait for a later block and send it again."""
    from devnet.errors import ContractError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return chain.challenge_tx(account, w.beast_id, w.index, salt)
        except ContractError as exc:
            if exc.name != "GameCommitmentMissing" or int(exc.args_by_name.get("committedAt", 0)) != commit_block:
                raise tool_error("challenge", exc) from None
            chain.sender.resync(account.address)
        except LedgerError as exc:
            raise tool_error("challenge", exc) from None
        while chain_call("reading the block number", chain.block_number) <= commit_block:
            if time.monotonic() > deadline:
                raise ChainDataError(f"no block after the commitment's (block {commit_block}) in {wait_s:.0f} s: the "
                                     "challenge was not revealed (the commitment stays; a new challenge commits again)")
            time.sleep(0.5)


def open_challenge(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain) -> ChallengeResult:
    """Approve the game for the bond (when needed), commit to the challenge, reveal it; returns the game."""
    preflight_challenge(chain, account, w)
    game = chain.addresses["BisectionGame"]
    gas: dict[str, int] = {}
    allowance = chain_call("reading the allowance", lambda: chain.allowance(account.address, game))
    if allowance < w.bond:
        r = chain_call("approving the bond", lambda: chain.approve(account, game, w.bond))
        gas["approve"] = r.gas_used
    salt = secrets.token_bytes(32)
    c = chain_call("commitChallenge", lambda: chain.commit_challenge(account, w.beast_id, w.index, salt))
    gas["commitChallenge"] = c.gas_used
    r = _reveal(chain, account, w, salt, c.block_number)
    gas["challenge"] = r.gas_used
    ev = r.event("GameOpened").args
    return ChallengeResult(int(ev["gameId"]), int(ev["bond"]), c.block_number, r.tx_hash, r.block_number, gas)


__all__ = ["ChallengeResult", "open_challenge", "preflight_challenge"]
