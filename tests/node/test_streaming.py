"""Step events while a window trains (issue 17 item 1): node.streaming runs the kernel backend (and,
for many beasts, the batched kernel) in chunks of micro-steps and reports each chunk as soon as it
is trained. The chunked window must be the window: same state, word, losses and digests as one
kernel call, for every backend and both spec versions; and each chunk is reported before the next
is trained. A real node streaming a batched round to `cb-node watch` is tests/node/test_watch_batched.py."""

from __future__ import annotations

import pytest

import kernel.batched
from kernel.sources import PublicSource
from kernel.state import KernelState, genesis
from kernel.train import get_backend, offline_epoch_seed, train_window
from kernel.window_settings import window_epoch
from node.streaming import CHUNK_STEPS, StreamingBackend, train_windows_streamed

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


def _beasts(n: int, spec_version: int) -> list[KernelState]:
    """n beasts, the second half one window further on (different weights, masks and heads per beast)."""
    states = [genesis(i.to_bytes(32, "big"), spec_version=spec_version) for i in range(1, n + 1)]
    return [train_window(s, PublicSource()).state if i >= n // 2 else s for i, s in enumerate(states)]


@pytest.mark.parametrize("spec_version", [1, 2])
@pytest.mark.parametrize(("inputs", "chunk"), [("fast", 32), ("scalar", 16), ("fast", 48)])
def test_a_chunked_batched_round_is_the_same_round(spec_version: int, inputs: str, chunk: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    states = _beasts(8, spec_version)
    sources = [PublicSource()] * len(states)
    seeds = [offline_epoch_seed(s.seed_core, window_epoch(s)) for s in states]
    masks = [s.active_mask for s in states]
    shifts = [s.lr_shift for s in states]
    whole = kernel.batched.train_windows_batched(states, sources, epoch_seeds=seeds, active_masks=masks,
                                                 lr_shifts=shifts, want_digests=True, inputs=inputs)
    runs = [0]  # tensor programs run when each chunk was reported
    inner = kernel.batched.run_windows_batched

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        runs[0] += 1
        return inner(*a, **k)

    monkeypatch.setattr(kernel.batched, "run_windows_batched", counting)
    reported: list[tuple[int, list[list[int]], int]] = []
    chunked = train_windows_streamed(states, sources, epoch_seeds=seeds, active_masks=masks, lr_shifts=shifts,
                                     want_digests=True, inputs=inputs, chunk=chunk,
                                     on_steps=lambda first, losses: reported.append((first, losses, runs[0])))
    assert [r.payload for r in chunked] == [r.payload for r in whole]
    assert [r.state.h128() for r in chunked] == [r.state.h128() for r in whole]
    assert [r.losses for r in chunked] == [r.losses for r in whole]
    assert [r.digests for r in chunked] == [r.digests for r in whole]
    firsts = list(range(0, 128, chunk))
    assert [f for f, _, _ in reported] == firsts
    assert [n for _, _, n in reported] == list(range(1, len(firsts) + 1))  # each reported before the next ran
    for b, res in enumerate(whole):  # every beast's chunk, in order, is its window's losses
        assert [x for _, losses, _ in reported for x in losses[b]] == res.losses


def test_a_batched_round_refuses_bad_arguments() -> None:
    states = _beasts(2, 2)
    args = {"epoch_seeds": [b"\0" * 32] * 2, "active_masks": [1, 1], "lr_shifts": [8, 8],
            "on_steps": lambda first, losses: None}
    with pytest.raises(ValueError, match="chunk"):
        train_windows_streamed(states, [PublicSource()] * 2, chunk=0, **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one entry per state"):
        train_windows_streamed(states, [PublicSource()], **args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inputs"):
        train_windows_streamed(states, [PublicSource()] * 2, inputs="quick", **args)  # type: ignore[arg-type]
