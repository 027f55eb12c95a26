"""cb-kernel: offline training, evaluation and word decoding.

Exit codes (kernel.host.ExitCode, the table every tool shares): 0 ok; 2 usage error (an
unparsable seed or word, options that do not go together); 3 data error (dataset or secret
file refused); 130 interrupted (SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from kernel import SPEC_VERSION, SPEC_VERSIONS
from kernel.errors import KernelError
from kernel.host import ExitCode, HelpFormatter, exit_codes_epilog, positive_int, sigterm_interrupts
from kernel.payload import FLAG_GROWTH_SPURT, FLAG_LOSS_DROPPED, FLAG_PRIVATE, Payload

EXIT_OK, EXIT_USAGE, EXIT_DATA, EXIT_INTERRUPTED = ExitCode.OK, ExitCode.USAGE, ExitCode.DATA, ExitCode.INTERRUPTED


def parse_bytes32(text: str) -> bytes:
    """``0x`` + 64 hex digits to 32 bytes; argparse reports the ValueError message."""
    t = text[2:] if text.lower().startswith("0x") else text
    if len(t) != 64:
        raise argparse.ArgumentTypeError(f"expected 0x followed by 64 hex digits, got {len(t)} digits")
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hexadecimal: {text!r}") from None


def _source(args: argparse.Namespace, seed: bytes):
    """The sample source and genesis dataset field the arguments ask for.

    The genesis dataset field is C_dataset for spec_version 1 and R_dataset (the records
    root) for spec_version 2; the private source samples under the same version.
    """
    if args.dataset is None and args.secret_file is None:
        from kernel.sources import PublicSource
        from kernel.state import ZERO32

        return PublicSource(), ZERO32
    if args.dataset is None or args.secret_file is None:
        raise KernelError("--dataset and --secret-file go together")
    from curriculum import load_private_source  # the curriculum plugs into the kernel's source interface

    if args.spec_version == 1:
        source = load_private_source(args.dataset, args.secret_file)
        return source, source.dataset_commitment
    source = load_private_source(args.dataset, args.secret_file, spec_version=args.spec_version)
    return source, source.records_root


def _train(args: argparse.Namespace):
    """Yield (window index, WindowResult) for the requested run, genesis first state kept."""
    # numpy and the training code load here, not at import: `cb-kernel --help` starts without them.
    from kernel.state import genesis
    from kernel.train import train_window

    source, commitment = _source(args, args.seed)
    state = genesis(args.seed, dataset_commitment=commitment, spec_version=args.spec_version)
    if args.backend == "batched":
        from kernel.batched import train_windows_batched

        def step(st):
            return train_windows_batched([st], [source], lr_shifts=[args.lr_shift], active_masks=[mask_for(st)])[0]
    else:
        def step(st):
            return train_window(st, source, backend=args.backend, lr_shift=args.lr_shift, active_mask=mask_for(st))

    def mask_for(st):
        # --spurt-at K: switch on the lowest dormant slot in window K (trained from checkpoint K-1)
        if args.spurt_at is not None and st.window + 1 == args.spurt_at:
            dormant = st.params.all_slots() & ~st.active_mask
            if dormant:
                return st.active_mask | (dormant & -dormant)
        return st.active_mask

    start = state
    for k in range(args.windows):
        result = step(state)
        state = result.state
        yield k, result, start


def cmd_train(args: argparse.Namespace) -> int:
    for _, result, _ in _train(args):
        p = result.payload
        if args.json:
            print(json.dumps({"window": result.state.window, **p.to_json(), "loss": result.loss_sum}), flush=True)
        else:
            print(f"window {result.state.window:4d}  step {p.global_step:8d}  h128 0x{p.h128.hex()}  energy {p.energy_burn}  "
                  f"mask 0x{p.active_mask:02x}  lr>>{p.lr_shift}  flags 0x{p.flags:04x}  loss {result.loss_sum}", flush=True)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from kernel.evaluate import figures, heldout_boards, win_rate

    first = last = None
    final = untrained = None
    for _, result, start in _train(args):
        first = result.loss_sum if first is None else first
        last = result.loss_sum
        final, untrained = result.state, start
    boards = heldout_boards(args.heldout)
    fig = figures(final, boards)
    out = {
        "windows": args.windows,
        "move_accuracy": round(fig.move_accuracy, 4),
        "attack_mae": round(fig.attack_mae, 4),
        "block_accuracy": round(fig.block_accuracy, 4),
        "block_recall": round(fig.block_recall, 4),
        "win_rate_vs_untrained": round(win_rate(final, untrained, args.battles), 4),
        "loss_first_window": first,
        "loss_last_window": last,
        "h128": "0x" + final.h128().hex(),
    }
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:24s} {value}")
    return EXIT_OK


def cmd_decode(args: argparse.Namespace) -> int:
    p = Payload.from_hex(args.word)
    if args.json:
        print(json.dumps(p.to_json()))
        return EXIT_OK
    names = [n for bit, n in ((FLAG_LOSS_DROPPED, "LOSS_DROPPED"), (FLAG_GROWTH_SPURT, "GROWTH_SPURT"),
                               (FLAG_PRIVATE, "PRIVATE")) if p.flags & bit]
    print(f"h128        0x{p.h128.hex()}")
    print(f"globalStep  {p.global_step}")
    print(f"energyBurn  {p.energy_burn}")
    print(f"activeMask  0x{p.active_mask:02x} ({bin(p.active_mask).count('1')} slots)")
    print(f"lrShift     {p.lr_shift}")
    print(f"flags       0x{p.flags:04x} {' '.join(names) or '-'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cb-kernel", description=__doc__.split("\n\n")[0],
                                     epilog=exit_codes_epilog(), formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    common = {"epilog": exit_codes_epilog(), "formatter_class": HelpFormatter}

    def training_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--seed", type=parse_bytes32, required=True, help="seed_core of the beast: 0x + 64 hex digits")
        p.add_argument("--windows", type=positive_int, required=True, help="number of 128-step windows to train")
        p.add_argument("--backend", choices=("numpy", "torch", "batched"), default="numpy",
                       help="numpy reference (default), torch, or the batched path; all give identical words")
        p.add_argument("--lr-shift", type=int, default=6, help="learning rate as a right shift for every window (default 6)")
        p.add_argument("--spurt-at", type=int, metavar="K",
                       help="growth spurt: switch on a dormant slot in window K (windows count from 1)")
        p.add_argument("--dataset", help="private dataset file (.zst, see cb-curriculum pack)")
        p.add_argument("--secret-file", help="owner secret file (0600, see cb-curriculum secret new)")
        p.add_argument("--spec-version", type=int, choices=SPEC_VERSIONS, default=SPEC_VERSION,
                       help=f"kernel spec version the beast is hatched and trained under (default {SPEC_VERSION})")
        p.add_argument("--json", action="store_true", help="JSON output")

    p_train = sub.add_parser("train", help="train from genesis and print one line per window",
                             description="Train a beast from genesis offline and print each window's payload.", **common)
    training_args(p_train)
    p_train.set_defaults(func=cmd_train)

    p_eval = sub.add_parser("eval", help="train, then report learning figures",
                            description="Train from genesis, then measure held-out accuracy and battles won.", **common)
    training_args(p_eval)
    p_eval.add_argument("--heldout", type=positive_int, default=1000, help="held-out boards (default 1000)")
    p_eval.add_argument("--battles", type=positive_int, default=100, help="battles against the untrained beast")
    p_eval.set_defaults(func=cmd_eval)

    p_dec = sub.add_parser("decode", help="print the fields of a checkpoint word",
                           description="Decode a 32-byte checkpoint word (0x + 64 hex digits).", **common)
    p_dec.add_argument("word")
    p_dec.add_argument("--json", action="store_true", help="JSON output")
    p_dec.set_defaults(func=cmd_decode)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run cb-kernel; returns the exit code (kernel.host.ExitCode)."""
    try:
        with sigterm_interrupts():
            args = build_parser().parse_args(argv)
            return int(args.func(args))
    except KeyboardInterrupt:
        print("cb-kernel: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KernelError as exc:  # every cb-kernel input is a command-line value: a bad one is a usage error
        print(f"cb-kernel: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # curriculum errors: refused dataset or secret
        if type(exc).__module__.startswith("curriculum"):
            print(f"cb-kernel: {exc}", file=sys.stderr)
            return EXIT_DATA
        raise


if __name__ == "__main__":
    sys.exit(main())
