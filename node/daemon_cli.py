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

from node.errors import ConfigError

NODE_DIR_ENV = "CB_NODE_DIR"


def _node_dir(args: argparse.Namespace) -> Path:
    return Path(args.node_dir or os.environ.get(NODE_DIR_ENV) or ".")


def _cmd_init(args: argparse.Namespace) -> int:
    from node.config import create_keystore, read_password, read_private_key_file, write_config

    node_dir: Path = args.dir
    node_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (node_dir / "node.toml").exists():
        raise ConfigError(f"{node_dir / 'node.toml'} already exists; refusing to overwrite it")
    key = read_private_key_file(args.import_key) if args.import_key else None
    password = read_password(args.password_file, confirm=True)
    address = create_keystore(node_dir / "keystore.json", password, key)
    # Paths given on the command line are relative to the current directory; node.toml
    # paths are relative to node.toml, so write an absolute path.
    deployments = str(args.deployments.resolve()) if args.deployments else "deployments.json"
    rpc = args.rpc or ("embedded" if not args.deployments else "http://127.0.0.1:8545")
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
    opts = RunOptions(password_file=args.password_file, hatch=args.hatch, until_window=args.until_window,
                      grpc=args.grpc, quiet=args.quiet, ready_file=args.ready_file)
    return run_daemon(cfg, opts)


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
    if pid is None:
        print(f"no cb-node is running on {cfg.data_dir}; the next `cb-node run` starts {state}")
        return 0
    if state == "stopping":
        if not wait_stopped(cfg.data_dir, args.timeout):
            if args.force and pid > 0:
                os.kill(pid, signal.SIGTERM)
                if wait_stopped(cfg.data_dir, args.timeout):
                    print(f"cb-node (pid {pid}) stopped after SIGTERM")
                    return 0
            raise ConfigError(f"cb-node (pid {pid}) did not stop within {args.timeout}s")
        print(f"cb-node (pid {pid}) stopped")
    else:
        print(f"cb-node (pid {pid}) asked to be {state} (takes effect after the current window)")
    return 0


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
    p.add_argument("--rpc", default=None, help='chain RPC URL or "embedded" (default: embedded, or '
                                               'http://127.0.0.1:8545 when --deployments is given)')
    p.add_argument("--deployments", type=Path, default=None, help="deployments JSON of the chain (cb-devnet writes one)")
    p.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="kernel backend (default numpy)")
    p.add_argument("--grpc", default="127.0.0.1:50551", help="gRPC address HOST:PORT (default 127.0.0.1:50551)")
    p.add_argument("--import-key", type=Path, default=None,
                   help="file (mode 0600) holding a hex private key to put in the keystore instead of a new key")
    password_opt(p)
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
                                   "signal abandons it (it is recommitted or retrained on restart).",
                       epilog=epilog, formatter_class=fmt)
    node_dir_opt(p)
    password_opt(p)
    p.add_argument("--hatch", type=int, default=0, metavar="N", help="hatch N new beasts (public sources) first")
    p.add_argument("--until-window", type=int, default=0, metavar="N",
                   help="exit 0 once every beast has N committed windows (default: run until stopped)")
    p.add_argument("--grpc", default=None, metavar="HOST:PORT", help="override node.toml's gRPC address (port 0: any)")
    p.add_argument("--ready-file", type=Path, default=None, help="write {pid, grpcPort} JSON here once serving")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_cmd_run)

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
        p.set_defaults(func=lambda a, s=state: _control(a, s))
