"""Helpers shared by the contract tests: word builders, event checks, accounting."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
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
