"""The challenger's side of a window dispute: check a window, challenge it, play the game to the end, claim.

``cb-dispute`` (validator/dispute_cli.py) is a thin shell over these modules; tests and the
benchmark call them directly too. One job per module:

* :mod:`~validator.dispute.errors` — the tool's exception classes and exit codes, and the map
  from devnet errors to them;
* :mod:`~validator.dispute.connection` — connecting, and every chain call and read (the
  validator's :class:`validator.chain.LedgerChainReader`) with that map;
* :mod:`~validator.dispute.keys` — the challenger's signing account;
* :mod:`~validator.dispute.window` — what the chain says about a window and what a challenge costs;
* :mod:`~validator.dispute.curriculum` — a private beast's dataset and secret, checked against its commitments;
* :mod:`~validator.dispute.start` — the start state: a file, a trainer node, or rebuilt from genesis;
* :mod:`~validator.dispute.check` — the local or validator replay of the window;
* :mod:`~validator.dispute.steps` — the window's 129 step states from its start state (the game's source);
* :mod:`~validator.dispute.challenging` — posting the bond: commitChallenge, then challenge (resumed after a crash);
* :mod:`~validator.dispute.record` — the challenge record keeping the salt (the watcher's, mode 0600);
* :mod:`~validator.dispute.playing` — playing the challenger's side to the end (:mod:`validator.bisection`);
* :mod:`~validator.dispute.status` — a game's position, clocks, moves, outcome and its window's reward;
* :mod:`~validator.dispute.claiming` — claiming the slashed window's reward;
* :mod:`~validator.dispute.formatting` — ENERGY amounts for people.

Nothing here re-implements consensus arithmetic or a contract rule: a check replays the window
with :func:`validator.replay.replay` (or a validator's gRPC service), the game's moves are
:func:`validator.bisection.next_move`'s, the bond and "challengeable" rules are the bindings'
(``devnet.bindings.challenge_bond``, ``challenge_opens``), and every write goes through the devnet
bindings, which sign locally and check each receipt.

Window numbering is the node's and the validator's: window ``K >= 1`` is the ``K``-th commit
of a beast and trains from checkpoint ``K - 1``; the ledger and the dispute game index the same
window as ``K - 1``.

Where the start state (checkpoint ``K - 1``) comes from, in order of preference:

1. ``state_file``: a checkpoint file (one zstd state blob, as ``cb-node`` keeps them);
2. ``node``: a trainer node's NodeService (GetState);
3. otherwise it is rebuilt from genesis by replaying windows ``1 .. K - 1`` with the masks and
   learning-rate shifts of their committed words, checking every h128 against the chain. This
   needs nothing but public data (and, for a private beast, the dataset and owner secret), so
   a challenger never depends on the trainer. If an earlier window does not reproduce, the
   check reports that window instead: it is the one to dispute.

No function prints, logs or puts into an exception the owner secret, a private key or a
keystore password; only public commitments and file names appear in messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.host import lazy_exports

# Name -> module that defines it, imported on first use (PEP 562): ``cb-dispute --help`` and the
# light modules (errors, keys, formatting) must not pull in web3 and the replay kernel.
_LAZY: dict[str, str] = {
    "CheckResult": "validator.dispute.check",
    "check_window": "validator.dispute.check",
    "ChallengeResult": "validator.dispute.challenging",
    "open_challenge": "validator.dispute.challenging",
    "preflight_challenge": "validator.dispute.challenging",
    "ClaimResult": "validator.dispute.claiming",
    "claim_reward": "validator.dispute.claiming",
    "connect": "validator.dispute.connection",
    "Curriculum": "validator.dispute.curriculum",
    "load_curriculum": "validator.dispute.curriculum",
    "EXIT_CHAIN": "validator.dispute.errors",
    "EXIT_DATA": "validator.dispute.errors",
    "EXIT_INTERRUPTED": "validator.dispute.errors",
    "EXIT_OK": "validator.dispute.errors",
    "EXIT_REFUSED": "validator.dispute.errors",
    "EXIT_USAGE": "validator.dispute.errors",
    "ChainDataError": "validator.dispute.errors",
    "DataError": "validator.dispute.errors",
    "DisputeToolError": "validator.dispute.errors",
    "RefusedError": "validator.dispute.errors",
    "UsageError": "validator.dispute.errors",
    "format_energy": "validator.dispute.formatting",
    "PASSWORD_ENV": "validator.dispute.keys",
    "load_account": "validator.dispute.keys",
    "PlayResult": "validator.dispute.playing",
    "play_to_end": "validator.dispute.playing",
    "GameStatus": "validator.dispute.status",
    "find_games": "validator.dispute.status",
    "game_status": "validator.dispute.status",
    "diverges": "validator.dispute.steps",
    "step_source": "validator.dispute.steps",
    "WindowOnChain": "validator.dispute.window",
    "read_window": "validator.dispute.window",
}

if TYPE_CHECKING:
    from validator.dispute.challenging import ChallengeResult, open_challenge, preflight_challenge
    from validator.dispute.check import CheckResult, check_window
    from validator.dispute.claiming import ClaimResult, claim_reward
    from validator.dispute.connection import connect
    from validator.dispute.curriculum import Curriculum, load_curriculum
    from validator.dispute.errors import (
        EXIT_CHAIN,
        EXIT_DATA,
        EXIT_INTERRUPTED,
        EXIT_OK,
        EXIT_REFUSED,
        EXIT_USAGE,
        ChainDataError,
        DataError,
        DisputeToolError,
        RefusedError,
        UsageError,
    )
    from validator.dispute.formatting import format_energy
    from validator.dispute.keys import PASSWORD_ENV, load_account
    from validator.dispute.playing import PlayResult, play_to_end
    from validator.dispute.status import GameStatus, find_games, game_status
    from validator.dispute.steps import diverges, step_source
    from validator.dispute.window import WindowOnChain, read_window


__getattr__ = lazy_exports(__name__, _LAZY, globals())  # imports the defining module on first use


__all__ = [
    "ChainDataError",
    "ChallengeResult",
    "CheckResult",
    "ClaimResult",
    "Curriculum",
    "DataError",
    "DisputeToolError",
    "EXIT_CHAIN",
    "EXIT_DATA",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "GameStatus",
    "PASSWORD_ENV",
    "PlayResult",
    "RefusedError",
    "UsageError",
    "WindowOnChain",
    "check_window",
    "claim_reward",
    "connect",
    "diverges",
    "find_games",
    "format_energy",
    "game_status",
    "load_account",
    "load_curriculum",
    "open_challenge",
    "play_to_end",
    "preflight_challenge",
    "read_window",
    "step_source",
]
