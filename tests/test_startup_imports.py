"""Start-up stays light (issue 16, "Memory and start-up"): every tool's ``--help``, every
subcommand's ``--help`` and ``cb-node status`` on a fresh node directory run without importing
torch, web3, grpc, eth-account or py-evm; those load inside the command handlers that use them.

Each check runs in a fresh interpreter and reads ``sys.modules`` after the command, so a module
imported anywhere on the way (the parser, a package ``__init__``, an error class) fails it by
name. The wall time is measured in bench/startup.py, not asserted here (rule 6).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.host import tool_modules

ROOT = Path(__file__).resolve().parents[1]
TOOLS = tool_modules()  # console-script name -> module whose main() it runs
HEAVY = ("torch", "web3", "grpc", "eth_account", "eth", "eth_abi")  # eth: py-evm

# Runs main(ARGS) for each ARGS in argv[2] (a JSON list), then prints the heavy top-level
# packages that are loaded. --help exits through SystemExit(0); anything else fails the check.
PROBE = """
import contextlib, io, json, sys, importlib
main = importlib.import_module(sys.argv[1]).main
for args in json.loads(sys.argv[2]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code
    sys.stderr.write(out.getvalue())
    if code not in (0, None):
        raise SystemExit(f"{args}: exit {code}")
    if "--help" in args and "usage:" not in out.getvalue():
        raise SystemExit(f"{args}: no usage text")
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[3])))))
"""


def probe(module: str, commands: list[list[str]]) -> list[str]:
    """The heavy packages loaded after running ``commands`` through ``module``'s main() in a fresh interpreter."""
    proc = subprocess.run([sys.executable, "-c", PROBE, module, json.dumps(commands), json.dumps(HEAVY)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout.strip().splitlines()[-1]))


def subcommands(tool: str) -> list[str]:
    """The subcommand names of ``tool``'s parser (built here, in the test process)."""
    from tests.test_cli_host import every_parser, parsers

    top = parsers()[tool]
    return [p.prog.split(" ", 1)[1] for p in every_parser(top) if p is not top]


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_help_of_every_command_imports_no_heavy_package(tool: str) -> None:
    names = subcommands(tool)
    assert names, f"{tool} has no subcommands?"
    commands = [["--help"], *[[*name.split(), "--help"] for name in names]]
    assert probe(TOOLS[tool], commands) == []


def test_heavy_names_are_the_packages_the_product_loads() -> None:
    """The names checked above are the real ones: the lazy ``devnet`` package still hands out the
    bindings (web3, eth-account), the gRPC guard loads grpc, the embedded chain py-evm (``eth``)."""
    code = ("import json, sys, devnet, torch, chainbeasts.rpc_guard; devnet.ChainBeasts; devnet.EmbeddedDevnet; "
            f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == sorted(HEAVY)


def test_node_status_on_a_fresh_node_dir_imports_no_heavy_package(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("startup-test\n")
    pw.chmod(0o600)
    node = tmp_path / "node"
    init = subprocess.run([sys.executable, "-m", "node.cli", "init", str(node), "--password-file", str(pw)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert init.returncode == 0, init.stderr
    env = {k: v for k, v in os.environ.items() if k != "CB_NODE_DIR"}
    proc = subprocess.run([sys.executable, "-c", PROBE, "node.cli", json.dumps([["status", "--node-dir", str(node)]]),
                           json.dumps(HEAVY)], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "no beasts yet" in proc.stderr  # it really reported the node (the probe echoes output on stderr)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
