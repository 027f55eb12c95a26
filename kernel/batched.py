"""Batched training: many beasts' windows at once, per-beast weights, masks, lr_shifts and heads.

Each beast's window is exactly ``train.train_window`` for that beast (same payload word,
losses and digests); only the arithmetic is laid out as (B, ...) tensors. Inputs come from
``train.prepare_window`` per beast, or from the vectorized ``kernel.fast_inputs`` when
``inputs="fast"`` (public boards drawn there too, other sources' boards encoded there;
checked equal to the scalar path in the tests).

Arithmetic (same integer identities as ``kernel.net_torch``: folded biases, dormant rows
held at zero during the window and restored, saturated, after). Products are formed elementwise and
summed, which on CPU is faster than integer ``bmm``. Everything is int32 when that is
provably exact, else int64:

* |x| <= 256 for every observation (checked per window), |w| <= 2**15 (i16 weights),
  |gz_0..4| <= 256, |gz_5| <= 2**15 (the v2 block head's weighted gradient, saturated),
  |gh| <= 2**15, d_in == 64, addend <= 2**27 (lr_shift <= 24):
  W1 @ [x, 4096] <= 64 * 2**23 + 2**27 < 2**31; gh (x) xb + addend <= 2**23 + 2**27;
  W2^T gz <= 5 * 2**23 + 2**30 < 2**31; gz (x) hb + addend <= 2**30 + 2**27 < 2**31.
* W2 @ [h, 4096] can exceed 2**31 (hidden * 2**30), so its products (each < 2**30) are
  summed into int64.

The micro-step loop (:func:`_window_steps`) runs compiled with TorchScript (:func:`window_steps`), so a
block's steps run without the interpreter lock: the node trains beside its commit thread's Python.
"""

from __future__ import annotations

import threading
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import numpy as np
import torch

from kernel.context import SampleSource
from kernel.fixedpoint import I16_MAX, I16_MIN
from kernel.hashing import keccak256
from kernel.net_torch import (
    BWD_ONE,
    FWD_ONE,
    default_device,
    head_losses_t,
    head_step_core,
    head_targets_t,
    update_round,
)
from kernel.state import KernelState
from kernel.train import WindowResult, finish_window, offline_epoch_seed, prepare_window
from kernel.window_inputs import WindowInputs, WindowOutcome
from kernel.window_settings import window_epoch

DEFAULT_CHUNK: Final = 256  # beasts per tensor block: bounds memory, keeps a block in cache
X_BOUND_I32: Final = 256  # largest |x| for which the int32 layout is exact (module docstring)


def train_windows_batched(
    states: Sequence[KernelState],
    sources: SampleSource | Sequence[SampleSource],
    *,
    epoch_seeds: Sequence[bytes | None] | None = None,
    active_masks: Sequence[int | None] | None = None,
    lr_shifts: Sequence[int | None] | None = None,
    want_digests: bool = False,
    device: str | torch.device | None = None,
    inputs: str = "scalar",
    chunk: int = DEFAULT_CHUNK,
    workers: int = 1,
) -> list[WindowResult]:
    """``train.train_window`` for every beast of ``states``, trained together.

    ``sources`` is one source for all beasts or one per beast; the per-beast sequences
    default (entry None) like ``train_window``: the offline epoch seed, the state's mask
    and lr_shift. ``inputs`` is "scalar" (``prepare_window``) or "fast" (``fast_inputs``);
    ``chunk`` and ``workers`` are as in ``run_windows_batched`` and never change a result.
    Raises KernelError exactly where ``train_window`` would, before any training.
    """
    n = len(states)
    srcs = list(sources) if isinstance(sources, Sequence) else [sources] * n
    seeds = list(epoch_seeds) if epoch_seeds is not None else [None] * n
    masks = list(active_masks) if active_masks is not None else [None] * n
    shifts = list(lr_shifts) if lr_shifts is not None else [None] * n
    if not len(srcs) == len(seeds) == len(masks) == len(shifts) == n:
        raise ValueError("sources, epoch_seeds, active_masks and lr_shifts must have one entry per state")
    if inputs not in ("scalar", "fast"):
        raise ValueError(f"inputs must be 'scalar' or 'fast', got {inputs!r}")
    settings = []
    for st, es, m, k in zip(states, seeds, masks, shifts, strict=True):
        settings.append((
            offline_epoch_seed(st.seed_core, window_epoch(st)) if es is None else es,
            st.active_mask if m is None else m,
            st.lr_shift if k is None else k,
        ))
    if inputs == "fast":
        from kernel.fast_inputs import prepare_windows_fast

        prepared = prepare_windows_fast(states, srcs, [s[0] for s in settings], [s[1] for s in settings],
                                        [s[2] for s in settings])
    else:
        prepared = [prepare_window(st, src, es, m, k) for st, src, (es, m, k) in zip(states, srcs, settings, strict=True)]
    groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, st in enumerate(states):
        groups[st.w1.shape + (prepared[i][0].xs.shape[0],)].append(i)
    outcomes: list[WindowOutcome | None] = [None] * n
    for idx in groups.values():
        outs = run_windows_batched([(states[i].w1, states[i].b1, states[i].w2, states[i].b2) for i in idx],
                                   [prepared[i][0] for i in idx], want_digests, device, chunk, workers)
        for i, o in zip(idx, outs, strict=True):
            outcomes[i] = o
    return [finish_window(st, outcomes[i], es, m, k, prepared[i][1])  # type: ignore[arg-type]
            for i, (st, (es, m, k)) in enumerate(zip(states, settings, strict=True))]


