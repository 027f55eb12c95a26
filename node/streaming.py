"""Step events while a window trains, not after it: a kernel backend run in chunks of micro-steps.

The kernel trains a window with one ``Backend.run_window`` call over its 128 encoded samples. Each
micro-step depends only on the weights before it and its own sample (kernel.window_inputs: the
rows of ``xs``, ``move``, ``attack``, ``block``; the heads, unit mask, learning rate and block
weight are the window's), so running rows 0..15, then 16..31 from the weights the first call
returned, and so on, is the same computation in the same order: identical weights, losses and
digests (tests/node/test_streaming.py checks the words against the unchunked backend). After
each chunk ``on_steps(first_step_index, losses)`` is called, and the node publishes those step
events on its metric bus, so `cb-node watch` sees a window's loss while the window trains.

Only the per-beast path uses it (the batched many-beast path trains all beasts' steps in one
tensor program and publishes the steps after the window). If WindowInputs ever gains another
per-step field, :func:`chunkable` says no and the window runs in one call as before.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Final

import numpy as np

from kernel.train import Backend
from kernel.window_inputs import WindowInputs, WindowOutcome

CHUNK_STEPS: Final = 16
PER_STEP_FIELDS: Final = ("xs", "move", "attack", "block")  # indexed by micro-step
PER_WINDOW_FIELDS: Final = ("heads", "unit_mask", "lr_shift", "block_weight")  # the window's settings


def chunkable(inp: WindowInputs) -> bool:
    """Whether ``inp`` holds exactly the fields this module knows how to split (else: one call)."""
    return {f.name for f in dataclasses.fields(inp)} == set(PER_STEP_FIELDS) | set(PER_WINDOW_FIELDS)


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
            part = dataclasses.replace(inp, **{f: getattr(inp, f)[start:start + self.chunk] for f in PER_STEP_FIELDS})
            out = self.inner.run_window(weights, part, want_digests)
            weights = out.weights
            losses.extend(out.losses)
            digests.extend(out.digests)
            self.on_steps(start, list(out.losses))
        return WindowOutcome(weights, losses, digests)  # type: ignore[arg-type]


__all__ = ["CHUNK_STEPS", "StreamingBackend", "chunkable"]
