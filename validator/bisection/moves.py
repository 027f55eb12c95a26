"""The next move of either side of a bisection game (BisectionGame 2.1.0, docs/PROTOCOL.md §10), as a pure function.

:func:`next_move` reads a game as the chain holds it now (:class:`GameView`) and a player's
:class:`~validator.bisection.source.StepSource`, and returns the one move that side should send
now, or None when it is the other side's turn and its clock still runs. It sends nothing, so a
daemon interleaves many games one move at a time, and a restarted player resumes from the chain
alone: the game's record is the whole position.

Turns: the defender (the window's committer) claims ``h_mid`` for ``mid = (lo + hi) / 2``
(``bisect``); the challenger agrees (``lo = mid``) or not (``hi = mid``) (``respond``); once
``hi - lo == 1`` the challenger stays to move and proves the step on chain (``proveStep`` from
state ``lo`` with its sample). A challenger whose replay reaches the word's h128 while the word's
other fields lie proves that at once (``proveWordLie`` with the final state), and one whose source is
an :class:`~validator.bisection.source.InvalidDatasetSource` (the beast's committed dataset is provably
invalid) proves that at once (``proveInvalidDataset``). The side not to move
calls ``timeout`` once the mover's clock has run out (judged at the latest block, so the call is valid
in whichever block a node evaluates it).

An honest defender's claims are exactly its source's hashes; an honest challenger agrees exactly
when the claim equals its own hash. Neither ever needs the other side's data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Final

from validator.bisection.errors import BisectionError
from validator.bisection.source import LAST_STEP, NO_STATE, StepSource

OPEN: Final = 0
DEFENDER_WON: Final = 1
CHALLENGER_WON: Final = 2
OUTCOMES: Final = {OPEN: "open", DEFENDER_WON: "defender_won", CHALLENGER_WON: "challenger_won"}


class Side(enum.Enum):
    """A seat in a game."""

    CHALLENGER = "challenger"
    DEFENDER = "defender"

    @property
    def other(self) -> Side:
        return Side.DEFENDER if self is Side.CHALLENGER else Side.CHALLENGER


_MISSING: Final = object()


def _get(info: Any, *names: str, default: Any = _MISSING) -> Any:
    """The first of ``names`` that ``info`` has (a dataclass attribute or a mapping key)."""
    for n in names:
        if isinstance(info, dict) and n in info:
            return info[n]
        if not isinstance(info, dict) and hasattr(info, n):
            return getattr(info, n)
    if default is not _MISSING:
        return default
    raise BisectionError(f"the game record has none of {', '.join(names)}")


GLOBAL_STEP_BITS: Final = 0xFFFFFFFF << 96  # the word's globalStep field; the ledger stores commitBlock/asTrainer there


def word_of_stored(stored: int, index: int) -> bytes:
    """The committed word of ledger window ``index`` from the ledger's stored slot (globalStep put back:
    128 (index + 1) mod 2^32), as BisectionGame.wordOf computes it."""
    step = (128 * (index + 1)) & 0xFFFFFFFF
    return ((int(stored) & ~GLOBAL_STEP_BITS) | (step << 96)).to_bytes(32, "big")


@dataclass(frozen=True)
class GameView:
    """What a player reads of a game (``devnet.bindings.GameInfo``, normalized)."""

    game_id: int
    beast_id: int
    index: int  # ledger window index
    challenger: str
    defender: str  # the seat of the window's committer (the address that may bisect)
    lo: int
    hi: int
    challenger_to_move: bool
    outcome: int
    defender_clock: int  # blocks left
    challenger_clock: int
    last_move: int  # block of the last move (or the opening)
    lo_hash: bytes
    hi_hash: bytes
    mid_hash: bytes
    word: bytes
    stored: int = 0  # the ledger's stored slot of the window (claimReward's key)
    bond: int = 0  # the challenger's bond
    commitment_block: int = 0  # block of the challenger's commitChallenge

    @classmethod
    def of(cls, game_id: int, info: Any) -> GameView:
        """A view of the bindings' GameInfo (or a mapping with the contract's or the bindings' names)."""
        return cls(
            game_id=int(game_id),
            beast_id=int(_get(info, "beast_id", "beastId")),
            index=int(_get(info, "index")),
            challenger=str(_get(info, "challenger")),
            defender=str(_get(info, "defender")),
            lo=int(_get(info, "lo")),
            hi=int(_get(info, "hi")),
            challenger_to_move=bool(_get(info, "challenger_to_move", "challengerToMove")),
            outcome=int(_get(info, "outcome")),
            defender_clock=int(_get(info, "defender_clock", "defenderClock")),
            challenger_clock=int(_get(info, "challenger_clock", "challengerClock")),
            last_move=int(_get(info, "last_move", "lastMove")),
            lo_hash=bytes(_get(info, "lo_hash", "loHash")),
            hi_hash=bytes(_get(info, "hi_hash", "hiHash")),
            mid_hash=bytes(_get(info, "mid_hash", "midHash")),
            word=bytes(word) if (word := _get(info, "word", default=None)) is not None
            else word_of_stored(int(_get(info, "stored")), int(_get(info, "index"))),
            stored=int(_get(info, "stored", default=0)),
            bond=int(_get(info, "bond", default=0)),
            commitment_block=int(_get(info, "commitment_block", "commitmentBlock", default=0)),
        )

    @property
    def open(self) -> bool:
        return self.outcome == OPEN

    @property
    def mid(self) -> int:
        return (self.lo + self.hi) // 2

    @property
    def to_move(self) -> Side | None:
        """Whose move it is (None once the game ended)."""
        if not self.open:
            return None
        if self.hi - self.lo <= 1 or self.challenger_to_move:
            return Side.CHALLENGER
        return Side.DEFENDER

    def clock_of(self, side: Side) -> int:
        return self.challenger_clock if side is Side.CHALLENGER else self.defender_clock

    @property
    def deadline(self) -> int | None:
        """The last block in which the side to move may still move (None once ended)."""
        side = self.to_move
        return None if side is None else self.last_move + self.clock_of(side)

    def timed_out_at(self, block: int) -> bool:
        """Whether a ``timeout`` mined in block ``block`` ends the game (the mover's clock ran out)."""
        deadline = self.deadline
        return deadline is not None and block > deadline

    def seat_of(self, address: str) -> Side | None:
        """The seat ``address`` holds in this game (challenger first: a self-challenge plays the challenger)."""
        a = address.lower()
        if a == self.challenger.lower():
            return Side.CHALLENGER
        if a == self.defender.lower():
            return Side.DEFENDER
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "gameId": self.game_id, "beastId": self.beast_id, "window": self.index + 1, "ledgerIndex": self.index,
            "challenger": self.challenger, "defender": self.defender, "lo": self.lo, "hi": self.hi,
            "toMove": self.to_move.value if self.to_move else None, "outcome": OUTCOMES.get(self.outcome, str(self.outcome)),
            "defenderClock": self.defender_clock, "challengerClock": self.challenger_clock, "lastMove": self.last_move,
            "deadline": self.deadline, "loHash": "0x" + self.lo_hash.hex(), "hiHash": "0x" + self.hi_hash.hex(),
            "midHash": "0x" + self.mid_hash.hex(), "word": "0x" + self.word.hex(),
            "commitmentBlock": self.commitment_block, "bond": str(self.bond),
        }