def run_windows_batched(
    ws: Sequence[tuple[np.ndarray, ...]],
    inps: Sequence[WindowInputs],
    want_digests: bool = False,
    device: str | torch.device | None = None,
    chunk: int = DEFAULT_CHUNK,
    workers: int = 1,
    compiled: bool = True,
) -> list[WindowOutcome]:
    """``NumpyBackend().run_window(ws[b], inps[b])`` for every b; all of one shape and length.

    Blocks of ``chunk`` beasts are independent; ``workers`` > 1 trains that many blocks at
    once on Python threads (the compiled step loop runs without the GIL). ``compiled`` False
    runs the step loop as Python (:func:`window_steps`; for benchmarks and tests). The result
    never depends on ``chunk``, ``workers`` or ``compiled``.
    """
    dev = torch.device(device) if device is not None else default_device()
    starts = range(0, len(ws), chunk)
    if workers <= 1 or len(starts) <= 1:
        blocks = [_run_block(ws[s : s + chunk], inps[s : s + chunk], want_digests, dev, compiled) for s in starts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            blocks = list(pool.map(lambda s: _run_block(ws[s : s + chunk], inps[s : s + chunk], want_digests, dev,
                                                        compiled), starts))
    return [o for block in blocks for o in block]


def _run_block(
    ws: Sequence[tuple[np.ndarray, ...]], inps: Sequence[WindowInputs], want_digests: bool, dev: torch.device,
    compiled: bool = True,
) -> list[WindowOutcome]:
    B = len(ws)
    w1s = np.stack([np.asarray(w[0], dtype=np.int64) for w in ws])  # (B, H, D)
    b1s = np.stack([np.asarray(w[1], dtype=np.int64) for w in ws])  # (B, H)
    w2s = np.stack([np.asarray(w[2], dtype=np.int64) for w in ws])  # (B, 6, H)
    b2s = np.stack([np.asarray(w[3], dtype=np.int64) for w in ws])  # (B, 6)
    um = np.stack([np.asarray(i.unit_mask, dtype=np.int64) for i in inps])  # (B, H)
    xs = np.stack([np.asarray(i.xs, dtype=np.int64) for i in inps])  # (B, n, D)
    _, H, D = w1s.shape
    n = xs.shape[1]
    in_i16 = all(a.min(initial=0) >= I16_MIN and a.max(initial=0) <= I16_MAX for a in (w1s, b1s, w2s, b2s))
    dt = torch.int32 if in_i16 and D == 64 and np.abs(xs).max(initial=0) <= X_BOUND_I32 else torch.int64
    I64 = torch.int64

    def t(a: np.ndarray, dtype: torch.dtype = dt) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=dev, dtype=dtype)

    # W1 (B, H, D+1) = [w1 | b1] with dormant rows zeroed; W2 (B, 6, H+1) = [w2 | b2]
    W1 = t(np.concatenate([w1s, b1s[:, :, None]], 2) * um[:, :, None])
    W2 = t(np.concatenate([w2s, b2s[:, :, None]], 2))
    if n:  # dormant rows are restored at the end, saturated like the reference does
        w1s, b1s = np.clip(w1s, I16_MIN, I16_MAX), np.clip(b1s, I16_MIN, I16_MAX)
    xt = xs.transpose(1, 0, 2)  # (n, B, D)
    xf = t(np.concatenate([xt, np.full((n, B, 1), FWD_ONE)], 2))  # (n, B, D+1)
    xb = t(np.concatenate([xt, np.full((n, B, 1), BWD_ONE)], 2))
    mv = t(np.stack([i.move for i in inps], 1), I64)  # (n, B)
    at = t(np.stack([i.attack for i in inps], 1), I64)
    bl = t(np.stack([i.block for i in inps], 1), I64)
    heads = t(np.array([i.heads for i in inps]), I64)  # (B,)
    wb = t(np.array([i.block_weight for i in inps]), I64)  # (B,)
    tg = head_targets_t(mv, at, bl, heads, wb)  # label terms of all steps, computed once
    rounding = [update_round(i.lr_shift) for i in inps]
    C = t(np.array([r[0] for r in rounding]).reshape(B, 1, 1))  # addend <= 2**27
    S = t(np.array([r[1] for r in rounding]).reshape(B, 1, 1))
    p_move, d_atk, s_blk = (torch.empty((n, B), dtype=I64, device=dev) for _ in range(3))
    digests: list[list[bytes]] = [[] for _ in range(B)]
    steps = window_steps() if compiled else _window_steps
    run = (W1, W2, xf, xb, C, S, tg.target, tg.on_move, tg.move_idx, tg.atk_target, tg.on_atk, tg.blk_target,
           tg.blk_scale, p_move, d_atk, s_blk)
    with torch.jit.optimized_execution(False):  # thread-local: the graph as written, no profiling or fusion passes
        if not want_digests:
            steps(*run, 0, n)
        else:  # a step at a time, each step's digests read in between
            for j in range(n):
                steps(*run, j, j + 1)
                for b, dg in enumerate(_digests(W1, W2, w1s, b1s, um)):
                    digests[b].append(dg)
    loss_rows = head_losses_t(p_move, d_atk, s_blk, bl, tg).t().cpu().tolist()
    return [WindowOutcome(w, loss_rows[b], digests[b]) for b, w in enumerate(_assemble(W1, W2, w1s, b1s, um))]


