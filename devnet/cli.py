"""cb-devnet: a local chain with the ChainBeasts contracts, or a deployment to any RPC.

    cb-devnet up [--engine pyevm|anvil] [--host 127.0.0.1] [--port 8545] [--deployments FILE] [SEASON]
    cb-devnet deploy --rpc URL --keystore FILE [--password-file FILE] [--deployments FILE] [SEASON]

    SEASON: [--season FILE.toml] [--param NAME=VALUE ...] [--timelock-delay BLOCKS]

Exit codes (kernel.host.ExitCode, the table every tool shares): 0 ok; 2 usage or configuration
error (bad flag, file, keystore, password, season constant); 4 chain error (RPC unreachable,
revert); 130 interrupted (SIGINT/SIGTERM; how ``up`` ends). Season constants are checked
(devnet.season) before any chain is touched.
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
from devnet.season import DEFAULT_TIMELOCK_DELAY, check_timelock_delay, help_lines, season_params
from kernel.host import ExitCode, HelpFormatter, HostError, exit_codes_epilog, read_password_file, run_tool, unlock_keystore

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


def _epilog() -> str:
    return ("season constants: NAME (case-insensitive; challenge_period, CHALLENGE_PERIOD, challengePeriod),\n"
            "devnet default, and the rule SeasonRegistry enforces (time quantities in blocks):\n"
            f"{help_lines()}\n"
            "example: --param challenge_period=100 --param validator_quorum=3\n\n"
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
    _season_args(up)
    dep = sub.add_parser("deploy", help="deploy the contracts to an RPC endpoint",
                         description="Deploy the five contracts (with the season constants asked for) with the key\n"
                                     "in an encrypted JSON keystore.", epilog=_epilog(), formatter_class=raw)
    dep.add_argument("--rpc", required=True, help="JSON-RPC URL")
    dep.add_argument("--keystore", required=True, help="encrypted JSON keystore of the deployer")
    dep.add_argument("--password-file", default=None, help=f"file whose first line is the keystore password (else ${PASSWORD_ENV})")
    dep.add_argument("--deployments", default="deployments.json", help="deployments JSON to write (default ./deployments.json)")
    _season_args(dep)
    return p


def _season(args: argparse.Namespace) -> tuple[dict[str, int], int]:
    """The checked season constants and timelock delay asked for; ConfigError before any chain is touched."""
    return season_params(args.season, args.param), check_timelock_delay(args.timelock_delay)


def _up(args: argparse.Namespace) -> int:
    from devnet.launch import launch

    params, delay = _season(args)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be 0..65535, got {args.port}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cb-devnet: warning: binding {args.host}; dev keys are public", file=sys.stderr)
    net = launch(args.engine, host=args.host, port=args.port, run_dir=args.run_dir,
                 deployments_path=args.deployments, accounts=args.accounts, params=params, timelock_delay=delay)
    out = args.deployments or str(Path(args.run_dir) / "deployments.json")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"engine": net.engine, "rpcUrl": net.url, "chainId": net.deployments["chainId"],
                      "deployments": out, "contracts": net.deployments["contracts"], "season": net.deployments["season"]}),
          flush=True)
    try:
        stop.wait()
    finally:
        net.stop()
    return EXIT_INTERRUPTED  # serving until a signal is how `up` ends; it still reports the signal, as every tool does


def _deploy(args: argparse.Namespace) -> int:
    from web3 import Web3

    from devnet.connect import write_deployments
    from devnet.deploy import deploy
    from devnet.embedded import deployments_dict

    params, delay = _season(args)
    try:
        if args.password_file:
            password = read_password_file(args.password_file)
        else:
            password = os.environ.get(PASSWORD_ENV)
            if password is None:
                raise ConfigError(f"no password: pass --password-file or set {PASSWORD_ENV}")
        account = unlock_keystore(args.keystore, password)
    except HostError as exc:
        raise ConfigError(str(exc)) from None
    w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 60}))
    try:
        _ = w3.eth.chain_id  # one round trip proves the RPC answers
    except Exception as exc:  # noqa: BLE001
        raise ChainError(f"cannot reach {args.rpc}: {exc}") from exc
    chain = deploy(w3, account, params=params, timelock_delay=delay)
    data = deployments_dict(chain, [], int(w3.eth.block_number), rpc_url=args.rpc, engine="rpc")
    data["deployer"] = account.address
    write_deployments(args.deployments, data)
    print(json.dumps({"deployments": args.deployments, "contracts": data["contracts"]}))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of cb-devnet; returns the exit code (kernel.host.ExitCode)."""

    def work() -> int:
        args = _parser().parse_args(argv)
        return _up(args) if args.command == "up" else _deploy(args)

    return run_tool("cb-devnet", work, [((ConfigError, OSError), "config error", EXIT_CONFIG), (LedgerError, "chain error", EXIT_CHAIN)])


if __name__ == "__main__":
    sys.exit(main())
