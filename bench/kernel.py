"""Kernel benchmark: integer SGD on numpy, torch and the batched path against a float32 baseline.

    python bench/kernel.py [--json] [--threads N] [--repeats R]

Every figure is the best of R timed repeats after one warm-up run (the machines we share
are often busy; the best run is the closest to an idle machine, and the load average at
start is reported beside it). ``--clock cpu`` times CPU seconds instead of elapsed ones,
which a busy machine disturbs far less (single-threaded runs only). Nothing here is
asserted: this is a report, not a test.

The baseline is the same 64-64-6 MLP (all four 16-unit slots on) trained in float32 on
torch, one sample per step like the kernel: ``baseline_f32_autograd`` is the usual
autograd + ``torch.optim.SGD`` step with the three heads' losses (cross-entropy, squared
error, logistic); ``baseline_f32_manual`` is the same step written by hand without autograd
(the op-for-op float twin of the integer step). Ratios are (baseline step time) / (step
time), so > 1 means faster than the baseline; the batched figures count beast-steps.

``batched_128_*beside_python*`` time a 128-beast block (the node's part) beside a thread that runs
Python 2 ms of every 5 ms, as the node's commit thread does beside its training, with the compiled
step loop (the default, ``kernel.batched.window_steps``) and the same loop as Python
(``python_loop``): the share of its speed a block keeps there is what the interpreter lock costs it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.report import finish  # noqa: E402

from kernel.batched import run_windows_batched, train_windows_batched  # noqa: E402
from kernel.fast_inputs import prepare_window_fast, prepare_windows_fast  # noqa: E402
from kernel.net_numpy import NumpyBackend  # noqa: E402
from kernel.net_torch import TorchBackend  # noqa: E402
from kernel.params import DEFAULT_PARAMS, KernelParams  # noqa: E402
from kernel.sources import PublicSource  # noqa: E402
from kernel.state import KernelState, genesis  # noqa: E402
from kernel.train import finish_window, offline_epoch_seed, prepare_window, train_window, window_epoch  # noqa: E402

STEPS = 128
ALL_SLOTS = 0b1111  # 4 x 16 = 64 hidden units: the 64-64-6 network


CLOCK: Callable[[], float] = time.perf_counter  # --clock cpu: time.process_time


def best_of(fn: Callable[[], object], repeats: int, clock: Callable[[], float] | None = None) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call (``clock``: CLOCK)."""
    clock = clock or CLOCK
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = clock()
        fn()
        best = min(best, clock() - t)
    return best


