"""A game as the chain sees it now: position, clocks, moves so far, outcome and the window's reward pot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devnet.bindings import ChainBeasts, Event
from validator.bisection import GameView, read_game
from validator.dispute.connection import chain_call
from validator.dispute.errors import ChainDataError, UsageError
from validator.dispute.formatting import format_energy

MOVE_EVENTS = ("GameOpened", "Bisected", "Responded", "StepProved", "GameEnded")
REASONS = {0: "one step", 1: "word lie", 2: "timeout"}


@dataclass(frozen=True)
class GameStatus:
    """One game now, with its moves (the game's events, oldest first) and its window's pot."""

    game: GameView
    bond: int
    moves: tuple[Event, ...]
    block: int
    pot: Any  # devnet.bindings.Pot of the game's window

    @property
    def blocks_left(self) -> int | None:
        """Blocks the side to move has left (None once ended)."""
        d = self.game.deadline
        return None if d is None else max(0, d - self.block)

    def to_json(self) -> dict[str, Any]:
        return {**self.game.to_json(), "bond": str(self.bond), "bondEnergy": format_energy(self.bond), "block": self.block,
                "blocksLeft": self.blocks_left,
                "moves": [{"event": e.name, "block": e.block_number, **move_args(e)} for e in self.moves],
                "pot": {"reward": str(self.pot.reward), "open": self.pot.open, "bestGame": self.pot.best_game,
                        "claimed": self.pot.claimed}}


def move_args(e: Event) -> dict[str, Any]:
    a = e.args
    if e.name == "Bisected":
        return {"mid": int(a["mid"]), "hash": "0x" + bytes(a["hash"]).hex()}
    if e.name == "Responded":
        return {"agree": bool(a["agree"]), "lo": int(a["lo"]), "hi": int(a["hi"])}
    if e.name == "StepProved":
        return {"lo": int(a["lo"]), "postHash": "0x" + bytes(a["postHash"]).hex(), "claimed": "0x" + bytes(a["claimed"]).hex()}
    if e.name == "GameEnded":
        return {"outcome": int(a["outcome"]), "reason": REASONS.get(int(a["reason"]), str(a["reason"])),
                "winner": str(a["winner"]), "payout": str(a["payout"])}
    return {}


def find_games(chain: ChainBeasts, beast_id: int, window: int) -> list[int]:
    """Ids of the games opened on window ``window`` (K >= 1) of ``beast_id``, oldest first."""
    if beast_id < 1 or window < 1:
        raise UsageError("--beast and --window must be >= 1")
    ids = chain_call(f"searching games of beast {beast_id} window {window}",
                     lambda: chain.games_of_window(beast_id, window - 1))
    if not ids:
        raise ChainDataError(f"no game was opened on beast {beast_id} window {window}")
    return [int(i) for i in ids]


def game_status(chain: ChainBeasts, game_id: int) -> GameStatus:
    """Position, clocks, moves and outcome of a game, and its window's pot."""
    if game_id < 1:
        raise UsageError(f"game id must be >= 1, got {game_id}")
    g = chain_call(f"reading game {game_id}", lambda: read_game(chain, game_id))
    info = chain_call(f"reading game {game_id}", lambda: chain.game_of(game_id))
    moves: list[Event] = []
    for name in MOVE_EVENTS:
        moves += chain_call(f"reading the {name} events of game {game_id}",
                            lambda name=name: chain.events("BisectionGame", name, game_id))
    moves.sort(key=lambda e: (e.block_number, getattr(e, "log_index", 0)))
    block = chain_call("reading the block number", chain.block_number)
    pot = chain_call("reading the window's pot", lambda: chain.pot_of(g.beast_id, g.index, g.stored))
    return GameStatus(g, int(getattr(info, "bond", 0)), tuple(moves), block, pot)


__all__ = ["GameStatus", "find_games", "game_status", "move_args"]
