"""cb-dispute challenge's record of its commitments: where it lives, and opening it.

The record is the watcher's :class:`validator.watch_record.GameRecord` (JSON, mode 0600, written
atomically, bound to one account and chain id, locked while in use), kept by default next to the
deployments file as ``cb-dispute-<account>.json`` so that a rerun of the same command finds it
(``--record FILE`` names another). :mod:`validator.challenge_salt` says what an entry holds and
how a rerun resumes from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from validator.dispute.errors import UsageError
from validator.errors import ConfigError
from validator.watch_record import GameRecord


def default_record_path(deployments: Path, address: str) -> Path:
    """``cb-dispute-<address>.json`` in the deployments file's folder."""
    return Path(deployments).parent / f"cb-dispute-{address}.json"


def open_record(path: Path, chain: Any, account: Any) -> GameRecord:
    """The record at ``path`` for ``account`` on ``chain`` (created when missing); UsageError when it is
    unreadable, another account's or chain's, or held by another process."""
    try:
        return GameRecord(path, account.address, chain.chain_id())
    except ConfigError as exc:
        raise UsageError(f"challenge record: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot keep the challenge record {path}: {exc.strerror or exc}") from None


__all__ = ["default_record_path", "open_record"]
