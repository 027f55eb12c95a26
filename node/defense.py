"""The node defends its own windows: it answers every bisection game opened on a window it committed.

Only a window's committer may bisect (BisectionGame 2.x's seat), so nobody else can defend the
node's windows for it. :class:`Defense` does, from the daemon's loop (between rounds, so it never
races the commit thread for the account's nonce), one :meth:`Defense.poll` at a time:

1. read the ``GameOpened`` logs since the last poll and record, durably, every game on a window of
   a beast the node trains (``DATA_DIR/defense.json``, written atomically *before* any move, with
   the log cursor; a poll that finds no game writes nothing); a restarted node resumes every game
   it recorded and reads the logs again from the saved cursor, so a game opened while the node
   was down is found too;
2. for each open game, the move :func:`validator.bisection.defender_move` decides (the validator's
   player, so both sides play by one reading of the rules), sent with the node's own signing
   client: the defender to move -> ``bisect`` with the hash of the midpoint step state,
   replayed from the window's stored start checkpoint (:class:`WindowSteps`, kernel.step: the
   same 129 states the window was trained through; a window the node trained with a
   ``--dishonest`` lie is replayed with that lie, so the node claims what it committed); the
   challenger to move (``respond``, or ``proveStep`` once one step is left) and its clock spent
   -> ``timeout``, which the defender wins;
3. a game that ended is recorded ``won`` or ``lost``; a lost game slashed the window and rewound the
   lineage, which the daemon hands to :mod:`node.rewind`.

A game on a window the node did not commit (another account's commit, or an older commit of the
same index that a rewind voided: its word is not the stored one) is recorded ``foreign`` and left
alone. Retention (:mod:`node.retention`) never prunes the start checkpoint of a window that can
still be challenged, so the replay always has it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final
from collections.abc import Callable

from kernel.host import atomic_write
from kernel.state import KernelState
from kernel.step import WindowStart, window_step_states
from node.beast_run import BeastRun
from node.dishonest import false_states
from devnet.errors import LedgerError as DevnetError
from node.errors import DataError, RpcUnavailableError, TxRevertedError
from node.ledger import Ledger
from node.store import COMMITTED, DISPUTED
from validator.bisection import DEFENDER_WON, defender_move
from validator.bisection import GameView as Position

BOOK: Final = "defense.json"
OPEN, WON, LOST, FOREIGN, ABANDONED = "open", "won", "lost", "foreign", "abandoned"


class WindowSteps:
    """The 129 step states of one stored window, replayed from its start checkpoint (a StepSource).

    Node window ``window`` (ledger index window - 1) was trained from stored checkpoint
    ``window - 1`` with the word's mask and lr_shift and the row's epoch seed; step 128 must hash
    to the stored h128, else the store is inconsistent (DataError)."""

    def __init__(self, run: BeastRun, window: int, word: bytes | None = None) -> None:
        self.run = run
        self.window = window
        self.word = word  # the committed word the states must lead to (None: whatever the index holds)
        self._states: list[KernelState] | None = None

    def states(self) -> list[KernelState]:
        """All 129 states (computed once)."""
        if self._states is None:
            store = self.run.store
            row = store.get(self.window)
            if row is None:
                raise DataError(f"beast {self.run.beast_id} has no stored window {self.window}")
            start = store.load_state(self.window - 1)
            w = WindowStart(row.active_mask, row.lr_shift, row.epoch_seed)
            lie = store.produced_by(self.window).get("dishonest")
            if isinstance(lie, dict) and lie.get("kind") == "step":
                states, _ = false_states(start, self.run.source, w, lie)
            else:
                states = window_step_states(start, self.run.source, w)
            if states[-1].h128() != row.h128:
                raise DataError(f"beast {self.run.beast_id} window {self.window}: replaying it from checkpoint "
                                f"{self.window - 1} gives h128 0x{states[-1].h128().hex()}, the index holds "
                                f"0x{row.h128.hex()}")
            self._states = states
        return self._states

    def hash_at(self, step: int) -> bytes:
        """h128 of step state ``step`` (0..128); DataError once the index no longer holds the window's word."""
        row = self.run.store.get(self.window)
        if self.word is not None and (row is None or row.word != self.word):
            raise DataError(f"beast {self.run.beast_id} no longer stores window {self.window} as committed "
                            "(a rewind dropped it)")
        return self.states()[step].h128()

    def state_at(self, step: int) -> bytes:
        """The canonical bytes of step state ``step``."""
        return self.states()[step].to_bytes()

    def sample_at(self, step: int) -> Any:
        """(StepSource) Never needed: only the challenger proves a step (BisectionGame 2.x)."""
        raise DataError("the defender never proves a step; only the challenger sends proveStep")


