"""``cb-node``: the ChainBeasts trainer node command line.

Commands: demo, init, hatch, run, watch, eval, status, pause, resume, stop, tavern, spurt, verify, prune
(``cb-node CMD --help``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Callable, Sequence

from chainbeasts.tooling import closed_stdout, quiet_grpc_logs
from kernel.host import HelpFormatter, exit_codes_epilog, positive_int, sigterm_interrupts
from node.errors import EXIT_DATA, EXIT_INTERRUPTED, NodeError

EXIT_CODES = exit_codes_epilog()  # the table every tool shares (kernel.host.ExitCode)


def _cmd_demo(args: argparse.Namespace) -> int:
    from node.demo import main_demo

    return main_demo(args.windows, args.data_dir, args.backend, args.json, private=not args.public, seed=args.seed)


def _seed(text: str) -> int:
    """argparse type of ``demo --seed``: an integer 0..2^32-1."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be 0..{2**32 - 1}, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every cb-node command."""
    fmt = HelpFormatter
    parser = argparse.ArgumentParser(
        prog="cb-node",
        description="ChainBeasts trainer node: hatches beasts, trains 128-step windows, commits each window's "
                    "checkpoint word on chain, keeps every checkpoint state and serves them over gRPC.",
        epilog=EXIT_CODES, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="hatch, train, commit and finalize a beast on an embedded chain, print the ledger",
                       description="Everything in one process: an embedded py-evm devnet with the contracts "
                                   "deployed, a beast hatched with the example battles as its private dataset, "
                                   "N windows trained and committed, the challenge period advanced, the windows "
                                   "finalized; then the ledger table and learning figures are printed.",
                       epilog=EXIT_CODES, formatter_class=fmt)
    p.add_argument("--windows", type=positive_int, default=48,
                   help="windows to train and commit (default 48: enough for every curriculum head to train)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="run directory to write into (default: a new temporary directory, kept and printed)")
    p.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="kernel backend (default numpy)")
    p.add_argument("--public", action="store_true", help="hatch without a private dataset (public sources)")
    p.add_argument("--seed", type=_seed, default=None, metavar="S",
                   help="reproduce a run: the same seed (0..2^32-1) gives the same beast, windows and figures "
                        "(default: a fresh chain and owner secret each time)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=_cmd_demo)

    try:
        from node import daemon_cli
    except ImportError:
        daemon_cli = None  # type: ignore[assignment]
    if daemon_cli is not None:
        daemon_cli.add_commands(sub, fmt, EXIT_CODES)
        from node import owner_cli

        owner_cli.add_commands(sub, fmt, EXIT_CODES)
    from node.tavern.cli import add_command as add_tavern  # the dashboard (node/tavern)

    add_tavern(sub, fmt, EXIT_CODES)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run cb-node; returns the exit code (see EXIT_CODES)."""
    quiet_grpc_logs()
    try:
        with sigterm_interrupts():  # `run` installs its own handlers: finish the window, then 130
            args = build_parser().parse_args(argv)
            func: Callable[[argparse.Namespace], int] = args.func
            return int(func(args))
    except BrokenPipeError:  # `cb-node status | head`: the reader has what it wanted
        return closed_stdout()
    except KeyboardInterrupt:
        print("cb-node: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except NodeError as exc:
        print(f"cb-node: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - errors of the kernel/curriculum packages are data errors
        from curriculum.errors import CurriculumError
        from kernel.errors import KernelError

        if isinstance(exc, (CurriculumError, KernelError)):
            print(f"cb-node: error: {exc}", file=sys.stderr)
            return EXIT_DATA
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
