"""cb-devnet: a local chain with the ChainBeasts contracts, or a deployment to any RPC.

    cb-devnet up [--engine pyevm|anvil] [--host 127.0.0.1] [--port 8545] [--deployments FILE] [--block-time S]
                 [--stake WEI] [SEASON]
    cb-devnet mine [N] [--rpc URL | --deployments FILE] [--json]
    cb-devnet deploy --rpc URL --keystore FILE [--password-file FILE] [--deployments FILE] [--json] [SEASON]

    SEASON: [--spec-version 1|2] [--season FILE.toml] [--param NAME=VALUE ...] [--timelock-delay BLOCKS]
            [--game-clock BLOCKS]

``up`` funds each dev account with 1,000,000 ENERGY and stakes ``--stake`` of it (default 1,000
ENERGY) as committer stake, so the accounts commit at once; ``--stake 0`` leaves them unstaked.

Exit codes (kernel.host.ExitCode, the table every tool shares): 0 ok; 2 usage or configuration
error (bad flag, file, keystore, password, season constant); 4 chain error (RPC unreachable,
revert); 130 interrupted (SIGINT/SIGTERM; how ``up`` ends). Season constants are checked
(devnet.season) before any chain is touched.

``up`` talks like anvil: its first stdout line is a JSON summary (for scripts), then the dev
accounts and their keys (public test keys, labelled so), then one line per transaction with its
gas and decoded revert (devnet.txlog). ``mine N`` and ``up --block-time S`` drive the block clock
(challenge periods, game clocks and unstaking delays are counted in blocks) without raw JSON-RPC. ``mine`` and ``deploy``
print text by default and one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from devnet.errors import ChainError, ConfigError, LedgerError
from devnet.txlog import MAX_MINE
from devnet.season import (DEFAULT_GAME_CLOCK_BLOCKS, DEFAULT_SPEC_VERSION, DEFAULT_TIMELOCK_DELAY, MAX_GAME_CLOCK_BLOCKS,
                           MIN_GAME_CLOCK_BLOCKS, SPEC_VERSIONS, check_game_clock, check_spec_version, check_timelock_delay,
                           help_lines, season_params)
from kernel.host import ExitCode, HelpFormatter, HostError, exit_codes_epilog, read_password_file, run_tool, unlock_keystore

DEFAULT_DEPLOYMENTS = "runs/devnet/deployments.json"
EXIT_OK, EXIT_CONFIG, EXIT_CHAIN, EXIT_INTERRUPTED = ExitCode.OK, ExitCode.USAGE, ExitCode.CHAIN, ExitCode.INTERRUPTED
PASSWORD_ENV = "CB_KEYSTORE_PASSWORD"


def _season_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("season constants (SeasonRegistry; listed below)")
    g.add_argument("--season", metavar="FILE.toml", default=None,
                   help="TOML file of NAME = integer lines, one per constant to change")
    g.add_argument("--param", metavar="NAME=VALUE", action="append", default=[],
                   help="set one constant (repeatable; overrides --season)")
    g.add_argument("--timelock-delay", metavar="BLOCKS", type=int, default=DEFAULT_TIMELOCK_DELAY,
                   help=f"blocks between queueing a change and its taking effect (default {DEFAULT_TIMELOCK_DELAY})")
    g.add_argument("--spec-version", type=int, choices=SPEC_VERSIONS, default=DEFAULT_SPEC_VERSION,
                   help="kernel spec version of every beast the deployment hatches (a new season is a new "
                        f"deployment; default {DEFAULT_SPEC_VERSION})")
    g.add_argument("--game-clock", metavar="BLOCKS", type=int, default=DEFAULT_GAME_CLOCK_BLOCKS,
                   help="blocks each side of a bisection game may spend on its moves over the whole game "
                        f"({MIN_GAME_CLOCK_BLOCKS}..{MAX_GAME_CLOCK_BLOCKS}; default {DEFAULT_GAME_CLOCK_BLOCKS}, a devnet's)")


def _epilog() -> str:
    return ("season constants: NAME (case-insensitive; challenge_period, CHALLENGE_PERIOD, challengePeriod),\n"
            "devnet default, and the rule SeasonRegistry enforces (time quantities in blocks):\n"
            f"{help_lines()}\n"
            "example: --param challenge_period=100 --param bond_multiplier=3\n\n"
            "A bad season constant is refused before any chain is touched.\n" + exit_codes_epilog())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cb-devnet", description="Local ChainBeasts chain (py-evm or anvil) or deployment to an RPC.",
                                epilog=exit_codes_epilog(), formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    raw = HelpFormatter
    up = sub.add_parser("up", help="run a local chain with the contracts deployed until interrupted",
                        description="Start a local chain on HOST:PORT, deploy the contracts (with the season constants\n"
                                    "asked for), fund dev accounts, write the deployments JSON, and serve until\n"
                                    "SIGINT/SIGTERM.", epilog=_epilog(), formatter_class=raw)
    up.add_argument("--engine", choices=("pyevm", "anvil"), default="pyevm", help="chain engine (default pyevm, in process)")
    up.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=8545, help="port (default 8545; 0 picks a free one)")
    up.add_argument("--deployments", default=None, help="deployments JSON to write (default RUN_DIR/deployments.json)")
    up.add_argument("--run-dir", default="runs/devnet", help="folder for anvil state and logs (default runs/devnet)")
    up.add_argument("--accounts", type=int, default=10, help="funded dev accounts (default 10)")
    up.add_argument("--block-time", type=float, default=None, metavar="SECONDS",
                    help="also mine an empty block every SECONDS (automining stays on: each transaction still\n"
                         "gets its own block); default: blocks only for transactions and `cb-devnet mine`")
    up.add_argument("--stake", metavar="WEI", type=int, default=None,
                    help="committer stake (ENERGY wei) each dev account puts in the ledger so it can commit at once\n"
                         "(default 10**21, 1,000 ENERGY; 0: unstaked, commits refused until it stakes)")
    up.add_argument("--no-tx-log", action="store_true", help="print no line per transaction")
    _season_args(up)
    mine = sub.add_parser("mine", help="mine N empty blocks on a running devnet (advances game clocks)",
                          description="Mine N empty blocks on the devnet at --rpc (default: the rpcUrl of the\n"
                                      "deployments file) with anvil_mine, which anvil and the py-evm engine of\n"
                                      "`cb-devnet up` both answer. Challenge periods, game clocks and unstaking\n"
                                      "delays are counted in blocks, so this is how a devnet user lets them pass.",
                          epilog=exit_codes_epilog(), formatter_class=raw)
    mine.add_argument("blocks", nargs="?", type=int, default=1, metavar="N", help=f"blocks to mine (1..{MAX_MINE:,}; default 1)")
    mine.add_argument("--rpc", default=None, help="JSON-RPC URL (default: rpcUrl of --deployments)")
    mine.add_argument("--deployments", default=None,
                      help="deployments JSON naming the RPC (default $CB_DEPLOYMENTS, else runs/devnet/deployments.json)")
    mine.add_argument("--json", action="store_true", help="print {from, to, mined} as JSON")
    dep = sub.add_parser("deploy", help="deploy the contracts to an RPC endpoint",
                         description="Deploy the six contracts (with the season constants asked for) with the key\n"
                                     "in an encrypted JSON keystore.", epilog=_epilog(), formatter_class=raw)
    dep.add_argument("--rpc", required=True, help="JSON-RPC URL")
    dep.add_argument("--keystore", required=True, help="encrypted JSON keystore of the deployer")
    dep.add_argument("--password-file", default=None, help=f"file whose first line is the keystore password (else ${PASSWORD_ENV})")
    dep.add_argument("--deployments", default="deployments.json", help="deployments JSON to write (default ./deployments.json)")
    dep.add_argument("--json", action="store_true",
                     help="print {deployments, rpcUrl, chainId, deployBlock, deployer, specVersion, contracts} as JSON")
    _season_args(dep)
    return p


def _season(args: argparse.Namespace) -> tuple[dict[str, int], int, int]:
    """The checked season constants, timelock delay and spec version asked for (and the game clock,
    checked in place); ConfigError before any chain is touched."""
    check_game_clock(args.game_clock)
    return season_params(args.season, args.param), check_timelock_delay(args.timelock_delay), check_spec_version(args.spec_version)


def _up(args: argparse.Namespace) -> int:
    from devnet.launch import launch
    from devnet.txlog import BlockTimer, TxLog, accounts_lines

    params, delay, version = _season(args)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    if args.block_time is not None and not 0 < args.block_time <= 86_400:
        raise ConfigError(f"--block-time must be a number of seconds in (0, 86400], got {args.block_time}")
    if args.stake is not None and not 0 <= args.stake <= 10**6 * 10**18:
        raise ConfigError(f"--stake must be 0..{10**6 * 10**18} ENERGY wei (what each dev account holds), got {args.stake}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cb-devnet: warning: binding {args.host}; dev keys are public", file=sys.stderr)
    net = launch(args.engine, host=args.host, port=args.port, run_dir=args.run_dir,
                 deployments_path=args.deployments, accounts=args.accounts, params=params, timelock_delay=delay,
                 spec_version=version, game_clock_blocks=args.game_clock, stake=args.stake)
    out = args.deployments or str(Path(args.run_dir) / "deployments.json")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    data = net.deployments
    lines = [json.dumps({"engine": net.engine, "rpcUrl": net.url, "chainId": data["chainId"], "deployments": out,
                         "contracts": data["contracts"], "season": data["season"]}), ""]
    lines += accounts_lines(data["accounts"])
    lines += ["", f"Listening on {net.url} (chain id {data['chainId']}); contracts deployed and accounts funded "
                  f"by block {data['deployBlock']}"]
    if args.block_time is not None:
        lines.append(f"Mining an empty block every {args.block_time:g} s (--block-time); transactions still get their own")
    print("\n".join(lines), flush=True)
    workers: list[TxLog | BlockTimer] = []
    if not args.no_tx_log:
        workers.append(TxLog(net.url, data["contracts"], [a["address"] for a in data["accounts"]],
                             int(data["deployBlock"])).start())
    if args.block_time is not None:
        workers.append(BlockTimer(net.url, args.block_time, lambda m: print(f"cb-devnet: {m}", file=sys.stderr)).start())
    try:
        stop.wait()
    finally:
        for w in workers:
            w.stop()
        net.stop()
    return EXIT_INTERRUPTED  # serving until a signal is how `up` ends; it still reports the signal, as every tool does


def _mine(args: argparse.Namespace) -> int:
    from devnet.txlog import Rpc

    if not 1 <= args.blocks <= MAX_MINE:
        raise ConfigError(f"N must be 1..{MAX_MINE:,}, got {args.blocks}")
    url = args.rpc
    if url is None:
        from devnet.connect import load_deployments

        path = args.deployments or os.environ.get("CB_DEPLOYMENTS") or DEFAULT_DEPLOYMENTS
        url = load_deployments(path).get("rpcUrl")
        if not url:
            raise ConfigError(f"{path} names no rpcUrl; pass --rpc URL")
    rpc = Rpc(url)
    before = rpc.block_number()
    rpc.call("anvil_mine", [hex(args.blocks)])
    after = rpc.block_number()
    if args.json:
        print(json.dumps({"rpcUrl": url, "from": before, "to": after, "mined": after - before}))
    else:
        print(f"mined {after - before} block(s) on {url}: now at block {after} (was {before})")
    return EXIT_OK


def _deploy(args: argparse.Namespace) -> int:
    params, delay, version = _season(args)
    try:
        if args.password_file:
            password = read_password_file(args.password_file, private=True)  # 0600 and ours, as every tool
        else:
            password = os.environ.get(PASSWORD_ENV)
            if password is None:
                raise ConfigError(f"no password: pass --password-file or set {PASSWORD_ENV}")
        account = unlock_keystore(args.keystore, password)
    except HostError as exc:
        raise ConfigError(str(exc)) from None
    # web3 and the deployer (~1.7 s of imports) only once the inputs are known good: a wrong password
    # or season constant is answered at once
    from web3 import Web3

    from devnet.connect import write_deployments
    from devnet.deploy import deploy
    from devnet.embedded import deployments_dict

    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 60}))
    try:
        _ = w3.eth.chain_id  # one round trip proves the RPC answers
    except Exception as exc:  # noqa: BLE001
        raise ChainError(f"cannot reach {args.rpc}: {exc}") from exc
    chain = deploy(w3, account, params=params, timelock_delay=delay, spec_version=version, game_clock_blocks=args.game_clock)
    data = deployments_dict(chain, [], int(w3.eth.block_number), rpc_url=args.rpc, engine="rpc")
    data["deployer"] = account.address
    write_deployments(args.deployments, data)
    if args.json:
        print(json.dumps({"deployments": args.deployments, "rpcUrl": args.rpc, "chainId": data["chainId"],
                          "deployBlock": data["deployBlock"], "deployer": account.address, "specVersion": version,
                          "contracts": data["contracts"]}))
        return EXIT_OK
    lines = [f"deployed the contracts to {args.rpc} (chain id {data['chainId']}, spec version {version}) by "
             f"{account.address}, done by block {data['deployBlock']}"]
    lines += [f"  {name:<17} {address}" for name, address in data["contracts"].items()]
    lines.append(f"wrote {args.deployments} (point the tools at it: export CB_DEPLOYMENTS={args.deployments})")
    print("\n".join(lines))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of cb-devnet; returns the exit code (kernel.host.ExitCode)."""

    def work() -> int:
        args = _parser().parse_args(argv)
        return {"up": _up, "mine": _mine, "deploy": _deploy}[args.command](args)

    return run_tool("cb-devnet", work, [((ConfigError, OSError), "config error", EXIT_CONFIG), (LedgerError, "chain error", EXIT_CHAIN)])


if __name__ == "__main__":
    sys.exit(main())