@dataclass
class GameRecord:
    """One game on a window of a beast the node trains, as the node keeps it in defense.json."""

    game_id: int
    beast_id: int
    index: int  # the ledger's window index (node window index + 1)
    state: str = OPEN
    moves: int = 0
    opened_block: int = 0
    note: str = ""
    seated: bool = False  # checked: the node is the game's defender and the word is the one it stores
    word: str = ""  # the challenged word (hex), once seated

    @property
    def window(self) -> int:
        """The node's window number."""
        return self.index + 1


@dataclass
class Book:
    """defense.json: the games the node follows and the block up to which GameOpened logs were read."""

    cursor: int = -1
    games: dict[int, GameRecord] = field(default_factory=dict)

    @staticmethod
    def load(path: Path) -> Book:
        if not path.exists():
            return Book()
        try:
            doc = json.loads(path.read_text())
            return Book(int(doc["cursor"]), {int(k): GameRecord(**v) for k, v in doc["games"].items()})
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path} is not a defense record the node wrote: {exc}") from exc

    def save(self, path: Path) -> None:
        doc = {"cursor": self.cursor, "games": {str(k): asdict(v) for k, v in sorted(self.games.items())}}
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, json.dumps(doc, indent=1).encode())


@dataclass
class PollResult:
    """What one poll did: moves sent, games that ended, beasts whose lineage a slash rewound."""

    moves: list[tuple[int, str]] = field(default_factory=list)  # (game id, "bisect" | "timeout")
    ended: list[GameRecord] = field(default_factory=list)
    rewound: set[int] = field(default_factory=set)


