"""Per-step digests on demand: re-derived from the parent checkpoint when a validator asks.

The per-step digests of a window (keccak256 of the weights after each of its 128 micro-steps,
first 16 bytes; ``kernel.net_numpy.digest``) only help a validator locate the first divergent
step of a disputed window (``GetStepDigests``). Computing them while training cost 128 keccaks
of the whole weight set per beast and window -- most of the batched kernel's time at 64 beasts
and more (docs/PERFORMANCE.md) -- for data that is almost never asked for. So the node trains
without them and :func:`window_step_data` recomputes a window when asked: load the parent
checkpoint (retention keeps the parent of every window a dispute could still need), train the
window again with the epoch seed and settings its index row records, check the result hashes
to the row's h128 (else the stored data is unusable: never serve digests of another lineage),
and return its losses and digests. Training is deterministic, so these are exactly the digests
training would have stored. Rows written by a node that stored digests are served as stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

from kernel.sources import PublicSource
from node.errors import DataError
from node.store import BeastStore

CACHE_WINDOWS: Final = 64  # recomputed windows kept (a validator asks for the same window more than once)


class StepDigests:
    """Losses and digests of a window: stored ones, else recomputed (and cached) from the parent checkpoint."""

    def __init__(self, source_of: Callable[[BeastStore], Any]) -> None:
        self.source_of = source_of  # the beast's sample source (public boards or its private curriculum)
        self._cache: OrderedDict[tuple[int, int, bytes], tuple[list[int], list[bytes]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, store: BeastStore, window: int) -> tuple[list[int], list[bytes]] | None:
        """(losses, digests) of ``window`` >= 1, or None when the index has no such window.

        Raises PrunedError when the parent checkpoint is gone, DataError when the recomputed
        window does not hash to the indexed h128.
        """
        row = store.get(window)
        if row is None:
            return None
        data = store.step_data(window)
        if data is not None and data[1]:
            return data
        key = (store.beast_id, window, row.h128)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        parent = store.load_state(window - 1)
        from kernel.train import train_window

        source = self.source_of(store)
        res = train_window(parent, source, epoch_seed=row.epoch_seed, active_mask=row.active_mask,
                           lr_shift=row.lr_shift, want_digests=True,
                           inputs="fast" if isinstance(source, PublicSource) else "spec")
        if res.state.h128() != row.h128:
            raise DataError(f"beast {store.beast_id} window {window}: re-training it from window {window - 1} gives "
                            f"h128 0x{res.state.h128().hex()}, the index says 0x{row.h128.hex()}")
        out = (list(res.losses), list(res.digests))
        with self._lock:
            self._cache[key] = out
            while len(self._cache) > CACHE_WINDOWS:
                self._cache.popitem(last=False)
        return out


__all__ = ["CACHE_WINDOWS", "StepDigests"]
