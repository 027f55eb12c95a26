"""Crash-injection hook for the crash-safety tests (off unless CB_NODE_CRASH_AT is set).

``CB_NODE_CRASH_AT=point:n`` makes the process ``os._exit(137)`` -- no cleanup, no flush,
exactly like SIGKILL -- the n-th time execution reaches ``crash_point(point)``.
"""

from __future__ import annotations

import os
from typing import Final

CRASH_ENV: Final = "CB_NODE_CRASH_AT"
CRASH_POINTS: Final = ("mid_persist", "after_persist", "after_sign", "after_broadcast", "after_mined",
                       "after_mark_committed")
_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Exit abruptly when CB_NODE_CRASH_AT names this point and its count is reached."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(count or 1):
        os._exit(137)


def reset() -> None:
    """Forget the counts (a forked test child starts from zero)."""
    _counts.clear()


def run_cli_child(argv: list[str], crash: str | None) -> None:
    """Process entry for crash tests: run ``cb-node`` with ``argv`` and exit with its code.

    Used as a multiprocessing target from a fork server that preloaded the node's modules,
    so each crash run is a separate process without paying the import time again.
    """
    os.environ.pop(CRASH_ENV, None)
    if crash:
        os.environ[CRASH_ENV] = crash
    reset()
    from node.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report like an uncaught error of the real CLI
        import traceback

        traceback.print_exc()
        rc = 1
    os._exit(rc)
