"""Hypothesis strategies of StepVerifier inputs: v2 step states, window starts and private datasets.

A case is a spec-version-2 state built from a genesis state with every field the step reads drawn
independently (step index, global step near the u32 wrap, epoch lengths that reach every head set,
activeMask, lrShift 0..24, flags, loss counters, parent hash, epoch seed) and weights that are the
genesis ones, uniformly random i16, or pushed to the saturation bounds. At a checkpoint (step 0) the
window start is legal (same mask or a growth spurt) or illegal (each rule of SPEC §7.1 step 1). A
private beast's dataset mixes random boards with mazes where the enemy is unreachable or many shortest
paths tie.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from kernel.board import encode_record
from kernel.params import KernelParams
from kernel.state import ZERO32, genesis
from kernel.step import WindowStart
from step_verifier_chain import Case, private_source
from tests.kernel.strategies import boards, creatures

U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
SMALL_WIDTHS = st.integers(1, 4)


def _bytes(n: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n)


def _weights(rng: np.random.Generator, style: str, shape: tuple[int, ...], genesis_values: np.ndarray) -> np.ndarray:
    if style == "genesis":
        return genesis_values
    if style == "random":
        return rng.integers(-32768, 32768, size=shape, dtype=np.int64)
    # saturating: mostly at or next to the i16 bounds, so updates clamp
    choices = np.array([-32768, -32767, -32700, 32700, 32766, 32767, 0, 1, -1], dtype=np.int64)
    return rng.choice(choices, size=shape)


RECORDS = st.lists(boards(creatures(), walls=st.integers(0, 9))(), min_size=1, max_size=4)


@st.composite
def datasets(draw: st.DrawFn) -> list[bytes]:
    """Records of a private dataset: a few distinct boards repeated up to a length of 1..600."""
    distinct = [encode_record(b) for b in draw(RECORDS)]
    n = draw(st.one_of(st.integers(1, 9), st.integers(1, 600)))
    return [distinct[i % len(distinct)] for i in range(n)]


@st.composite
def window_starts(draw: st.DrawFn, mask: int, n_slots: int, legal: bool) -> WindowStart:
    """A legal window start for a state with ``mask`` (same slots or one more), or one that breaks a rule."""
    seed = draw(_bytes(32))
    dormant = [s for s in range(n_slots) if not mask >> s & 1]
    if legal:
        new = mask
        if dormant and draw(st.booleans()):
            new |= 1 << draw(st.sampled_from(dormant))  # a growth spurt
        return WindowStart(new, draw(st.one_of(st.sampled_from([0, 24]), st.integers(0, 24))), seed)
    kind = draw(st.sampled_from(["lr", "empty", "beyond", "drop", "two"]))
    k = draw(st.integers(0, 24))
    if kind == "lr":
        return WindowStart(mask, draw(st.integers(25, 255)), seed)
    if kind == "empty":
        return WindowStart(0, k, seed)
    if kind == "beyond" or (kind == "two" and len(dormant) < 2) or (kind == "drop" and mask & (mask - 1) == 0):
        return WindowStart(mask | (1 << draw(st.integers(n_slots, 7))) if n_slots < 8 else 0, k, seed)
    if kind == "drop":
        low = mask & -mask
        return WindowStart(mask & ~low, k, seed)
    return WindowStart(mask | (1 << dormant[0]) | (1 << dormant[1]), k, seed)


@st.composite
def cases(draw: st.DrawFn, widths: st.SearchStrategy[int] = SMALL_WIDTHS, n_slots: st.SearchStrategy[int] | None = None,
          private: st.SearchStrategy[bool] | None = None, step: st.SearchStrategy[int] | None = None) -> Case:
    """One verifier input (see the module docstring)."""
    sw = draw(widths)
    ns = draw(n_slots if n_slots is not None else st.integers(2, 8))
    epoch_steps = 128 * draw(st.sampled_from([1, 2, 3, 1 << 20]))
    params = KernelParams(slot_width=sw, n_slots=ns, epoch_steps=epoch_steps,
                          base_cost=draw(st.sampled_from([0, 10**15])), spurt_cost=draw(st.sampled_from([0, 10**17])))
    seed = draw(_bytes(32))
    is_private = draw(private if private is not None else st.booleans())
    source, secret, root = None, bytes(32), ZERO32
    if is_private:
        secret = draw(_bytes(32))
        source = private_source(draw(datasets()), secret)
        root = source.records_root
    base = genesis(seed, params, dataset_commitment=root, spec_version=2)
    j = draw(step if step is not None else st.one_of(st.sampled_from([0, 1, 126, 127]), st.integers(0, 127)))
    g = draw(st.one_of(st.integers(0, U32), st.integers(U32 - 140, U32), st.integers(0, 9 * epoch_steps)))
    mask = draw(st.integers(1, (1 << ns) - 1))
    rng = np.random.default_rng(draw(st.integers(0, U32)))
    style = draw(st.sampled_from(["genesis", "random", "saturating"]))
    w1 = _weights(rng, style, base.w1.shape, base.w1)
    w2 = _weights(rng, style, base.w2.shape, base.w2)
    b1 = _weights(rng, style if style != "genesis" else "random", base.b1.shape, base.b1)
    b2 = _weights(rng, style if style != "genesis" else "random", base.b2.shape, base.b2)
    # loss_acc near 2^64 (a crafted state) makes the sum saturate at 2^64 - 1
    loss_acc = 0 if j == 0 else draw(st.one_of(st.integers(0, 1 << 25), st.integers(0, U64), st.integers(U64 - (1 << 18), U64)))
    state = replace(
        base, step=j, global_step=g, active_mask=mask, lr_shift=draw(st.integers(0, 24)), flags=draw(st.integers(0, 7)),
        loss_acc=loss_acc, loss_sum_prev=draw(st.one_of(st.just(0), st.integers(0, 1 << 26), st.integers(0, U64))),
        window=draw(st.one_of(st.integers(0, U32), st.just(U32))), parent_h128=draw(_bytes(16)),
        epoch_seed=draw(_bytes(32)), w1=w1, w2=w2, b1=b1, b2=b2,
    )
    legal = j != 0 or draw(st.integers(0, 5)) > 0
    w = draw(window_starts(mask, ns, legal))
    case = Case(state.to_bytes(), w, secret=secret)
    if source is not None:
        case.source = source
    return case
