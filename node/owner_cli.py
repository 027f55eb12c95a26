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


def _cmd_verify(args: argparse.Namespace) -> int:
    from node.beast_run import build_source
    from node.lineage import verify_lineage

    cfg, store = _open_store(args)
    try:
        chain: Any = None
        if not args.local:
            if cfg.rpc == "embedded":
                raise ConfigError('rpc = "embedded": that chain lived only inside `cb-node run`; pass --local to '
                                  "compare with the words this node recorded instead")
            chain = _connect(cfg)
        meta = store.read_meta()
        report = verify_lineage(store, meta, build_source(meta, cfg.data_dir / "cache"), chain,
                                from_window=args.from_window, backend=cfg.backend)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    against = "the node's own index (chain not consulted)" if report.on_chain is None else \
        f"the chain ({report.on_chain} windows on chain)"
    start = "genesis, re-derived from the hatch data" if report.from_window == 0 else \
        f"the kept checkpoint of window {report.from_window}"
    print(f"beast {report.beast_id}: lineage verified from {start} to window {report.to_window}: "
          f"{report.retrained} windows re-derived, every h128 and word equal to {against}; "
          f"{report.kept_checked} kept checkpoints equal to their re-derived states")
    for who, n in report.producers.items():
        print(f"  {n:>6} windows produced by {who}")
    return 0


def _connect(cfg: Any) -> Any:
    """The chain of node.toml as a lineage.ChainView (ChainError when unreachable)."""
    import devnet
    from node.errors import ChainError
    from node.lineage import BindingsView

    try:
        return BindingsView(devnet.connect(cfg.deployments, rpc_url=cfg.rpc, timeout=10))
    except devnet.ConfigError as exc:
        raise ConfigError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - devnet and web3 connection errors
        raise ChainError(f"cannot reach the chain at {cfg.rpc}: {exc}") from exc


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

    p = sub.add_parser("verify", help="re-derive a beast's stored lineage and compare every h128 and word with the chain",
                       description="Re-derive the beast's checkpoints from genesis (rebuilt from its hatch data) or "
                                   "from a kept checkpoint (--from-window; its hash must be the chain's), retraining "
                                   "every later window with its committed mask and lr_shift and the ledger's epoch "
                                   "seed, and compare each word and h128 with the chain, the index and every kept "
                                   "checkpoint file. Fails closed (exit 1) at the first disagreement. Also lists "
                                   "what produced the windows (node version, spec, backend, config hash).",
                       epilog=epilog, formatter_class=fmt)
    common(p)
    p.add_argument("--from-window", type=int, default=0, metavar="K",
                   help="start from the kept checkpoint of window K (default 0: genesis)")
    p.add_argument("--local", action="store_true",
                   help="compare with the words this node recorded, not the chain (for rpc = \"embedded\")")
    p.set_defaults(func=_cmd_verify)


__all__ = ["add_commands"]
