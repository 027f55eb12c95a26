"""Differential test: numpy reference vs TorchBackend vs the batched path, word for word.

8 beasts x 10 windows x 128 micro-steps = 10,240 micro-steps per backend. The schedules
change lr_shift every window (0 and 24 included), switch on one slot mid-way (a growth
spurt), and use short epochs so the attack (epoch >= 3) and block (epoch >= 6) heads train.
One beast trains on a private source, one has another network shape; the odd beasts are
spec_version 2 (block head weighted), the even ones spec_version 1, so every batch mixes
both versions. Every payload word,
every per-step loss and the per-step digests of two windows must be identical. The same
chains are recomputed in a subprocess with another PYTHONHASHSEED and one thread.

Run ``python -m tests.kernel.test_differential --threads N`` to print the chains' summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import torch

from kernel.board import Board
from kernel.context import WindowContext
from kernel.hashing import keccak256
from kernel.params import KernelParams
from kernel.prng import fold64
from kernel.sources import TEMPLATES, PublicSource, draw_board
from kernel.state import KernelState, genesis
from kernel.train import WindowResult, train_window

N_BEASTS = 8
N_WINDOWS = 10
LR_SHIFTS = (6, 3, 0, 9, 24, 1, 5, 12, 2, 7)
DIGEST_WINDOWS = (0, 7)
PRIVATE_BEAST = 3  # in the middle, so the batched inputs interleave public and private boards
REPO = Path(__file__).resolve().parents[2]


def version_of(i: int) -> int:
    """Beast i's spec_version: 2 for odd beasts, 1 for even ones."""
    return 2 if i % 2 else 1


class ToyPrivateSource:
    """A private-flagged source: boards keyed by keccak(seed_core, g), half of them on templates."""

    private = True

    def __init__(self, spec_version: int) -> None:
        self.spec_version = spec_version

    def window_boards(self, ctx: WindowContext) -> list[Board]:
        out = []
        for j in range(128):
            g = ctx.step(j)
            key = fold64(keccak256(b"toy-private" + ctx.seed_core + g.to_bytes(4, "big"))[:8])
            out.append(draw_board(key, TEMPLATES[g % 8] if g % 2 else None))
        return out


def beasts() -> list[tuple[KernelState, object]]:
    """The 8 genesis states and their sources."""
    out: list[tuple[KernelState, object]] = []
    for i in range(N_BEASTS):
        seed = keccak256(b"differential" + bytes([i]))
        if i == 6:
            params = KernelParams(slot_width=8, n_slots=8, epoch_steps=128)
        else:
            params = KernelParams(epoch_steps=128 if i < 4 or i == 7 else 256)
        if i == PRIVATE_BEAST:
            out.append((genesis(seed, params, dataset_commitment=keccak256(b"toy dataset"), spec_version=version_of(i)),
                        ToyPrivateSource(version_of(i))))
        else:
            out.append((genesis(seed, params, spec_version=version_of(i)), PublicSource()))
    return out


def schedule(i: int, w: int, state: KernelState) -> tuple[int, int]:
    """(active_mask, lr_shift) of beast i's window w: a growth spurt at window 4 + i % 3."""
    mask = state.active_mask
    if w == 4 + i % 3:
        free = [s for s in range(state.params.n_slots) if not mask >> s & 1]
        if free:
            mask |= 1 << free[0]
    return mask, LR_SHIFTS[(w + i) % len(LR_SHIFTS)]


def summary(r: WindowResult) -> dict[str, str]:
    """What is compared: the payload word, the losses and the digests (hashed when long)."""
    return {
        "word": r.payload.hex(),
        "losses": keccak256(json.dumps(r.losses).encode()).hex(),
        "digests": keccak256(b"".join(r.digests)).hex(),
    }


def chain_single(backend: object) -> list[list[dict[str, str]]]:
    """Per beast, per window summaries, each window trained with train_window."""
    out = []
    for i, (state, src) in enumerate(beasts()):
        rows = []
        for w in range(N_WINDOWS):
            mask, k = schedule(i, w, state)
            r = train_window(state, src, active_mask=mask, lr_shift=k, backend=backend,  # type: ignore[arg-type]
                             want_digests=w in DIGEST_WINDOWS)
            rows.append(summary(r))
            state = r.state
        out.append(rows)
    return out


def chain_batched_on(device: str) -> list[list[dict[str, str]]]:
    return chain_batched("fast", device=device)


