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


def _cmd_prune(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.daemon_cli import _node_dir
    from node.retention import KeepPolicy, prune
    from node.store import BeastStore, beast_dir, known_beasts

    cfg = load_config(_node_dir(args))
    if args.keep_every is not None and args.keep_every < 0:
        raise ConfigError(f"--keep-every must be >= 0 (0: keep no window for being a multiple), got {args.keep_every}")
    policy = KeepPolicy(cfg.keep_every if args.keep_every is None else args.keep_every,
                        cfg.keep_latest if args.keep_latest is None else args.keep_latest)
    ids = args.beast or known_beasts(cfg.data_dir)
    missing = sorted(set(ids) - set(known_beasts(cfg.data_dir)))
    if missing:
        raise ConfigError(f"this node holds no beast {missing[0]} under {cfg.data_dir}")
    results = []
    for bid in ids:
        store = BeastStore(beast_dir(cfg.data_dir, bid), bid, readonly=True)
        try:
            results.append(prune(store, policy, dry_run=args.dry_run))
        finally:
            store.close()
    if args.json:
        print(json.dumps({"dryRun": args.dry_run, "keepEvery": policy.keep_every, "keepLatest": policy.keep_latest,
                          "beasts": [r.to_json() for r in results]}))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for r in results:
        ws = _ranges(r.windows)
        print(f"beast {r.beast_id}: {verb} {len(r.windows)} checkpoints ({r.bytes_freed} bytes)"
              + (f": windows {ws}" if ws else "") + f"; {r.kept} kept"
              + (f"; removed {r.orphans} files an interrupted prune left" if r.orphans else ""))
    return 0


def _ranges(ws: list[int]) -> str:
    """1, 2, 3, 5 -> "1-3, 5"."""
    out: list[str] = []
    for w in ws:
        if out and out[-1].split("-")[-1] == str(w - 1):
            out[-1] = out[-1].split("-")[0] + f"-{w}"
        else:
            out.append(str(w))
    return ", ".join(out)


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

    p = sub.add_parser("prune", help="delete checkpoints of old finalized windows, keep what a dispute could need",
                       description="Delete the checkpoint files of finalized windows, except genesis, every "
                                   "keep_every-th window, the newest keep_latest windows and every window a dispute "
                                   "could still need (not finalized, or followed by a window that is not). Index rows "
                                   "stay (words, digests); GetState of a pruned window answers NOT_FOUND. Crash-safe: "
                                   "the index forgets a file before it is deleted, and the next prune removes what a "
                                   "killed one left. node.toml: keep_every, keep_latest, auto_prune.",
                       epilog=epilog, formatter_class=fmt)
    p.add_argument("--node-dir", type=Path, default=None,
                   help=f"node directory holding node.toml (default ${NODE_DIR_ENV} or the current directory)")
    p.add_argument("--beast", type=positive_int, action="append", metavar="N", help="only this beast (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    p.add_argument("--keep-every", type=int, default=None, metavar="N", help="override node.toml's keep_every")
    p.add_argument("--keep-latest", type=positive_int, default=None, metavar="N", help="override node.toml's keep_latest")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_prune)


__all__ = ["add_commands"]
