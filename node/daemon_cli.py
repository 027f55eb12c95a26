"""The cb-node commands around the daemon: init, hatch, run, status, pause, resume, stop.

The parser and `status`/`pause`/`resume`/`stop` import no training, chain or gRPC code (node.control);
`hatch` and `run` import node.daemon inside their handlers, so `cb-node --help` starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path
from typing import Any

from chainbeasts.tooling import DEPLOYMENTS_ENV
from kernel.host import positive_int
from node.errors import ConfigError

NODE_DIR_ENV = "CB_NODE_DIR"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _node_dir(args: argparse.Namespace) -> Path:
    return Path(args.node_dir or os.environ.get(NODE_DIR_ENV) or ".")


def _deployments_rpc(path: Path) -> str:
    """The ``rpcUrl`` a deployments file names (``cb-devnet up`` writes it); ConfigError when it has none."""
    from kernel.host import HostError, read_file

    try:
        doc = json.loads(read_file(path, limit=16 << 20, what="deployments file"))
    except HostError as exc:
        raise ConfigError(str(exc)) from None
    except ValueError:
        raise ConfigError(f"deployments file {path} is not JSON") from None
    url = doc.get("rpcUrl") if isinstance(doc, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"deployments file {path} names no rpcUrl; pass --rpc URL")
    return url


def _cmd_init(args: argparse.Namespace) -> int:
    from chainbeasts.keys import KeyChoiceError, deployments_dev_accounts, load_key
    from node.config import PASSWORD_ENV, create_keystore, read_password, write_config

    node_dir: Path = args.dir
    if (node_dir / "node.toml").exists():
        raise ConfigError(f"{node_dir / 'node.toml'} already exists; refusing to overwrite it")
    # Paths given on the command line are relative to the current directory; node.toml
    # paths are relative to node.toml, so write an absolute path.
    deployments = str(args.deployments.resolve()) if args.deployments else "deployments.json"
    rpc = args.rpc or (_deployments_rpc(args.deployments) if args.deployments else "embedded")
    # The node's key: a new one, or the one the shared key options name (a keystore given here is
    # unlocked with --password-file's password, which then protects the node's keystore too).
    try:
        account = load_key(args, password_env=PASSWORD_ENV, dev_accounts=deployments_dev_accounts(args.deployments),
                           required=False)
    except KeyChoiceError as exc:
        raise ConfigError(str(exc)) from None
    password = read_password(args.password_file, confirm=account is None or args.keystore is None)
    node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    address = create_keystore(node_dir / "keystore.json", password, bytes(account.key) if account is not None else None)
    path = write_config(node_dir, rpc=rpc, deployments=deployments, backend=args.backend, grpc=args.grpc)
    (node_dir / "data").mkdir(mode=0o700, exist_ok=True)
    out = {"config": str(path), "keystore": str(node_dir / "keystore.json"), "address": address}
    print(json.dumps(out) if args.json else f"wrote {path}\nkeystore {out['keystore']}\ntrainer address {address}")
    return 0


def _cmd_hatch(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.daemon import hatch

    cfg = load_config(_node_dir(args))
    out = hatch(cfg, args.password_file, args.dataset, args.secret_file)
    if args.json:
        print(json.dumps(out))
    else:
        if out["recovered"]:
            print(f"finished the interrupted hatch of beast(s) {', '.join(map(str, out['recovered']))} instead of "
                  "hatching another; run `cb-node hatch` again for a new beast")
        print(f"hatched beast {out['beastId']} (owner {out['owner']})\n  seedCore {out['seed_core']}\n"
              f"  C_dataset {out['dataset_commitment']}\n  run directory {out['runDir']}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.daemon import RunOptions, run_daemon

    cfg = load_config(_node_dir(args))
    output = "quiet" if args.quiet else "json" if args.json else "human"
    if args.http:
        from node.tavern.server import check_address

        check_address(args.http)  # a bad --http is refused before anything is signed
    if (args.dishonest is None) != (args.from_window is None):
        raise ConfigError("--dishonest KIND and --from-window K go together (devnet only: lie in window K)")
    opts = RunOptions(password_file=args.password_file, hatch=args.hatch, until_window=args.until_window,
                      grpc=args.grpc, output=output, ready_file=args.ready_file, http=args.http,
                      dishonest=args.dishonest, from_window=args.from_window or 0)
    return run_daemon(cfg, opts)


def _cmd_eval(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.evaluation import evaluate_window, format_evaluation
    from node.store import BeastStore, beast_dir, known_beasts

    cfg = load_config(_node_dir(args))
    if args.beast not in known_beasts(cfg.data_dir):
        raise ConfigError(f"this node holds no beast {args.beast} under {cfg.data_dir} "
                          f"(beasts here: {known_beasts(cfg.data_dir) or 'none'})")
    store = BeastStore(beast_dir(cfg.data_dir, args.beast), args.beast, readonly=True)
    try:
        fig = evaluate_window(store, args.window, boards=args.boards, battles=args.battles)
    finally:
        store.close()
    print(json.dumps(fig) if args.json else format_evaluation(fig))
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    from node.watch import resolve_address, watch

    address = resolve_address(args.grpc, _node_dir(args))
    return watch(address, args.beast or [], as_json=args.json, windows_only=args.windows_only, count=args.count,
                 step_every=args.step_every)


def _cmd_status(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.control import format_status, status

    doc = status(load_config(_node_dir(args)))
    print(json.dumps(doc, indent=2) if args.json else format_status(doc))
    return 0


def _control(args: argparse.Namespace, state: str) -> int:
    from node.config import load_config
    from node.control import daemon_alive, wait_stopped, write_control

    cfg = load_config(_node_dir(args))
    pid = daemon_alive(cfg.data_dir)
    write_control(cfg.data_dir, state)

    def say(outcome: str, text: str) -> int:
        doc = {"dataDir": str(cfg.data_dir), "requested": state, "pid": pid, "outcome": outcome}
        print(json.dumps(doc) if args.json else text)
        return 0

    if pid is None:
        return say("not_running", f"no cb-node is running on {cfg.data_dir}; the next `cb-node run` starts {state}")
    if state == "stopping":
        if not wait_stopped(cfg.data_dir, args.timeout):
            if args.force and pid > 0:
                os.kill(pid, signal.SIGTERM)
                if wait_stopped(cfg.data_dir, args.timeout):
                    return say("stopped_after_sigterm", f"cb-node (pid {pid}) stopped after SIGTERM")
            raise ConfigError(f"cb-node (pid {pid}) did not stop within {args.timeout}s")
        return say("stopped", f"cb-node (pid {pid}) stopped")
    return say("requested", f"cb-node (pid {pid}) asked to be {state} (takes effect after the current window)")


def add_commands(sub: Any, fmt: type[argparse.HelpFormatter], epilog: str) -> None:
    """Register the daemon commands on cb-node's subparsers."""

    def node_dir_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--node-dir", type=Path, default=None,
                       help=f"node directory holding node.toml (default ${NODE_DIR_ENV} or the current directory)")

    def password_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--password-file", type=Path, default=None,
                       help="file whose first line is the keystore password (else $CB_NODE_PASSWORD, else a prompt)")

    p = sub.add_parser("init", help="create a node directory: commented node.toml, encrypted keystore, data dir",
                       description="Create DIR/node.toml (commented), DIR/keystore.json (an eth-account keystore "
                                   "encrypted with your password; a new key unless --import-key) and DIR/data/.",
                       epilog=epilog, formatter_class=fmt)
    p.add_argument("dir", type=Path, help="node directory to create")
    p.add_argument("--rpc", default=None, help='chain RPC URL or "embedded" (default: the rpcUrl of the deployments '
                                               'file when there is one, else embedded)')
    p.add_argument("--deployments", type=Path, default=_env_path(DEPLOYMENTS_ENV),
                   help=f"deployments JSON of the chain, written by cb-devnet up/deploy (default ${DEPLOYMENTS_ENV})")
    p.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="kernel backend (default numpy)")
    p.add_argument("--grpc", default="127.0.0.1:50551", help="gRPC address HOST:PORT (default 127.0.0.1:50551)")
    password_opt(p)
    from chainbeasts.keys import add_key_options

    add_key_options(p, password_env="CB_NODE_PASSWORD", title="key (optional: default a new key)", password_option=False)
    p.add_argument("--import-key", dest="key_file", type=Path, help=argparse.SUPPRESS)  # the old name of --key-file
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("hatch", help="hatch a beast owned by the node's key (optionally with a private dataset)",
                       description="Hatch a beast on chain and create its run directory with the genesis "
                                   "checkpoint. With --dataset, the beast trains only on that private dataset, "
                                   "sampled with the owner secret in --secret-file (created, mode 0600, when the "
                                   "file does not exist). If an earlier `cb-node hatch` or `run --hatch` was "
                                   "killed after signing its hatch, this finishes that beast instead of hatching "
                                   "another (the signed transaction waits in DATA_DIR/hatching/).",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    p.add_argument("--dataset", type=Path, default=None, help="dataset file (.zst, from `cb-curriculum pack`)")
    p.add_argument("--secret-file", type=Path, default=None, help="owner secret file (0600); created when missing")
    password_opt(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=_cmd_hatch)

    p = sub.add_parser("run", help="the daemon: train, commit, finalize and serve checkpoints over gRPC",
                       description="Train the configured beasts window by window (several beasts per round "
                                   "through kernel.batched, committed together with commitMany), serve "
                                   "chainbeasts.v1.NodeService and grpc.health.v1, reconcile with the chain on "
                                   "start. SIGINT/SIGTERM: finish the current window, then exit 130; a second "
                                   "signal abandons it (it is recommitted or retrained on restart). Between "
                                   "rounds it defends its windows: it answers every bisection game opened on a "
                                   "window it committed from its stored checkpoints and calls timeout on a "
                                   "challenger whose clock ran out (DATA_DIR/defense.json keeps the games "
                                   "across restarts); after a slash it clears the voided windows, sets their "
                                   "checkpoints aside and trains on from the last window not shown false. It "
                                   "stakes what its commits need (node.toml's stake).",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    password_opt(p)
    p.add_argument("--hatch", type=int, default=0, metavar="N", help="hatch N new beasts (public sources) first")
    p.add_argument("--until-window", type=int, default=0, metavar="N",
                   help="exit 0 once every beast has N committed windows and no game on its windows is open "
                        "(default: run until stopped)")
    p.add_argument("--grpc", default=None, metavar="HOST:PORT", help="override node.toml's gRPC address (port 0: any)")
    p.add_argument("--ready-file", type=Path, default=None,
                   help="write {pid, grpcPort[, httpPort]} JSON here once serving")
    p.add_argument("--http", default=None, metavar="HOST:PORT",
                   help="also serve the Tavern dashboard here (loopback only; port 0: any; see `cb-node tavern`)")
    p.add_argument("--dishonest", choices=("step", "word"), default=None, metavar="KIND",
                   help="DEVNET ONLY (refused on any other chain): cheat once, in window --from-window: 'step' "
                        "alters micro-step 77's state and trains on from it (a bisection catches it), 'word' "
                        "commits the true state under a word with a wrong flag (proveWordLie catches it); "
                        "for the 'Catch a cheating trainer' demo and tests")
    p.add_argument("--from-window", type=positive_int, default=None, metavar="K",
                   help="with --dishonest: the window to lie in")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--quiet", action="store_true", help="print nothing but errors")
    out.add_argument("--json", action="store_true",
                     help="one JSON object per committed window and per evaluation on stdout (no bar)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("eval", help="score a stored checkpoint: move accuracy, attack error, block recall, battles won",
                       description="Load a beast's stored checkpoint (no chain needed) and measure what it learned: "
                                   "move accuracy against A* labels and attack-power error on held-out public "
                                   "boards, recall of the rare 'block' boards, and battles won against the "
                                   "beast's untrained self (its genesis state). The window loss is a sum over the "
                                   "trained heads, so it jumps when a head switches on (attack from epoch 3, "
                                   "block from epoch 6); these figures do not.",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    p.add_argument("--beast", type=positive_int, required=True, metavar="N", help="beast id")
    p.add_argument("--window", type=int, default=None, metavar="K",
                   help="checkpoint window (0 = genesis; default: the latest stored window)")
    p.add_argument("--boards", type=positive_int, default=1000, help="held-out boards (default 1000)")
    p.add_argument("--battles", type=positive_int, default=100, help="battles against the untrained beast (default 100)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("watch", help="follow a running node: a line per step and window as it trains and commits",
                       description="Stream a running node's metric events over gRPC (WatchMetrics): each window "
                                   "trained, committed and finalized, and its micro-steps while it trains. The "
                                   "address is --grpc, else the running daemon's port (from the node directory), "
                                   "else node.toml's grpc. Ends when the node stops, or after --count commits.",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    p.add_argument("--grpc", default=None, metavar="HOST:PORT", help="the node's gRPC address")
    p.add_argument("--beast", type=positive_int, action="append", metavar="N", help="watch this beast (repeat; default all)")
    p.add_argument("--windows-only", action="store_true", help="leave out the step events")
    p.add_argument("--step-every", type=positive_int, default=16, metavar="K",
                   help="human output: a step line every K micro-steps (default 16; --json prints every step)")
    p.add_argument("--count", type=int, default=0, metavar="N", help="exit 0 after N committed windows (default: follow)")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.set_defaults(func=_cmd_watch)

    p = sub.add_parser("status", help="beasts, windows and daemon state from the node directory (no chain needed)",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_status)

    for name, state, text in (("pause", "paused", "pause training after the current window (gRPC keeps serving)"),
                              ("resume", "running", "resume training after a pause"),
                              ("stop", "stopping", "stop the daemon after the current window and wait for it")):
        p = sub.add_parser(name, help=text, description=text + ".", epilog=epilog, formatter_class=fmt)
        node_dir_opt(p)
        if name == "stop":
            p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
            p.add_argument("--force", action="store_true", help="send SIGTERM when it does not stop in time")
        p.add_argument("--json", action="store_true", help="print the outcome as JSON")
        p.set_defaults(func=lambda a, s=state: _control(a, s))

    from node import stake_cli

    stake_cli.add_commands(sub, fmt, epilog, node_dir_opt, password_opt)
