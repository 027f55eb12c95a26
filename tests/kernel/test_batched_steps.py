"""The batched kernel's micro-step loop runs as TorchScript (kernel.batched.window_steps).

Compiled so that a window's micro-steps run without the interpreter lock (the node trains beside
its commit thread); these tests pin that it is compiled under the pinned torch and that the
compiled loop and the same loop run as Python give the same integers on both layouts (int32 and
the int64 fallback), in one call and step by step (the digest path). test_backends and the vector
tests compare the batched path with the reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernel.batched
from tests.kernel.test_backends import _random_window


def test_the_step_loop_is_compiled_under_the_pinned_torch() -> None:
    """A torch upgrade that drops TorchScript must fail here, not slow the node down unseen."""
    steps = kernel.batched.window_steps()
    assert isinstance(steps, torch.jit.ScriptFunction)
    assert steps is kernel.batched.window_steps()  # compiled once per process


@pytest.mark.parametrize(("x_max", "w_max"), [(256, 32767), (4000, 32767), (256, 1 << 20)])
@pytest.mark.parametrize("digests", [False, True])
def test_compiled_and_python_loops_agree(x_max: int, w_max: int, digests: bool) -> None:
    rng = np.random.default_rng(x_max + w_max + digests)
    cases = [_random_window(rng, 32, x_max, w_max, n=24) for _ in range(5)]
    ws, inps = [w for w, _ in cases], [inp for _, inp in cases]
    compiled = kernel.batched.run_windows_batched(ws, inps, digests, "cpu", chunk=3)
    python = kernel.batched.run_windows_batched(ws, inps, digests, "cpu", chunk=3, compiled=False)
    assert len(compiled) == len(python) == len(cases)
    for c, p in zip(compiled, python, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(c.weights, p.weights, strict=True))
        assert c.losses == p.losses and c.digests == p.digests
        assert len(c.digests) == (24 if digests else 0)
    # the windows trained: weights moved (a loop that ran no step would agree too; with lr_shift up to 24
    # and saturated rails a single case may not move)
    assert sum(any(not np.array_equal(a, b) for a, b in zip(w, c.weights, strict=True))
               for w, c in zip(ws, compiled, strict=True)) >= 2
