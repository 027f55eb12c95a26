"""What one ReplayWindow request may cost before the service accepts it.

A normal replay costs ~0.03 s. Decoding a private dataset costs ~20 us per record, so a request
that names its own commitments and carries a 131,072-record dataset (legal: the season limit)
costs seconds, and changing one record defeats the replay library's dataset cache. The service
therefore looks at the dataset's zstd frame header (no decompression) before queueing:

* a frame that declares more content than a season dataset may hold is refused at once
  (InputTooLargeError, INVALID_ARGUMENT);
* a dataset over :data:`EXPENSIVE_RECORDS` records makes the request *expensive*: at most
  ``per_client`` expensive replays of one client (peer IP) and ``total`` of all clients are in
  flight at once; one more is refused with RESOURCE_EXHAUSTED (BusyError) instead of queueing,
  so expensive requests never hold more than ``total`` of the replay slots.

Everything else goes straight to the service's replay limiter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import zstandard

from curriculum.dataset import HEADER_SIZE, MAX_CONTENT_SIZE, MAX_RECORDS
from kernel.board import RECORD_SIZE
from validator.errors import BusyError, ConfigError, InputTooLargeError

EXPENSIVE_RECORDS: Final = 4096  # ~0.08 s of decoding: about what a normal replay costs, a few times over
DEFAULT_EXPENSIVE_PER_CLIENT: Final = 1


def default_expensive_total(replay_slots: int) -> int:
    """Expensive replays in flight at once by default: half the replay slots (at least one)."""
    return max(1, replay_slots // 2)


def declared_records(dataset: bytes) -> int | None:
    """Records a dataset file declares in its zstd frame header, or None when it declares none.

    Reads only the frame header; the replay library still checks the whole file.
    """
    if not dataset:
        return None
    try:
        size = zstandard.get_frame_parameters(dataset).content_size
    except zstandard.ZstdError:
        return None  # not a zstd frame: the replay refuses it before decompressing anything
    if size == zstandard.CONTENTSIZE_UNKNOWN:
        return None
    if size > MAX_CONTENT_SIZE:
        raise InputTooLargeError(f"dataset declares {size} content bytes, over the season limit of {MAX_CONTENT_SIZE} "
                                 f"({MAX_RECORDS} records)")
    return max(0, size - HEADER_SIZE) // RECORD_SIZE


class ExpensiveReplayGate:
    """Counts expensive replays in flight per client and in total; refuses the excess at once."""

    def __init__(self, total: int, per_client: int = DEFAULT_EXPENSIVE_PER_CLIENT) -> None:
        if per_client < 1 or total < per_client:
            raise ConfigError(f"expensive replay limits need 1 <= per client ({per_client}) <= total ({total})")
        self.total = total
        self.per_client = per_client
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self.in_flight = 0
        self.peak = 0
        self.refused = 0

    @contextmanager
    def admit(self, client: str, dataset: bytes) -> Iterator[bool]:
        """Hold an expensive-replay slot while the body runs when ``dataset`` makes the request expensive.

        Yields whether the request was counted as expensive. Raises InputTooLargeError for a
        dataset over the season limit and BusyError when the client or the server is at its limit.
        """
        records = declared_records(dataset)
        if records is None or records <= EXPENSIVE_RECORDS:
            yield False
            return
        with self._lock:
            mine = self._open.get(client, 0)
            if mine >= self.per_client or self.in_flight >= self.total:
                self.refused += 1
                who = (f"client {client} already has {mine} in flight (limit {self.per_client} per client)" if mine >= self.per_client
                       else f"{self.in_flight} are in flight (limit {self.total})")
                raise BusyError(f"validator busy: a replay whose dataset holds over {EXPENSIVE_RECORDS} records ({records}) is "
                                f"expensive and {who}; retry when one has finished")
            self._open[client] = mine + 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield True
        finally:
            with self._lock:
                self.in_flight -= 1
                if self._open[client] == 1:
                    del self._open[client]
                else:
                    self._open[client] -= 1


__all__ = ["DEFAULT_EXPENSIVE_PER_CLIENT", "EXPENSIVE_RECORDS", "ExpensiveReplayGate", "declared_records", "default_expensive_total"]
