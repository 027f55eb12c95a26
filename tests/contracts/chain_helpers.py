"""Helpers shared by the contract tests: word builders, event checks, accounting, `cb-devnet up` as a process."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

import devnet
from devnet.bindings import ChainBeasts, TxResult, WindowStatus
from kernel.params import DEFAULT_PARAMS
from kernel.payload import Payload
from kernel.state import DEFAULT_MASK

GENESIS_MASK = DEFAULT_MASK  # the activeMask of every genesis state (slots 0 and 1)
# The energyBurn the ledger requires of a window that keeps the genesis mask, by the kernel's own
# formula under the devnet season (baseCost 1e15, as KernelParams' default): 128 x baseCost x 2 slabs.
BURN = DEFAULT_PARAMS.window_energy_burn(GENESIS_MASK, spurt=False)


def make_word(k: int, burn: int = BURN, tag: int = 1, flags: int = 0, mask: int = GENESIS_MASK) -> bytes:
    """The word of window k (globalStep 128(k+1) mod 2^32) with a recognizable h128.

    The defaults make a word the ledger accepts after genesis or any window that kept the genesis
    mask: activeMask 0b0011 and its energyBurn, no growth spurt.
    """
    h = (tag.to_bytes(4, "big") + k.to_bytes(12, "big"))
    return Payload(h, (128 * (k + 1)) % 2**32, burn, mask, 8, flags).pack()


@dataclass
class Net:
    """The embedded devnet plus shortcuts used in nearly every test."""

    raw: devnet.EmbeddedDevnet

    @property
    def cb(self) -> ChainBeasts:
        return self.raw.chain

    @property
    def a(self) -> list[LocalAccount]:
        return self.raw.accounts

    @property
    def admin(self) -> LocalAccount:
        return self.raw.accounts[0]

    def mine(self, n: int) -> int:
        return self.raw.mine(n)

    @property
    def spec_version(self) -> int:
        return self.cb.spec_version()

    def hatch(self, owner: LocalAccount, dataset: bytes | None = None, secret: bytes | None = None) -> int:
        if dataset is None:
            return self.cb.hatch(owner)
        return self.cb.hatch(owner, keccak(dataset), keccak(secret or b"\x00" * 32), records_root_for(self.cb, dataset))

    def commit_windows(self, owner: LocalAccount, beast_id: int, n: int, burn: int = BURN, start: int = 0) -> list[TxResult]:
        return [self.cb.commit(owner, beast_id, make_word(k, burn)) for k in range(start, start + n)]


@contextmanager
def raises_error(name: str, **args: Any) -> Iterator[None]:
    """Expect a decoded custom error ``name`` whose named arguments include ``args``."""
    with pytest.raises(devnet.ContractError) as info:
        yield
    err = info.value
    assert err.name == name, f"expected {name}, got {err}"
    for k, v in args.items():
        got = err.args_by_name[k]
        if isinstance(got, str) and isinstance(v, str):
            assert got.lower() == v.lower(), f"{name}.{k}: {got} != {v}"
        else:
            assert got == v, f"{name}.{k}: {got!r} != {v!r}"


def records_root_for(cb: ChainBeasts, dataset: bytes) -> bytes:
    """The recordsRoot a hatch of a beast committed to ``dataset`` passes on ``cb``'s deployment.

    The contracts never open it (only the one-step verifier will, record by record), so the
    contract tests use a stand-in derived from the bytes; zero under spec version 1.
    """
    return keccak(b"records-root stand-in" + dataset) if cb.spec_version() >= 2 else b"\x00" * 32


def ev(result: TxResult, name: str, **expected: Any) -> dict[str, Any]:
    """Assert ``result`` emitted ``name`` with (at least) ``expected`` args; return its args."""
    args = result.event(name).args
    for k, v in expected.items():
        got = args[k]
        if isinstance(got, str) and isinstance(v, str):
            assert got.lower() == v.lower(), f"{name}.{k}: {got} != {v}"
        else:
            assert got == v, f"{name}.{k}: {got!r} != {v!r}"
    return dict(args)


def status(cb: ChainBeasts, beast_id: int, k: int) -> WindowStatus:
    return cb.window_status(beast_id, k)


# ---------------------------------------------------------------------------------------
# `cb-devnet up` run as a user runs it (tests/contracts/test_devnet_console.py, test_devnet_anvil_block_time.py)

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DevnetUp:
    """A running `cb-devnet up`: its process, its stdout lines as they come, its first line (the JSON start-up
    record) and the deployments file it wrote."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str]
    info: dict[str, Any]
    deployments: Path

    def wait_line(self, needle: str, timeout: float = 60) -> str:
        """The first stdout line (from now on) containing ``needle``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {needle!r} within {timeout}s") from None
            if needle in line:
                return line


@contextmanager
def devnet_up(tmp: Path, *args: str, stop_timeout: float = 45) -> Iterator[DevnetUp]:
    """`cb-devnet up --port 0 --accounts 3 ARGS` in ``tmp``; a thread reads its stdout lines as they come (the
    first one, its JSON record, within 90 s). On the way out it is stopped with SIGTERM, which must end it
    with exit code 130 within ``stop_timeout`` seconds; one that does not is made to print every thread's
    stack (faulthandler, on SIGABRT) into the failure."""
    out = tmp / "deployments.json"
    err = tmp / "devnet.stderr"
    with err.open("w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "devnet.cli", "up", "--port", "0", "--deployments", str(out),
                                 "--run-dir", str(tmp / "run"), "--accounts", "3", *args],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=err_file, text=True,
                                env={**os.environ, "PYTHONFAULTHANDLER": "1"})
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    try:
        first = lines.get(timeout=90)
        yield DevnetUp(proc, lines, json.loads(first), out)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack to stderr
            try:
                proc.wait(timeout=10)
            finally:
                if proc.poll() is None:
                    proc.kill()
            raise AssertionError(f"cb-devnet up did not stop within {stop_timeout}s of SIGTERM; its stderr:\n"
                                 f"{err.read_text()[-6000:]}") from None
        assert rc == 130, err.read_text()[-3000:]
