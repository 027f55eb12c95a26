"""A small AST mutation pass over the consensus code: does each one-operator change fail a test?

Not collected by pytest (no ``test_`` prefix); run it by hand, see docs/TESTING.md:

    python tests/mutation/mutate.py                      # the default plan, sampled, bounded
    python tests/mutation/mutate.py --only kernel/rules.py --all
    python tests/mutation/mutate.py --list --only kernel/board.py

How: the tracked files of the checkout are copied to a scratch folder once; every mutant is
written into that copy (never into the checkout), the plan's fast tests for that file run
against the copy (``PYTHONPATH`` = the copy, no bytecode cache so a mutant is always
recompiled), and the original text is put back before the next mutant. A mutant is *killed*
when the tests fail or time out, *survived* when they pass. Results go to a JSON-lines file
(one object per mutant) and a summary to stdout.

Operators, one change per mutant: comparison (< <=, > >=, == !=, in / not in, is / is not),
arithmetic and bit operators (+ -, * //, % //, << >>, & |, ^ |), and/or, removing ``not`` or
unary minus, an integer constant n -> n + 1, True/False, min/max. Docstrings, annotations,
f-strings and ``raise`` statements are left alone (messages are not behaviour under test here).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# target file -> the fast tests that should kill its mutants, quickest killers first (pytest -x stops at the first failure)
COMBAT, RULES, VECTORS = "tests/kernel/test_combat.py", "tests/kernel/test_rules.py", "tests/kernel/test_vectors.py"
FIXEDPOINT, STATE, BOARD = "tests/kernel/test_fixedpoint.py", "tests/kernel/test_state_payload.py", "tests/kernel/test_board.py"
PLAN: dict[str, list[str]] = {
    "kernel/rules.py": [COMBAT, BOARD, VECTORS, RULES],
    "kernel/board.py": [BOARD, COMBAT, STATE, VECTORS, RULES, "tests/curriculum/test_dataset.py"],
    "kernel/fixedpoint.py": [FIXEDPOINT, VECTORS],
    "kernel/heads.py": [FIXEDPOINT, VECTORS],
    "kernel/net_numpy.py": [FIXEDPOINT, VECTORS],
    "kernel/sources.py": [VECTORS, RULES],
    "kernel/payload.py": [STATE, VECTORS, "tests/kernel/test_payload_fields.py"],
    "kernel/prng.py": [VECTORS, "tests/curriculum/test_sampling.py", "tests/kernel/test_state_limits.py"],
    "kernel/observe.py": [VECTORS],
    "curriculum/sampling.py": ["tests/curriculum/test_sampling.py", VECTORS],
}
PRIORITY = ("kernel/rules.py", "kernel/board.py", "curriculum/sampling.py")

# Hand-made contract mutants: (file, exact text, replacement, what it breaks). The copy is recompiled with
# contracts/compile.js (artifacts land in the copy's contracts/build) and CONTRACT_TESTS run against it.
LEDGER, GAME = "contracts/src/CheckpointLedger.sol", "contracts/src/BisectionGame.sol"
SOL_MUTANTS: list[tuple[str, str, str, str]] = [
    (LEDGER, "if (amount > balance) revert LedgerDepositInsufficient", "if (amount >= balance) revert LedgerDepositInsufficient",
     "withdrawing the whole deposit refused"),
    (LEDGER, "number <= deadline) revert LedgerChallengePeriodActive", "number < deadline) revert LedgerChallengePeriodActive",
     "finalize allowed in the deadline block"),
    (LEDGER, "number > deadline) revert LedgerChallengePeriodOver", "number >= deadline) revert LedgerChallengePeriodOver",
     "challenge refused in the deadline block"),
    (LEDGER, "if (epoch == 0) return beast.seedCore(beastId);", "if (epoch == 1) return beast.seedCore(beastId);",
     "epoch 0 seed is not seed_core"),
    (LEDGER, "return committedAt + registry.valueAt(SeasonRegistry.Param.ChallengePeriod, committedAt);",
     "return committedAt + registry.valueAt(SeasonRegistry.Param.ChallengePeriod, committedAt) + 1;", "challenge deadline one block late"),
    (LEDGER, "registry.valueAt(SeasonRegistry.Param.ChallengePeriod, committedAt);",
     "registry.value(SeasonRegistry.Param.ChallengePeriod);", "challenge deadline under the period in force now"),
    (LEDGER, "        if (slash) {", "        if (!slash) {", "slash and game-end swapped"),
    (LEDGER, "mul(spurtCost, iszero(iszero(added)))", "mul(0, iszero(iszero(added)))", "a growth spurt charged nothing"),
    (LEDGER, "if or(wrongMask, xor(", "if or(0, xor(", "any mask accepted (slots dropped, several added)"),
    (LEDGER, "and(added, sub(added, 1))", "0", "a window may switch on several slots at once"),
    (LEDGER, "byte(shr(HIGH_3_BITS_OFFSET, burn), POPCOUNTS_5)", "0", "slots 5..7 not charged"),
    (LEDGER, "let prev := GENESIS_ACTIVE_MASK_FIELD", "let prev := ACTIVE_MASK_FIELD", "window 0 compared with a full mask"),
    # issue 13: the committer stake, the parent rule of finalize, the rewind's clearing
    (LEDGER, "if (packed >> 128 < amount) revert LedgerStakeInsufficient", "if (packed >> 128 <= amount) revert LedgerStakeInsufficient",
     "a stake of exactly the burn refused"),
    (LEDGER, "if (amount == 0 || block.number < unlock) revert LedgerStakeLocked",
     "if (amount == 0 || block.number <= unlock) revert LedgerStakeLocked", "unbonding stake withdrawable one block late"),
    (LEDGER, "+ 2 * _gameClock + 2;", "+ 2 * _gameClock + 1;", "unbonding stake unlocks one block early"),
    (LEDGER, "if (index != 0 && _status[beastId][index - 1] != WindowStatus.Finalized) {", "if (false) {",
     "a window finalizes before its parent"),
    (LEDGER, "if (_status[beastId][from] != WindowStatus.Slashed) amount = uint64(stored >> ENERGY_BURN_OFFSET);",
     "amount = uint64(stored >> ENERGY_BURN_OFFSET);", "a slashed window's escrow burned again when cleared"),
    (LEDGER, "if (s != WindowStatus.Committed && s != WindowStatus.Challenged) revert LedgerWindowNotOpen",
     "if (s != WindowStatus.Committed) revert LedgerWindowNotOpen", "a second game on a challenged window refused"),
    (GAME, "if (committedAt == 0 || committedAt >= block.number) revert GameCommitmentMissing",
     "if (committedAt == 0) revert GameCommitmentMissing", "a challenge revealed in its commitment's block"),
    (GAME, "if (msg.sender != g.defender) revert GameNotDefender", "if (false) revert GameNotDefender", "anyone may defend"),
    (GAME, "if (elapsed <= remaining) revert GameClockRunning", "if (elapsed < remaining) revert GameClockRunning",
     "timeout one block early"),
    (GAME, "if (elapsed > remaining) revert GameClockExpired", "if (elapsed > remaining + 1) revert GameClockExpired",
     "a move one block after the clock ran out"),
    (GAME, "* uint64(uint256(word) >> ENERGY_BURN_OFFSET);", "* uint64(uint256(word) >> (ENERGY_BURN_OFFSET + 1));",
     "bond from the wrong bits"),
    (GAME, "if (lo == 0 && g.index == 0) expected = _genesisH128(h);", "if (lo == 0) expected = _genesisH128(h);",
     "step 0 of a later window checked against the genesis"),
    (GAME, "if (h.recordsRoot != bytes32(0) && keccak256(abi.encodePacked(s.sOwner)) != h.secretCommitment) {",
     "if (false) {", "a private step proven without S_owner"),
    (GAME, "g.challengerToMove = hi - lo == 1;", "g.challengerToMove = false;", "the defender moves on a one-step range"),
    (GAME, "if (open != 0) revert GameWindowOpen", "if (false) revert GameWindowOpen", "a reward claimed while a game is open"),
    (GAME, "if (best == 0 || c < p.bestCommitment", "if (best == 0 || c <= p.bestCommitment",
     "a later game of the same commitment block takes the reward"),
    # review 7: a role handed on in the commit block never makes a stranger pay the slash
    (LEDGER, "if (!beast.roleChangedAt(beastId, commitBlock, asTrainer)) {", "if (true) {",
     "the holder after the commit block pays for a window it did not commit"),
]
CONTRACT_TESTS = ["tests/contracts/test_chain_ledger.py", "tests/contracts/test_chain_disputes.py",
                  "tests/contracts/test_chain_rules.py", "tests/contracts/test_bisection_game.py",
                  "tests/contracts/test_chain_registry.py", "tests/contracts/test_chain_beast.py",
                  "tests/contracts/test_attack_review7.py"]

CMP_SWAP: dict[type, type] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
BIN_SWAP: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
    ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitOr,
    ast.Pow: ast.Mult,
}


@dataclass(frozen=True)
class Mutant:
    """One change: the n-th mutable node of a file (in ast.walk order) and what it becomes."""

    file: str
    index: int  # position in _points() order
    line: int
    kind: str
    before: str
    after: str


@dataclass
class Result:
    mutant: Mutant
    status: str  # killed | survived | timeout
    seconds: float
    detail: str


def _skipped_subtrees(tree: ast.AST) -> set[int]:
    """ids of nodes that are never mutated: docstrings, annotations, f-strings, raise statements, __all__."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                mark(first)
        if isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, ast.arg):
            mark(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
        if isinstance(node, (ast.JoinedStr, ast.Raise, ast.Assert)):
            mark(node)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            mark(node)
    return skip


def _points(tree: ast.AST) -> Iterator[tuple[ast.AST, str, str, str]]:
    """(node, kind, before, after) for every mutation the operators allow, in a stable order."""
    skip = _skipped_subtrees(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in CMP_SWAP:
                    yield node, f"cmp{i}", type(op).__name__, CMP_SWAP[type(op)].__name__
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BIN_SWAP:
            yield node, "binop", type(node.op).__name__, BIN_SWAP[type(node.op)].__name__
        elif isinstance(node, ast.BoolOp):
            yield node, "boolop", type(node.op).__name__, "Or" if isinstance(node.op, ast.And) else "And"
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            yield node, "unary", type(node.op).__name__, "removed"
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield node, "const", repr(node.value), repr(not node.value)
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield node, "const", repr(node.value), repr(node.value + 1)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            yield node, "call", node.func.id, "max" if node.func.id == "min" else "min"


class _Apply(ast.NodeTransformer):
    """Apply the mutation at one point, found by identity in a copied tree."""

    def __init__(self, target: ast.AST, kind: str) -> None:
        self.target, self.kind = target, kind

    def visit(self, node: ast.AST) -> ast.AST:
        if node is not self.target:
            return self.generic_visit(node)
        k = self.kind
        if k.startswith("cmp"):
            i = int(k[3:])
            node.ops[i] = CMP_SWAP[type(node.ops[i])]()  # type: ignore[attr-defined]
        elif k == "binop":
            node.op = BIN_SWAP[type(node.op)]()  # type: ignore[attr-defined]
        elif k == "boolop":
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()  # type: ignore[attr-defined]
        elif k == "unary":
            return node.operand  # type: ignore[attr-defined]
        elif k == "const":
            v = node.value  # type: ignore[attr-defined]
            node.value = (not v) if isinstance(v, bool) else v + 1  # type: ignore[attr-defined]
        elif k == "call":
            node.func.id = "max" if node.func.id == "min" else "min"  # type: ignore[attr-defined]
        return node


def mutants(file: str, source: str) -> list[tuple[Mutant, str]]:
    """Every mutant of ``file`` with its mutated source text."""
    tree = ast.parse(source)
    out: list[tuple[Mutant, str]] = []
    points = list(_points(tree))
    for index, (_node, kind, before, after) in enumerate(points):
        fresh = copy.deepcopy(tree)
        node = list(_points(fresh))[index][0]
        mutated = ast.fix_missing_locations(_Apply(node, kind).visit(fresh))
        out.append((Mutant(file, index, getattr(node, "lineno", 0), kind, before, after), ast.unparse(mutated)))
    return out


def scratch_copy() -> Path:
    """The checkout's tracked files (plus contracts/node_modules, a link) copied to a temp folder."""
    dest = Path(tempfile.mkdtemp(prefix="cb-mutation-"))
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.exists():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel, follow_symlinks=False)
    nm = ROOT / "contracts" / "node_modules"
    if nm.exists():
        (dest / "contracts" / "node_modules").symlink_to(nm.resolve())
    return dest


def _preload() -> None:
    """Import the heavy third-party modules once, so each forked mutant run starts warm (never our own packages)."""
    import hypothesis  # noqa: F401
    import numpy  # noqa: F401
    import pytest  # noqa: F401


def run_tests_forked(copy_root: Path, tests: list[str], timeout: float, budget: float) -> tuple[str, float, str]:
    """run_tests in a forked child of this (warm) process: same verdicts, less start-up per mutant."""
    fd, log_name = tempfile.mkstemp(prefix="cb-mutant-", suffix=".log")
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child: our packages are imported fresh from the copy (the parent never imported them)
        code = 3
        try:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(copy_root)
            sys.path.insert(0, str(copy_root))
            sys.dont_write_bytecode = True
            import pytest

            code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", f"--timeout={int(timeout)}", *tests]))
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    status = None
    while time.monotonic() - t0 < budget:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
        os.unlink(log_name)
        return "timeout", time.monotonic() - t0, "tests ran past the limit"
    dt = time.monotonic() - t0
    os.close(fd)
    text = Path(log_name).read_text(errors="replace")
    os.unlink(log_name)
    tail = text.strip().splitlines()
    failed = next((line for line in tail if line.startswith(("FAILED", "ERROR"))), tail[-1] if tail else "")
    code = os.waitstatus_to_exitcode(status or 0)
    if code != 0 and "Timeout" in text:
        return "timeout", dt, failed
    return ("killed" if code != 0 else "survived"), dt, failed


def run_tests(copy_root: Path, tests: list[str], timeout: float, budget: float) -> tuple[str, float, str]:
    env = {**os.environ, "PYTHONPATH": str(copy_root), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           f"--timeout={int(timeout)}", *tests]
    t0 = time.monotonic()
    try:
        out = subprocess.run(cmd, cwd=copy_root, env=env, capture_output=True, text=True, timeout=budget)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - t0, "tests ran past the limit"
    dt = time.monotonic() - t0
    tail = (out.stdout + out.stderr).strip().splitlines()
    failed = next((line for line in tail if line.startswith(("FAILED", "ERROR"))), tail[-1] if tail else "")
    if "Timeout" in out.stdout + out.stderr and out.returncode != 0:
        return "timeout", dt, failed
    return ("killed" if out.returncode != 0 else "survived"), dt, failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", help="target file(s) from the plan (default: all of them)")
    p.add_argument("--sample", type=int, default=25, help="mutants per non-priority file (default 25)")
    p.add_argument("--all", action="store_true", help="every mutant of every chosen file, no sampling")
    p.add_argument("--seed", type=int, default=11, help="sampling seed (default 11)")
    p.add_argument("--timeout", type=float, default=60, help="pytest-timeout per test in a mutant's run (default 60)")
    p.add_argument("--budget", type=float, default=900, help="seconds for one mutant's whole test run (default 900)")
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "cb-mutation-results.jsonl",
                   help="JSON-lines results, appended (default: cb-mutation-results.jsonl in the temp folder)")
    p.add_argument("--list", action="store_true", help="list the chosen mutants and exit")
    p.add_argument("--index", type=int, action="append", help="only these mutant indexes (with one --only)")
    p.add_argument("--contracts", action="store_true", help="run the hand-made contract mutants instead")
    args = p.parse_args(argv)
    if args.contracts:
        return run_contract_mutants(args)
    targets = args.only or list(PLAN)
    rng = random.Random(args.seed)
    chosen: list[tuple[Mutant, str]] = []
    for target in targets:
        ms = mutants(target, (ROOT / target).read_text())
        if args.index:
            ms = [m for m in ms if m[0].index in args.index]
        elif not args.all and target not in PRIORITY and len(ms) > args.sample:
            ms = sorted(rng.sample(ms, args.sample), key=lambda m: m[0].index)
        chosen += ms
    if args.list:
        for m, _ in chosen:
            print(f"{m.file}:{m.line} #{m.index} {m.kind} {m.before} -> {m.after}")
        print(f"{len(chosen)} mutants")
        return 0
    root = scratch_copy()
    _preload()
    counts: dict[str, int] = {}
    try:
        with args.out.open("a") as out:
            for m, text in chosen:
                path = root / m.file
                original = path.read_text()
                path.write_text(text)
                try:
                    status, dt, detail = run_tests_forked(root, PLAN[m.file], args.timeout, args.budget)
                finally:
                    path.write_text(original)
                counts[status] = counts.get(status, 0) + 1
                out.write(json.dumps(asdict(Result(m, status, round(dt, 1), detail))) + "\n")
                out.flush()
                print(f"{status:8} {dt:6.1f}s {m.file}:{m.line} #{m.index} {m.kind} {m.before} -> {m.after}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"mutants": len(chosen), **counts}))
    return 0


def run_contract_mutants(args: argparse.Namespace) -> int:
    """Each SOL_MUTANTS entry: edit the copy's source, recompile, run CONTRACT_TESTS, restore source and build."""
    chosen = [m for i, m in enumerate(SOL_MUTANTS) if not args.index or i in args.index]
    for file, old, _new, _why in chosen:
        if (ROOT / file).read_text().count(old) != 1:
            raise SystemExit(f"{file}: the text to mutate must occur exactly once: {old!r}")
    if args.list:
        for i, (file, old, new, why) in enumerate(SOL_MUTANTS):
            print(f"#{i} {file}: {why}: {old!r} -> {new!r}")
        return 0
    root = scratch_copy()
    build = root / "contracts" / "build"
    saved = {p.name: p.read_bytes() for p in build.iterdir()}
    counts: dict[str, int] = {}
    try:
        with args.out.open("a") as out:
            for i, (file, old, new, why) in enumerate(SOL_MUTANTS):
                if args.index and i not in args.index:
                    continue
                path = root / file
                original = path.read_text()
                path.write_text(original.replace(old, new))
                t0 = time.monotonic()
                try:
                    built = subprocess.run(["node", "compile.js"], cwd=root / "contracts", capture_output=True, text=True,
                                           timeout=args.budget)
                    if built.returncode != 0:
                        status, dt, detail = "killed", time.monotonic() - t0, "does not compile: " + built.stderr[-300:]
                    else:
                        status, dt, detail = run_tests(root, CONTRACT_TESTS, args.timeout, args.budget)
                finally:
                    path.write_text(original)
                    for name, data in saved.items():
                        (build / name).write_bytes(data)
                counts[status] = counts.get(status, 0) + 1
                m = Mutant(file, i, original[:original.index(old)].count("\n") + 1, "sol", old, new)
                out.write(json.dumps({**asdict(Result(m, status, round(time.monotonic() - t0, 1), detail)), "why": why}) + "\n")
                out.flush()
                print(f"{status:8} {dt:6.1f}s {file}:{m.line} #{i} {why}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"mutants": len(chosen), **counts}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
