"""``cb-dispute``: check a training window, dispute it, follow the dispute, claim the payout.

    cb-dispute check  --beast 1 --window 3 --deployments D.json [--node HOST:PORT] [--dataset F --secret-file S]
    cb-dispute open   --beast 1 --window 3 --deployments D.json --private-key-file K [--dataset F --secret-file S] --yes
    cb-dispute status 1 --deployments D.json [--watch] [--json]
    cb-dispute claim  1 --deployments D.json --private-key-file K

Windows use the node's numbering (window K >= 1 is a beast's K-th commit; the ledger's index
is K - 1). The library is :mod:`validator.dispute`; ``cb-dispute CMD --help`` shows each
command's options.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Sequence

from chainbeasts.tooling import DEPLOYMENTS_ENV, closed_stdout, quiet_grpc_logs
from kernel.host import HelpFormatter, exit_codes_epilog, positive_int, sigterm_interrupts
from validator.dispute.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    DisputeToolError,
    RefusedError,
    UsageError,
)
from validator.dispute.formatting import format_energy
from validator.dispute.keys import PASSWORD_ENV

if TYPE_CHECKING:
    from validator.dispute.check import CheckResult
    from validator.dispute.status import DisputeStatus

# The chain, replay and web3 code is imported inside each command's handler, so that building the
# parser (`cb-dispute --help`, a usage error) starts without web3, eth-account, numpy or torch.

EXIT_CODES = ("1 from check: divergence found; from open/claim: refused before anything was spent (window not\n"
              "disputable, dataset/secret not matching the commitments, short balance, no confirmation, nothing\n"
              "to claim, dispute not yet resolvable).\n\n" + exit_codes_epilog())  # the table every tool shares

def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def _common(p: argparse.ArgumentParser, *, key: bool) -> None:
    g = p.add_argument_group("chain")
    g.add_argument("--deployments", type=Path, default=Path(os.environ.get(DEPLOYMENTS_ENV) or "deployments.json"),
                   help="deployments JSON written by cb-devnet up / deploy (default $CB_DEPLOYMENTS or ./deployments.json)")
    g.add_argument("--rpc", metavar="URL", default=None, help="JSON-RPC URL (default: the deployments file's rpcUrl)")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    from chainbeasts.keys import add_key_options

    add_key_options(p, password_env=PASSWORD_ENV, title="key" + ("" if key else " (optional here)"))


def _curriculum_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("private curriculum (beasts hatched with a dataset commitment)")
    g.add_argument("--dataset", type=Path, default=None, help="the beast's dataset file (zstd, as committed at hatch)")
    g.add_argument("--secret-file", type=Path, default=None, help="the owner secret file (0x + 64 hex digits, mode 0600)")


def _start_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("start state (checkpoint K-1); default: rebuilt from genesis using the chain's words")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--node", metavar="HOST:PORT", default=None, help="trainer node's gRPC NodeService to fetch it from")
    x.add_argument("--state-file", type=Path, default=None, help="a checkpoint file (zstd state blob) of window K-1")
    p.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="kernel backend for local replays")


def _which_args(p: argparse.ArgumentParser, id_help: str) -> None:
    """The optional dispute ID, or --beast and --window naming the latest dispute on a window."""
    p.add_argument("dispute_id", type=positive_int, metavar="ID", nargs="?", default=None, help=id_help)
    g = p.add_argument_group("instead of ID: the latest dispute opened on a window")
    g.add_argument("--beast", type=positive_int, default=None, help="beast id")
    g.add_argument("--window", type=positive_int, default=None, help="window K (>= 1)")


def _check_which(args: argparse.Namespace, required: bool = True) -> None:
    """Validate ID versus --beast/--window before anything touches the chain."""
    by_window = args.beast is not None or args.window is not None
    if args.dispute_id is not None and by_window:
        raise UsageError("give either a dispute ID or --beast and --window, not both")
    if by_window and (args.beast is None or args.window is None):
        raise UsageError("--beast and --window go together")
    if not by_window and args.dispute_id is None and required:
        raise UsageError("give a dispute ID, or --beast and --window")


def _dispute_id(args: argparse.Namespace, chain: Any) -> int | None:
    """ID from the positional argument or from --beast/--window (the latest dispute on that window)."""
    if args.beast is not None:
        from validator.dispute.status import find_dispute

        return find_dispute(chain, args.beast, args.window)
    return args.dispute_id


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every cb-dispute command."""
    fmt = HelpFormatter
    parser = argparse.ArgumentParser(
        prog="cb-dispute",
        description="ChainBeasts dispute tool: replay a committed window locally before spending anything, post the "
                    "bond with the beast's dataset and owner secret, follow the validators' votes, collect the payout. "
                    "Windows are numbered as the node numbers them (K >= 1; the ledger index is K-1).",
        epilog=EXIT_CODES, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("check", help="replay a window and say whether it matches its committed word",
                       description="Replays window K from checkpoint K-1 (fetched from a trainer node, read from a "
                                   "file, or rebuilt from genesis with the committed words), locally or through a "
                                   "validator's gRPC service, and compares the word it computes with the committed "
                                   "one. Prints the verdict and the bond a dispute would post. Sends no transaction.",
                       epilog=EXIT_CODES, formatter_class=fmt)
    p.add_argument("--beast", type=positive_int, required=True, help="beast id")
    p.add_argument("--window", type=positive_int, required=True, help="window K (>= 1)")
    _curriculum_args(p)
    _start_args(p)
    p.add_argument("--validator", metavar="HOST:PORT", default=None,
                   help="replay through this validator's gRPC ValidatorService instead of locally")
    _common(p, key=False)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("open", help="post the bond and open a dispute on a window",
                       description="Checks the dataset and owner secret against the beast's hatch commitments, "
                                   "that the window is still inside its challenge period and that the account holds "
                                   "the bond, and replays the window first (refusing when it matches, unless "
                                   "--force). Then shows the bond and asks for confirmation (no TTY: pass --yes), "
                                   "approves the dispute game for the bond and calls openDispute with the dataset "
                                   "and secret. Prints the dispute id.",
                       epilog=EXIT_CODES, formatter_class=fmt)
    p.add_argument("--beast", type=positive_int, required=True, help="beast id")
    p.add_argument("--window", type=positive_int, required=True, help="window K (>= 1)")
    _curriculum_args(p)
    _start_args(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="dispute even when the local replay matches (forfeits the bond "
                                                        "unless the validators disagree)")
    p.add_argument("--no-check", action="store_true", help="skip the local replay (the commitments are still checked)")
    _common(p, key=True)
    p.set_defaults(func=_cmd_open)

    p = sub.add_parser("status", help="votes, deadline and outcome of a dispute",
                       description="Shows a dispute's votes so far, quorum, voting deadline, outcome and the credits "
                                   "it paid. With --watch it polls until the dispute is resolved (and with a key and "
                                   "--resolve it resolves the dispute as soon as that is possible).",
                       epilog=EXIT_CODES, formatter_class=fmt)
    _which_args(p, "dispute id (or give --beast and --window)")
    p.add_argument("--watch", action="store_true", help="poll until the dispute is resolved")
    p.add_argument("--resolve", action="store_true", help="with --watch: call resolve() once it is possible (needs a key)")
    p.add_argument("--interval", type=_seconds, default=1.0, help="seconds between polls (default 1)")
    p.add_argument("--timeout", type=_seconds, default=600.0, help="give up watching after this many seconds (default 600)")
    _common(p, key=False)
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("claim", help="resolve a finished dispute if needed and collect the caller's payout",
                       description="With ID: resolves the dispute when it is resolvable and still open (anyone may), "
                                   "then transfers everything the dispute game credited to the caller (from any "
                                   "dispute). Without ID: only the transfer.",
                       epilog=EXIT_CODES, formatter_class=fmt)
    _which_args(p, "dispute id (optional; or give --beast and --window)")
    _common(p, key=True)
    p.set_defaults(func=_cmd_claim)
    return parser


# ---------------------------------------------------------------------------------------
# Commands


def _account(args: argparse.Namespace, required: bool = True) -> Any:
    """The signing account of the shared key options (chainbeasts.keys); --dev-account reads the
    deployments file's dev accounts (a devnet's only)."""
    from chainbeasts.keys import KeyChoiceError, deployments_dev_accounts, load_key

    try:
        return load_key(args, password_env=PASSWORD_ENV, dev_accounts=deployments_dev_accounts(args.deployments),
                        required=required)
    except KeyChoiceError as exc:
        raise UsageError(str(exc)) from None


def _out(args: argparse.Namespace, obj: dict[str, Any], text: str) -> None:
    print(json.dumps(obj, indent=2) if args.json else text, flush=True)


def _check_text(r: CheckResult) -> str:
    w = r.window
    lines = [f"beast {w.beast_id} window {w.window} (ledger index {w.index}): {r.verdict.upper()}",
             f"  committed word  0x{w.word.hex()}",
             f"  computed word   0x{r.computed_word.hex()}" if r.computed_word else "  computed word   -"]
    if r.diverged:
        if r.divergent_window != w.window:
            lines.append(f"  divergent window {r.divergent_window} (an earlier one)")
        if r.mismatched_fields:
            lines.append(f"  fields differing {', '.join(r.mismatched_fields)}")
        if r.reason:
            lines.append(f"  reason          {r.reason}")
        if r.first_divergent_step is not None:
            lines.append(f"  first divergent micro-step {r.first_divergent_step}")
    lines += [f"  replayed by     {r.replayed_by}, start state: {r.start_origin} ({r.seconds:.2f}s)",
              f"  window status   {w.status.name.lower()}; challenge deadline block {w.challenge_deadline} "
              f"(chain at {w.block})",
              f"  a dispute would post a bond of {format_energy(w.bond)}"
              + ("" if w.disputable else f" -- but it cannot be opened: {w.why_not_disputable()}")]
    return "\n".join(lines)


def _cmd_check(args: argparse.Namespace) -> int:
    from validator.dispute.check import check_window
    from validator.dispute.connection import connect
    from validator.dispute.curriculum import load_curriculum
    from validator.dispute.window import read_window

    _account(args, required=False)  # validate a key source given, even though check sends nothing
    chain = connect(args.deployments, args.rpc)
    w = read_window(chain, args.beast, args.window)
    cur = load_curriculum(w.hatch, w.beast_id, args.dataset, args.secret_file, max_bytes=w.max_dataset_bytes)
    r = check_window(chain, w, cur, state_file=args.state_file, node=args.node, validator=args.validator,
                     backend=args.backend)
    _out(args, r.to_json(), _check_text(r))
    return EXIT_REFUSED if r.diverged else EXIT_OK


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        raise RefusedError("no terminal to confirm on: pass --yes to post the bond (nothing was sent)")
    print(prompt, end=" ", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()  # SIGINT/SIGTERM here ends the tool with 130; nothing was sent
    return answer.strip().lower() in ("y", "yes")


def _cmd_open(args: argparse.Namespace) -> int:
    from validator.dispute.check import check_window
    from validator.dispute.connection import connect
    from validator.dispute.curriculum import load_curriculum
    from validator.dispute.opening import open_dispute, preflight_open
    from validator.dispute.window import read_window

    account = _account(args)
    chain = connect(args.deployments, args.rpc)
    w = read_window(chain, args.beast, args.window)
    # Verify the dataset and secret against the hatch commitments before anything else.
    cur = load_curriculum(w.hatch, w.beast_id, args.dataset, args.secret_file, max_bytes=w.max_dataset_bytes)
    preflight_open(chain, account, w)
    note = "local replay skipped (--no-check)"
    if not args.no_check:
        r = check_window(chain, w, cur, state_file=args.state_file, node=args.node, backend=args.backend)
        if not r.diverged and not args.force:
            raise RefusedError(f"window {w.window} of beast {w.beast_id} replays to its committed word ({r.replayed_by}, "
                               f"start state: {r.start_origin}); a dispute would forfeit the "
                               f"{format_energy(w.bond)} bond. Pass --force to dispute anyway (nothing was sent)")
        if r.diverged and r.divergent_window != w.window and not args.force:
            raise RefusedError(f"window {w.window} cannot be checked: {r.reason}; dispute window {r.divergent_window} "
                               f"instead, or pass --force (nothing was sent)")
        note = f"local replay: {r.verdict}" + (f" ({', '.join(r.mismatched_fields)})" if r.mismatched_fields else "")
    print(f"dispute beast {w.beast_id} window {w.window} from {account.address}: bond {format_energy(w.bond)}; "
          f"{note}; challenge deadline block {w.challenge_deadline} (chain at {w.block})", file=sys.stderr, flush=True)
    if not args.yes and not _confirm(f"post the bond of {format_energy(w.bond)}? [y/N]"):
        raise RefusedError("not confirmed; nothing was sent")
    res = open_dispute(chain, account, w, cur)
    text = (f"dispute {res.dispute_id} opened on beast {w.beast_id} window {w.window}: bond {format_energy(res.bond)}, "
            f"voting until block {res.voting_deadline} (tx {res.tx_hash}, block {res.block})\n"
            f"follow it with: cb-dispute status {res.dispute_id} --watch")
    _out(args, res.to_json() | {"beastId": w.beast_id, "window": w.window}, text)
    return EXIT_OK


def _status_text(st: DisputeStatus) -> str:
    i = st.info
    lines = [f"dispute {i.dispute_id}: beast {i.beast_id} window {i.index + 1}  outcome {i.outcome.name.lower()}",
             f"  challenger {i.challenger}  bond {format_energy(i.bond)}",
             f"  votes: {i.agree} agree, {i.against} against (quorum {st.quorum}); voting deadline block "
             f"{i.voting_deadline}, chain at {st.block} ({st.blocks_left} blocks left)"]
    for v in st.votes:
        what = "agrees" if v.agrees else ("state unavailable" if not any(v.computed_word) else "against")
        lines.append(f"    {v.validator}  {what:<17} 0x{v.computed_word.hex()}  (block {v.block_number})")
    if st.open:
        lines.append("  resolvable now: " + ("yes (cb-dispute claim " + str(i.dispute_id) + ")" if st.resolvable else "no"))
    for a, c in st.credits.items():
        if c:
            lines.append(f"  credited, unclaimed: {a} {format_energy(c)}")
    return "\n".join(lines)


def _cmd_status(args: argparse.Namespace) -> int:
    from validator.dispute.connection import connect
    from validator.dispute.following import watch_status
    from validator.dispute.status import dispute_status

    resolver = _account(args, required=args.resolve)
    if args.resolve and not args.watch:
        raise UsageError("--resolve only works with --watch (or use cb-dispute claim ID)")
    _check_which(args)
    chain = connect(args.deployments, args.rpc)
    dispute_id = _dispute_id(args, chain)
    assert dispute_id is not None
    if not args.watch:
        st = dispute_status(chain, dispute_id)
        _out(args, st.to_json(), _status_text(st))
        return EXIT_OK

    def show(s: DisputeStatus) -> None:
        if args.json:
            print(json.dumps(s.to_json()), flush=True)
        else:
            print(_status_text(s) + "\n", flush=True)

    watch_status(chain, dispute_id, interval_s=args.interval, timeout_s=args.timeout, on_change=show,
                 resolver=resolver)
    return EXIT_OK


def _cmd_claim(args: argparse.Namespace) -> int:
    from validator.dispute.claiming import claim
    from validator.dispute.connection import connect

    account = _account(args)
    _check_which(args, required=False)
    chain = connect(args.deployments, args.rpc)
    dispute_id = _dispute_id(args, chain)
    r = claim(chain, account, dispute_id)
    parts = []
    if r.resolved is not None:
        parts.append(f"resolved dispute {dispute_id}: {r.resolved.name.lower()}")
    elif r.outcome is not None:
        parts.append(f"dispute {dispute_id}: {r.outcome.name.lower()}")
    parts.append(f"claimed {format_energy(r.amount)} to {r.account}" if r.amount else f"nothing credited to {r.account}")
    _out(args, r.to_json() | {"disputeId": dispute_id}, "; ".join(parts))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run cb-dispute; returns the exit code (see EXIT_CODES)."""
    quiet_grpc_logs()
    try:
        with sigterm_interrupts():
            args = build_parser().parse_args(argv)
            func: Callable[[argparse.Namespace], int] = args.func
            return int(func(args))
    except BrokenPipeError:  # `cb-dispute status ... | head`
        return closed_stdout()
    except KeyboardInterrupt:
        print("cb-dispute: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except DisputeToolError as exc:
        print(f"cb-dispute: {'refused' if exc.exit_code == EXIT_REFUSED else 'error'}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
