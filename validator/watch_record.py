"""The persistent record of a challenger: pending challenge commitments (with their salts) and games.

Kept by the watcher (``--record``) and by ``cb-dispute challenge`` (its own file,
:mod:`validator.dispute.record`); the commitment's statuses are :mod:`validator.challenge_salt`'s.
One JSON file (mode 0600: a salt revealed early lets anyone copy the challenge before it is made),
written atomically (temp, fsync, rename, fsync folder) before and after every transaction, and a
file lock that keeps two processes off one record. A restarted watcher reads it back and resumes:
a commitment whose reveal is due is revealed with its salt, a game is played on from the chain's
record of it, a won game's reward is claimed.

Entries:

* ``challenges["<beast>:<index>"]``: ``{"beast", "index", "word", "salt", "status", "commitBlock",
  "gameId"}``; ``status`` is ``committing`` (salt chosen, commitChallenge maybe sent), ``committed``
  (mined in ``commitBlock``), ``challenging`` (challenge maybe sent), ``opened`` (``gameId``) or
  ``dropped`` (the window could no longer be challenged, ``reason``).
* ``games["<gameId>"]``: ``{"beast", "index", "side", "status", "outcome", ...}``; ``status`` is
  ``playing``, ``ended`` or ``claimed``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Final

from kernel.host import HostError, atomic_write, read_file
from validator.errors import ConfigError

RECORD_VERSION: Final = 2
MAX_RECORD_BYTES: Final = 64 << 20


def window_key(beast: int, index: int) -> str:
    return f"{beast}:{index}"


class GameRecord:
    """Pending commitments and games of one watcher account on one chain (module docstring)."""

    def __init__(self, path: str | os.PathLike[str], account: str, chain_id: int) -> None:
        self.path = Path(path)
        self.account = account
        self.chain_id = chain_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise ConfigError(f"another watcher or cb-dispute holds {self.path}.lock; run one at a time per "
                              "record") from None
        try:
            self.data = self._load()
            if not self.path.exists():
                self._save()  # binds the file to this account and chain at once
        except BaseException:
            self.close()
            raise

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": RECORD_VERSION, "account": self.account, "chainId": self.chain_id, "challenges": {},
                    "games": {}}
        try:
            data = json.loads(read_file(self.path, limit=MAX_RECORD_BYTES, what="watch record"))
        except (HostError, ValueError) as exc:
            raise ConfigError(f"watch record {self.path} is unreadable: {exc}") from None
        if (not isinstance(data, dict) or data.get("version") != RECORD_VERSION
                or not isinstance(data.get("challenges"), dict) or not isinstance(data.get("games"), dict)):
            raise ConfigError(f"watch record {self.path} is not a version-{RECORD_VERSION} record (a vote record of an "
                              "older validator? start with a new file)")
        if str(data.get("account", "")).lower() != self.account.lower() or data.get("chainId") != self.chain_id:
            raise ConfigError(f"watch record {self.path} belongs to {data.get('account')} on chain {data.get('chainId')}, "
                              f"not {self.account} on chain {self.chain_id}")
        return data

    def _save(self) -> None:
        atomic_write(self.path, json.dumps(self.data, indent=1, sort_keys=True).encode())  # mode 0600

    # -- challenges ------------------------------------------------------------------------

    def challenge(self, beast: int, index: int) -> dict[str, Any] | None:
        return self.data["challenges"].get(window_key(beast, index))

    def put_challenge(self, beast: int, index: int, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the challenge entry of (beast, index) and write the file atomically."""
        entry = dict(self.data["challenges"].get(window_key(beast, index)) or {"beast": beast, "index": index})
        entry.update(fields, updatedAt=int(time.time()))
        self.data["challenges"][window_key(beast, index)] = entry
        self._save()
        return entry

    def pending_challenges(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self.data["challenges"].values() if c.get("status") not in ("opened", "dropped")]

    # -- games -------------------------------------------------------------------------------

    def game(self, game_id: int) -> dict[str, Any] | None:
        return self.data["games"].get(str(game_id))

    def put_game(self, game_id: int, **fields: Any) -> dict[str, Any]:
        entry = dict(self.data["games"].get(str(game_id)) or {})
        entry.update(fields, updatedAt=int(time.time()))
        self.data["games"][str(game_id)] = entry
        self._save()
        return entry

    def games(self, *statuses: str) -> dict[int, dict[str, Any]]:
        """Games by id, only those whose status is one of ``statuses`` when given."""
        return {int(k): dict(v) for k, v in self.data["games"].items() if not statuses or v.get("status") in statuses}

    def close(self) -> None:
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1


__all__ = ["MAX_RECORD_BYTES", "RECORD_VERSION", "GameRecord", "window_key"]
