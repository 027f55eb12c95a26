"""`cb-devnet up --engine anvil --block-time S` and `cb-devnet mine N` on anvil, run as a user runs them.

`--block-time` does not hand anvil its own ``--block-time``: that switches anvil to interval
mining, where every transaction waits for the next tick (and the py-evm engine could not do the
same). `cb-devnet up` keeps automining on both engines -- each transaction still gets its own
block at once -- and mines an empty block every S seconds beside it (devnet.txlog.BlockTimer,
``evm_mine``). The embedded engine's test is tests/contracts/test_devnet_console.py; this is anvil's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

import devnet
from chain_helpers import devnet_up

ROOT = Path(__file__).resolve().parents[2]


def _anvil() -> bool:
    from devnet.anvil import find_anvil

    try:
        return find_anvil().exists()
    except devnet.LedgerError:
        return False


def _rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10})).provider.make_request(method, params or [])["result"]


@pytest.mark.anvil
@pytest.mark.skipif(not _anvil(), reason="anvil not installed (cd contracts && npm ci)")
def test_block_time_on_anvil_advances_the_clock_while_idle_and_mine_works(tmp_path: Path) -> None:
    with devnet_up(tmp_path, "--engine", "anvil", "--block-time", "0.5", "--no-tx-log", stop_timeout=30) as up:
        assert up.info["engine"] == "anvil"
        url, dep, proc = up.info["rpcUrl"], up.deployments, up.proc
        deadline = time.monotonic() + 60
        up.wait_line("every 0.5 s (--block-time)")
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
        start = w3.eth.block_number
        while w3.eth.block_number < start + 3:  # nothing is sent: only the timer can move the clock
            assert time.monotonic() < deadline, "no block mined by --block-time on anvil"
            time.sleep(0.2)
        idle = [w3.eth.get_block(n) for n in range(start + 1, start + 4)]
        assert all(len(b["transactions"]) == 0 for b in idle)  # empty blocks, one per tick
        assert [b["timestamp"] for b in idle] == sorted(b["timestamp"] for b in idle)
        assert _rpc(url, "anvil_getAutomine") is True  # transactions are still mined at once, each in its own block

        cb = devnet.connect(dep)
        beast = cb.hatch(cb.accounts[1])
        assert beast >= 1

        before = w3.eth.block_number
        res = subprocess.run([sys.executable, "-m", "devnet.cli", "mine", "5", "--deployments", str(dep), "--json"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        mined = json.loads(res.stdout)
        assert mined["rpcUrl"] == url and mined["from"] >= before and mined["mined"] >= 5  # the timer may add one
        assert mined["to"] - mined["from"] == mined["mined"] and w3.eth.block_number >= before + 5
        after = w3.eth.block_number
        while w3.eth.block_number <= after:  # and the timer keeps going after `mine`
            assert time.monotonic() < deadline + 60, "--block-time stopped after cb-devnet mine"
            time.sleep(0.2)
        assert proc.poll() is None
