"""``cb-validator``: serve window replays over gRPC, replay one window, and watch the chain as a challenger.

Exit codes: the table below (kernel.host.ExitCode), shared by every ChainBeasts tool. 1 comes
only from ``replay``, when the window diverges from its committed word; an unknown beast or
window is a chain error (4); ``serve`` and ``watch`` run until SIGINT/SIGTERM and then exit 130.

Examples::

    cb-validator serve --address 127.0.0.1:50061 --backend numpy
    cb-validator serve --address 0.0.0.0:50061 --allow-node node1.example:50551 --allow-node 10.0.0.7:*
    cb-validator replay --beast 1 --window 3 --deployments runs/devnet/deployments.json --node 127.0.0.1:50051
    cb-validator watch --deployments runs/devnet/deployments.json --dev-account 2 --record runs/validator/games.json \\
        --private-beast 4 runs/owner/battles.cbds runs/owner/secret.hex
"""

from __future__ import annotations

import argparse
import os
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, Final

from chainbeasts.tooling import DEPLOYMENTS_ENV, closed_stdout, quiet_grpc_logs
from kernel.host import (
    ExitCode,
    HelpFormatter,
    HostError,
    exit_codes_epilog,
    positive_int,
    read_file,
    sigterm_interrupts,
)
from validator.errors import ConfigError, ValidatorError

PASSWORD_ENV: Final = "CB_VALIDATOR_PASSWORD"  # keystore password when --password-file is not given
EXIT_OK: Final = ExitCode.OK
EXIT_DIVERGED: Final = ExitCode.NO
EXIT_DATA: Final = ExitCode.DATA
EXIT_INTERRUPTED: Final = ExitCode.INTERRUPTED


class InputFileError(ValidatorError):
    """Raised when a dataset, state or secret file named on the command line cannot be used."""

    exit_code = ExitCode.DATA


def _exit_code(exc: ValidatorError) -> int:
    return int(exc.exit_code)  # validator.errors gives every kind its code from the shared table


def _fail(exc: ValidatorError) -> int:
    # "error" for what went wrong, as cb-node and cb-dispute say it; the exit code tells the kind (ExitCode)
    print(f"cb-validator: error: {exc}", file=sys.stderr)
    return _exit_code(exc)


# -- inputs --------------------------------------------------------------------------------


def read_bytes(path: str, what: str, limit: int, error: type[ValidatorError] = InputFileError) -> bytes:
    """A file's bytes (kernel.host.read_file: a FIFO or device is refused, not waited on; at most
    ``limit`` bytes); ``error`` (a data error unless the file is configuration) otherwise."""
    try:
        return read_file(path, limit=limit, what=what)
    except HostError as exc:
        raise error(str(exc)) from None


def read_secret(path: str) -> bytes:
    """S_owner from a secret file (curriculum format, 0600, never printed)."""
    from curriculum import CurriculumError, read_secret_file

    try:
        return read_secret_file(path).reveal()
    except CurriculumError as exc:
        raise InputFileError(str(exc)) from None


def load_account(args: argparse.Namespace, chain: Any) -> Any:
    """The signing account named by the shared key options (chainbeasts.keys): --key-file, --keystore
    with --password-file or $CB_VALIDATOR_PASSWORD, or --dev-account N of the deployments file (devnets)."""
    from chainbeasts.keys import KeyChoiceError, load_key

    try:
        return load_key(args, password_env=PASSWORD_ENV, dev_accounts=lambda: chain.accounts)
    except KeyChoiceError as exc:
        raise ConfigError(str(exc)) from None


def connect_chain(args: argparse.Namespace) -> Any:
    from validator.chain import connect

    return connect(args.deployments, rpc_url=args.rpc)


