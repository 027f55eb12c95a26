"""A wheel of the distribution carries everything a non-editable install needs to run a devnet.

The README installs editable, where the contract artifacts are read from the checkout; a wheel
installed elsewhere has no checkout, so it ships them as the package ``chainbeasts.contracts``.
Built offline (no build isolation) from this checkout and installed into a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_the_contract_artifacts_and_runs_the_devnet_without_the_checkout(tmp_path: Path) -> None:
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = out.glob("chainbeasts-*.whl")
    with zipfile.ZipFile(wheel) as z:
        for artifact in sorted((ROOT / "contracts" / "build").glob("*.json")):
            assert z.read(f"chainbeasts/contracts/{artifact.name}") == artifact.read_bytes(), artifact.name
        # the server limits both gRPC services import (node.service, validator.service)
        assert z.read("chainbeasts/rpc_guard.py") == (ROOT / "proto" / "chainbeasts" / "rpc_guard.py").read_bytes()
        # the Tavern's page and assets (package data: the dashboard works offline, from the install)
        for asset in sorted((ROOT / "node" / "tavern" / "static").iterdir()):
            assert z.read(f"node/tavern/static/{asset.name}") == asset.read_bytes(), asset.name
        # every module of the product packages, subpackages included (validator.dispute is one)
        names = set(z.namelist())
        for top in ("kernel", "curriculum", "devnet", "node", "validator"):
            for module in sorted((ROOT / top).rglob("*.py")):
                assert module.relative_to(ROOT).as_posix() in names, f"{module.relative_to(ROOT)} is not in the wheel"
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "CB_ARTIFACTS"}
    env["PYTHONPATH"] = str(site)
    probe = (f"import devnet, devnet.artifacts as a; assert devnet.__file__.startswith({str(site)!r}), devnet.__file__; "
             "print(a.build_dir()); net = devnet.start(accounts=2); print(net.chain.ledger.address)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    where, ledger = done.stdout.split()
    assert Path(where) == site / "chainbeasts" / "contracts" and ledger.startswith("0x")
