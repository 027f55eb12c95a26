"""Process entry of the crash tests: one `cb-node` run in a child of a fork server.

The fork server preloads the node's modules, so each crash run is a separate process (a kill is a
real process death) without paying the import time again. Test-only: the product keeps just the
hook (node.crash.crash_point) and the list of points.
"""

from __future__ import annotations

import os
import traceback

from node.crash import CRASH_ENV


def run_cli_child(argv: list[str], crash: str | None, log: str) -> None:
    """Run ``cb-node argv`` with stdout and stderr in ``log`` and CB_NODE_CRASH_AT=``crash``; exit with its code."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.environ.pop(CRASH_ENV, None)
    if crash:
        os.environ[CRASH_ENV] = crash
    from node.cli import main

    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report like an uncaught error of the real CLI
        traceback.print_exc()
        rc = 1
    os._exit(rc)
