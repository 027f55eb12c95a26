"""In-process fan-out of the node's metric events to the gRPC WatchMetrics streams.

The engine publishes one ``steps`` event per beast and trained chunk of micro-steps (16 steps
at a time on the per-beast path, 32 on the batched path: node.streaming) carrying the chunk's
losses as one list, and one event per window trained, committed and finalized. No Python object
is made per micro-step on the training path: a WatchMetrics stream that wants steps expands a
``steps`` event into its per-step MetricEvents itself (:func:`step_events`), and with nobody
subscribed to steps the trainer does not publish them at all (:meth:`MetricsBus.wants`).

Each subscriber has a bounded queue and names the kinds it wants (None: all). A slow subscriber
loses events rather than slowing training down (metrics are advisory; the window index is the
record); a subscriber that only wants ``window_committed`` (node.run_feed) is never crowded out
by step events of 1,000 beasts.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Collection, Iterator
from typing import Any, Final

STEPS: Final = "steps"  # one event: {"kind": "steps", beast_id, window, first_step, first_global_step, losses}


class MetricsBus:
    """Fan-out of metric events to subscribers (bounded queues, drops when full)."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._subs: list[tuple[queue.Queue[dict[str, Any] | None], frozenset[str] | None]] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def subscribe(self, kinds: Collection[str] | None = None) -> queue.Queue[dict[str, Any] | None]:
        """A new queue receiving every event of ``kinds`` (None: every kind) published from now on."""
        q: queue.Queue[dict[str, Any] | None] = queue.Queue(self._maxsize)
        with self._lock:
            self._subs.append((q, None if kinds is None else frozenset(kinds)))
        return q

    def unsubscribe(self, q: queue.Queue[dict[str, Any] | None]) -> None:
        """Stop delivering to ``q``."""
        with self._lock:
            self._subs = [s for s in self._subs if s[0] is not q]

    def wants(self, kind: str) -> bool:
        """Whether any subscriber would receive an event of ``kind`` (publishers may skip building it)."""
        with self._lock:
            return any(kinds is None or kind in kinds for _, kinds in self._subs)

    def publish(self, event: dict[str, Any]) -> None:
        """Deliver ``event`` to every subscriber of its kind; a full subscriber queue loses the event."""
        kind = event.get("kind")
        with self._lock:
            subs = [q for q, kinds in self._subs if kinds is None or kind in kinds]
        for q in subs:
            with contextlib.suppress(queue.Full):
                q.put_nowait(event)

    def publish_steps(self, beast_id: int, window: int, first_step: int, first_global_step: int,
                      losses: list[int], time_unix_ms: int) -> None:
        """One ``steps`` event for micro-steps first_step.. of a window (only when someone listens)."""
        if self.wants(STEPS):
            self.publish({"kind": STEPS, "beast_id": beast_id, "window": window, "first_step": first_step,
                          "first_global_step": first_global_step & 0xFFFFFFFF, "losses": losses,
                          "time_unix_ms": time_unix_ms})

    def close(self) -> None:
        """Tell every subscriber the stream ended."""
        with self._lock:
            subs, self._subs = self._subs, []
        for q, _ in subs:
            with contextlib.suppress(queue.Full):
                q.put_nowait(None)


def step_events(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The per-step records of a ``steps`` event (kind ``step``: step index, global step, loss), in order."""
    first, g0 = int(event["first_step"]), int(event["first_global_step"])
    for i, loss in enumerate(event["losses"]):
        yield {"kind": "step", "beast_id": event["beast_id"], "window": event["window"], "step": first + i,
               "global_step": (g0 + i) & 0xFFFFFFFF, "loss": int(loss), "time_unix_ms": event["time_unix_ms"]}


__all__ = ["STEPS", "MetricsBus", "step_events"]