def _window_steps(
    W1: torch.Tensor, W2: torch.Tensor, xf: torch.Tensor, xb: torch.Tensor, C: torch.Tensor, S: torch.Tensor,
    target: torch.Tensor, on_move: torch.Tensor, move_idx: torch.Tensor, atk_target: torch.Tensor,
    on_atk: torch.Tensor, blk_target: torch.Tensor, blk_scale: torch.Tensor,
    p_move: torch.Tensor, d_atk: torch.Tensor, s_blk: torch.Tensor, first: int, end: int,
    lo: int = I16_MIN, hi: int = I16_MAX, fwd_one: int = FWD_ONE, bwd_one: int = BWD_ONE,
) -> None:
    """Micro-steps ``first`` .. ``end - 1`` of a block: W1 (B, H, D+1) and W2 (B, 6, H+1) updated in place,
    each step's head outputs written to row j of p_move, d_atk and s_blk (for ``head_losses_t``).

    The arithmetic of the module docstring; the HeadTargets fields come as (n, B, ...) tensors
    (on_atk (B,)). Run as TorchScript (:func:`window_steps`), which reads no global: the constants are
    defaults, never passed.
    """
    B, H = W1.shape[0], W1.shape[1]
    D1 = W1.shape[2]
    dt = W1.dtype
    P1 = torch.empty((B, H, D1), dtype=dt, device=W1.device)
    P2 = torch.empty((B, 6, H + 1), dtype=dt, device=W1.device)
    P2h = torch.empty((B, 6, H), dtype=dt, device=W1.device)
    a1 = torch.empty((B, H), dtype=dt, device=W1.device)
    gh = torch.empty((B, H), dtype=dt, device=W1.device)
    relu_gate = torch.empty((B, H), dtype=dt, device=W1.device)
    z = torch.empty((B, 6), dtype=torch.int64, device=W1.device)
    hf = torch.full((B, H + 1), fwd_one, dtype=dt, device=W1.device)  # [h, 4096]
    hb = torch.full((B, H + 1), bwd_one, dtype=dt, device=W1.device)  # [h, 16]
    hf_v, hb_v = hf[:, :H], hb[:, :H]
    W2v = W2[:, :, :H]
    gz = torch.empty((B, 6), dtype=dt, device=W1.device)
    for j in range(first, end):
        torch.mul(W1, xf[j].unsqueeze(1), out=P1)
        torch.sum(P1, -1, dtype=dt, out=a1)
        a1 >>= 12
        a1.clamp_(lo, hi)
        torch.clamp(a1, min=0, out=hf_v)
        hb_v.copy_(hf_v)
        torch.mul(W2, hf.unsqueeze(1), out=P2)
        torch.sum(P2, -1, dtype=torch.int64, out=z)
        z >>= 12
        z.clamp_(lo, hi)
        pm, d, s = head_step_core(z, gz, target[j], on_move[j], move_idx[j], atk_target[j], on_atk, blk_target[j],
                                  blk_scale[j])
        p_move[j], d_atk[j], s_blk[j] = pm, d, s
        # backward, with the weights before this step's update
        torch.mul(W2v, gz.unsqueeze(2), out=P2h)
        torch.sum(P2h, 1, dtype=dt, out=gh)
        gh >>= 12
        gh.clamp_(lo, hi)
        gh.mul_(torch.clamp(a1, 0, 1, out=relu_gate))  # a1 > 0, as 0/1 (masked_fill_ is ~10x slower)
        torch.mul(gz.unsqueeze(2), hb.unsqueeze(1), out=P2)
        P2 += C
        P2 >>= S
        W2.sub_(P2).clamp_(lo, hi)
        torch.mul(gh.unsqueeze(2), xb[j].unsqueeze(1), out=P1)
        P1 += C
        P1 >>= S
        W1.sub_(P1).clamp_(lo, hi)


