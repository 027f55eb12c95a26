"""The challenger's side of a window dispute: check a window, open a dispute, follow it, claim.

``cb-dispute`` (validator/dispute_cli.py) is a thin shell over these modules; tests and the
benchmark call them directly too. One job per module:

* :mod:`~validator.dispute.errors` — the tool's exception classes and exit codes, and the map
  from devnet errors to them;
* :mod:`~validator.dispute.connection` — connecting, and every chain call and read (the
  validator's :class:`validator.chain.LedgerChainReader`) with that map;
* :mod:`~validator.dispute.keys` — the challenger's signing account;
* :mod:`~validator.dispute.window` — what the chain says about a window and what a dispute costs;
* :mod:`~validator.dispute.curriculum` — a private beast's dataset and secret, checked against its commitments;
* :mod:`~validator.dispute.start` — the start state: a file, a trainer node, or rebuilt from genesis;
* :mod:`~validator.dispute.check` — the local or validator replay of the window;
* :mod:`~validator.dispute.opening` — posting the bond;
* :mod:`~validator.dispute.status` and :mod:`~validator.dispute.following` — a dispute's votes and outcome, polled;
* :mod:`~validator.dispute.claiming` — resolving and claiming the payout;
* :mod:`~validator.dispute.formatting` — ENERGY amounts for people.

Nothing here re-implements consensus arithmetic or a contract rule: a check replays the window
with :func:`validator.replay.replay` (or a validator's gRPC service), the bond and the
"resolvable" rule are the bindings' (``devnet.bindings.dispute_bond``,
``DisputeInfo.resolution``), and every write goes through the devnet bindings, which sign
locally and check each receipt.

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
    "ClaimResult": "validator.dispute.claiming",
    "claim": "validator.dispute.claiming",
    "resolve": "validator.dispute.claiming",
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
    "watch_status": "validator.dispute.following",
    "format_energy": "validator.dispute.formatting",
    "PASSWORD_ENV": "validator.dispute.keys",
    "load_account": "validator.dispute.keys",
    "OpenResult": "validator.dispute.opening",
    "open_dispute": "validator.dispute.opening",
    "preflight_open": "validator.dispute.opening",
    "DisputeStatus": "validator.dispute.status",
    "dispute_status": "validator.dispute.status",
    "find_dispute": "validator.dispute.status",
    "WindowOnChain": "validator.dispute.window",
    "read_window": "validator.dispute.window",
}

if TYPE_CHECKING:
    from validator.dispute.check import CheckResult, check_window
    from validator.dispute.claiming import ClaimResult, claim, resolve
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
    from validator.dispute.following import watch_status
    from validator.dispute.formatting import format_energy
    from validator.dispute.keys import PASSWORD_ENV, load_account
    from validator.dispute.opening import OpenResult, open_dispute, preflight_open
    from validator.dispute.status import DisputeStatus, dispute_status, find_dispute
    from validator.dispute.window import WindowOnChain, read_window


__getattr__ = lazy_exports(__name__, _LAZY, globals())  # imports the defining module on first use


__all__ = [
    "EXIT_CHAIN",
    "EXIT_DATA",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "PASSWORD_ENV",
    "ChainDataError",
    "DataError",
    "CheckResult",
    "ClaimResult",
    "Curriculum",
    "DisputeStatus",
    "DisputeToolError",
    "OpenResult",
    "RefusedError",
    "UsageError",
    "WindowOnChain",
    "check_window",
    "claim",
    "connect",
    "dispute_status",
    "find_dispute",
    "format_energy",
    "load_account",
    "load_curriculum",
    "open_dispute",
    "preflight_open",
    "read_window",
    "resolve",
    "watch_status",
]
