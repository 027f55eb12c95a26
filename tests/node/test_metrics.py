"""The metric bus: kind filters, steps published as one event per chunk, expanded only by the streams."""

from __future__ import annotations

import queue
from typing import Any

from node.metrics import STEPS, MetricsBus, step_events

from tests.node.conftest import Trained


def _drain(q: queue.Queue[dict[str, Any] | None]) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            ev = q.get_nowait()
        except queue.Empty:
            return out
        assert ev is not None
        out.append(ev)


def test_subscribers_get_only_their_kinds() -> None:
    bus = MetricsBus()
    assert not bus.wants(STEPS)
    windows = bus.subscribe({"window_committed"})
    assert not bus.wants(STEPS) and bus.wants("window_committed")
    everything = bus.subscribe()
    assert bus.wants(STEPS)
    bus.publish({"kind": "window_committed", "beast_id": 1})
    bus.publish_steps(1, 2, 0, 129, [5, 6], 0)
    assert [e["kind"] for e in _drain(windows)] == ["window_committed"]
    assert [e["kind"] for e in _drain(everything)] == ["window_committed", STEPS]
    bus.unsubscribe(everything)
    assert not bus.wants(STEPS)
    bus.publish_steps(1, 2, 0, 129, [5, 6], 0)  # nobody listens: nothing is built or queued
    assert _drain(windows) == []


def test_a_full_queue_loses_events_not_the_publisher() -> None:
    bus = MetricsBus(maxsize=2)
    q = bus.subscribe()
    for i in range(5):
        bus.publish({"kind": "window_committed", "window": i})
    assert [e["window"] for e in _drain(q)] == [0, 1]


def test_step_events_expand_a_chunk_in_order_with_wrapping_global_steps() -> None:
    ev = {"kind": STEPS, "beast_id": 3, "window": 9, "first_step": 16, "first_global_step": 0xFFFFFFFF,
          "losses": [7, 8, 9], "time_unix_ms": 42}
    steps = list(step_events(ev))
    assert [s["step"] for s in steps] == [16, 17, 18]
    assert [s["global_step"] for s in steps] == [0xFFFFFFFF, 0, 1]
    assert [s["loss"] for s in steps] == [7, 8, 9] and {s["kind"] for s in steps} == {"step"}


def test_the_trainer_publishes_chunks_of_steps_and_none_without_a_listener(trained: Trained) -> None:
    engine, run = trained.engine, trained.run
    windows = engine.bus.subscribe({"window_trained", "window_committed"})
    engine.step([run])  # nobody wants steps: the round publishes none
    got = _drain(windows)
    assert [e["kind"] for e in got] == ["window_trained", "window_committed"]
    listener = engine.bus.subscribe()
    engine.step([run])
    events = _drain(listener)
    chunks = [e for e in events if e["kind"] == STEPS]
    assert 1 <= len(chunks) <= 8  # per chunk of micro-steps (node.streaming), never one object per step
    steps = [s for c in chunks for s in step_events(c)]
    row = run.store.get(chunks[0]["window"])
    assert row is not None
    assert [s["step"] for s in steps] == list(range(128))
    assert [s["global_step"] for s in steps] == [row.global_step - 127 + j for j in range(128)]
    losses, _ = run.store.step_data(row.window) or ([], [])
    assert [s["loss"] for s in steps] == losses
    engine.bus.unsubscribe(windows)
    engine.bus.unsubscribe(listener)