@dataclass(frozen=True)
class Move:
    """One transaction of a game: the bindings' method name and its arguments after (account, gameId)."""

    kind: str  # "bisect" | "respond" | "prove_step" | "prove_word_lie" | "prove_invalid_dataset" | "timeout"
    game_id: int
    args: tuple[Any, ...] = ()
    step: int | None = None  # the step the move is about (mid of a bisect/respond, lo of a proof)

    def __repr__(self) -> str:  # state bytes and a private sample stay out of logs
        return f"Move({self.kind}, game {self.game_id}" + (f", step {self.step})" if self.step is not None else ")")

    def to_json(self) -> dict[str, Any]:
        """What a log says of the move: kind, game, step, and a bisect's hash or a respond's answer (public)."""
        out: dict[str, Any] = {"move": self.kind, "gameId": self.game_id}
        if self.step is not None:
            out["step"] = self.step
        if self.kind == "bisect":
            out["hash"] = "0x" + bytes(self.args[0]).hex()
        elif self.kind == "respond":
            out["agree"] = bool(self.args[0])
        elif self.kind == "prove_invalid_dataset":
            out["datasetLen"], out["recordIndex"] = int(self.args[0]), int(self.args[2])
        return out


def _timeout_or_wait(g: GameView, block: int) -> Move | None:
    """The move of the side not to move: timeout once the mover's clock ran out in the latest block itself.

    A timeout mined in the next block would already win one block earlier, but nodes differ in the
    block they judge a transaction's gas estimate in (anvil: the latest one, where the clock has not
    run out yet): one block of patience makes the call valid under either."""
    return Move("timeout", g.game_id) if g.timed_out_at(block) else None