# -- subcommands -----------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from validator.allowlist import NodeAllowlist
    from validator.chain import LedgerChainReader
    from validator.replay import MAX_DATASET_BYTES
    from validator.service import create_server, default_concurrency, default_limits

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    allowed = NodeAllowlist(args.allowed_nodes)
    overrides = {name: value for name, value in (
        ("calls_per_client", args.calls_per_client), ("streams_per_client", args.streams_per_client),
        ("streams_total", args.max_streams), ("stream_lifetime_s", args.stream_lifetime), ("stream_idle_s", args.stream_idle),
    ) if value is not None}
    limits = default_limits(args.max_concurrent or default_concurrency(), args.max_queued, **overrides)
    chain = LedgerChainReader(connect_chain(args)) if args.deployments else None
    max_dataset = chain.max_dataset_bytes() if chain is not None else MAX_DATASET_BYTES  # the season's, when known
    server, port = create_server(
        args.address, args.backend, max_concurrent=args.max_concurrent, max_queued=args.max_queued,
        replay_deadline_s=args.deadline, chain=chain, inputs=args.inputs, workers=args.workers, allowed_nodes=allowed,
        max_dataset_bytes=max_dataset,
        limits=limits, max_expensive=args.max_expensive, expensive_per_client=args.expensive_per_client,
    )
    # The handlers before the "serving" line: a SIGINT between the line and their installation raised
    # KeyboardInterrupt in the main thread while the gRPC server's threads kept the process alive (it
    # hung instead of exiting 130).
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    host = args.address.rsplit(":", 1)[0]
    gate = server.servicer.expensive
    print(json.dumps({"event": "serving", "address": f"{host}:{port}", "backend": args.backend, "inputs": args.inputs,
                      "workers": args.workers, "slots": server.servicer.limiter.max_running, "chain": bool(chain),
                      "maxDatasetBytes": max_dataset,
                      "allowedNodes": list(allowed.entries),
                      "limits": {"callsPerClient": limits.calls_per_client, "calls": limits.calls_total,
                                 "streamsPerClient": limits.streams_per_client, "streams": limits.streams_total,
                                 "streamLifetimeS": limits.stream_lifetime_s, "streamIdleS": limits.stream_idle_s,
                                 "expensivePerClient": gate.per_client, "expensive": gate.total}}),
          flush=True)
    stop.wait()
    server.stop(grace=5.0).wait(6.0)
    print(json.dumps({"event": "stopped"}), flush=True)
    return EXIT_INTERRUPTED  # a signal is how serving ends; it is still reported as one


def cmd_replay(args: argparse.Namespace) -> int:
    from validator.chain import LedgerChainReader
    from validator.node_client import NodeClient
    from validator.replay import MAX_STATE_BLOB_BYTES, ReplayRequest, replay

    if args.window < 1:
        raise ConfigError("--window must be >= 1 (window 0 is genesis and is never committed)")
    if bool(args.dataset) != bool(args.secret_file):
        raise ConfigError("--dataset and --secret-file go together")
    state = read_bytes(args.state_file, "state file", MAX_STATE_BLOB_BYTES) if args.state_file else None
    secret = read_secret(args.secret_file) if args.secret_file else None
    reader = LedgerChainReader(connect_chain(args))
    max_dataset = reader.max_dataset_bytes()  # the season's limit (SeasonRegistry maxDatasetBytes), not a constant
    dataset = read_bytes(args.dataset, "dataset", max_dataset) if args.dataset else None
    beast = reader.beast_commitments(args.beast)
    claim = reader.window_claim(args.beast, args.window)
    digests = None
    if args.window > 1 and state is None:
        if not args.node:
            raise ConfigError(f"window {args.window} starts from checkpoint {args.window - 1}: give --node ADDR or --state-file FILE")
        nodes = NodeClient()
        try:
            state = nodes.get_state(args.node, args.beast, args.window - 1)
            try:
                digests = nodes.get_step_digests(args.node, args.beast, args.window)
            except ValidatorError:
                digests = None
        finally:
            nodes.close()
    report = replay(
        ReplayRequest(beast=beast, window=args.window, start_state=state, prev_h128=claim.prev_h128,
                      committed_word=claim.committed_word, epoch_seed=claim.epoch_seed, dataset=dataset,
                      owner_secret=secret, trainer_digests=digests),
        backend=args.backend, inputs=args.inputs, max_dataset_bytes=max_dataset,
    )
    if args.json:
        print(json.dumps({"beast": args.beast, **report.to_json()}))
    else:
        verdict = "MATCH" if report.match else "DIVERGED"
        print(f"beast {args.beast} window {args.window}: {verdict}")
        print(f"  committed {report.committed.hex() if report.committed else '-'}")
        print(f"  computed  {report.computed.hex()}")
        if not report.match:
            if report.mismatched_fields:
                print(f"  fields    {', '.join(report.mismatched_fields)}")
            if report.first_divergent_step is not None:
                print(f"  first divergent step {report.first_divergent_step}")
            if report.reason:
                print(f"  reason    {report.reason}")
        print(f"  replay    {report.replay_seconds * 1000:.1f} ms on {report.backend}")
    return EXIT_OK if report.match else EXIT_DIVERGED


