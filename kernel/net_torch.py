"""The torch backend: the numpy reference's integer SGD (SPEC §8) as integer tensor ops.

Bit-identical to ``kernel.net_numpy`` by construction and by test
(``tests/kernel/test_differential.py``). Runs on CPU, or CUDA when available.

Two exact rewrites of the reference make a step cheaper; both are integer identities:

* Bias folding. ``((W @ x) >> 12) + b == (W @ x + b * 4096) >> 12`` (floor shifts), so the
  forward pass uses ``[W | b] @ [x, 4096]``. In the update,
  ``rshift_round(outer(g, x) >> 4, k) == (outer(g, x) + 2**(k+3)) >> (k + 4)`` for k >= 1
  (and ``>> 4`` for k == 0), and the bias column follows from ``[x, 16]`` because
  ``(16*g + 2**(k+3)) >> (k+4) == (g + 2**(k-1)) >> k``. One update per layer instead of two.
* Dormant units. A unit whose slot is off has h == 0 and a zero gradient, so its weights
  only go through sat16 (a no-op for the i16 weights of any decoded state); the step runs
  on the active rows only and writes them back at the end.

Nothing here is float: integer division is ``//`` on non-negative operands, shifts are
arithmetic, and every intermediate is bounded inside its dtype: int32 where the bounds in
the comments prove it (observations |x| <= 256, i16 weights), int64 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import torch

from kernel.fixedpoint import EXP_T_MAX, I16_MAX, I16_MIN, NLOG2_ZERO, ONE_Q16
from kernel.heads import ATK_GRAD_CLIP, ATK_TARGET_SCALE, HEAD_ATTACK, HEAD_BLOCK, HEAD_MOVE, LOSS_TERM_MAX, head_grads
from kernel.net_numpy import digest
from kernel.window_inputs import WindowInputs, WindowOutcome

FWD_ONE: Final = 1 << 12  # bias input in the forward pass: (b * 4096) >> 12 == b
BWD_ONE: Final = 1 << 4  # bias input in the update: (g * 16) >> 4 == g
I64: Final = torch.int64


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def update_round(k: int) -> tuple[int, int]:
    """(addend, shift) so that ``(outer + addend) >> shift == rshift_round(outer >> 4, k)``."""
    return (0, 4) if k == 0 else (1 << (k + 3), k + 4)


# ---------------------------------------------------------------- heads as tensor ops


def exp2neg_q16_t(t: torch.Tensor, t_max: int = EXP_T_MAX, one: int = ONE_Q16) -> torch.Tensor:
    """fixedpoint.exp2neg_q16 elementwise for int64 t >= 0 (the constants are defaults so that
    TorchScript, which reads no global, sees them: kernel.batched)."""
    t = t.clamp_max(t_max)
    return (one - ((t & 255) << 7)) >> (t >> 8)


def bit_length_t(p: torch.Tensor, bits: int = 17) -> torch.Tensor:
    """int.bit_length elementwise for 0 <= p < 2**bits, by comparisons (no float log)."""
    powers = torch.tensor([1 << i for i in range(bits)], dtype=I64, device=p.device)
    return (p.unsqueeze(-1) >= powers).sum(-1)


def nlog2_q16_q8_t(p: torch.Tensor) -> torch.Tensor:
    """fixedpoint.nlog2_q16_q8 elementwise for Q16 probabilities 0 <= p <= 65536."""
    pc = p.clamp_min(1)
    b = bit_length_t(pc) - 1  # 0..16
    log2 = (b << 8) + (((pc << 8) >> b) - 256)
    return torch.where(p <= 0, NLOG2_ZERO, (16 << 8) - log2)


def sigmoid2_q16_t(z: torch.Tensor, one: int = ONE_Q16) -> torch.Tensor:
    """fixedpoint.sigmoid2_q16 elementwise (z is a Q8 logit within i16; ``one`` as in exp2neg_q16_t)."""
    den = one + exp2neg_q16_t(z.abs())  # >= 65536
    q = torch.div(torch.full_like(den, one << 16), den, rounding_mode="floor")  # int // Tensor does not script
    return torch.where(z >= 0, q, one - q)


@dataclass
class HeadTargets:
    """Label-dependent terms of the heads, precomputed for a window: shapes (..., B) or (B,).

    The step needs only these and the logits; the losses are computed after the window
    from what each step records (``head_losses_t``), since they never feed a gradient.
    """

    target: torch.Tensor  # (..., B, 4) one-hot of the move label, << 16
    on_move: torch.Tensor  # (..., B, 1) 1 when the move head trains and the label is a move
    move_idx: torch.Tensor  # (..., B, 1) move label clamped to 0..3 (for gathering p)
    atk_target: torch.Tensor  # (..., B) attack label * ATK_TARGET_SCALE
    on_atk: torch.Tensor  # (B,) 1 when the attack head trains
    blk_target: torch.Tensor  # (..., B) block label << 16
    on_blk: torch.Tensor  # (B,) 1 when the block head trains
    blk_scale: torch.Tensor  # (..., B) on_blk times the block weight (the positive-class weight on "block" boards)


def head_targets_t(
    move: torch.Tensor, attack: torch.Tensor, block: torch.Tensor, heads: torch.Tensor,
    block_weight: torch.Tensor | None = None,
) -> HeadTargets:
    """HeadTargets of labels shaped (..., B), HEAD_* bits (B,) and block weights (B,; None: 1), all int64."""
    ar = torch.arange(4, device=move.device)
    mv = move.clamp_min(0).unsqueeze(-1)
    on_blk = ((heads & HEAD_BLOCK) != 0).to(I64)
    wb = torch.where(block != 0, block_weight, 1) if block_weight is not None else torch.ones_like(block)
    return HeadTargets(
        target=(ar == mv).to(I64) << 16,
        on_move=(((heads & HEAD_MOVE) != 0) & (move >= 0)).to(I64).unsqueeze(-1),
        move_idx=mv,
        atk_target=attack * ATK_TARGET_SCALE,
        on_atk=((heads & HEAD_ATTACK) != 0).to(I64),
        blk_target=block << 16,
        on_blk=on_blk,
        blk_scale=wb * on_blk,
    )


def head_step_t(z: torch.Tensor, tg: HeadTargets, j: int | None, gz: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Write the head gradients of logits z (B, 6) int64 into gz (B, 6); step j of tg (None: tg is (B,)).

    Returns (p_move, d, s) for ``head_losses_t``: p of the labelled move (B,), the attack
    error (B,) and the block sigmoid (B,).
    """
    def at(t: torch.Tensor) -> torch.Tensor:
        return t if j is None else t[j]

    return head_step_core(z, gz, at(tg.target), at(tg.on_move), at(tg.move_idx), at(tg.atk_target), tg.on_atk,
                          at(tg.blk_target), at(tg.blk_scale))


