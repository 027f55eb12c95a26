"""The bisection games on a node's beasts as the Tavern shows them: state, moves, clocks (docs/PROTOCOL.md §10).

Read from the chain through devnet.bindings, never written: the BisectionGame's events, read
incrementally from the block after the last one read (``GameOpened`` names the beast and window,
``Bisected``/``Responded``/``StepProved`` are the moves, ``GameEnded`` the outcome and why), and
``gameOf`` for each shown game's step range, side to move and chess clocks. A side's clock is the
blocks it may still spend over the whole game; the side to move spends it from the block of the
last move, so its blocks left are ``clock - (head - lastMove)`` (0: anyone may call ``timeout``); an
ended game shows no clocks (None).
A chain that went back below the blocks already read (a restarted devnet) is read again from its start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

MAX_GAMES: Final = 50  # the newest games shown
MOVE_EVENTS: Final = ("Bisected", "Responded", "StepProved")
REASONS: Final = {0: "one step proved", 1: "word lie proved", 2: "timeout"}  # BisectionGame.Reason


@dataclass
class GameLog:
    """What the game's events said so far about the games on some beasts."""

    cursor: int | None = None  # next block to read (None: from the deployment block)
    opened: dict[int, tuple[int, int]] = field(default_factory=dict)  # gameId -> (beastId, index)
    moves: dict[int, int] = field(default_factory=dict)  # gameId -> moves made
    ended: dict[int, dict[str, Any]] = field(default_factory=dict)  # gameId -> GameEnded's reason, winner, payout

    def read(self, cb: Any, beasts: Iterable[int], head: int) -> None:
        """Read the game's events up to block ``head`` (those of games on ``beasts``)."""
        if self.cursor is not None and head < self.cursor - 1:  # the chain went back: a new devnet
            self.cursor, self.opened, self.moves, self.ended = None, {}, {}, {}
        if self.cursor is not None and self.cursor > head:
            return
        wanted = set(beasts)
        for e in cb.game_events(self.cursor, head):
            gid = int(e.args.get("gameId", 0))
            if e.name == "GameOpened" and int(e.args["beastId"]) in wanted:
                self.opened[gid] = (int(e.args["beastId"]), int(e.args["index"]))
                self.moves.setdefault(gid, 0)
            elif gid in self.opened and e.name in MOVE_EVENTS:
                self.moves[gid] = self.moves.get(gid, 0) + 1
            elif gid in self.opened and e.name == "GameEnded":
                self.ended[gid] = {"reason": REASONS.get(int(e.args["reason"]), str(e.args["reason"])),
                                   "winner": str(e.args["winner"]), "payoutWei": str(int(e.args["payout"]))}
        self.cursor = head + 1


def game_rows(cb: Any, log: GameLog, head: int, energy_text: Any) -> list[dict[str, Any]]:
    """The newest MAX_GAMES games of ``log``, newest first, as JSON-ready rows."""
    rows = []
    for gid in sorted(log.opened, reverse=True)[:MAX_GAMES]:
        g = cb.game_of(gid)
        is_open = int(g.outcome) == 0
        to_move = ("challenger" if g.challenger_to_move else "defender") if is_open else None
        clocks: dict[str, int | None] = {"defender": None, "challenger": None}  # an ended game's clocks are stopped
        if to_move is not None:  # the side to move spends its clock since the last move
            clocks = {"defender": int(g.defender_clock), "challenger": int(g.challenger_clock)}
            clocks[to_move] = max(0, int(g.challenger_clock if g.challenger_to_move else g.defender_clock)
                                  - max(0, head - int(g.last_move)))
        ended = log.ended.get(gid, {})
        rows.append({
            "gameId": gid, "beastId": int(g.beast_id), "window": int(g.index) + 1,
            "state": "open" if is_open else g.outcome.name.lower().replace("_", " "),
            "reason": ended.get("reason"), "winner": ended.get("winner"),
            "challenger": str(g.challenger), "defender": str(g.defender), "toMove": to_move,
            "lo": int(g.lo), "hi": int(g.hi), "moves": log.moves.get(gid, 0),
            "defenderBlocksLeft": clocks["defender"], "challengerBlocksLeft": clocks["challenger"],
            "lastMoveBlock": int(g.last_move), "bondWei": str(int(g.bond)), "bond": energy_text(int(g.bond)),
        })
    return rows


__all__ = ["MAX_GAMES", "MOVE_EVENTS", "REASONS", "GameLog", "game_rows"]
