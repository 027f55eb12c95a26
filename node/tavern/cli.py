"""``cb-node tavern``: serve the Tavern dashboard of a node directory (the daemon need not run).

Registered on cb-node's subparsers by node.cli; imports nothing heavy until the command runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path
from typing import Any

from node.errors import EXIT_INTERRUPTED

ADDRESS_HELP = "HOST:PORT to serve on (default 127.0.0.1:8600; port 0 picks a free one; loopback only unless --allow-remote)"


def _cmd_tavern(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.tavern.server import start, stop

    cfg = load_config(Path(args.node_dir or os.environ.get("CB_NODE_DIR") or "."))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server = start(cfg, args.http, allow_remote=args.allow_remote)
    print(f"Tavern of {cfg.root} at {server.url} (read-only; Ctrl-C stops it)", flush=True)
    try:
        done.wait()
    finally:
        stop(server)
    return EXIT_INTERRUPTED  # serving until a signal is how it ends, as `cb-devnet up`


def add_command(sub: Any, fmt: type[argparse.HelpFormatter], epilog: str) -> None:
    """Register ``tavern`` on cb-node's subparsers."""
    p = sub.add_parser("tavern", help="serve the Tavern: a read-only web dashboard of the node (and /metrics)",
                       description="Serve the Tavern dashboard of a node directory on HOST:PORT: the beasts, each "
                                   "window's status, h128 and ENERGY, live loss and held-out accuracy curves, ENERGY "
                                   "spent, disputes, and a battle viewer that plays a seeded battle of a trained "
                                   "checkpoint against the beast's untrained self on the 8x8 board. JSON under "
                                   "/api/, Prometheus text at /metrics. Works offline (assets ship in the package) "
                                   "and beside a running `cb-node run` (or use `cb-node run --http`).",
                       epilog=epilog, formatter_class=fmt)
    p.add_argument("--node-dir", type=Path, default=None,
                   help="node directory holding node.toml (default $CB_NODE_DIR or the current directory)")
    p.add_argument("--http", default="127.0.0.1:8600", metavar="HOST:PORT", help=ADDRESS_HELP)
    p.add_argument("--allow-remote", action="store_true",
                   help="serve a non-loopback address and any Host header (anyone reaching it sees the node)")
    p.set_defaults(func=_cmd_tavern)


__all__ = ["ADDRESS_HELP", "add_command"]
