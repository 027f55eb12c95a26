"""The cb-node commands of an owner and an operator: spurt (growth spurt), verify (lineage), prune (retention).

Registered on cb-node's subparsers by :func:`add_commands`; each handler imports what it needs
inside, so ``cb-node --help`` stays light. None needs the daemon: they work on the node
directory while it runs or not (``spurt`` leaves a request the daemon reads before its next window).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from kernel.host import positive_int
from node.errors import ConfigError


def _open_store(args: argparse.Namespace) -> tuple[Any, Any]:
    """(config, store) of ``--beast`` in the node directory; a beast the node does not hold is a ConfigError."""
    from node.config import load_config
    from node.daemon_cli import _node_dir
    from node.store import BeastStore, beast_dir, known_beasts

    cfg = load_config(_node_dir(args))
    beasts = known_beasts(cfg.data_dir)
    if args.beast not in beasts:
        raise ConfigError(f"this node holds no beast {args.beast} under {cfg.data_dir} (beasts here: {beasts or 'none'})")
    return cfg, BeastStore(beast_dir(cfg.data_dir, args.beast), args.beast, readonly=True)


def _cmd_spurt(args: argparse.Namespace) -> int:
    from node.control import daemon_alive
    from node.owner_controls import cancel_spurt, confirm, plan_spurt, request_spurt

    cfg, store = _open_store(args)
    try:
        if args.cancel:
            had = cancel_spurt(store)
            print(json.dumps({"beastId": args.beast, "cancelled": had}) if args.json else
                  f"beast {args.beast}: {'growth spurt cancelled' if had else 'no growth spurt was pending'}")
            return 0
        row = store.latest()
        if row is None:
            raise ConfigError(f"beast {args.beast} has no checkpoint yet")
        plan = plan_spurt(args.beast, store.load_state(row.window), args.slot)
        if not args.json:
            print(plan.describe())
        confirm(f"switch on slot {plan.slot} of beast {args.beast}?", assume_yes=args.yes)
        request_spurt(store, plan)
        running = daemon_alive(cfg.data_dir) is not None
        if args.json:
            print(json.dumps({**plan.to_json(), "requested": True, "daemonRunning": running}))
        else:
            when = "the running node trains it next" if running else "the next `cb-node run` trains it"
            print(f"growth spurt requested; {when} (cancel with `cb-node spurt --beast {args.beast} --cancel`)")
        return 0
    finally:
        store.close()


def add_commands(sub: Any, fmt: type[argparse.HelpFormatter], epilog: str) -> None:
    """Register spurt, verify and prune on cb-node's subparsers."""
    from node.daemon_cli import NODE_DIR_ENV

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--node-dir", type=Path, default=None,
                       help=f"node directory holding node.toml (default ${NODE_DIR_ENV} or the current directory)")
        p.add_argument("--beast", type=positive_int, required=True, metavar="N", help="beast id")
        p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("spurt", help="growth spurt: the beast's next window switches on a dormant slot",
                       description="Ask for a growth spurt (SPEC §7.1): the next window the node trains for the "
                                   "beast switches on one dormant slot (the lowest, or --slot). Shows what that "
                                   "window and every later one burn in ENERGY and asks to confirm (--yes for "
                                   "scripts). Refused when every slot is on, the slot is on or does not exist, or "
                                   "a spurt is already pending (one new slot per window). Works while `cb-node "
                                   "run` runs: it reads the request before each window.",
                       epilog=epilog, formatter_class=fmt)
    common(p)
    p.add_argument("--slot", type=int, default=None, metavar="S", help="slot to switch on (default: the lowest dormant)")
    p.add_argument("--yes", action="store_true", help="confirm without asking (scripts)")
    p.add_argument("--cancel", action="store_true", help="cancel a pending spurt instead")
    p.set_defaults(func=_cmd_spurt)


__all__ = ["add_commands"]