def _curricula(args: argparse.Namespace) -> dict[int, Any]:
    """--private-beast ID DATASET SECRET_FILE (repeatable): the private beasts this watcher can replay."""
    from curriculum.dataset import MAX_FILE_BYTES
    from validator.lineage import Curriculum

    out: dict[int, Curriculum] = {}
    for beast, dataset, secret_file in args.private_beasts or []:
        try:
            beast_id = int(beast)
        except ValueError:
            raise ConfigError(f"--private-beast: beast id must be an integer, got {beast!r}") from None
        if beast_id < 1 or beast_id in out:
            raise ConfigError(f"--private-beast: beast id {beast_id} is not >= 1 or given twice")
        # not the season's limit: a file over it is still the committed one, and a step proof opens one
        # record of it (the watcher logs it); only the format's bound keeps the read finite
        data = read_bytes(dataset, "dataset", MAX_FILE_BYTES, ConfigError)
        out[beast_id] = Curriculum(data, read_secret(secret_file))
    return out


def cmd_watch(args: argparse.Namespace) -> int:
    from validator.watch import Watcher, json_logger

    curricula = _curricula(args)
    chain = connect_chain(args)
    account = load_account(args, chain)
    watcher = Watcher(chain, account, args.record, curricula=curricula, beasts=set(args.beasts or []) or None,
                      log=json_logger(sys.stdout))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args.once:
            watcher.run_once()
        else:
            watcher.run(args.poll, stop, max_rounds=args.rounds)
    finally:
        watcher.close()
    return EXIT_INTERRUPTED if stop.is_set() else EXIT_OK


# -- parser -----------------------------------------------------------------------------------


def _chain_flags(p: argparse.ArgumentParser, required: bool = True) -> None:
    env = os.environ.get(DEPLOYMENTS_ENV) or None
    p.add_argument("--deployments", required=required and env is None, default=env, metavar="FILE",
                   help=f"deployments JSON written by cb-devnet up / deploy (contract addresses, rpcUrl; "
                        f"default ${DEPLOYMENTS_ENV})")
    p.add_argument("--rpc", metavar="URL", default=None, help="JSON-RPC URL (default: the file's rpcUrl)")


def _signer_flags(p: argparse.ArgumentParser) -> None:
    from chainbeasts.keys import add_key_options

    add_key_options(p, password_env=PASSWORD_ENV)


def _backend_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="kernel backend (default numpy)")
    p.add_argument("--inputs", choices=("spec", "fast"), default="spec",
                   help="board drawing/encoding: spec = scalar reference (default), fast = the kernel's vectorized drop-in")


