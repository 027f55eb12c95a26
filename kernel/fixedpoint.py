"""Integer helpers shared by every backend's spec: shifts, saturation, exp2, softmax, log2 (SPEC §8).

These are written for Python ints (the scalar spec). The array backends implement the same
formulas elementwise and are checked against these.
"""

from __future__ import annotations

from typing import Final

ONE_Q8: Final = 1 << 8
ONE_Q16: Final = 1 << 16
I16_MIN: Final = -(1 << 15)
I16_MAX: Final = (1 << 15) - 1
EXP_T_MAX: Final = 16 * ONE_Q8 - 1  # exp2neg argument is clamped to [0, 4095] (Q8)
NLOG2_ZERO: Final = 17 * ONE_Q8  # -log2(0) is capped at 17.0


def saturate16(v: int) -> int:
    """Clamp to the signed 16-bit range."""
    return I16_MIN if v < I16_MIN else I16_MAX if v > I16_MAX else v


def rshift_round(v: int, k: int) -> int:
    """v / 2**k rounded half up (toward +inf on ties): (v + 2**(k-1)) >> k; k == 0 returns v."""
    if k == 0:
        return v
    return (v + (1 << (k - 1))) >> k


def exp2neg_q16(t: int) -> int:
    """2**(-t/256) in Q16 by piecewise-linear interpolation, for t >= 0 (Q8).

    t is clamped to [0, 4095]; n = t >> 8, f = t & 255; result = (65536 - f*128) >> n.
    Exact at integer exponents, linear in between.
    """
    if t < 0:
        raise ValueError("exp2neg_q16 needs t >= 0")
    t = min(t, EXP_T_MAX)
    return (ONE_Q16 - ((t & 255) << 7)) >> (t >> 8)


def softmax2_q16(logits: list[int]) -> list[int]:
    """Base-2 softmax of Q8 logits, in Q16: e_i = exp2neg(max - z_i), p_i = (e_i << 16) // sum(e)."""
    mx = max(logits)
    e = [exp2neg_q16(mx - z) for z in logits]
    s = sum(e)
    return [(v << 16) // s for v in e]


def sigmoid2_q16(z: int) -> int:
    """Base-2 logistic 2**z / (1 + 2**z) of a Q8 logit, in Q16 (0..65536)."""
    if z >= 0:
        return (ONE_Q16 << 16) // (ONE_Q16 + exp2neg_q16(z))
    return ONE_Q16 - (ONE_Q16 << 16) // (ONE_Q16 + exp2neg_q16(-z))


def log2_q8(p: int) -> int:
    """log2(p) in Q8 for an integer p >= 1, mantissa linearly interpolated."""
    b = p.bit_length() - 1
    return (b << 8) + (((p << 8) >> b) - ONE_Q8)


def nlog2_q16_q8(p: int) -> int:
    """-log2(p / 65536) in Q8 for a Q16 probability 0 <= p <= 65536; p == 0 gives 17.0."""
    if p <= 0:
        return NLOG2_ZERO
    return (16 << 8) - log2_q8(p)
