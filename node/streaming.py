"""Step events while a window trains, not after it: the kernel's training run in chunks of micro-steps.

The kernel trains a window with one ``Backend.run_window`` call over its 128 encoded samples
(one ``kernel.batched.run_windows_batched`` call for many beasts). Each micro-step depends only
on the weights before it and its own sample (kernel.window_inputs: the rows of ``xs``, ``move``,
``attack``, ``block``; the heads, unit mask, learning rate and block weight are the window's), so
running rows 0..15, then 16..31 from the weights the first call returned, and so on, is the same
computation in the same order: identical weights, losses and digests (tests/node/test_streaming.py
checks the words against the unchunked kernel). After each chunk the caller's ``on_steps`` gets
the chunk's losses, and the node publishes them on its metric bus (one event per beast and
chunk, never one per micro-step), so `cb-node watch` sees a window's loss while the window trains.

- :class:`StreamingBackend`: the per-beast path (fewer than ``node.training.BATCHED_MIN`` beasts);
- :func:`train_windows_streamed`: the batched path, ``kernel.batched.train_windows_batched`` with
  its tensor program run chunk by chunk for all beasts together (each chunk is one
  ``run_windows_batched`` call; between chunks every beast's chunk is reported).

The node chunks a round only while someone subscribes to step events (node.training): a chunk
re-enters the kernel, which costs a little set-up per chunk (docs/PERFORMANCE.md, Node). If
WindowInputs ever gains another per-step field, :func:`chunkable` says no and the window runs in
one call as before (its steps reported once, after it).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np

from kernel.context import SampleSource
from kernel.state import KernelState
from kernel.train import Backend, WindowResult, finish_window, prepare_window
from kernel.window_inputs import WindowInputs, WindowOutcome

CHUNK_STEPS: Final = 16
PER_STEP_FIELDS: Final = ("xs", "move", "attack", "block")  # indexed by micro-step
PER_WINDOW_FIELDS: Final = ("heads", "unit_mask", "lr_shift", "block_weight")  # the window's settings


def chunkable(inp: WindowInputs) -> bool:
    """Whether ``inp`` holds exactly the fields this module knows how to split (else: one call)."""
    return {f.name for f in dataclasses.fields(inp)} == set(PER_STEP_FIELDS) | set(PER_WINDOW_FIELDS)


def steps_slice(inp: WindowInputs, start: int, stop: int) -> WindowInputs:
    """The window's inputs for micro-steps start..stop-1 only (its settings unchanged)."""
    return dataclasses.replace(inp, **{f: getattr(inp, f)[start:stop] for f in PER_STEP_FIELDS})


class StreamingBackend:
    """A Backend that runs the wrapped one CHUNK_STEPS micro-steps at a time and reports each chunk."""

    def __init__(self, inner: Backend, on_steps: Callable[[int, list[int]], None], chunk: int = CHUNK_STEPS) -> None:
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        self.inner = inner
        self.name = inner.name
        self.on_steps = on_steps
        self.chunk = chunk

    def run_window(self, w: tuple[np.ndarray, ...], inp: WindowInputs, want_digests: bool = False) -> WindowOutcome:
        """Train the window's micro-steps chunk by chunk; the same outcome as one ``inner.run_window`` call."""
        if not chunkable(inp):
            out = self.inner.run_window(w, inp, want_digests)
            self.on_steps(0, list(out.losses))
            return out
        n = int(inp.xs.shape[0])
        losses: list[int] = []
        digests: list[bytes] = []
        weights = w
        for start in range(0, n, self.chunk):
            out = self.inner.run_window(weights, steps_slice(inp, start, start + self.chunk), want_digests)
            weights = out.weights
            losses.extend(out.losses)
            digests.extend(out.digests)
            self.on_steps(start, list(out.losses))
        return WindowOutcome(weights, losses, digests)  # type: ignore[arg-type]


def train_windows_streamed(
    states: Sequence[KernelState],
    sources: Sequence[SampleSource],
    *,
    epoch_seeds: Sequence[bytes],
    active_masks: Sequence[int],
    lr_shifts: Sequence[int],
    on_steps: Callable[[int, list[list[int]]], None],
    want_digests: bool = False,
    inputs: str = "scalar",
    chunk: int = CHUNK_STEPS,
) -> list[WindowResult]:
    """``kernel.batched.train_windows_batched`` (the node's explicit settings), reported chunk by chunk.

    After the micro-steps ``first..first+chunk-1`` of every beast are trained,
    ``on_steps(first, losses)`` is called with ``losses[i]`` the losses of beast ``i``'s steps
    of that chunk (states order). Same results as one ``train_windows_batched`` call.
    """
    from kernel.batched import run_windows_batched

    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    if inputs not in ("scalar", "fast"):
        raise ValueError(f"inputs must be 'scalar' or 'fast', got {inputs!r}")
    n = len(states)
    if not len(sources) == len(epoch_seeds) == len(active_masks) == len(lr_shifts) == n:
        raise ValueError("sources, epoch_seeds, active_masks and lr_shifts must have one entry per state")
    settings = list(zip(epoch_seeds, active_masks, lr_shifts, strict=True))
    if inputs == "fast":
        from kernel.fast_inputs import prepare_windows_fast

        prepared = prepare_windows_fast(states, sources, epoch_seeds, active_masks, lr_shifts)
    else:
        prepared = [prepare_window(st, src, es, m, k) for st, src, (es, m, k) in zip(states, sources, settings, strict=True)]
    inps = [p[0] for p in prepared]
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)  # one tensor program per shape, as the kernel does
    for i, st in enumerate(states):
        groups[st.w1.shape + (inps[i].xs.shape[0],)].append(i)
    weights: list[tuple[np.ndarray, ...]] = [(st.w1, st.b1, st.w2, st.b2) for st in states]
    losses: list[list[int]] = [[] for _ in range(n)]
    digests: list[list[bytes]] = [[] for _ in range(n)]
    steps = max((int(i.xs.shape[0]) for i in inps), default=0)
    step = chunk if all(chunkable(i) for i in inps) else max(steps, 1)
    for first in range(0, steps, step):
        reported: list[list[int]] = [[] for _ in range(n)]
        for idx in groups.values():
            parts = [inps[i] if step >= steps else steps_slice(inps[i], first, first + step) for i in idx]
            outs = run_windows_batched([weights[i] for i in idx], parts, want_digests)
            for i, o in zip(idx, outs, strict=True):
                weights[i] = o.weights
                losses[i].extend(o.losses)
                digests[i].extend(o.digests)
                reported[i] = list(o.losses)
        on_steps(first, reported)
    return [finish_window(st, WindowOutcome(weights[i], losses[i], digests[i]), es, m, k,  # type: ignore[arg-type]
                          prepared[i][1])
            for i, (st, (es, m, k)) in enumerate(zip(states, settings, strict=True))]


__all__ = ["CHUNK_STEPS", "StreamingBackend", "chunkable", "steps_slice", "train_windows_streamed"]