def head_step_core(z: torch.Tensor, gz: torch.Tensor, target: torch.Tensor, on_move: torch.Tensor,
                   move_idx: torch.Tensor, atk_target: torch.Tensor, on_atk: torch.Tensor, blk_target: torch.Tensor,
                   blk_scale: torch.Tensor, clip: int = ATK_GRAD_CLIP, lo: int = I16_MIN,
                   hi: int = I16_MAX) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``head_step_t`` on one step's HeadTargets fields (each (B, ...), as HeadTargets names them).

    Plain tensor code, so that TorchScript compiles it into the batched kernel's step loop
    (kernel.batched; the constants are defaults because TorchScript reads no global). |gz| <= 256
    for the move and attack heads, so the reference's final saturate16 is applied to the
    (weighted) block gradient only.
    """
    zm = z[:, :4]
    e = exp2neg_q16_t(zm.amax(1, keepdim=True) - zm)  # (B, 4), the max entry is 65536
    p = (e << 16) // e.sum(1, keepdim=True)  # the sum is >= 65536: no division by zero
    torch.mul((p - target) >> 8, on_move, out=gz[:, :4])
    d = z[:, 4] - atk_target
    torch.mul(d.clamp(-clip, clip), on_atk, out=gz[:, 4])
    s = sigmoid2_q16_t(z[:, 5])
    torch.mul((s - blk_target) >> 8, blk_scale, out=gz[:, 5])
    gz[:, 5].clamp_(lo, hi)
    return p.gather(1, move_idx).squeeze(1), d, s


def head_losses_t(p_move: torch.Tensor, d: torch.Tensor, s: torch.Tensor, block: torch.Tensor, tg: HeadTargets) -> torch.Tensor:
    """The step losses (Q8, int64) from what ``head_step_t`` returned, for any leading shape."""
    loss = nlog2_q16_q8_t(p_move) * tg.on_move.squeeze(-1)
    loss += ((d * d) >> 8).clamp_max(LOSS_TERM_MAX) * tg.on_atk
    loss += nlog2_q16_q8_t(torch.where(block != 0, s, ONE_Q16 - s)) * tg.blk_scale
    return loss


def head_grads_t(
    z: torch.Tensor, move: torch.Tensor, attack: torch.Tensor, block: torch.Tensor, heads: torch.Tensor,
    block_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """heads.head_grads for a batch: z (B, 6) int64, labels, HEAD_* bits and block weights (B,) int64.

    Returns gz (B, 6) and the step losses (B,), both int64.
    """
    tg = head_targets_t(move, attack, block, heads, block_weight)
    gz = torch.empty_like(z)
    p_move, d, s = head_step_t(z, tg, None, gz)
    return gz, head_losses_t(p_move, d, s, block, tg)


# ---------------------------------------------------------------- the backend


class TorchBackend:
    """Single-beast integer SGD on torch; ``device`` defaults to CUDA when available.

    ``heads`` picks how the six head gradients are computed each step: "python" calls the
    scalar spec ``heads.head_grads`` on the logits (fastest on CPU), "tensor" uses
    ``head_step_t`` and never leaves the device (the default on CUDA).
    ``products`` picks how matrix-vector and outer products are formed: "blas" uses
    ``torch.mv``/``torch.addr`` (integer kernels exist on CPU only), "elementwise" uses
    broadcast multiply and sum (the default off CPU: CUDA has no integer matmul).
    """

    name = "torch"

    def __init__(self, device: str | torch.device | None = None, heads: str | None = None,
                 products: str | None = None) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        if heads is None:
            heads = "python" if self.device.type == "cpu" else "tensor"
        if heads not in ("python", "tensor"):
            raise ValueError(f"heads must be 'python' or 'tensor', got {heads!r}")
        self.heads = heads
        if products is None:
            products = "blas" if self.device.type == "cpu" else "elementwise"
        if products not in ("blas", "elementwise"):
            raise ValueError(f"products must be 'blas' or 'elementwise', got {products!r}")
        self.products = products

    def run_window(self, w: tuple[np.ndarray, ...], inp: WindowInputs, want_digests: bool = False) -> WindowOutcome:
        """Train the micro-steps of ``inp`` from weights ``w``; same result as NumpyBackend."""
        dev = self.device
        w1, b1, w2, b2 = (np.asarray(a, dtype=np.int64) for a in w)
        d_in = w1.shape[1]
        active = np.flatnonzero(inp.unit_mask)  # dormant units: see the module docstring
        n = inp.xs.shape[0]
        ha = active.size
        xs = np.asarray(inp.xs, dtype=np.int64)
        # int32 is exact when |x| <= 256, |w| < 2**15 and d_in == 64 (bounds in kernel.batched);
        # otherwise the same ops run in int64.
        small = (d_in == 64 and np.abs(xs).max(initial=0) <= 256
                 and all(a.min(initial=0) >= I16_MIN and a.max(initial=0) <= I16_MAX for a in (w1, b1, w2, b2)))
        dt = torch.int32 if small else I64
        # One flat buffer holds W1a (Ha, D+1) = [w1 | b1] on active rows and W2a (6, Ha+1) =
        # [w2 | b2] on active columns, so the shift, subtract and saturate of the update are
        # one op each for both layers.
        n1, n2 = ha * (d_in + 1), 6 * (ha + 1)
        flat = np.concatenate([np.concatenate([w1[active], b1[active, None]], 1).ravel(),
                               np.concatenate([w2[:, active], b2[:, None]], 1).ravel()])
        W = torch.from_numpy(flat).to(device=dev, dtype=dt)
        # the weights written back where the step does not run: the reference saturates
        # dormant weights too (sat16(w - 0)), a no-op for the i16 weights of a decoded state
        base = tuple(np.clip(a, I16_MIN, I16_MAX) if n else a for a in (w1, b1, w2, b2))
        W1a, W2a = W[:n1].view(ha, d_in + 1), W[n1:].view(6, ha + 1)
        W2v = W2a[:, :ha]  # views: they see the in-place updates
        addend, shift = update_round(inp.lr_shift)
        C = torch.full((n1 + n2,), addend, dtype=dt, device=dev)
        G = torch.empty_like(C)
        C1, C2 = C[:n1].view(ha, d_in + 1), C[n1:].view(6, ha + 1)
        G1, G2 = G[:n1].view(ha, d_in + 1), G[n1:].view(6, ha + 1)
        ones = np.ones((n, 1), dtype=np.int64)
        xf = torch.from_numpy(np.concatenate([xs, ones * FWD_ONE], 1)).to(device=dev, dtype=dt).unbind(0)
        xb = torch.from_numpy(np.concatenate([xs, ones * BWD_ONE], 1)).to(device=dev, dtype=dt).unbind(0)
        hb = torch.full((ha + 1,), BWD_ONE, dtype=dt, device=dev)  # [h, 16]
        hb_v = hb[:ha]
        P2 = torch.empty((6, ha + 1), dtype=dt, device=dev)
        a1 = torch.empty((ha,), dtype=dt, device=dev)
        zr = torch.empty((6,), dtype=I64, device=dev)
        # z = sat16((W2a @ [h, 4096]) >> 12) is computed as W2a @ [h, 16] + 4080 * b2: the
        # python heads keep b2 as ints (updated exactly like the bias column below).
        b2_py = [int(v) for v in b2]
        move, attack, block = (np.asarray(a).tolist() for a in (inp.move, inp.attack, inp.block))
        tensor_heads = self.heads == "tensor"
        if self.products == "blas":
            mv, addr = _mv_blas, _addr_blas
        else:
            mv, addr = _mv_elementwise, _addr_elementwise
        if tensor_heads:
            block_t = torch.from_numpy(np.asarray(inp.block, dtype=np.int64)).to(dev).unsqueeze(1)  # (n, 1)
            tg = head_targets_t(torch.from_numpy(np.asarray(inp.move, dtype=np.int64)).to(dev).unsqueeze(1),
                                torch.from_numpy(np.asarray(inp.attack, dtype=np.int64)).to(dev).unsqueeze(1),
                                block_t, torch.full((1,), inp.heads, dtype=I64, device=dev),
                                torch.full((1,), inp.block_weight, dtype=I64, device=dev))
            rec = [torch.empty((n, 1), dtype=I64, device=dev) for _ in range(3)]  # p_move, d, s per step
            gz = torch.empty((1, 6), dtype=dt, device=dev)
            b2v = W2a[:, ha]
        losses: list[int] = []
        digests: list[bytes] = []
        heads, k = inp.heads, inp.lr_shift
        half = (1 << (k - 1)) if k else 0
        for j in range(n):
            # forward: |W1a @ xf| <= 64 * 2**23 + 2**27 < 2**31; a1 is the pre-saturation
            # activation (saturating keeps the sign, so a1 > 0 is the reference's mask)
            mv(W1a, xf[j], a1)
            a1 >>= 12
            torch.clamp(a1, 0, I16_MAX, out=hb_v)
            # each product |w * h| < 2**30 fits; their sum is taken in int64
            torch.sum(torch.mul(W2a, hb, out=P2), 1, dtype=I64, out=zr)
            if tensor_heads:
                z = ((zr + b2v.to(I64) * (FWD_ONE - BWD_ONE)) >> 12).clamp_(I16_MIN, I16_MAX)
                rec[0][j], rec[1][j], rec[2][j] = head_step_t(z.unsqueeze(0), tg, j, gz)
                g_t = gz[0]
            else:
                z = [min(max((v + (FWD_ONE - BWD_ONE) * b) >> 12, I16_MIN), I16_MAX) for v, b in zip(zr.tolist(), b2_py, strict=True)]
                g, loss = head_grads(z, move[j], attack[j], block[j], heads, inp.block_weight)
                losses.append(loss)
                b2_py = [min(max(b - ((v + half) >> k), I16_MIN), I16_MAX) for b, v in zip(b2_py, g, strict=True)]
                g_t = torch.tensor(g, dtype=dt, device=dev)
            # backward, with the weights before this step's update: |W2^T gz| <= 5 * 2**23 + 2**30 (kernel.batched)
            gh = mv(W2v.t(), g_t, None)
            gh >>= 12
            gh.clamp_(I16_MIN, I16_MAX)
            gh.masked_fill_(a1 <= 0, 0)
            addr(C2, g_t, hb, G2)  # |gz * h| + addend <= 2**30 + 2**27 (|gz_5| <= 2**15)
            addr(C1, gh, xb[j], G1)  # |gh * x| + addend <= 2**23 + 2**27
            G >>= shift
            W.sub_(G).clamp_(I16_MIN, I16_MAX)
            if want_digests:
                digests.append(digest(*_assemble(*base, active, W1a, W2a)))
        if tensor_heads:
            losses = head_losses_t(*rec, block_t, tg).squeeze(1).tolist()
        return WindowOutcome(_assemble(*base, active, W1a, W2a), losses, digests)


def _mv_blas(m: torch.Tensor, v: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    return torch.mv(m, v, out=out) if out is not None else torch.mv(m, v)


def _mv_elementwise(m: torch.Tensor, v: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    r = (m * v).sum(1, dtype=m.dtype)
    return out.copy_(r) if out is not None else r


def _addr_blas(c: torch.Tensor, u: torch.Tensor, v: torch.Tensor, out: torch.Tensor) -> None:
    torch.addr(c, u, v, out=out)


def _addr_elementwise(c: torch.Tensor, u: torch.Tensor, v: torch.Tensor, out: torch.Tensor) -> None:
    torch.mul(u.unsqueeze(1), v, out=out)
    out += c


def _assemble(
    w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray, active: np.ndarray, W1a: torch.Tensor, W2a: torch.Tensor
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full int64 numpy weights: the starting weights with the active rows/columns replaced."""
    a1 = W1a.cpu().numpy().astype(np.int64)
    a2 = W2a.cpu().numpy().astype(np.int64)
    w1n, b1n, w2n = w1.copy(), b1.copy(), w2.copy()
    w1n[active] = a1[:, :-1]
    b1n[active] = a1[:, -1]
    w2n[:, active] = a2[:, :-1]
    return w1n, b1n, w2n, a2[:, -1].copy()