def chain_batched(inputs: str, chunk: int = 3, workers: int = 1, device: str = "cpu") -> list[list[dict[str, str]]]:
    """The same chains with all 8 beasts trained together per window."""
    from kernel.batched import train_windows_batched

    pairs = beasts()
    states = [p[0] for p in pairs]
    sources = [p[1] for p in pairs]
    out: list[list[dict[str, str]]] = [[] for _ in pairs]
    for w in range(N_WINDOWS):
        sched = [schedule(i, w, s) for i, s in enumerate(states)]
        results = train_windows_batched(states, sources, active_masks=[m for m, _ in sched],  # type: ignore[arg-type]
                                        lr_shifts=[k for _, k in sched], want_digests=w in DIGEST_WINDOWS,
                                        device=device, inputs=inputs, chunk=chunk, workers=workers)
        for i, r in enumerate(results):
            out[i].append(summary(r))
        states = [r.state for r in results]
    return out


@cache
def reference() -> str:
    return json.dumps(chain_single("numpy"))


def _check(got: list[list[dict[str, str]]]) -> None:
    ref = json.loads(reference())
    for i in range(N_BEASTS):
        for w in range(N_WINDOWS):
            assert got[i][w] == ref[i][w], f"beast {i} window {w} differs from the numpy reference"


def test_schedule_covers_spurts_heads_and_shifts() -> None:
    """The chains do what the docstring claims: spurts, all three heads, lr_shift 0 and 24."""
    from kernel.payload import FLAG_GROWTH_SPURT, FLAG_PRIVATE

    ref = json.loads(reference())
    words = [[int(r["word"], 16) for r in rows] for rows in ref]
    assert all(any(wd & FLAG_GROWTH_SPURT for wd in rows) for rows in words)
    assert all(wd & FLAG_PRIVATE for wd in words[PRIVATE_BEAST])
    assert not any(wd & FLAG_PRIVATE for i, rows in enumerate(words) if i != PRIVATE_BEAST for wd in rows)
    shifts = {(wd >> 16) & 0xFF for rows in words for wd in rows}
    assert {0, 24} <= shifts
    pairs = beasts()
    epochs = {((w + 1) * 128 - 1) // p[0].params.epoch_steps for p in pairs for w in range(N_WINDOWS)}
    assert max(epochs) >= 6 and 3 in epochs
    block_epochs = {version_of(i) for i, p in enumerate(pairs) if (N_WINDOWS * 128 - 1) // p[0].params.epoch_steps >= 6}
    assert block_epochs == {1, 2}, "both versions must train the block head"
    assert N_BEASTS * N_WINDOWS * 128 >= 10_000


def test_torch_matches_numpy() -> None:
    from kernel.net_torch import TorchBackend

    _check(chain_single(TorchBackend(device="cpu")))


def test_torch_device_style_path_matches_numpy() -> None:
    """The path CUDA takes (tensor heads, elementwise products), run on CPU."""
    from kernel.net_torch import TorchBackend

    _check(chain_single(TorchBackend(device="cpu", heads="tensor", products="elementwise")))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_numpy() -> None:
    from kernel.net_torch import TorchBackend

    _check(chain_single(TorchBackend(device="cuda")))
    _check(chain_batched_on("cuda"))


@pytest.mark.parametrize(("inputs", "workers"), [("scalar", 1), ("fast", 2)])
def test_batched_matches_numpy(inputs: str, workers: int) -> None:
    _check(chain_batched(inputs, workers=workers))


def test_in_subprocess_other_hashseed_and_threads() -> None:
    """Another interpreter, PYTHONHASHSEED and thread count compute the same words."""
    env = dict(os.environ, PYTHONHASHSEED="12345", OMP_NUM_THREADS="1")
    threads = 1 if torch.get_num_threads() > 1 else 2
    proc = subprocess.run([sys.executable, "-m", "tests.kernel.test_differential", "--threads", str(threads)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(proc.stdout)
    assert got["threads"] == threads
    _check(got["torch"])
    _check(got["batched"])


def _main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from kernel.net_torch import TorchBackend

    runs: dict[str, Callable[[], object]] = {
        "torch": lambda: chain_single(TorchBackend(device="cpu")),
        "batched": lambda: chain_batched("fast", chunk=8),
    }
    out: dict[str, object] = {"threads": torch.get_num_threads()}
    for name, fn in runs.items():
        out[name] = fn()
    print(json.dumps(out))


if __name__ == "__main__":
    _main()