def word_lie(g: GameView, source: StepSource) -> bool:
    """Whether the source's checkpoint state hashes to the word's h128 while the word's other fields
    are not that state's (the word lies beside a right h128: proveWordLie wins at once)."""
    final = source.hash_at(LAST_STEP)
    if final == NO_STATE or final != g.word[:16]:
        return False
    honest = getattr(source, "word", None)
    word = honest() if callable(honest) else None
    return word is not None and word != g.word


def challenger_move(g: GameView, source: StepSource, block: int) -> Move | None:
    """The honest challenger's next move (module docstring); ``block`` is the chain's latest block."""
    if not g.open:
        return None
    proof = getattr(source, "invalid_dataset", None)
    if proof is not None:  # no honest training exists: win at once, whoever is to move
        if g.to_move is Side.CHALLENGER and g.timed_out_at(block + 1):
            return None  # our clock ran out: the game is lost
        return Move("prove_invalid_dataset", g.game_id, proof.args())
    if word_lie(g, source):
        return Move("prove_word_lie", g.game_id, (source.state_at(LAST_STEP),), LAST_STEP)
    if g.to_move is Side.DEFENDER:
        return _timeout_or_wait(g, block)
    if g.timed_out_at(block + 1):
        return None  # our clock ran out: the game is lost, only a timeout call is left (anyone's)
    if g.hi - g.lo <= 1:
        return Move("prove_step", g.game_id, (source.state_at(g.lo), source.sample_at(g.lo)), g.lo)
    agree = source.hash_at(g.mid) == g.mid_hash and g.mid_hash != NO_STATE
    return Move("respond", g.game_id, (agree,), g.mid)


def defender_move(g: GameView, source: StepSource, block: int) -> Move | None:
    """The honest defender's next move: its own hash of the midpoint, or a timeout (module docstring)."""
    if not g.open:
        return None
    if g.to_move is Side.CHALLENGER:
        return _timeout_or_wait(g, block)
    if g.timed_out_at(block + 1):
        return None
    h = source.hash_at(g.mid)
    if h == NO_STATE:
        raise BisectionError(f"game {g.game_id}: the defender's source has no step state {g.mid} to claim")
    return Move("bisect", g.game_id, (h,), g.mid)


def next_move(g: GameView, side: Side, source: StepSource, block: int) -> Move | None:
    """The next move of ``side`` in ``g`` at the chain's latest block ``block``, or None (wait, or the game ended)."""
    return challenger_move(g, source, block) if side is Side.CHALLENGER else defender_move(g, source, block)


__all__ = [
    "CHALLENGER_WON",
    "DEFENDER_WON",
    "OPEN",
    "OUTCOMES",
    "GameView",
    "Move",
    "Side",
    "challenger_move",
    "defender_move",
    "next_move",
    "word_lie",
    "word_of_stored",
]
