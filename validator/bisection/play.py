"""Playing one move of a game on chain: read the game, decide (:mod:`validator.bisection.moves`), send.

``play_challenger`` and ``play_defender`` are resumable: each call reads the game from the chain,
sends at most one transaction through the devnet bindings and returns the move it sent (None when
there was nothing to do: the other side's turn with its clock running, or the game over). A daemon
calls them round after round for every game it plays; a restart loses nothing.

Reverts are the bindings' ``devnet.errors.ContractError`` (a race with the other side's move or a
timeout, for example) and are left to the caller, which reads the game again next round.
"""

from __future__ import annotations

from typing import Any

from validator.bisection.errors import BisectionError
from validator.bisection.moves import GameView, Move, Side, next_move
from validator.bisection.source import StepSource


def read_game(cb: Any, game_id: int) -> GameView:
    """The game's record now (``ChainBeasts.game_of``) as a :class:`GameView`."""
    return GameView.of(game_id, cb.game_of(game_id))


def send_move(cb: Any, account: Any, move: Move) -> Any:
    """Send ``move`` as ``account`` through the bindings (``cb.bisect``, ``cb.respond``, ``cb.prove_step``,
    ``cb.prove_word_lie``, ``cb.prove_invalid_dataset``, ``cb.timeout``); returns the bindings' TxResult."""
    fn = getattr(cb, move.kind, None)
    if fn is None:
        raise BisectionError(f"the chain bindings have no {move.kind} move")
    return fn(account, move.game_id, *move.args)


def play(cb: Any, account: Any, game_id: int, source: StepSource, side: Side) -> tuple[Move | None, Any]:
    """Read the game, send ``side``'s next move as ``account``; returns (move or None, its TxResult or None)."""
    g = read_game(cb, game_id)
    seat = g.challenger if side is Side.CHALLENGER else g.defender
    if seat.lower() != account.address.lower():
        raise BisectionError(f"{account.address} holds no {side.value} seat in game {game_id}")
    move = next_move(g, side, source, cb.block_number())
    if move is None:
        return None, None
    return move, send_move(cb, account, move)


def play_challenger(cb: Any, account: Any, game_id: int, source: StepSource) -> Move | None:
    """One move of the challenger of ``game_id`` (module docstring); returns the move sent, or None."""
    return play(cb, account, game_id, source, Side.CHALLENGER)[0]


def play_defender(cb: Any, account: Any, game_id: int, source: StepSource) -> Move | None:
    """One move of the defender (the window's committer) of ``game_id``; returns the move sent, or None."""
    return play(cb, account, game_id, source, Side.DEFENDER)[0]


__all__ = ["play", "play_challenger", "play_defender", "read_game", "send_move"]
