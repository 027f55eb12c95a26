"""Step events while a window trains (issue 17 item 1): node.streaming runs the kernel backend in
chunks of micro-steps and reports each chunk as soon as it is trained. The chunked window must be
the window: same state, word, losses and digests as one backend call, for both backends and both
spec versions; and the first chunk is reported before the second is trained."""

from __future__ import annotations

import pytest

from kernel.sources import PublicSource
from kernel.state import genesis
from kernel.train import get_backend, train_window
from node.streaming import CHUNK_STEPS, StreamingBackend

SEED = bytes(range(32))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("spec_version", [1, 2])
def test_a_chunked_window_is_the_same_window(backend: str, spec_version: int) -> None:
    state = genesis(SEED, spec_version=spec_version)
    inner = get_backend(backend)
    calls: list[int] = []  # inner run_window calls made when each chunk was reported
    count = [0]

    class Counting:
        name = inner.name

        def run_window(self, *a, **k):  # type: ignore[no-untyped-def]
            count[0] += 1
            return inner.run_window(*a, **k)

    reported: list[tuple[int, list[int]]] = []

    def on_steps(start: int, losses: list[int]) -> None:
        reported.append((start, losses))
        calls.append(count[0])

    for _ in range(2):  # two windows: the second starts from a trained state
        whole = train_window(state, PublicSource(), backend=backend, want_digests=True)
        reported.clear()
        calls.clear()
        count[0] = 0
        chunked = train_window(state, PublicSource(), backend=StreamingBackend(Counting(), on_steps), want_digests=True)
        assert chunked.state.h128() == whole.state.h128() and chunked.payload == whole.payload
        assert chunked.losses == whole.losses and chunked.digests == whole.digests
        assert [s for s, _ in reported] == list(range(0, 128, CHUNK_STEPS))
        assert [x for _, chunk in reported for x in chunk] == whole.losses
        assert calls == list(range(1, 128 // CHUNK_STEPS + 1))  # each chunk reported before the next trained
        state = whole.state


def test_chunk_must_be_positive() -> None:
    with pytest.raises(ValueError):
        StreamingBackend(get_backend("numpy"), lambda start, losses: None, chunk=0)
