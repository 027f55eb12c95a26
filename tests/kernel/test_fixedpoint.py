"""The integer helpers: shifts of negatives, saturation, exp2/softmax/log2 (SPEC §8.1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kernel.fixedpoint import (I16_MAX, I16_MIN, ONE_Q16, exp2neg_q16, log2_q8, nlog2_q16_q8, rshift_round, saturate16,
                               sigmoid2_q16, softmax2_q16)
from kernel.payload import next_global_step


def test_shift_table() -> None:
    assert -1 >> 1 == -1 and -3 >> 1 == -2  # arithmetic shift floors
    assert rshift_round(-3, 1) == -1  # -1.5 rounds half up to -1
    assert rshift_round(3, 1) == 2 and rshift_round(-5, 2) == -1 and rshift_round(-6, 2) == -1
    assert rshift_round(7, 0) == 7


@given(st.integers(-(2**40), 2**40), st.integers(1, 24))
def test_rshift_round_is_nearest_half_up(v: int, k: int) -> None:
    r = rshift_round(v, k)
    assert 2 * v - (1 << k) < r * (1 << (k + 1)) <= 2 * v + (1 << k)


@given(st.integers(-(2**40), 2**40))
def test_saturate16(v: int) -> None:
    s = saturate16(v)
    assert I16_MIN <= s <= I16_MAX and (s == v or v > I16_MAX or v < I16_MIN)


def test_int16_bounds_by_value() -> None:
    """SPEC §1's int16 range written out, not read back from the module under test."""
    assert (I16_MIN, I16_MAX) == (-32768, 32767)
    assert saturate16(40000) == 32767 and saturate16(32767) == 32767 and saturate16(32768) == 32767
    assert saturate16(-40000) == -32768 and saturate16(-32768) == -32768 and saturate16(-32769) == -32768


def test_nlog2_smallest_nonzero_probability() -> None:
    """p = 1/65536 is -log2 = 16.0 exactly; only p == 0 takes the 17.0 cap."""
    assert nlog2_q16_q8(1) == 16 * 256
    assert nlog2_q16_q8(2) == 15 * 256


def test_exp2_table() -> None:
    assert exp2neg_q16(0) == ONE_Q16
    assert exp2neg_q16(256) == ONE_Q16 // 2
    assert exp2neg_q16(128) == ONE_Q16 - 128 * 128
    assert exp2neg_q16(10**6) == exp2neg_q16(4095) == (ONE_Q16 - 255 * 128) >> 15


@given(st.lists(st.integers(-32768, 32767), min_size=4, max_size=4))
def test_softmax_is_a_distribution(z: list[int]) -> None:
    p = softmax2_q16(z)
    assert all(0 <= v <= ONE_Q16 for v in p)
    assert ONE_Q16 - 4 <= sum(p) <= ONE_Q16
    assert p[z.index(max(z))] == max(p)


@given(st.integers(-32768, 32767))
def test_sigmoid_symmetric_and_monotone(z: int) -> None:
    s = sigmoid2_q16(z)
    assert 0 <= s <= ONE_Q16
    assert sigmoid2_q16(z + 1) >= s
    assert abs(s + sigmoid2_q16(-z) - ONE_Q16) <= 1


def test_log_table() -> None:
    assert log2_q8(1) == 0 and log2_q8(2) == 256 and log2_q8(3) == 256 + 128
    assert nlog2_q16_q8(ONE_Q16) == 0 and nlog2_q16_q8(ONE_Q16 // 2) == 256 and nlog2_q16_q8(0) == 17 * 256


@given(st.integers(0, 2**32 - 1))
def test_global_step_wraps(prev: int) -> None:
    nxt = next_global_step(prev)
    assert 0 <= nxt < 2**32 and (nxt - prev) % 2**32 == 128
    assert next_global_step(2**32 - 64) == 64
