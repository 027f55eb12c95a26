"""A challenge commitment that survives a crash: its salt is in the record before commitChallenge is sent.

``commitChallenge(keccak256(abi.encode(me, beast, index, salt)))`` and, in a later block,
``challenge(beast, index, salt)`` open a game. A process that loses the salt in between has wasted
the commitment and its gas, and must commit again behind anyone who committed meanwhile (the
earliest commitment wins a window's reward). So the watcher (:mod:`validator.watch`) and
``cb-dispute challenge`` (:mod:`validator.dispute.challenging`) both keep each salt in a
:class:`validator.watch_record.GameRecord` (JSON, mode 0600, written atomically) and move an
entry through these statuses, each written before the transaction that ends it is sent:

* ``committing`` -- salt drawn and written; commitChallenge maybe sent. Resume: the game's
  ``commitmentBlock`` view says whether it was mined (then nothing is sent); if not, send it again with
  the same salt.
* ``committed`` -- commitChallenge mined in ``commitBlock``. Resume: reveal in a later block.
* ``challenging`` -- challenge maybe sent. Resume: the game from the GameOpened logs, else reveal again.
* ``opened`` (``gameId``) or ``dropped`` (``reason``).

The salt is never logged, printed or put into an exception: only the record holds it until the reveal.
"""

from __future__ import annotations

import secrets
from typing import Any

from validator.crash import crash_point
from validator.watch_record import GameRecord


def hex32(b: bytes) -> str:
    """``0x`` + hex of ``b`` (how the record spells words and salts)."""
    return "0x" + bytes(b).hex()


def new_commitment(record: GameRecord, beast: int, index: int, word: bytes) -> dict[str, Any]:
    """Draw a fresh salt for a challenge of window ``index`` (holding ``word``) and write it to the record
    (``committing``) before anything is sent; returns the entry."""
    entry = record.put_challenge(beast, index, word=hex32(word), salt=hex32(secrets.token_bytes(32)),
                                 status="committing", commitBlock=None, gameId=None)
    crash_point("salt_recorded")
    return entry


def live_entry(record: GameRecord, beast: int, index: int, word: bytes) -> dict[str, Any] | None:
    """The record's challenge of window ``index`` for this very ``word`` that is not dropped (pending or opened),
    None when there is none: an entry of another word (the window was voided and committed again) or a dropped
    one is to start over."""
    entry = record.challenge(beast, index)
    if entry is None or entry.get("word") != hex32(word) or entry.get("status") == "dropped":
        return None
    return entry


def salt_of(entry: dict[str, Any]) -> bytes:
    """The entry's salt as bytes."""
    return bytes.fromhex(str(entry["salt"])[2:])


def committed_at(chain: Any, account: Any, entry: dict[str, Any]) -> int:
    """The block the entry's commitment was mined in, as the game has it (0: not mined, or consumed by its reveal)."""
    from devnet.bindings import challenge_commitment

    c = challenge_commitment(account.address, int(entry["beast"]), int(entry["index"]), salt_of(entry))
    return chain.commitment_block(account.address, c)


def send_commitment(chain: Any, account: Any, record: GameRecord, entry: dict[str, Any]) -> tuple[int, Any]:
    """Send commitChallenge with the entry's salt unless the game has it already, and record it ``committed``;
    returns (commit block, TxResult), the TxResult None when the commitment had been mined before (a crash
    after sending it: nothing is sent again, so no reverted transaction costs gas).

    Raises the bindings' ContractError or LedgerError otherwise (the caller maps them to its own errors)."""
    from devnet.errors import ContractError

    beast, index = int(entry["beast"]), int(entry["index"])
    at = committed_at(chain, account, entry)  # one free read; for a fresh salt always 0
    if at == 0:
        try:
            tx = chain.commit_challenge(account, beast, index, salt_of(entry))
        except ContractError as exc:
            if exc.name != "GameCommitmentExists":
                raise
            at = int(exc.args_by_name.get("committedAt", 0))  # mined meanwhile (a node that was slow to show it)
        else:
            crash_point("commitment_mined")
            record.put_challenge(beast, index, status="committed", commitBlock=tx.block_number)
            crash_point("commitment_recorded")
            return tx.block_number, tx
    record.put_challenge(beast, index, status="committed", commitBlock=at)
    return at, None


def find_game(chain: Any, account: Any, beast: int, index: int, word: str) -> int | None:
    """Our game on (beast, index) for ``word`` (``0x`` hex), from the GameOpened logs: a reveal that was
    mined before a crash let the process record it."""
    from validator.bisection import read_game

    for gid in chain.games_of_window(beast, index):
        g = read_game(chain, gid)
        if g.challenger.lower() == account.address.lower() and hex32(g.word) == word:
            return int(gid)
    return None


def record_opened(record: GameRecord, entry: dict[str, Any], gid: int) -> None:
    """Record that ``entry``'s reveal opened game ``gid`` (the challenge entry and the game entry)."""
    beast, index = int(entry["beast"]), int(entry["index"])
    record.put_challenge(beast, index, status="opened", gameId=gid)
    record.put_game(gid, beast=beast, index=index, side="challenger", word=entry["word"], status="playing")


__all__ = ["find_game", "hex32", "live_entry", "new_commitment", "record_opened", "salt_of", "send_commitment"]
