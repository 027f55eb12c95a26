"""Opening a challenge: refuse what would revert, approve the bond, commit, then reveal one block later.

``commitChallenge(keccak256(abi.encode(me, beast, index, salt)))`` hides which window is challenged
until ``challenge(beast, index, salt)`` reveals it; the reveal must land in a later block than the
commitment. The commitment's receipt is awaited first, so the reveal sent after it cannot land in
the commitment's block.

The salt is written to the challenge record (:mod:`validator.dispute.record`, mode 0600) before
commitChallenge is sent, and each step after it is recorded before the next is sent
(:mod:`validator.challenge_salt`, the watcher's code), so a crash or Ctrl-C never loses it: the
same command run again resumes -- it finds the game a mined reveal opened, reveals a mined
commitment, or sends an unmined one again with the same salt -- instead of committing anew behind
anyone who committed meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount

from devnet.bindings import ChainBeasts
from devnet.errors import LedgerError
from validator.challenge_salt import (
    committed_at,
    find_game,
    live_entry,
    new_commitment,
    record_opened,
    salt_of,
    send_commitment,
)
from validator.crash import crash_point
from validator.dispute.connection import chain_call
from validator.dispute.errors import ChainDataError, RefusedError, tool_error
from validator.dispute.formatting import format_energy
from validator.dispute.window import WindowOnChain
from validator.watch_record import GameRecord


@dataclass(frozen=True)
class ChallengeResult:
    """A game that was opened: its id, the bond posted and the transactions sent (by this run)."""

    game_id: int
    bond: int
    commit_block: int
    tx_hash: str | None  # None: a reveal sent before a crash opened the game (found in the GameOpened logs)
    block: int | None
    gas: dict[str, int]  # transaction name -> gas used
    resumed: str | None = None  # what a rerun found in the record and on chain, None for a fresh challenge

    def to_json(self) -> dict[str, Any]:
        return {"gameId": self.game_id, "bond": str(self.bond), "bondEnergy": format_energy(self.bond),
                "commitBlock": self.commit_block, "txHash": self.tx_hash, "block": self.block, "gas": self.gas,
                "resumed": self.resumed}


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
                                     "challenge was not revealed (the commitment and its salt are recorded: the same command "
                                     "run again reveals it)")
            time.sleep(0.5)


def pending_entry(record: GameRecord, w: WindowOnChain) -> dict[str, Any] | None:
    """The record's unfinished (or opened) challenge of ``w``'s very word, None when there is none
    (:func:`validator.challenge_salt.live_entry`)."""
    return live_entry(record, w.beast_id, w.index, w.word)


def opened_game(chain: ChainBeasts, account: LocalAccount, record: GameRecord, w: WindowOnChain) -> ChallengeResult | None:
    """The game an earlier run opened on ``w`` (recorded, or found in the GameOpened logs after a crash between
    the reveal and its record); None when there is none."""
    entry = pending_entry(record, w)
    if entry is None or entry.get("status") not in ("challenging", "opened"):
        return None
    gid = chain_call("finding the game of the earlier run",
                     lambda: find_game(chain, account, w.beast_id, w.index, str(entry["word"])))
    if gid is None:
        return None
    if entry.get("status") != "opened":
        record_opened(record, entry, gid)
    g = chain_call(f"reading game {gid}", lambda: chain.game_of(gid))
    return ChallengeResult(gid, g.bond, g.commitment_block, None, None, {},
                           resumed=f"game {gid} was opened by an earlier run")


def open_challenge(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain, record: GameRecord) -> ChallengeResult:
    """Approve the game for the bond (when needed), commit to the challenge, reveal it; returns the game.

    Resumes what ``record`` holds for ``w`` (module docstring); the salt is recorded before it is used. The
    caller looks first for a game an earlier run's reveal opened (:func:`opened_game`): this sends a reveal."""
    preflight_challenge(chain, account, w)
    game = chain.addresses["BisectionGame"]
    gas: dict[str, int] = {}
    allowance = chain_call("reading the allowance", lambda: chain.allowance(account.address, game))
    if allowance < w.bond:
        r = chain_call("approving the bond", lambda: chain.approve(account, game, w.bond))
        gas["approve"] = r.gas_used
    entry = pending_entry(record, w)
    resumed = None
    if entry is None or entry.get("status") == "opened":  # (an opened game this chain does not have: start over)
        entry = new_commitment(record, w.beast_id, w.index, w.word)
    else:  # the game says whether the recorded commitment was mined (the record may lag one step behind)
        prior = entry
        at = chain_call("reading the commitment", lambda: committed_at(chain, account, prior))
        resumed = (f"revealed the commitment an earlier run had mined in block {at}" if at else
                   "sent the commitment of an earlier run again, with its salt (it was not mined)")
        entry = record.put_challenge(w.beast_id, w.index, status="committed" if at else "committing",
                                     commitBlock=at or None)
    if entry.get("status") == "committing":
        commit_block, c = chain_call("commitChallenge", lambda: send_commitment(chain, account, record, entry))
        if c is not None:
            gas["commitChallenge"] = c.gas_used
    else:
        commit_block = int(entry["commitBlock"])
    record.put_challenge(w.beast_id, w.index, status="challenging")
    r = _reveal(chain, account, w, salt_of(entry), commit_block)
    crash_point("reveal_mined")
    gas["challenge"] = r.gas_used
    ev = r.event("GameOpened").args
    record_opened(record, entry, int(ev["gameId"]))
    return ChallengeResult(int(ev["gameId"]), int(ev["bond"]), commit_block, r.tx_hash, r.block_number, gas, resumed)


__all__ = ["ChallengeResult", "open_challenge", "opened_game", "pending_entry", "preflight_challenge"]
