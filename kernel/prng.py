"""splitMix64 and fold64: the only pseudo-random primitives on the consensus path (SPEC §3).

All values are Python ints masked to 64 bits; there is no hidden state.
"""

from __future__ import annotations

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
MIX_C1 = 0xBF58476D1CE4E5B9
MIX_C2 = 0x94D049BB133111EB


def mix64(z: int) -> int:
    """The splitMix64 output finalizer (Stafford variant 13) of a 64-bit value."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * MIX_C1) & MASK64
    z = ((z ^ (z >> 27)) * MIX_C2) & MASK64
    return z ^ (z >> 31)


def splitmix64(x: int) -> int:
    """One splitMix64 output for state ``x``: the golden-ratio increment is applied first."""
    return mix64((x + GOLDEN_GAMMA) & MASK64)


def fold64(data: bytes) -> int:
    """XOR of the big-endian 64-bit words of ``data`` (length must be a multiple of 8)."""
    if len(data) % 8 != 0 or len(data) == 0:
        raise ValueError(f"fold64 needs a non-empty multiple of 8 bytes, got {len(data)}")
    acc = 0
    for i in range(0, len(data), 8):
        acc ^= int.from_bytes(data[i : i + 8], "big")
    return acc


class SplitMix64Stream:
    """A splitMix64 generator: state += GOLDEN_GAMMA, output mix64(state)."""

    __slots__ = ("state",)

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK64

    def next(self) -> int:
        """Advance and return the next 64-bit output."""
        self.state = (self.state + GOLDEN_GAMMA) & MASK64
        return mix64(self.state)
