"""The bisection player: both sides of a BisectionGame 2.1.0 game (docs/PROTOCOL.md §10).

* :mod:`~validator.bisection.source` — :class:`StepSource` (``hash_at``, ``state_at``,
  ``sample_at``) and its implementations: :class:`ReplaySource` replays a window's 129 step states
  from its start checkpoint (``kernel.step.window_step_states``), a private beast's record and
  Merkle path from ``curriculum``; :class:`StatesSource` serves given states;
  :class:`InvalidDatasetSource` stands for a private beast whose committed dataset is provably invalid.
* :mod:`~validator.bisection.moves` — :func:`next_move`: the one move a side sends now, a pure
  function of the game's record, the source and the block number.
* :mod:`~validator.bisection.play` — :func:`play_challenger` / :func:`play_defender`: read, decide,
  send one move through the devnet bindings; resumable, so daemons interleave many games.

The node's defence (node/defense.py) imports the defender side from here; nothing in this package
imports the validator's service, watcher or CLI.
"""

from __future__ import annotations

from validator.bisection.errors import BisectionError
from validator.bisection.moves import (
    CHALLENGER_WON,
    DEFENDER_WON,
    OPEN,
    GameView,
    Move,
    Side,
    challenger_move,
    defender_move,
    next_move,
)
from validator.bisection.play import play, play_challenger, play_defender, read_game, send_move
from validator.bisection.source import (
    EMPTY_SAMPLE,
    NO_STATE,
    InvalidDatasetSource,
    PrivateSample,
    ReplaySource,
    StatesSource,
    StepSource,
    checkpoint_word,
    window_start,
)

__all__ = [
    "CHALLENGER_WON",
    "DEFENDER_WON",
    "EMPTY_SAMPLE",
    "NO_STATE",
    "OPEN",
    "BisectionError",
    "GameView",
    "InvalidDatasetSource",
    "Move",
    "PrivateSample",
    "ReplaySource",
    "Side",
    "StatesSource",
    "StepSource",
    "challenger_move",
    "checkpoint_word",
    "defender_move",
    "next_move",
    "play",
    "play_challenger",
    "play_defender",
    "read_game",
    "send_move",
    "window_start",
]
