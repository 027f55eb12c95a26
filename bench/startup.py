"""Start-up benchmark: wall time of each CLI's ``--help`` and of ``cb-node status`` against ``python -c pass``.

    python bench/startup.py [--json] [--repeats R]

Each command runs R times in a fresh interpreter (the same one running this script, with this
tree first on PYTHONPATH); the table shows the best and the median wall time and the best time
over the baseline ``python -c pass`` measured in the same run (the interpreter's own start-up,
which no CLI can beat). ``cb-node status`` runs on a fresh node directory (``cb-node init``,
embedded chain: no chain is asked). Nothing here is asserted: this is a report, not a test; the
test that the parsers import neither torch, web3 nor grpc is tests/test_startup_imports.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's packages, not bench/kernel.py, are `kernel`

from kernel.host import tool_modules  # noqa: E402

TOOLS = tool_modules()  # console-script name -> module whose main() it runs

# (label, tool, arguments); "{node}" is replaced by a fresh node directory.
COMMANDS: list[tuple[str, str, list[str]]] = [
    *[(f"{tool} --help", tool, ["--help"]) for tool in TOOLS],
    ("cb-node run --help", "cb-node", ["run", "--help"]),
    ("cb-node status", "cb-node", ["status", "--node-dir", "{node}"]),
    ("cb-dispute challenge --help", "cb-dispute", ["challenge", "--help"]),
    ("cb-devnet up --help", "cb-devnet", ["up", "--help"]),
]


def tool_argv(tool: str, args: list[str]) -> list[str]:
    """The command line running ``tool`` exactly as its console script does, in this interpreter."""
    return [sys.executable, "-c", f"import sys; from {TOOLS[tool]} import main; sys.exit(main())", *args]


def env() -> dict[str, str]:
    """This tree first on PYTHONPATH, so the figures are this checkout's."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [e.get("PYTHONPATH")])])
    return e


def wall(argv: list[str], environ: dict[str, str]) -> float:
    """Seconds one run of ``argv`` takes; raises when it fails (a broken command has no start-up time)."""
    start = time.perf_counter()
    subprocess.run(argv, env=environ, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def make_node_dir(root: Path, environ: dict[str, str]) -> Path:
    """A fresh node directory (embedded chain) for ``cb-node status``."""
    pw = root / "pw"
    pw.write_text("startup-bench\n")
    pw.chmod(0o600)
    node = root / "node"
    subprocess.run(tool_argv("cb-node", ["init", str(node), "--password-file", str(pw)]), env=environ, check=True,
                   stdout=subprocess.DEVNULL)
    return node


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="runs per command (default 5)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    environ = env()
    with tempfile.TemporaryDirectory() as tmp:
        node = make_node_dir(Path(tmp), environ)
        rows = []
        runs = [("baseline: python -c pass", [sys.executable, "-c", "pass"])]
        runs += [(label, tool_argv(tool, [a.replace("{node}", str(node)) for a in a_])) for label, tool, a_ in COMMANDS]
        for label, cmd in runs:
            times = [wall(cmd, environ) for _ in range(args.repeats)]
            rows.append({"command": label, "best_s": min(times), "median_s": statistics.median(times)})
    base = rows[0]["best_s"]
    for r in rows:
        r["over_baseline_s"] = r["best_s"] - base
    if args.json:
        print(json.dumps({"repeats": args.repeats, "loadavg": os.getloadavg()[0], "rows": rows}, indent=2))
        return 0
    print(f"start-up, best and median of {args.repeats} runs (load average {os.getloadavg()[0]:.2f})")
    print(f"{'command':<28} {'best s':>7} {'median s':>9} {'best - baseline s':>18}")
    for r in rows:
        print(f"{r['command']:<28} {r['best_s']:>7.3f} {r['median_s']:>9.3f} {r['over_baseline_s']:>18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
