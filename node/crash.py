"""Crash-injection hook for the crash-safety tests (off unless CB_NODE_CRASH_AT is set).

``CB_NODE_CRASH_AT=point:n`` makes the process ``os._exit(137)`` -- no cleanup, no flush,
exactly like SIGKILL -- the n-th time execution reaches ``crash_point(point)``.

:data:`CRASH_POINTS` is the one list of the points the node's code calls, in the order a
hatch and then a window pass them. tests/node/test_crash.py checks that every call names a
listed point, that every listed point is called, and that its scenarios reach each one.
"""

from __future__ import annotations

from typing import Final

from kernel.host import crash_hook

CRASH_ENV: Final = "CB_NODE_CRASH_AT"

# Every crash point, with where it lies (the modules' docstrings give the order of operations).
CRASH_POINTS: Final[dict[str, str]] = {
    "hatch_after_sign": "node.hatching: hatch signed and journaled, not broadcast",
    "hatch_after_broadcast": "node.hatching: hatch broadcast, receipt not seen",
    "hatch_after_mined": "node.hatching: hatch mined, beast.json not written",
    "hatch_after_meta": "node.hatching: beast.json written, genesis not persisted, journal record kept",
    "mid_persist": "node.store: checkpoint file written, its index row not",
    "after_persist": "node.training: window persisted (index row written), commit not signed",
    "after_sign": "node.committing: commit signed and recorded on the windows (sent), not broadcast",
    "after_broadcast": "node.committing: commit broadcast, receipt not seen",
    "after_mined": "node.committing: commit mined, windows still sent locally",
    "after_mark_committed": "node.committing: a window of a mined batch marked committed, the next not yet",
    "in_flight_trained": "node.pipeline: the next round persisted while the previous round's commit may be in flight",
    "rewind_after_journal": "node.rewind: the rewind journal written, voided slots not cleared",
    "rewind_after_clear": "node.rewind: voided slots cleared on chain, the dropped windows' rows still there",
    "rewind_after_rows": "node.rewind: the dropped windows' rows deleted, their files not set aside, journal kept",
}

crash_point = crash_hook(CRASH_ENV)
"""Exit abruptly (as SIGKILL would) when the environment variable names this point and its count is reached."""


__all__ = ["CRASH_ENV", "CRASH_POINTS", "crash_point"]
