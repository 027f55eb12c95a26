"""``cb-dispute``: check a training window, challenge it, play the bisection game to the end, claim the reward.

    cb-dispute check     --beast 1 --window 3 --deployments D.json [--node HOST:PORT] [--dataset F --secret-file S]
    cb-dispute challenge --beast 1 --window 3 --deployments D.json --private-key-file K [--dataset F --secret-file S] --yes
    cb-dispute play      7 --deployments D.json --private-key-file K [--dataset F --secret-file S]
    cb-dispute status    7 --deployments D.json [--json]          (or --beast 1 --window 3: every game on the window)
    cb-dispute claim     7 --deployments D.json --private-key-file K

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
    EXIT_CHAIN,
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
    from validator.dispute.status import GameStatus

# The chain, replay and web3 code is imported inside each command's handler, so that building the
# parser (`cb-dispute --help`, a usage error) starts without web3, eth-account, numpy or torch.

EXIT_CODES = ("1 from check: divergence found; from challenge/claim: refused before anything was spent (window not\n"
              "challengeable or replaying to its word, dataset/secret not matching the commitments, short balance, no\n"
              "confirmation, games still open, nothing to claim); from challenge/play: the game ended and was lost.\n"
              "4 also when challenge/play stop at --timeout with the game still open (resume: cb-dispute play ID).\n\n"
              + exit_codes_epilog())  # the table every tool shares

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
    """The optional game ID, or --beast and --window naming a window's games."""
    p.add_argument("game_id", type=positive_int, metavar="ID", nargs="?", default=None, help=id_help)
    g = p.add_argument_group("instead of ID: the games opened on a window")
    g.add_argument("--beast", type=positive_int, default=None, help="beast id")
    g.add_argument("--window", type=positive_int, default=None, help="window K (>= 1)")


def _check_which(args: argparse.Namespace) -> None:
    """Validate ID versus --beast/--window before anything touches the chain."""
    by_window = args.beast is not None or args.window is not None
    if args.game_id is not None and by_window:
        raise UsageError("give either a game ID or --beast and --window, not both")
    if by_window and (args.beast is None or args.window is None):
        raise UsageError("--beast and --window go together")
    if not by_window and args.game_id is None:
        raise UsageError("give a game ID, or --beast and --window")


def _game_ids(args: argparse.Namespace, chain: Any) -> list[int]:
    """The game of the positional ID, or every game opened on --beast/--window (oldest first)."""
    if args.beast is not None:
        from validator.dispute.status import find_games

        return find_games(chain, args.beast, args.window)
    return [args.game_id]