_compile_lock = threading.Lock()
_compiled: Callable[..., None] | None = None


def window_steps() -> Callable[..., None]:
    """:func:`_window_steps` compiled with TorchScript (once per process, on first use).

    Why: a call of a TorchScript function releases the interpreter lock for all of its micro-steps,
    where the same loop in Python takes it back after each of its ~50 torch operations a step. Beside
    another Python thread (the node's commit thread) every take-back may wait for that thread's
    switch interval: beside a thread running Python 40% of the time a 128-beast block kept 64% of its
    speed with the Python loop and 97% compiled (docs/PERFORMANCE.md, Node, "The step loop compiled").
    Same operations, same integers: the tests compare it with the Python loop, the reference and the
    vectors.
    """
    global _compiled
    with _compile_lock:  # one compilation, also when several threads train their first block at once
        if _compiled is None:
            with warnings.catch_warnings():  # torch 2.13 calls TorchScript deprecated; constraints.txt pins it,
                warnings.simplefilter("ignore", DeprecationWarning)  # and tests/kernel/test_batched_steps.py fails
                _compiled = torch.jit.script(_window_steps)  # if it goes
        return _compiled


def _digests(W1: torch.Tensor, W2: torch.Tensor, w1s: np.ndarray, b1s: np.ndarray, um: np.ndarray) -> list[bytes]:
    """net_numpy.digest of every beast's current weights, the i16 bytes built for all at once."""
    a1 = W1.cpu().numpy()
    a2 = W2.cpu().numpy()
    B, H, _ = a1.shape
    keep = um[:, :, None] != 0
    rows = np.concatenate([
        np.where(keep, a1[:, :, :-1], w1s).reshape(B, -1),
        np.where(keep[:, :, 0], a1[:, :, -1], b1s),
        a2[:, :, :-1].reshape(B, -1),
        a2[:, :, -1],
    ], 1).astype("<i2")
    return [keccak256(r.tobytes())[:16] for r in rows]


def _assemble(
    W1: torch.Tensor, W2: torch.Tensor, w1s: np.ndarray, b1s: np.ndarray, um: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per-beast int64 (w1, b1, w2, b2), dormant rows taken from the starting weights."""
    a1 = W1.cpu().numpy().astype(np.int64)
    a2 = W2.cpu().numpy().astype(np.int64)
    keep = um[:, :, None] != 0
    w1 = np.where(keep, a1[:, :, :-1], w1s)
    b1 = np.where(keep[:, :, 0], a1[:, :, -1], b1s)
    return [(w1[b], b1[b], a2[b, :, :-1].copy(), a2[b, :, -1].copy()) for b in range(W1.shape[0])]
