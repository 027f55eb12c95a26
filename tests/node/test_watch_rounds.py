"""The trainer's step events around a failed round (node.training, node.streaming).

A round trained while someone watched marks its windows as streamed, so their steps are not
published a second time after the window. If that round fails (the kernel raises, the node is
stopping) the same windows are trained again later; that retry must not inherit the mark: a
watcher who joins while the retry trains (nobody watched when it began, so it runs unchunked)
still gets every step of the window, after it.
"""

from __future__ import annotations

import pytest

import node.training
from node.metrics import STEPS, step_events
from tests.node.conftest import Trained


def _drain(q):  # type: ignore[no-untyped-def]
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


def test_a_failed_watched_round_does_not_hide_the_retrys_steps(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, run = trained.engine, trained.run
    real = node.training.train_window
    first = engine.bus.subscribe()

    def fails_after_streaming(*args, **kwargs):  # type: ignore[no-untyped-def]
        real(*args, **kwargs)  # its chunks go out to the watcher ...
        raise RuntimeError("the kernel failed")  # ... and then the round fails

    monkeypatch.setattr(node.training, "train_window", fails_after_streaming)
    with pytest.raises(RuntimeError, match="kernel failed"):
        engine.step([run])
    streamed = [e for e in _drain(first) if e["kind"] == STEPS]
    assert [e["first_step"] for e in streamed] == list(range(0, 128, 16))  # it was watched chunk by chunk
    window = streamed[0]["window"]
    engine.bus.unsubscribe(first)

    late = []

    def joined_while_training(*args, **kwargs):  # type: ignore[no-untyped-def]
        late.append(engine.bus.subscribe())  # nobody watched when the round began: it trains in one call
        return real(*args, **kwargs)

    monkeypatch.setattr(node.training, "train_window", joined_while_training)
    engine.step([run])
    (q,) = late
    events = _drain(q)
    engine.bus.unsubscribe(q)
    chunks = [e for e in events if e["kind"] == STEPS and e["window"] == window]
    assert [s["step"] for c in chunks for s in step_events(c)] == list(range(128))
    row = run.store.get(window)
    assert row is not None and [s["loss"] for c in chunks for s in step_events(c)] == (run.store.step_data(window) or ([], []))[0]
    kinds = [e["kind"] for e in events]
    assert kinds.index("window_trained") > kinds.index(STEPS)
