"""Following a dispute until it is resolved, optionally resolving it as soon as the contract allows."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount

from devnet.bindings import ChainBeasts
from validator.dispute.claiming import resolve
from validator.dispute.errors import ChainDataError
from validator.dispute.status import DisputeStatus, dispute_status


def watch_status(chain: ChainBeasts, dispute_id: int, *, interval_s: float = 1.0, timeout_s: float = 600.0,
                 on_change: Callable[[DisputeStatus], None] | None = None,
                 resolver: LocalAccount | None = None) -> DisputeStatus:
    """Poll until the dispute is resolved (or ``timeout_s``); with ``resolver``, resolve it once possible."""
    deadline = time.monotonic() + timeout_s
    last: tuple[Any, ...] | None = None
    while True:
        st = dispute_status(chain, dispute_id)
        key = (st.info.agree, st.info.against, st.info.outcome, st.resolvable)
        if key != last and on_change is not None:
            on_change(st)
        last = key
        if not st.open:
            return st
        if resolver is not None and st.resolvable:
            resolve(chain, resolver, dispute_id)
            continue
        if time.monotonic() > deadline:
            raise ChainDataError(f"dispute {dispute_id} still open after {timeout_s:.0f}s "
                                 f"({st.blocks_left} blocks of voting left)")
        time.sleep(interval_s)


__all__ = ["watch_status"]
