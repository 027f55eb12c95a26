"""A py-evm backend whose chain repeats from run to run (``cb-node demo --seed``).

eth-tester's PyEVMBackend stamps each block ``max(now, parent + 1)`` and, after the merge, draws
the block's ``prevrandao`` (``mix_hash``) from ``os.urandom``; both end up in the block hash that
seeds a beast (Beast.hatch: ``blockhash(block.number - 1)``) and every epoch seed. With a genesis
time in the future (devnet.embedded.start's ``genesis_timestamp``) the stamps are parent + 1,
and this backend derives ``mix_hash`` from the parent hash instead of the OS random source, so
the same transactions give the same chain. A demo device only: prevrandao is predictable here.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import eth_tester.backends.pyevm.main as pyevm_main
from eth_utils import keccak

from devnet.indexed_backend import IndexedBackend

_TAG = b"chainbeasts/devnet/reproducible-prevrandao/v1"


@contextlib.contextmanager
def _urandom_from(seed: bytes) -> Iterator[None]:
    """While inside, eth-tester's module sees an ``os`` whose ``urandom`` is keccak-derived from ``seed``."""
    real = pyevm_main.os
    counter = [0]

    def urandom(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += keccak(_TAG + seed + counter[0].to_bytes(4, "big"))
            counter[0] += 1
        return out[:n]

    shim = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    shim.urandom = urandom
    pyevm_main.os = shim  # type: ignore[assignment]
    try:
        yield
    finally:
        pyevm_main.os = real


class ReproducibleBackend(IndexedBackend):
    """IndexedBackend whose post-merge ``mix_hash`` follows from the parent block (one block at a time)."""

    def mine_blocks(self, num_blocks: int = 1, coinbase: Any = None) -> tuple[bytes, ...]:
        hashes: list[bytes] = []
        for _ in range(num_blocks):
            with _urandom_from(bytes(self.chain.header.parent_hash)):
                kwargs = {} if coinbase is None else {"coinbase": coinbase}
                hashes.extend(super().mine_blocks(1, **kwargs))
        return tuple(hashes)


__all__ = ["ReproducibleBackend"]
