"""In-process fan-out of the node's metric events to the gRPC WatchMetrics streams.

The engine publishes one event per trained step and per window trained, committed and
finalized; each WatchMetrics call subscribes a bounded queue. A slow subscriber loses
events rather than slowing training down (metrics are advisory; the window index is the record).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any


class MetricsBus:
    """Fan-out of metric events to subscribers (bounded queues, drops when full)."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._subs: list[queue.Queue[dict[str, Any] | None]] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def subscribe(self) -> queue.Queue[dict[str, Any] | None]:
        """A new queue receiving every event published from now on."""
        q: queue.Queue[dict[str, Any] | None] = queue.Queue(self._maxsize)
        with self._lock:
            self._subs.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any] | None]) -> None:
        """Stop delivering to ``q``."""
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)

    def publish(self, event: dict[str, Any]) -> None:
        """Deliver ``event`` to every subscriber; a full subscriber queue loses the event."""
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            with contextlib.suppress(queue.Full):
                q.put_nowait(event)

    def close(self) -> None:
        """Tell every subscriber the stream ended."""
        with self._lock:
            subs, self._subs = self._subs, []
        for q in subs:
            with contextlib.suppress(queue.Full):
                q.put_nowait(None)


__all__ = ["MetricsBus"]
