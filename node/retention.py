"""Retention: delete the checkpoint files of old finalized windows, keep what a game could still need.

A window's checkpoint file is deleted only when every rule below lets it go:

* its window is ``finalized`` locally (the node marks that only after the ledger finalized it:
  its challenge period is over and no dispute can open on it any more);
* the window after it is finalized too, or there is none -- the start state of a window that can
  still be challenged (committed inside its challenge period, challenged with games open, sent or
  persisted) is kept: the node's defense (node.defense) replays a challenged window from it, and
  challengers fetch it (``GetState``). A challenged window cannot finalize while a game is open
  (CheckpointLedger 3.0.0), so its start state stays for as long as any game needs it;
* it is not genesis (window 0), not a multiple of ``keep_every`` (0: no window is kept for
  that reason; the kept multiples bound how far anyone re-derives a pruned state) and not among
  the newest ``keep_latest`` windows.

The index row stays (its word, h128, step digests and losses still answer ``ListWindows`` and
``GetStepDigests``); its ``file`` becomes empty, which is what "pruned" means. ``GetState`` of a
pruned window answers NOT_FOUND; ``cb-node verify`` re-derives through pruned windows.

Crash safety, in this order: (1) one index transaction empties ``file`` on every pruned row,
(2) the files are unlinked, (3) the folder is synced. Killed before (1): nothing changed. Killed
between (1) and (3): some files lie orphaned, named by no row; the next prune removes a
checkpoint file only when its window's row exists, is pruned and finalized, never a file a
crash inside ``persist`` left before its row (that window has no row yet). A row therefore never
names a missing file. Checkpoints a slash voided lie in ``checkpoints/voided/`` (node.rewind),
which prune never touches.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Final

from node.store import FINALIZED, BeastStore, WindowRow

_CHECKPOINT: Final = re.compile(r"^w(\d{8})-[0-9a-f]{32}\.cbs\.zst$")


@dataclass(frozen=True)
class KeepPolicy:
    """What retention keeps besides what a dispute could need (node.toml keep_every, keep_latest)."""

    keep_every: int = 64
    keep_latest: int = 8

    def __post_init__(self) -> None:
        if self.keep_every < 0 or self.keep_latest < 1:
            raise ValueError("keep_every must be >= 0 and keep_latest >= 1")


@dataclass
class PruneResult:
    """What one prune of one beast did (or would do, for a dry run)."""

    beast_id: int
    windows: list[int] = field(default_factory=list)  # windows whose checkpoint files were (would be) deleted
    bytes_freed: int = 0
    orphans: int = 0  # files a crashed prune left, removed now
    kept: int = 0  # checkpoint files still there afterwards

    def to_json(self) -> dict[str, Any]:
        """The JSON view of ``cb-node prune --json``."""
        return {"beastId": self.beast_id, "windows": self.windows, "bytesFreed": self.bytes_freed,
                "orphansRemoved": self.orphans, "kept": self.kept}


def prunable(rows: list[WindowRow], policy: KeepPolicy) -> list[WindowRow]:
    """The rows (oldest first, all of one beast) whose checkpoint files the rules above let go."""
    if not rows:
        return []
    latest = rows[-1].window
    by_window = {r.window: r for r in rows}
    out = []
    for r in rows:
        nxt = by_window.get(r.window + 1)
        if (r.file and r.status == FINALIZED and r.window != 0
                and (nxt is None or nxt.status == FINALIZED)
                and not (policy.keep_every and r.window % policy.keep_every == 0)
                and r.window <= latest - policy.keep_latest):
            out.append(r)
    return out


def mark_pruned(store: BeastStore, rows: list[WindowRow]) -> None:
    """Step (1): empty ``file`` on every row in one index transaction (only rows still finalized)."""
    store.mark_pruned([r.window for r in rows])


def remove_files(store: BeastStore, rows: list[WindowRow], *, sweep: bool = True) -> tuple[int, int]:
    """Steps (2) and (3): unlink the files of ``rows`` (just marked pruned) and, with ``sweep``, every
    checkpoint file whose window's row is pruned and finalized (a killed prune's orphans); returns
    (files, bytes) removed."""
    paths = [store.checkpoints / r.file for r in rows]
    if sweep:
        pruned = {r.window for r in store.with_status(FINALIZED) if not r.file}
        paths += [p for p in sorted(store.checkpoints.iterdir())
                  if (m := _CHECKPOINT.match(p.name)) is not None and int(m.group(1)) in pruned]
    removed = freed = 0
    for path in dict.fromkeys(paths):
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:  # another prune got there first
            continue
        removed += 1
        freed += size
    if removed:
        fd = os.open(store.checkpoints, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return removed, freed


def prune(store: BeastStore, policy: KeepPolicy, *, dry_run: bool = False, sweep: bool = True) -> PruneResult:
    """Prune one beast's checkpoints under ``policy`` (module docstring); a dry run changes nothing.
    ``sweep`` also removes what a killed prune left (reads the folder: the daemon does it once per start)."""
    rows = store.rows()
    go = prunable(rows, policy)
    result = PruneResult(store.beast_id, [r.window for r in go])
    result.bytes_freed = sum(_size(store, r) for r in go)
    kept_before = sum(1 for r in rows if r.file)
    if dry_run:
        result.kept = kept_before - len(go)
        return result
    if go:
        mark_pruned(store, go)
    removed, freed = remove_files(store, go, sweep=sweep)
    result.orphans = max(0, removed - len(go))  # files an earlier, killed prune had already unnamed
    result.bytes_freed = freed
    result.kept = kept_before - len(go)
    if go or result.orphans:
        store.event("pruned", windows=result.windows, bytes=result.bytes_freed, orphans=result.orphans)
    return result


def _size(store: BeastStore, row: WindowRow) -> int:
    try:
        return (store.checkpoints / row.file).stat().st_size
    except OSError:
        return 0


__all__ = ["KeepPolicy", "PruneResult", "mark_pruned", "prunable", "prune", "remove_files"]