class Defense:
    """Follows and plays the bisection games on the node's windows (module docstring)."""

    def __init__(self, data_dir: Path, ledger: Ledger, cb: Any, runs: dict[int, BeastRun],
                 log: Callable[[str], None] = lambda m: None) -> None:
        self.path = Path(data_dir) / BOOK
        self.ledger = ledger
        self.cb = cb  # devnet.bindings.ChainBeasts: reads (gameOf, logs)
        self.runs = runs
        self.log = log
        self.book = Book.load(self.path)
        self._steps: dict[int, WindowSteps] = {}

    @property
    def address(self) -> str:
        return self.ledger.client.address

    def open_games(self) -> list[GameRecord]:
        """The games the node still plays."""
        return [g for g in self.book.games.values() if g.state == OPEN]

    def poll(self) -> PollResult:
        """Record new games, then make every move that is the node's now (one per game).

        A read the chain fails (devnet.errors: an RPC hiccup while reading logs or a game) ends this
        poll as RpcUnavailableError, which the daemon waits out like any outage; nothing is lost: the
        cursor only moves after a complete scan, and every move is decided again from the chain."""
        out = PollResult()
        try:
            head = self.ledger.block_number()
            self._scan(head, out)
            for rec in self.open_games():
                try:
                    self._play(rec, head, out)
                except TxRevertedError as exc:  # raced (the challenger moved or the clock ran out): next poll
                    self.log(f"game {rec.game_id}: move refused ({exc.reason}); looking again next poll")
        except DevnetError as exc:
            raise RpcUnavailableError(f"defense: reading the game from the chain failed: {exc}") from exc
        return out

    # ---- discovery --------------------------------------------------------------------

    def _first_block(self, head: int) -> int:
        """Where a node without a cursor starts reading logs: the commit block of its oldest window that is
        committed but not finalized (a game can open on such a window only after its commit), else the head
        (a fresh node has nothing to defend: no scan of the whole chain's history)."""
        blocks = [row.block for run in self.runs.values() for row in run.store.with_status(COMMITTED, DISPUTED)
                  if row.block is not None]
        return min(blocks) if blocks else head

    def _scan(self, head: int, out: PollResult) -> None:
        if self.book.cursor < 0:
            self.book.cursor = self._first_block(head) - 1
        start = max(self.book.cursor + 1, getattr(self.cb, "deploy_block", 0))
        if start > head:
            return
        new = False
        for ev in self.cb.events("BisectionGame", "GameOpened", from_block=start):
            gid, bid, idx = int(ev.args["gameId"]), int(ev.args["beastId"]), int(ev.args["index"])
            if bid in self.runs and gid not in self.book.games:
                new = True
                self.book.games[gid] = GameRecord(gid, bid, idx, opened_block=ev.block_number)
                self.runs[bid].store.event("game_opened", game=gid, window=idx + 1)
                self.log(f"beast {bid}: window {idx + 1} challenged (game {gid}); defending it")
        for ev in self.cb.events("CheckpointLedger", "LineageRewound", from_block=start):
            bid = int(ev.args["beastId"])
            if bid in self.runs:
                out.rewound.add(bid)
        self.book.cursor = head
        if new:  # the new games (before any move) and the cursor, in one atomic write
            self.book.save(self.path)
        # (else the cursor is kept in memory only: a restart reads the logs since the last saved one again,
        # which finds nothing new twice; no sync per round)

    # ---- moves ------------------------------------------------------------------------

    def _play(self, rec: GameRecord, head: int, out: PollResult) -> None:
        g = Position.of(rec.game_id, self.cb.game_of(rec.game_id))
        if not g.open:
            self._ended(rec, g, out)
            return
        if not rec.seated:
            if g.defender.lower() != self.address.lower():
                self._finish(rec, FOREIGN, f"the window's committer {g.defender} defends it, not this node")
                return
            row = self.runs[rec.beast_id].store.get(rec.window)
            if row is None or row.word != g.word:
                self._finish(rec, FOREIGN, "the challenged word is not the one this node stores for the window")
                return
            rec.seated, rec.word = True, row.word.hex()
            self.book.save(self.path)
        try:  # validator.bisection decides: bisect with our midpoint hash, or timeout a spent challenger clock
            move = defender_move(g, self._source(rec), head)
        except DataError as exc:
            # The window is gone from the index (a slash of an earlier window voided and rewound it) or
            # its start checkpoint cannot be read: the node cannot claim anything; the game runs out.
            self._finish(rec, ABANDONED, str(exc))
            self.runs[rec.beast_id].store.event("game_abandoned", game=rec.game_id, window=rec.window, reason=str(exc))
            self.log(f"beast {rec.beast_id}: game {rec.game_id} abandoned: {exc}")
            return
        if move is None:
            return
        fn = {"bisect": self.ledger.game.functions.bisect, "timeout": self.ledger.game.functions.timeout}[move.kind]
        self.ledger.client.transact(f"BisectionGame.{move.kind}({rec.game_id})", fn(rec.game_id, *move.args), gas=None)
        out.moves.append((rec.game_id, move.kind))
        if move.kind == "bisect":
            rec.moves += 1
            self.book.save(self.path)
        else:
            self._ended(rec, Position.of(rec.game_id, self.cb.game_of(rec.game_id)), out)

    def _source(self, rec: GameRecord) -> WindowSteps:
        src = self._steps.get(rec.game_id)
        if src is None:
            src = self._steps[rec.game_id] = WindowSteps(self.runs[rec.beast_id], rec.window, bytes.fromhex(rec.word))
        return src

    def _ended(self, rec: GameRecord, g: Position, out: PollResult) -> None:
        won = g.outcome == DEFENDER_WON
        self._finish(rec, WON if won else LOST, "")
        out.ended.append(rec)
        if not won:
            out.rewound.add(rec.beast_id)
        self.runs[rec.beast_id].store.event("game_ended", game=rec.game_id, window=rec.window,
                                            outcome="defender_won" if won else "challenger_won")
        self.log(f"beast {rec.beast_id}: game {rec.game_id} on window {rec.window} "
                 + ("won: the challenger's bond is ours" if won else "LOST: the window was shown false"))

    def _finish(self, rec: GameRecord, state: str, note: str) -> None:
        rec.state, rec.note = state, note
        self._steps.pop(rec.game_id, None)
        self.book.save(self.path)


__all__ = ["BOOK", "Book", "Defense", "GameRecord", "PollResult", "WindowSteps"]