def _play_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("playing the game")
    g.add_argument("--interval", type=_seconds, default=1.0, help="seconds between polls of the game (default 1)")
    g.add_argument("--timeout", type=_seconds, default=600.0,
                   help="stop after this many seconds with the game still open (exit 4; resume with cb-dispute play ID; "
                        "default 600)")
    g.add_argument("--no-claim", action="store_true", help="do not send claimReward after a won game")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every cb-dispute command."""
    fmt = HelpFormatter
    parser = argparse.ArgumentParser(
        prog="cb-dispute",
        description="ChainBeasts dispute tool: replay a committed window locally before spending anything, challenge it "
                    "(commit, then reveal with the bond), play the bisection game against the window's committer to "
                    "the end, and claim the slashed window's reward. Windows are numbered as the node numbers them "
                    "(K >= 1; the ledger index is K-1).",
        epilog=EXIT_CODES, formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("check", help="replay a window and say whether it matches its committed word",
                       description="Replays window K from checkpoint K-1 (fetched from a trainer node, read from a "
                                   "file, or rebuilt from genesis with the committed words), locally or through a "
                                   "validator's gRPC service, and compares the word it computes with the committed "
                                   "one. Prints the verdict and the bond a challenge would post. Sends no transaction.",
                       epilog=EXIT_CODES, formatter_class=fmt)
    p.add_argument("--beast", type=positive_int, required=True, help="beast id")
    p.add_argument("--window", type=positive_int, required=True, help="window K (>= 1)")
    _curriculum_args(p)
    _start_args(p)
    p.add_argument("--validator", metavar="HOST:PORT", default=None,
                   help="replay through this validator's gRPC ValidatorService instead of locally")
    _common(p, key=False)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("challenge", help="challenge a window and play its bisection game to the end",
                       description="Checks the dataset and owner secret against the beast's hatch commitments, that "
                                   "the window can still be challenged and that the account holds the bond, and "
                                   "replays the window's 129 micro-step states from its start state (refusing when "
                                   "the word is the honest one, unless --force). Then shows the bond and asks for "
                                   "confirmation (no TTY: pass --yes), approves the bisection game for the bond, "
                                   "sends commitChallenge and then challenge (the reveal, a later block), and plays "
                                   "the game: honest answers to the defender's claims, the one-step proof on chain, "
                                   "timeout once the defender's clock ran out. A won game's reward is claimed once "
                                   "no other game on the window is open. Prints the game and its outcome. The salt "
                                   "of the commitment is written to --record (mode 0600) before commitChallenge is "
                                   "sent and never printed: after a crash or Ctrl-C the same command run again "
                                   "resumes -- it reveals a commitment that was mined, sends an unmined one again "
                                   "with the same salt, or plays the game a mined reveal opened.",
                       epilog=EXIT_CODES, formatter_class=fmt)
    p.add_argument("--beast", type=positive_int, required=True, help="beast id")
    p.add_argument("--window", type=positive_int, required=True, help="window K (>= 1)")
    _curriculum_args(p)
    _start_args(p)
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="challenge even when the replay matches the word (the honest "
                                                        "defender wins the game and the bond)")
    p.add_argument("--no-play", action="store_true", help="open the game and stop (play it later: cb-dispute play ID)")
    p.add_argument("--record", type=Path, default=None, metavar="FILE",
                   help="the challenge record keeping the salt (JSON, mode 0600, written before commitChallenge is "
                        "sent; default: cb-dispute-ACCOUNT.json next to the deployments file)")
    _play_args(p)
    _common(p, key=True)
    p.set_defaults(func=_cmd_challenge)

    p = sub.add_parser("play", help="play (resume) the challenger's side of a game to the end",
                       description="Derives the game's window states again (same start-state and curriculum options "
                                   "as challenge) and plays the game on from where the chain has it, to the end; "
                                   "claims the reward of a won game.", epilog=EXIT_CODES, formatter_class=fmt)
    p.add_argument("game_id", type=positive_int, metavar="ID", help="game id (GameOpened, cb-dispute status)")
    _curriculum_args(p)
    _start_args(p)
    _play_args(p)
    _common(p, key=True)
    p.set_defaults(func=_cmd_play)

    p = sub.add_parser("status", help="a game's moves, clocks and outcome",
                       description="Shows a game (or every game on a window): the agreed and disputed steps, whose "
                                   "move it is and the blocks left on that side's clock, each move so far, the "
                                   "outcome, and the window's reward pot.", epilog=EXIT_CODES, formatter_class=fmt)
    _which_args(p, "game id (or give --beast and --window)")
    _common(p, key=False)
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("claim", help="claim a slashed window's reward (paid to its earliest-committed winner)",
                       description="Sends claimReward for the window of game ID (or --beast/--window): the game pays "
                                   "the winning challenger with the earliest commitment once no game on the window "
                                   "is open. Anyone may send it.", epilog=EXIT_CODES, formatter_class=fmt)
    _which_args(p, "game id (or give --beast and --window)")
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
              f"  a challenge would post a bond of {format_energy(w.bond)}"
              + ("" if w.challengeable else f" -- but it cannot be opened: {w.why_not_challengeable()}")]
    return "\n".join(lines)


def _cmd_check(args: argparse.Namespace) -> int:
    from validator.dispute.check import check_window
    from validator.dispute.connection import connect
    from validator.dispute.curriculum import load_curriculum
    from validator.dispute.window import read_window

    _account(args, required=False)  # validate a key source given, even though check sends nothing
    chain = connect(args.deployments, args.rpc)
    w = read_window(chain, args.beast, args.window)
    cur = _loaded(load_curriculum(w.hatch, w.beast_id, args.dataset, args.secret_file, max_bytes=w.max_dataset_bytes))
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


def _loaded(cur: Any) -> Any:
    """``cur`` after saying on stderr what is unusual about it (a file over the season's limit)."""
    if cur is not None and cur.note:
        print(f"note: {cur.note}", file=sys.stderr, flush=True)
    return cur


def _source(args: argparse.Namespace, chain: Any, w: Any) -> tuple[Any, Any]:
    """(step source of window ``w``, its StartState or None) from the start-state and curriculum options.

    A private beast whose committed dataset is provably invalid has no step states: its source is the
    proof (every window loses to proveInvalidDataset); one whose invalidity cannot be shown on chain is
    refused (SPEC §10.6, PROTOCOL §6)."""
    from validator.bisection import InvalidDatasetSource
    from validator.dispute.curriculum import dataset_fault, load_curriculum, provable_fault
    from validator.dispute.start import fetch_start
    from validator.dispute.steps import step_source

    cur = _loaded(load_curriculum(w.hatch, w.beast_id, args.dataset, args.secret_file, max_bytes=w.max_dataset_bytes))
    fault = dataset_fault(cur, w.hatch)
    if fault is not None:
        proof = provable_fault(cur, w.hatch)
        if proof is None:
            raise RefusedError(f"{fault}: no honest replay exists, but no move of the game can show this on chain, "
                               "so a challenge cannot be won (nothing was sent)")
        return InvalidDatasetSource(proof), None
    start = fetch_start(chain, w, cur, state_file=args.state_file, node=args.node, backend=args.backend)
    if start.earlier_divergence is not None:
        raise RefusedError(f"window {start.earlier_divergence} (before window {w.window}) does not reproduce: challenge "
                           f"window {start.earlier_divergence} instead (nothing was sent)")
    return step_source(w, cur, start), start


def _play(args: argparse.Namespace, chain: Any, account: Any, game_id: int, source: Any) -> tuple[int, dict[str, Any], str]:
    """Play ``game_id`` to its end (or --timeout) and claim a won game's reward; (exit code, JSON, text)."""
    from validator.bisection import CHALLENGER_WON
    from validator.dispute.claiming import claim_reward
    from validator.dispute.playing import play_to_end

    def show(m: dict[str, Any]) -> None:
        if not args.json:
            what = {"bisect": "", "respond": f"agree={m.get('agree')}", "prove_step": f"from step {m.get('step')}",
                    "prove_word_lie": "final state",
                    "prove_invalid_dataset": f"record {m.get('recordIndex')} of {m.get('datasetLen')}",
                    "timeout": "the defender's clock ran out"}.get(m["move"], "")
            print(f"  {m['move']} {what} (block {m['block']}, gas {m['gas']:,})", file=sys.stderr, flush=True)

    r = play_to_end(chain, account, game_id, source, interval_s=args.interval, timeout_s=args.timeout, on_move=show)
    g = r.game
    doc: dict[str, Any] = {"game": g.to_json(), "moves": r.moves, "claim": None}
    if g.open:
        return (EXIT_CHAIN, doc, f"game {game_id} is still open after {args.timeout:.0f} s ({len(r.moves)} move(s) sent); "
                                 f"resume with: cb-dispute play {game_id}")
    won = g.outcome == CHALLENGER_WON
    text = f"game {game_id} ended: {'won' if won else 'lost'} ({len(r.moves)} move(s) sent)"
    if won and not args.no_claim:
        try:
            c = claim_reward(chain, account, g.beast_id, g.index, g.stored)
            doc["claim"] = c.to_json()
            text += f"; reward {format_energy(c.amount)} paid to {c.to}"
        except RefusedError as exc:
            doc["claim"] = {"refused": str(exc)}
            text += f"; no reward claimed now: {exc}"
    return (EXIT_OK if won else EXIT_REFUSED), doc, text


def _cmd_challenge(args: argparse.Namespace) -> int:
    from validator.dispute.challenging import open_challenge, opened_game, pending_entry, preflight_challenge
    from validator.dispute.connection import connect
    from validator.dispute.record import default_record_path, open_record
    from validator.dispute.steps import diverges
    from validator.dispute.window import read_window

    account = _account(args)
    chain = connect(args.deployments, args.rpc)
    path = args.record or default_record_path(args.deployments, account.address)
    record = open_record(path, chain, account)  # locked until the game is open
    try:
        w = read_window(chain, args.beast, args.window)
        res = opened_game(chain, account, record, w)  # an earlier run's reveal was mined: play that game
        if res is None:
            prior = pending_entry(record, w)
            preflight_challenge(chain, account, w)
            source, start = _source(args, chain, w)
            why = diverges(source, w.word)
            if why is None and not args.force:
                raise RefusedError(f"window {w.window} of beast {w.beast_id} replays to its committed word (start "
                                   f"state: {start.origin if start else 'none'}); a challenge would lose the "
                                   f"{format_energy(w.bond)} bond to the defender. "
                                   "Pass --force to challenge anyway (nothing was sent)")
            resume = (f"; resuming the {prior['status']} challenge of an earlier run (record {path})"
                      if prior is not None and prior.get("status") != "opened" else "")
            print(f"challenge beast {w.beast_id} window {w.window} from {account.address}: bond {format_energy(w.bond)}; "
                  f"{why or 'the replay matches (--force)'}; challenge deadline block {w.challenge_deadline} (chain at "
                  f"{w.block}){resume}", file=sys.stderr, flush=True)
            if not args.yes and not _confirm(f"post the bond of {format_energy(w.bond)}? [y/N]"):
                raise RefusedError("not confirmed; nothing was sent")
            res = open_challenge(chain, account, w, record)
        else:
            why = None
            source = None if args.no_play else _source(args, chain, w)[0]
    finally:
        record.close()
    opened = res.to_json() | {"beastId": w.beast_id, "window": w.window, "reason": why}
    if res.resumed and not args.json:
        print(f"resumed: {res.resumed}", file=sys.stderr, flush=True)
    if args.no_play:
        _out(args, opened, f"game {res.game_id} opened on beast {w.beast_id} window {w.window}: bond "
                           f"{format_energy(res.bond)} (tx {res.tx_hash}, block {res.block})\n"
                           f"play it with: cb-dispute play {res.game_id}")
        return EXIT_OK
    if not args.json:
        print(f"game {res.game_id} opened (bond {format_energy(res.bond)}, block {res.block}); playing", file=sys.stderr,
              flush=True)
    code, doc, text = _play(args, chain, account, res.game_id, source)
    _out(args, opened | doc, text)
    return code


def _cmd_play(args: argparse.Namespace) -> int:
    from validator.dispute.connection import connect
    from validator.dispute.status import game_status
    from validator.dispute.window import read_window

    account = _account(args)
    chain = connect(args.deployments, args.rpc)
    st = game_status(chain, args.game_id)
    source = None  # a game that ended needs no states: its outcome is reported and its reward claimed
    if st.game.open:
        w = read_window(chain, st.game.beast_id, st.game.index + 1)
        if w.word != st.game.word:
            raise RefusedError(f"window {w.window} of beast {w.beast_id} holds another word than game {args.game_id} "
                               "challenged (it was voided and committed again): the game's window is gone")
        source, _ = _source(args, chain, w)
    code, doc, text = _play(args, chain, account, args.game_id, source)
    _out(args, doc, text)
    return code


def _status_text(st: GameStatus) -> str:
    from validator.dispute.status import move_args

    g = st.game
    side = g.to_move.value if g.to_move else None
    lines = [f"game {g.game_id}: beast {g.beast_id} window {g.index + 1}  {g.to_json()['outcome']}",
             f"  challenger {g.challenger}  bond {format_energy(st.bond)}  (committed block {g.commitment_block})",
             f"  defender   {g.defender}",
             f"  agreed step {g.lo} (0x{g.lo_hash.hex()}), disputed step {g.hi} (0x{g.hi_hash.hex()})",
             f"  clocks: defender {g.defender_clock}, challenger {g.challenger_clock} blocks; last move block {g.last_move}"]
    if side:
        lines.append(f"  {side} to move, {st.blocks_left} block(s) left (chain at {st.block})")
    for e in st.moves:
        a = move_args(e)
        lines.append(f"    block {e.block_number}: {e.name} " + " ".join(f"{k}={v}" for k, v in a.items()))
    pot = st.pot
    lines.append(f"  window reward: {format_energy(pot.reward)} held, {pot.open} game(s) open"
                 + (f", best game {pot.best_game}" if pot.best_game else "") + (", claimed" if pot.claimed else ""))
    return "\n".join(lines)


def _cmd_status(args: argparse.Namespace) -> int:
    from validator.dispute.connection import connect
    from validator.dispute.status import game_status

    _account(args, required=False)
    _check_which(args)
    chain = connect(args.deployments, args.rpc)
    games = [game_status(chain, gid) for gid in _game_ids(args, chain)]
    if args.json:
        print(json.dumps(games[0].to_json() if args.game_id is not None else {"games": [s.to_json() for s in games]},
                         indent=2), flush=True)
    else:
        print("\n".join(_status_text(s) for s in games), flush=True)
    return EXIT_OK


def _cmd_claim(args: argparse.Namespace) -> int:
    from validator.bisection import read_game
    from validator.dispute.claiming import claim_reward
    from validator.dispute.connection import chain_call, connect

    account = _account(args)
    _check_which(args)
    chain = connect(args.deployments, args.rpc)
    gid = _game_ids(args, chain)[-1]
    g = chain_call(f"reading game {gid}", lambda: read_game(chain, gid))
    r = claim_reward(chain, account, g.beast_id, g.index, g.stored)
    _out(args, r.to_json(), f"claimed the reward of beast {r.beast_id} window {r.index + 1}: {format_energy(r.amount)} "
                            f"paid to {r.to} (tx {r.tx_hash})")
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
