"""cb-curriculum: pack, commit and verify private datasets; owner secrets; sample indices; record proofs.

``pack``, ``commit`` and ``verify`` print both dataset commitments (SPEC §10.2): C_dataset (keccak256 of the
file) and the spec-version-2 records root R_dataset (the Merkle commitment) as
``records_root 0x…``. ``index`` computes sampleIdx under ``--spec-version 1|2`` (default 2);
``proof`` prints one record with its Merkle path as JSON (private data: the record's bytes).
Human lines by default; ``--json`` on every command prints one JSON object instead (``proof`` is JSON
either way and accepts ``--json`` for uniformity).

Exit codes (kernel.host.ExitCode, the table every tool shares): 0 ok; 1 mismatch / verification
failed; 2 usage error; 3 data error (unreadable, malformed or unsafe input; a FIFO or device is
refused, not read); 130 interrupted (SIGINT/SIGTERM). Secrets are never printed: ``secret new``
prints only the commitment. Run as ``cb-curriculum`` or ``python -m curriculum.cli``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from curriculum.dataset import MAX_DATASET_BYTES, dataset_commitment, decode_dataset
from curriculum.errors import CommitmentMismatchError, CurriculumError
from curriculum.files import read_dataset_bytes, write_dataset
from curriculum.hexutil import hex32, parse_hex32
from curriculum.importers import read_csv, read_jsonl
from curriculum.records import record_proof, records_root
from curriculum.sampling import sample_index, sample_index_v2, sample_key_v2
from curriculum.secret import OwnerSecret, new_secret_file, read_secret_file
from kernel.host import ExitCode, HelpFormatter, exit_codes_epilog, run_tool

EXIT_OK = ExitCode.OK
EXIT_MISMATCH = ExitCode.NO
EXIT_USAGE = ExitCode.USAGE
EXIT_DATA = ExitCode.DATA
EXIT_INTERRUPTED = ExitCode.INTERRUPTED

_EPILOG = exit_codes_epilog()
_HELP = {"epilog": _EPILOG, "formatter_class": HelpFormatter}  # every parser shows the one exit-code table


class _UsageError(Exception):
    """A well-formed command line with an unusable value (exit 2)."""


def _cmd_pack(args: argparse.Namespace) -> int:
    boards = read_csv(args.csv) if args.csv else read_jsonl(args.jsonl)
    dataset = write_dataset(args.output, boards, max_bytes=args.max_bytes, overwrite=args.force)
    if args.json:
        return _print_json({"dataset": str(args.output), "commitment": hex32(dataset.commitment),
                            "recordsRoot": hex32(records_root(dataset)), "records": len(dataset)})
    print(f"commitment {hex32(dataset.commitment)}")
    print(f"records_root {hex32(records_root(dataset))}")
    print(f"records {len(dataset)}")
    return EXIT_OK


def _cmd_commit(args: argparse.Namespace) -> int:
    dataset = decode_dataset(read_dataset_bytes(args.dataset, max_bytes=args.max_bytes), max_bytes=args.max_bytes)
    if args.json:
        return _print_json({"dataset": str(args.dataset), "commitment": hex32(dataset.commitment),
                            "recordsRoot": hex32(records_root(dataset)), "records": len(dataset)})
    print(hex32(dataset.commitment))  # the first line stays the bare C_dataset (scripts read it)
    print(f"records_root {hex32(records_root(dataset))}")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    expected = _hex_arg(args.commitment, "--commitment")
    expected_root = _hex_arg(args.records_root, "--records-root") if args.records_root is not None else None
    data = read_dataset_bytes(args.dataset, max_bytes=args.max_bytes)
    actual = dataset_commitment(data)
    if actual != expected:  # checked on the raw bytes first, as a loader does (SPEC §10.6)
        raise CommitmentMismatchError("dataset", expected, actual)
    dataset = decode_dataset(data, max_bytes=args.max_bytes)
    root = records_root(dataset)
    if expected_root is not None and root != expected_root:  # the two commitments disagree (SPEC §10.2)
        raise CommitmentMismatchError("dataset records", expected_root, root)
    if args.json:
        return _print_json({"ok": True, "dataset": str(args.dataset), "commitment": hex32(dataset.commitment),
                            "recordsRoot": hex32(root), "records": len(dataset)})
    print(f"OK {args.dataset}: commitment {hex32(dataset.commitment)}, {len(dataset)} records")
    print(f"records_root {hex32(root)}")
    return EXIT_OK


def _cmd_proof(args: argparse.Namespace) -> int:
    dataset = decode_dataset(read_dataset_bytes(args.dataset, max_bytes=args.max_bytes), max_bytes=args.max_bytes)
    if not 0 <= args.index < len(dataset):
        raise _UsageError(f"--index must be in 0..{len(dataset) - 1} for this dataset, got {args.index}")
    print(json.dumps(record_proof(dataset, args.index).to_json(), indent=2))
    return EXIT_OK


def _cmd_secret_new(args: argparse.Namespace) -> int:
    secret = new_secret_file(args.output)
    if args.json:  # the commitment only: the secret itself is never printed
        return _print_json({"secretFile": str(args.output), "commitment": hex32(secret.commitment)})
    print(hex32(secret.commitment))
    return EXIT_OK


def _cmd_secret_commit(args: argparse.Namespace) -> int:
    commitment = hex32(read_secret_file(args.secret_file).commitment)
    if args.json:
        return _print_json({"secretFile": str(args.secret_file), "commitment": commitment})
    print(commitment)
    return EXIT_OK


def _print_json(doc: dict[str, object]) -> int:
    """``--json``: one JSON object on one line (keys in camelCase, as the other tools print)."""
    print(json.dumps(doc, sort_keys=True))
    return EXIT_OK


def _hex_arg(text: str, what: str) -> bytes:
    try:
        return parse_hex32(text, what)
    except CurriculumError as exc:
        raise _UsageError(str(exc)) from None


def _cmd_index(args: argparse.Namespace) -> int:
    seed_core = _hex_arg(args.seed_core, "--seed-core")
    secret = read_secret_file(args.secret_file) if args.secret_file else OwnerSecret(_hex_arg(args.secret, "--secret"))
    if not 0 <= args.step <= 0xFFFFFFFF:
        raise _UsageError(f"--step must be in 0..4294967295, got {args.step}")
    if args.len < 1:
        raise _UsageError(f"--len must be >= 1, got {args.len}")
    if args.spec_version == 2:
        index = sample_index_v2(sample_key_v2(seed_core, secret), args.step, args.len)
    else:
        index = sample_index(seed_core, secret, args.step, args.len)
    if args.json:
        return _print_json({"specVersion": args.spec_version, "step": args.step, "len": args.len, "index": index})
    print(index)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of cb-curriculum (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="cb-curriculum", description=__doc__.splitlines()[0], **_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def max_bytes_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--max-bytes", type=int, default=MAX_DATASET_BYTES, help=f"compressed size limit (default {MAX_DATASET_BYTES}, "
                            "the season constant)")

    p = sub.add_parser("pack", help="import battles (CSV or JSON lines) and write a dataset file", **_HELP)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", metavar="FILE", help="CSV with a header row (columns in SPEC §10.3)")
    src.add_argument("--jsonl", metavar="FILE", help="JSON lines, one object per board, keys as the CSV columns")
    p.add_argument("-o", "--output", required=True, metavar="DATASET", help="dataset file to write (e.g. dataset.zst)")
    p.add_argument("--force", action="store_true", help="replace DATASET if it exists")
    max_bytes_opt(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    p.set_defaults(func=_cmd_pack)

    p = sub.add_parser("commit", help="validate a dataset file; print C_dataset, then 'records_root R_dataset'", **_HELP)
    p.add_argument("dataset", metavar="DATASET")
    max_bytes_opt(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    p.set_defaults(func=_cmd_commit)

    p = sub.add_parser("verify", help="check a dataset file against a commitment (exit 1 on mismatch)", **_HELP)
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--commitment", required=True, metavar="0xHEX", help="expected C_dataset (0x + 64 hex digits)")
    p.add_argument("--records-root", metavar="0xHEX", help="expected R_dataset, the hatch's recordsRoot (spec_version 2)")
    max_bytes_opt(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("proof", help="print record I with its Merkle path against R_dataset as JSON (SPEC §10.2)", **_HELP,
                       description="Prints dataset_len, merkle_root, records_root, index, record (the private 28 bytes) "
                                   "and path (the sibling hashes, bottom-up): what a dispute posts to open one record.")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--index", required=True, type=int, metavar="I", help="record index (0..DATASET_LEN-1)")
    max_bytes_opt(p)
    p.add_argument("--json", action="store_true", help="accepted for uniformity: the output is JSON already")
    p.set_defaults(func=_cmd_proof)

    p = sub.add_parser("secret", help="owner secrets", **_HELP)
    ssub = p.add_subparsers(dest="secret_command", required=True, metavar="SUBCOMMAND")
    q = ssub.add_parser("new", help="write a new 32-byte owner secret (mode 0600) and print its commitment", **_HELP)
    q.add_argument("-o", "--output", required=True, metavar="FILE", help="secret file to create (never overwritten)")
    q.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    q.set_defaults(func=_cmd_secret_new)
    q = ssub.add_parser("commitment", help="print keccak256 of the secret in FILE", **_HELP)
    q.add_argument("secret_file", metavar="FILE")
    q.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    q.set_defaults(func=_cmd_secret_commit)

    p = sub.add_parser("index", help="print sampleIdx for one micro-step (SPEC §4.1 v1, §10.5 v2)", **_HELP)
    p.add_argument("--seed-core", required=True, metavar="0xHEX", help="the beast's seed_core (32 bytes)")
    sec = p.add_mutually_exclusive_group(required=True)
    sec.add_argument("--secret", metavar="0xHEX", help="S_owner (32 bytes); visible to other local users via ps, prefer --secret-file")
    sec.add_argument("--secret-file", metavar="FILE", help="owner secret file (mode 0600)")
    p.add_argument("--step", required=True, type=int, metavar="N", help="globalStep g (0..2^32-1)")
    p.add_argument("--len", required=True, type=int, metavar="L", help="DATASET_LEN (>= 1)")
    p.add_argument("--spec-version", type=int, choices=(1, 2), default=2,
                   help="kernel spec_version of the beast: 1 fold64/splitMix64, 2 keccak sample key (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    p.set_defaults(func=_cmd_index)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()

    def work() -> int:
        args = parser.parse_args(argv)  # exits 2 on usage errors
        try:
            return int(args.func(args))
        except _UsageError as exc:
            parser.error(str(exc))  # exits 2
        return EXIT_USAGE  # unreachable: parser.error exits

    return run_tool("cb-curriculum", work, [(CommitmentMismatchError, "verification failed", EXIT_MISMATCH),
                                            ((CurriculumError, OSError), "error", EXIT_DATA)])


if __name__ == "__main__":
    sys.exit(main())
