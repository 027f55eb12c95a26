"""Playing the challenger's side of a game to its end: one move whenever it is ours, a timeout when the
defender's clock ran out, polling the chain in between (:mod:`validator.bisection`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from devnet.bindings import ChainBeasts
from validator.bisection import GameView, Side, StepSource, next_move, read_game, send_move
from validator.dispute.connection import chain_call
from validator.dispute.errors import ChainDataError


@dataclass
class PlayResult:
    """Where the game stands after playing (``game.open`` False once it ended) and what was sent."""

    game: GameView
    moves: list[dict[str, Any]] = field(default_factory=list)  # Move.to_json() + tx and gas

    @property
    def ended(self) -> bool:
        return not self.game.open


def play_to_end(chain: ChainBeasts, account: LocalAccount, game_id: int, source: StepSource, *, interval_s: float = 1.0,
                timeout_s: float = 600.0, on_move: Callable[[dict[str, Any]], None] | None = None,
                sleep: Callable[[float], None] = time.sleep) -> PlayResult:
    """Play ``game_id`` as its challenger until it ends or ``timeout_s`` passes (then the game is still open:
    ``cb-dispute play ID`` resumes it). A move that reverts because the defender moved or the chain
    moved on is read again at the next poll; a second revert in a row is an error."""
    result = PlayResult(chain_call(f"reading game {game_id}", lambda: read_game(chain, game_id)))
    if result.game.challenger.lower() != account.address.lower():
        raise ChainDataError(f"game {game_id} is {result.game.challenger}'s challenge, not {account.address}'s")
    deadline = time.monotonic() + timeout_s
    failures = 0
    while True:
        g = chain_call(f"reading game {game_id}", lambda: read_game(chain, game_id))
        result.game = g
        if not g.open:
            return result
        block = chain_call("reading the block number", chain.block_number)
        move = next_move(g, Side.CHALLENGER, source, block)
        if move is not None:
            try:
                tx = chain_call(f"{move.kind} in game {game_id}", lambda move=move: send_move(chain, account, move))
            except ChainDataError:
                failures += 1
                if failures > 1:
                    raise
                continue
            failures = 0
            entry = {**move.to_json(), "tx": tx.tx_hash, "block": tx.block_number, "gas": tx.gas_used}
            result.moves.append(entry)
            if on_move is not None:
                on_move(entry)
            continue
        if time.monotonic() >= deadline:
            return result
        sleep(interval_s)


__all__ = ["PlayResult", "play_to_end"]