@contextlib.contextmanager
def python_beside(busy_s: float = 0.002, idle_s: float = 0.003) -> Iterator[None]:
    """A thread running pure Python ``busy_s`` of every ``busy_s + idle_s`` seconds while the block runs
    (the node's commit thread signs, encodes and writes index rows beside its training), at the node's
    switch interval (node.pipeline)."""
    from node.pipeline import SWITCH_INTERVAL_S

    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            end = time.perf_counter() + busy_s
            while time.perf_counter() < end:
                pass
            stop.wait(idle_s)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    th = threading.Thread(target=work, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()
        sys.setswitchinterval(switch)


def baseline_autograd(xs: torch.Tensor, move: torch.Tensor, atk: torch.Tensor, blk: torch.Tensor) -> Callable[[], None]:
    """128 float32 autograd SGD steps of a 64-64-6 MLP, one sample each."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 6))
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    F = torch.nn.functional

    def run() -> None:
        for j in range(STEPS):
            opt.zero_grad(set_to_none=True)
            z = net(xs[j])
            loss = (F.cross_entropy(z[:4].unsqueeze(0), move[j : j + 1]) + (z[4] - atk[j]) ** 2
                    + F.binary_cross_entropy_with_logits(z[5], blk[j]))
            loss.backward()
            opt.step()

    return run


def baseline_manual(xs: torch.Tensor, move: torch.Tensor, atk: torch.Tensor, blk: torch.Tensor) -> Callable[[], None]:
    """The same 128 steps, forward/backward/update written out in float32 without autograd."""
    g = torch.Generator().manual_seed(0)
    w1, b1 = torch.randn(64, 64, generator=g) * 0.1, torch.zeros(64)
    w2, b2 = torch.randn(6, 64, generator=g) * 0.1, torch.zeros(6)
    lr = 1e-3
    onehot = torch.nn.functional.one_hot(move, 4).float()

    def run() -> None:
        for j in range(STEPS):
            x = xs[j]
            a1 = torch.addmv(b1, w1, x)
            h = a1.clamp(min=0)
            z = torch.addmv(b2, w2, h)
            gz = torch.cat([torch.softmax(z[:4], 0) - onehot[j], 2 * (z[4:5] - atk[j]), torch.sigmoid(z[5:6]) - blk[j]])
            gh = torch.mv(w2.t(), gz) * (a1 > 0)
            w2.addr_(gz, h, alpha=-lr)
            b2.add_(gz, alpha=-lr)
            w1.addr_(gh, x, alpha=-lr)
            b1.add_(gh, alpha=-lr)

    return run


def beast(i: int, params: KernelParams = DEFAULT_PARAMS) -> KernelState:
    """Beast i's genesis with all four slots on (the full 64-64-6 network trains)."""
    return replace(genesis(i.to_bytes(32, "big"), params), active_mask=ALL_SLOTS)


def measure(repeats: int, workers: int = 1) -> dict[str, object]:
    src = PublicSource()
    st = beast(1)
    es = offline_epoch_seed(st.seed_core, 0)
    inp, _ = prepare_window(st, src, es, ALL_SLOTS, 6)
    w = (st.w1, st.b1, st.w2, st.b2)
    r: dict[str, object] = {}

    # float32 baselines, on the window's own samples
    xs = torch.from_numpy(inp.xs).float() / 256
    move = torch.from_numpy(inp.move).clamp(min=0)
    atk = torch.from_numpy(inp.attack).float()
    blk = torch.from_numpy(inp.block).float()
    base_us = best_of(baseline_autograd(xs, move, atk, blk), repeats) / STEPS * 1e6
    r["baseline_f32_autograd_step_us"] = base_us
    r["baseline_f32_manual_step_us"] = best_of(baseline_manual(xs, move, atk, blk), repeats) / STEPS * 1e6

    # single-beast integer SGD (inputs prepared beforehand)
    for name, be in (("numpy", NumpyBackend()), ("torch", TorchBackend(device="cpu")),
                     ("torch_tensor_heads", TorchBackend(device="cpu", heads="tensor"))):
        us = best_of(lambda be=be: be.run_window(w, inp), repeats) / STEPS * 1e6
        r[f"{name}_step_us"] = us
        r[f"{name}_steps_per_s"] = 1e6 / us

    # batched integer SGD: beast-steps/s, inputs prepared beforehand (SGD only) and end to end
    for n in (1, 64, 1024):
        states = [beast(i) for i in range(n)]
        prep = prepare_windows_fast(states, [src] * n, [es] * n, [ALL_SLOTS] * n, [6] * n)
        ws = [(s.w1, s.b1, s.w2, s.b2) for s in states]
        inps = [p[0] for p in prep]
        reps = repeats if n < 1024 else max(1, repeats // 2)
        sec = best_of(lambda ws=ws, inps=inps: run_windows_batched(ws, inps, device="cpu", workers=workers), reps)
        r[f"batched_{n}_beast_steps_per_s"] = n * STEPS / sec
        sec = best_of(lambda states=states, n=n: train_windows_batched(states, src, active_masks=[ALL_SLOTS] * n, device="cpu",
                                                    inputs="fast", workers=workers), reps)
        r[f"batched_{n}_e2e_beast_steps_per_s"] = n * STEPS / sec

    # the batched path beside another Python thread (what the node's commit thread is to its training): a
    # 128-beast block (the node's part) alone and beside a thread running Python 2 ms of every 5 ms, for the
    # compiled step loop (the default) and the same loop as Python; always wall-clock time
    states = [beast(i) for i in range(128)]
    prep = prepare_windows_fast(states, [src] * 128, [es] * 128, [ALL_SLOTS] * 128, [6] * 128)
    ws, inps = [(s.w1, s.b1, s.w2, s.b2) for s in states], [p[0] for p in prep]
    for loop, compiled in (("", True), ("python_loop_", False)):
        def block(compiled: bool = compiled) -> object:
            return run_windows_batched(ws, inps, device="cpu", compiled=compiled)

        r[f"batched_128_{loop}beast_steps_per_s"] = 128 * STEPS / best_of(block, repeats, time.perf_counter)
        with python_beside():
            sec = best_of(block, repeats, time.perf_counter)
        r[f"batched_128_{loop}beside_python_beast_steps_per_s"] = 128 * STEPS / sec

    # replaying one 128-step window end to end (sampling, labels, SGD, state hash, payload)
    def replay(be: object, fast: bool) -> Callable[[], object]:
        prep_fn = prepare_window_fast if fast else prepare_window

        def run() -> object:
            seed = offline_epoch_seed(st.seed_core, window_epoch(st))
            i, spurt = prep_fn(st, src, seed, ALL_SLOTS, 6)
            out = be.run_window(w, i)  # type: ignore[attr-defined]
            return finish_window(st, out, seed, ALL_SLOTS, 6, spurt)

        return run

    for name, be in (("numpy", NumpyBackend()), ("torch", TorchBackend(device="cpu"))):
        r[f"replay_window_{name}_ms"] = best_of(lambda be=be: train_window(st, src, active_mask=ALL_SLOTS,
                                                                           backend=be), repeats) * 1e3
        r[f"replay_window_{name}_fast_inputs_ms"] = best_of(replay(be, True), repeats) * 1e3
    r["prepare_window_ms"] = best_of(lambda: prepare_window(st, src, es, ALL_SLOTS, 6), repeats) * 1e3
    r["prepare_window_fast_ms"] = best_of(lambda: prepare_window_fast(st, src, es, ALL_SLOTS, 6), repeats) * 1e3

    # ratios to the autograd baseline (per beast-step)
    for key in list(r):
        if key.endswith("_steps_per_s"):
            r[key.replace("_steps_per_s", "_vs_baseline")] = r[key] * base_us / 1e6  # type: ignore[operator]
    r["torch_step_over_baseline_time"] = r["torch_step_us"] / base_us  # type: ignore[operator]
    return r


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: on a shared, oversubscribed machine torch's "
                         "per-op thread barriers make 2 threads up to 10x slower; see docs/PERFORMANCE.md)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1, help="batched path: blocks trained at once on threads")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: elapsed time; cpu: this process's CPU time (robust on a busy machine, "
                         "but it adds up all threads, so use it with --threads 1 --workers 1)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    figures = measure(args.repeats, args.workers)
    machine = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "batched_workers": args.workers,
               "clock": args.clock, "device": "cpu",
               "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
               "loadavg_1m_at_start": round(load, 2)}
    finish(figures, t0, as_json=args.json, width=(58, 14), machine=machine)


if __name__ == "__main__":
    main()
