"""Hypothesis strategies that turn a valid input into malformed ones (the fuzz corpus's generator).

A fuzz case is a valid seed put through a few random edits: bit flips, byte or character
replacement, insertion, deletion, truncation, appending, duplication of a slice. Edits
near a valid input reach the deep checks (frame walk, header fields, record validation)
that purely random input never passes the magic number to reach.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

S = TypeVar("S", bytes, str)

# A few hundred cases per surface per run, each bounded in time (issue 15: "bounded in time").
FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Characters an attacker likes: separators, quotes, Unicode blanks and digits, line separators.
NASTY_CHARS = st.sampled_from(list(',"\n\r\t {}[]:-+0123456789.#~e') + [
    "\u00a0", "\u3000", "\u2028", "\u2029", "\x85", "\ufeff", "\u0660", "\uff11", "\u212a", "\x00", "\\", "\u200b",
])
TEXT_INSERT = st.text(alphabet=st.one_of(NASTY_CHARS, st.characters()), max_size=12)


def _edit(draw: st.DrawFn, value: S, insert: st.SearchStrategy[S]) -> S:
    n = len(value)
    i = draw(st.integers(0, n))
    j = draw(st.integers(i, min(n, i + 64)))
    kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "append", "duplicate", "flip"]))
    if kind == "replace":
        return value[:i] + draw(insert) + value[j:]
    if kind == "insert":
        return value[:i] + draw(insert) + value[i:]
    if kind == "delete":
        return value[:i] + value[j:]
    if kind == "truncate":
        return value[:i]
    if kind == "append":
        return value + draw(insert)
    if kind == "duplicate":
        return value[:j] + value[i:j] + value[j:]
    if isinstance(value, bytes) and n:  # flip one bit
        k = min(i, n - 1)
        return value[:k] + bytes([value[k] ^ (1 << draw(st.integers(0, 7)))]) + value[k + 1 :]
    return value


@st.composite
def mutated_bytes(draw: st.DrawFn, seed: bytes, max_edits: int = 4) -> bytes:
    """``seed`` with 1..max_edits random byte edits."""
    out = seed
    for _ in range(draw(st.integers(1, max_edits))):
        out = _edit(draw, out, st.binary(max_size=16))
    return out


@st.composite
def mutated_text(draw: st.DrawFn, seed: str, max_edits: int = 4) -> str:
    """``seed`` with 1..max_edits random character edits (Unicode separators and blanks favoured)."""
    out = seed
    for _ in range(draw(st.integers(1, max_edits))):
        out = _edit(draw, out, TEXT_INSERT)
    return out


def near(seed: bytes) -> st.SearchStrategy[bytes]:
    """Mutations of ``seed`` most of the time, arbitrary bytes some of the time."""
    return st.one_of(mutated_bytes(seed), mutated_bytes(seed), mutated_bytes(seed), st.binary(max_size=256))
