"""The node both Tavern dispute tests start (tests/node/test_tavern.py over HTTP, test_tavern_browser.py in
chromium): a node directory on a devnet reached over RPC, its key in a keystore unlocked by a 0600 password
file, one beast hatched and two windows committed by a real ``cb-node run``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devnet.launch import RunningDevnet
from tests.node.test_cli import ROOT


def rpc_node_with_two_windows(tmp_path: Path, net: RunningDevnet) -> Path:
    """The node directory ``tmp_path/rpc-node`` on ``net`` (launched with ``run_dir=tmp_path/"devnet"``),
    dev account 1's key; beast 1 hatched and windows 1 and 2 committed (``cb-node run --until-window 2``)."""
    from node.config import create_keystore, write_config

    root = tmp_path / "rpc-node"
    root.mkdir()
    write_config(root, rpc=net.url, deployments=str(tmp_path / "devnet" / "deployments.json"), backend="numpy",
                 grpc="127.0.0.1:0")
    create_keystore(root / "keystore.json", "tavern-pw", bytes(net.accounts[1].key), iterations=1024)
    pw = root / "password"
    pw.write_text("tavern-pw\n")
    pw.chmod(0o600)
    done = subprocess.run([sys.executable, "-m", "node.cli", "run", "--node-dir", str(root), "--password-file", str(pw),
                           "--hatch", "1", "--until-window", "2", "--quiet"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return root