def build_parser() -> argparse.ArgumentParser:
    common: dict[str, Any] = {"epilog": exit_codes_epilog(), "formatter_class": HelpFormatter}
    parser = argparse.ArgumentParser(prog="cb-validator", description=__doc__, **common)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the gRPC ValidatorService",
                       description="Serve chainbeasts.v1.ValidatorService, grpc.health.v1 and reflection until SIGINT/SIGTERM. "
                                   "With --deployments, missing hatch data and window claims are read from the chain, and so is "
                                   "the season's dataset limit (maxDatasetBytes; default 256 KiB). "
                                   "A request's node_address is dialed only when --allow-node allows it (default: "
                                   "a node on this machine at port 50551); others are refused with PERMISSION_DENIED. "
                                   "Each client (peer IP) may hold --calls-per-client calls and --streams-per-client "
                                   "streams at once and --expensive-per-client replays of datasets over 4,096 records; "
                                   "more are refused with RESOURCE_EXHAUSTED (retry later). Health checks and "
                                   "GetValidatorInfo have their own capacity.", **common)
    p.add_argument("--address", default="127.0.0.1:50061", help="host:port to bind (default 127.0.0.1:50061; port 0 = any)")
    _backend_flag(p)
    p.add_argument("--max-concurrent", type=int, default=None, metavar="N", help="replays at once (default: CPU cores)")
    p.add_argument("--max-queued", type=int, default=64, metavar="N", help="replays waiting for a slot before RESOURCE_EXHAUSTED (64)")
    p.add_argument("--deadline", type=float, default=30.0, metavar="S", help="per-replay deadline in seconds (30)")
    p.add_argument("--workers", choices=("thread", "process"), default="thread",
                   help="run replays in threads of this process (default) or in one spawned process per slot")
    p.add_argument("--allow-node", action="append", dest="allowed_nodes", default=None, metavar="HOST:PORT",
                   help="a trainer node clients may name in node_address (repeatable): host:port, or host:* for any port; "
                        "IPv6 in brackets; hosts compared as written, never resolved. Default: 127.0.0.1:50551, "
                        "localhost:50551 and [::1]:50551 (cb-node's default port); any --allow-node replaces that default")
    p.add_argument("--calls-per-client", type=positive_int, default=None, metavar="N",
                   help="calls one client IP may have in flight (16; in total: slots + --max-queued + 8)")
    p.add_argument("--streams-per-client", type=positive_int, default=None, metavar="N",
                   help="streams (reflection, health Watch) one client IP may hold open (2)")
    p.add_argument("--max-streams", type=positive_int, default=None, metavar="N", help="streams open at once, all clients (8)")
    p.add_argument("--stream-lifetime", type=float, default=None, metavar="S", help="a stream is ended after S seconds (600)")
    p.add_argument("--stream-idle", type=float, default=None, metavar="S",
                   help="a stream with no message either way for S seconds is ended (120)")
    p.add_argument("--expensive-per-client", type=positive_int, default=1, metavar="N",
                   help="replays of datasets over 4,096 records one client IP may have in flight (1)")
    p.add_argument("--max-expensive", type=positive_int, default=None, metavar="N",
                   help="such expensive replays in flight, all clients (default: half the replay slots, at least 1)")
    _chain_flags(p, required=False)
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("replay", help="replay one committed window and compare with the chain",
                       description="Read the committed words and epoch seed from the chain, take the start state from a "
                                   "trainer node (--node) or a file (--state-file; not needed for window 1), replay, and "
                                   "print match or divergence. Exit 0 match, 1 divergence (table below).", **common)
    p.add_argument("--beast", type=int, required=True, metavar="ID", help="beast token id")
    p.add_argument("--window", type=int, required=True, metavar="K", help="window to replay (>= 1; starts from checkpoint K-1)")
    _chain_flags(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--node", metavar="ADDR", help="trainer node host:port (NodeService.GetState)")
    src.add_argument("--state-file", metavar="FILE", help="zstd state blob of checkpoint K-1")
    p.add_argument("--dataset", metavar="FILE", help="private dataset file (private beasts)")
    p.add_argument("--secret-file", metavar="FILE", help="owner secret file, mode 0600 (private beasts)")
    _backend_flag(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.set_defaults(fn=cmd_replay)

    p = sub.add_parser("watch", help="replay committed windows, challenge divergent ones, play the games to the end",
                       description="Replay every committed window of every spec-version-2 beast this validator can (public "
                                   "beasts, and private ones named with --private-beast), rebuilding each lineage from "
                                   "genesis (a restart starts at the tip it verified last, kept in FILE.lineages/ "
                                   "beside --record, while its window is the one committed in the block it saw). A "
                                   "window whose word is not the honest one is challenged (commitChallenge, "
                                   "then challenge one block later with the same salt, posting the bond) and its "
                                   "bisection game is played to the end: honest answers to the defender's claims, the "
                                   "one-step proof, timeout when the defender's clock ran out, claimReward when won. "
                                   "Each round also seals every epoch seed a watched beast has closed and nobody sealed "
                                   "(sealEpochSeeds), so no trainer picks its seed by choosing when to seal. "
                                   "Salts, commitments and games are kept in --record (JSON, mode 0600, written "
                                   "atomically) so a restarted watcher resumes its games. One JSON line per decision "
                                   "on stdout.", **common)
    _chain_flags(p)
    _signer_flags(p)
    p.add_argument("--record", required=True, metavar="FILE", help="game record (JSON, mode 0600, written atomically)")
    p.add_argument("--private-beast", nargs=3, action="append", dest="private_beasts", default=None,
                   metavar=("ID", "DATASET", "SECRET_FILE"),
                   help="a private beast this watcher holds the dataset file and owner secret file (0600) of (repeatable)")
    p.add_argument("--beast", type=positive_int, action="append", dest="beasts", default=None, metavar="ID",
                   help="watch only this beast (repeatable; default: every beast)")
    p.add_argument("--poll", type=float, default=2.0, metavar="S", help="seconds between rounds (2)")
    p.add_argument("--rounds", type=int, default=None, metavar="N", help="stop after N rounds (default: until SIGINT/SIGTERM)")
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.set_defaults(fn=cmd_watch)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run cb-validator; returns the exit code (kernel.host.ExitCode)."""
    quiet_grpc_logs()
    try:
        with sigterm_interrupts():  # serve and watch install their own handlers and still end with 130
            args = build_parser().parse_args(argv)
            return int(args.fn(args))
    except ValidatorError as exc:
        return _fail(exc)
    except BrokenPipeError:  # `cb-validator replay ... | head`
        return closed_stdout()
    except KeyboardInterrupt:
        print("cb-validator: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
