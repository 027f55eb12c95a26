"""Taking a beast's stored lineage back after a slash, and training on from the last window not shown false.

When a bisection game shows window k (ledger index) false, the ledger slashes it and rewinds the
beast's lineage (CheckpointLedger 3.0.0): windows k+1.. are voided, ``windowCount`` becomes k and
the next commit must be window k again, into a slot that ``clearVoided`` (anyone) emptied. In
node numbering (window N = ledger index N - 1) the node keeps windows 0..k and drops k+1.. .

:func:`check` notices it -- the ledger holds fewer windows than the node has committed, and the
ledger says why (a pending voided range, or a ``LineageRewound`` log of the beast) -- and
:func:`rewind` carries it out in an order that a kill at any point resumes:

1. write the intent ``rewind.json`` (the tip to keep) in the run directory, durably;
   (crash point ``rewind_after_journal``)
2. ``clearVoided`` the pending range on chain until it is empty (idempotent: anyone may have
   cleared some already); (``rewind_after_clear``)
3. delete the index rows after the tip in one transaction (a row never names a missing file);
   (``rewind_after_rows``)
4. move the checkpoint files of the dropped windows into ``checkpoints/voided/`` (kept aside:
   evidence of what was committed; ``cb-node prune`` leaves that folder alone) and sync both folders;
5. remove ``rewind.json``.

On start, :func:`resume` finishes a rewind whose journal is still there before anything else
(reconcile, training). The honest windows 0..k are never touched, no window is lost (the dropped
ones were voided on chain: their escrow is burned and they can never finalize) and none is
committed twice: the next round trains window k+1 from checkpoint k and commits it into the
cleared slot.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any, Final

from kernel.host import atomic_write
from node.beast_run import BeastRun
from node.crash import crash_point
from node.errors import DataError, TxRevertedError
from node.ledger import Ledger
from node.store import COMMITTED, DISPUTED, FINALIZED

JOURNAL: Final = "rewind.json"
VOIDED_DIR: Final = "voided"
_CHECKPOINT: Final = re.compile(r"^w(\d{8})-[0-9a-f]{32}\.cbs\.zst$")
CLEAR_BATCH: Final = 64  # voided slots cleared per transaction


def pending_tip(run: BeastRun) -> int | None:
    """The tip a rewind journal of ``run`` names (None when no rewind is unfinished)."""
    path = run.store.root / JOURNAL
    if not path.exists():
        return None
    try:
        return int(json.loads(path.read_text())["tip"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a rewind journal the node wrote: {exc}") from exc


def check(run: BeastRun, ledger: Ledger) -> int | None:
    """The node window to rewind ``run`` to when a slash cut its lineage on chain; None when nothing was cut."""
    committed = run.store.with_status(COMMITTED, FINALIZED, DISPUTED)
    top = committed[-1].window if committed else 0
    count = ledger.window_count(run.beast_id)
    if top <= count:
        return None
    lo, hi = ledger.voided_range(run.beast_id)
    if lo < hi and lo <= count:
        return count
    cut = [r.block for r in committed if r.window > count and r.block is not None]
    # LineageRewound's tip is the windowCount it left; the slash came after the cut windows' commits
    if count in ledger.rewound_tips(run.beast_id, min(cut) if cut else 0):
        return count
    return None  # not a rewind: reconcile's loud error (another trainer, lost data, a reset chain)


def rewind(run: BeastRun, ledger: Ledger, tip: int, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Take ``run``'s lineage back to node window ``tip`` (module docstring, steps 1-5); returns what it did."""
    store = run.store
    journal = store.root / JOURNAL
    if pending_tip(run) != tip:
        atomic_write(journal, json.dumps({"tip": tip}).encode())
    crash_point("rewind_after_journal")
    cleared = 0
    while True:
        lo, hi = ledger.voided_range(run.beast_id)
        if lo >= hi:
            break
        try:
            ledger.clear_voided(run.beast_id, min(hi - lo, CLEAR_BATCH))
            cleared += min(hi - lo, CLEAR_BATCH)
        except TxRevertedError as exc:
            if not exc.reason.startswith("LedgerNothingVoided"):
                raise  # else someone else cleared the range first (anyone may): read it again
    crash_point("rewind_after_clear")
    dropped = store.drop_after(tip)
    crash_point("rewind_after_rows")
    moved = _set_aside(run, tip)
    run._state = None  # the cached latest state may be a dropped window's
    journal.unlink(missing_ok=True)
    _sync_dir(store.root)
    doc = {"tip": tip, "dropped": [r.window for r in dropped], "filesSetAside": moved, "slotsCleared": cleared}
    store.event("rewound", **doc)
    log(f"beast {run.beast_id}: lineage rewound to window {tip} after a slash (dropped windows "
        f"{[r.window for r in dropped]}); training on from there")
    return doc


def resume(run: BeastRun, ledger: Ledger, log: Callable[[str], None] = lambda m: None) -> dict[str, Any] | None:
    """Finish a rewind a killed node left (its journal), then start one the chain calls for; None when neither."""
    tip = pending_tip(run)
    if tip is None:
        tip = check(run, ledger)
    return None if tip is None else rewind(run, ledger, tip, log)


def _set_aside(run: BeastRun, tip: int) -> int:
    """Move the checkpoint files of windows after ``tip`` into checkpoints/voided/; returns how many."""
    src = run.store.checkpoints
    dst = src / VOIDED_DIR
    moved = 0
    for path in sorted(src.iterdir()):
        m = _CHECKPOINT.match(path.name)
        if m is None or int(m.group(1)) <= tip:
            continue
        dst.mkdir(mode=0o700, exist_ok=True)
        os.replace(path, dst / path.name)
        moved += 1
    if moved:
        _sync_dir(dst)
        _sync_dir(src)
    return moved


def _sync_dir(path: Any) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["JOURNAL", "VOIDED_DIR", "check", "pending_tip", "resume", "rewind"]
