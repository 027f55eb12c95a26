"""Array forms of the scalar spec are equal to it: tensor heads, vectorized boards/labels/observations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.board import EMPTY, N_TILES, WALL, Board, Creature
from kernel.errors import KernelError
from kernel.fast_inputs import BoardArrays, draw_boards_np, encode_np, prepare_window_fast, public_boards_np
from kernel.fixedpoint import I16_MAX, I16_MIN, nlog2_q16_q8, sigmoid2_q16
from kernel.hashing import keccak256
from kernel.heads import BLOCK_POS_WEIGHT, HEAD_ATTACK, HEAD_BLOCK, HEAD_MOVE, head_grads
from kernel.net_torch import head_grads_t, nlog2_q16_q8_t, sigmoid2_q16_t
from kernel.params import KernelParams
from kernel.prng import SplitMix64Stream
from kernel.sources import TEMPLATES, PublicSource, draw_board, public_board
from kernel.state import genesis
from kernel.train import offline_epoch_seed, prepare_window
from kernel.context import WindowContext
from kernel.window_inputs import encode_boards
from tests.kernel import strategies

ALL_HEADS = HEAD_MOVE | HEAD_ATTACK | HEAD_BLOCK


# ---------------------------------------------------------------- heads


BLOCK_WEIGHTS = (1, BLOCK_POS_WEIGHT, 200)  # v1, v2, and one large enough that the block gradient saturates


def _heads_both(zs: list[list[int]], labels: list[tuple[int, int, int, int]]) -> None:
    """head_grads_t equals the scalar head_grads row by row, for each block weight and for mixed weights."""
    z = torch.tensor(zs, dtype=torch.int64)
    lab = [torch.tensor([lb[i] for lb in labels], dtype=torch.int64) for i in range(4)]
    mixed = [BLOCK_WEIGHTS[r % len(BLOCK_WEIGHTS)] for r in range(len(zs))]
    for weights in [[w] * len(zs) for w in BLOCK_WEIGHTS] + [mixed]:
        gz, loss = head_grads_t(z, *lab, torch.tensor(weights, dtype=torch.int64))
        for r, (zr, (m, a, b, h)) in enumerate(zip(zs, labels, strict=True)):
            g_ref, l_ref = head_grads(zr, m, a, b, h, weights[r])
            assert gz[r].tolist() == g_ref and int(loss[r]) == l_ref, (zr, m, a, b, h, weights[r])
    assert head_grads_t(z, *lab)[0].tolist() == [head_grads(zr, *lb)[0] for zr, lb in zip(zs, labels, strict=True)]


def test_nlog2_and_sigmoid_tensor_forms_exhaustive() -> None:
    p = torch.arange(0, (1 << 16) + 1, dtype=torch.int64)
    assert nlog2_q16_q8_t(p).tolist() == [nlog2_q16_q8(v) for v in range((1 << 16) + 1)]
    z = torch.arange(I16_MIN, I16_MAX + 1, dtype=torch.int64)
    assert sigmoid2_q16_t(z).tolist() == [sigmoid2_q16(v) for v in range(I16_MIN, I16_MAX + 1)]


def test_head_grads_table() -> None:
    edge = [I16_MIN, -4096, -4095, -257, -256, -1, 0, 1, 255, 256, 960, 4095, 4096, I16_MAX]
    rng = SplitMix64Stream(7)
    zs, labels = [], []
    for i in range(3000):
        zs.append([edge[(rng.next() >> 3) % len(edge)] if i % 2 else int(rng.next() % 65536) - 32768 for _ in range(6)])
        labels.append((int(rng.next() % 5) - 1, int(rng.next() % 16), int(rng.next() % 2), int(rng.next() % 8)))
    _heads_both(zs, labels)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(I16_MIN, I16_MAX), min_size=6, max_size=6),
                          st.integers(-1, 3), st.integers(0, 15), st.integers(0, 1), st.integers(0, ALL_HEADS)),
                min_size=1, max_size=16))
def test_head_grads_property(rows: list[tuple[list[int], int, int, int, int]]) -> None:
    _heads_both([r[0] for r in rows], [r[1:] for r in rows])


# ---------------------------------------------------------------- boards, labels, observations


def _same(a: BoardArrays, b: BoardArrays) -> None:
    for f in ("tiles", "self_pos", "enemy_pos", "me", "enemy"):
        assert np.array_equal(getattr(a, f), getattr(b, f)), f


def _encode_same(boards: list[Board]) -> None:
    got = encode_np(BoardArrays.from_boards(boards))
    ref = encode_boards(boards)
    for name, g, r in zip(("xs", "move", "attack", "block"), got, ref, strict=True):
        assert np.array_equal(g, r), (name, np.argwhere(g != r)[:5].tolist())


def test_drawn_boards_and_encoding_match_scalar() -> None:
    """6,000 drawn boards (a third on templates): same boards, observations and labels."""
    rng = SplitMix64Stream(2026)
    keys = [rng.next() for _ in range(6000)]
    tmpl = [-1 if i % 3 else (i // 3) % len(TEMPLATES) for i in range(len(keys))]
    boards = [draw_board(k, None if t < 0 else TEMPLATES[t]) for k, t in zip(keys, tmpl, strict=True)]
    _same(draw_boards_np(np.array(keys, dtype=np.uint64), np.array(tmpl)), BoardArrays.from_boards(boards))
    _encode_same(boards)
    moves = encode_boards(boards)[1]
    assert set(np.unique(moves).tolist()) == {-1, 0, 1, 2, 3}


def test_public_windows_match_scalar() -> None:
    for i, first in enumerate([0, 128, 1 << 20, (1 << 32) - 64]):  # the last one wraps g mod 2**32
        ctx = WindowContext(keccak256(bytes([i])), keccak256(bytes([i, 1]))[:16], keccak256(bytes([i, 2])), first)
        _same(public_boards_np(ctx.seed_core, ctx.parent_h128, ctx.epoch_seed, ctx.first_step),
              BoardArrays.from_boards([public_board(ctx, j) for j in range(128)]))


creatures = strategies.creatures()
boards = strategies.boards(creatures, walls=st.sampled_from([0, 1, 3, 5]), empties=4)  # open fields to mazes


@settings(max_examples=150, deadline=None)
@given(st.lists(boards(), min_size=1, max_size=24))
def test_encoding_property(bs: list[Board]) -> None:
    _encode_same(bs)


def test_serpentine_maze_long_path() -> None:
    """A path of 40+ steps: the layered search runs to depth, not just a few layers."""
    tiles = [EMPTY] * N_TILES
    for y in (1, 3, 5):
        for x in range(8):
            tiles[y * 8 + x] = WALL
        tiles[y * 8 + (7 if y % 4 == 1 else 0)] = EMPTY
    c = Creature(10, 5, 0, 0, 0, 0)
    bs = [Board(tuple(tiles), s, 0, c, c) for s in (56, 63, 60, 57)]
    _encode_same(bs)


def test_prepare_window_fast_matches_and_raises_alike() -> None:
    st0 = genesis(keccak256(b"fast-prepare"), KernelParams(epoch_steps=128))
    src = PublicSource()
    es = offline_epoch_seed(st0.seed_core, 0)
    for mask, k in ((0b0011, 6), (0b0111, 0), (0b1011, 24)):
        a, sa = prepare_window(st0, src, es, mask, k)
        b, sb = prepare_window_fast(st0, src, es, mask, k)
        assert sa == sb and a.heads == b.heads and a.lr_shift == b.lr_shift
        for f in ("xs", "move", "attack", "block", "unit_mask"):
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
    for args in ((es, 0b0001, 6), (es, 0b1111, 6), (es, 0b0011, 25), (es[:31], 0b0011, 6)):
        with pytest.raises(KernelError) as e1:
            prepare_window(st0, src, *args)
        with pytest.raises(KernelError) as e2:
            prepare_window_fast(st0, src, *args)
        assert str(e1.value) == str(e2.value)


# ---------------------------------------------------------------- backends on adversarial windows


def _random_window(rng: np.random.Generator, hidden: int, x_max: int, w_max: int, n: int = 128):
    """Weights near the i16 rails, extreme inputs, random labels, heads, mask and lr_shift."""
    from kernel.window_inputs import WindowInputs

    w = (rng.integers(-w_max, w_max + 1, (hidden, 64)), rng.integers(-w_max, w_max + 1, hidden),
         rng.integers(-w_max, w_max + 1, (6, hidden)), rng.integers(-w_max, w_max + 1, 6))
    xs = rng.integers(-x_max, x_max + 1, (n, 64)) * rng.integers(0, 2, (n, 64))  # many zeros, like boards
    um = rng.integers(0, 2, hidden)
    um[0] = 1
    inp = WindowInputs(xs, rng.integers(-1, 4, n), rng.integers(0, 16, n), rng.integers(0, 2, n),
                       int(rng.integers(0, ALL_HEADS + 1)), um, int(rng.choice([0, 1, 2, 6, 13, 24])))
    return tuple(a.astype(np.int64) for a in w), inp


@pytest.mark.parametrize(("x_max", "w_max"), [(256, 32767), (256, 32768), (4000, 32767), (256, 1 << 20)])
def test_backends_match_numpy_on_adversarial_windows(x_max: int, w_max: int) -> None:
    """Saturation on every rail, lr_shift 0..24, and the int64 fallback (|x| > 256 or |w| > i16)."""
    from kernel.batched import run_windows_batched
    from kernel.net_numpy import NumpyBackend
    from kernel.net_torch import TorchBackend

    rng = np.random.default_rng(x_max * 7 + w_max)
    cases = [_random_window(rng, 32, x_max, w_max, n=32) for _ in range(6)]
    refs = [NumpyBackend().run_window(w, inp, want_digests=True) for w, inp in cases]
    sat = sum(int((np.abs(r.weights[0]) == 32767).sum()) for r in refs)
    assert sat > 0  # the rails are hit
    outs = {
        "torch": [TorchBackend("cpu").run_window(w, inp, want_digests=True) for w, inp in cases],
        "torch-elementwise": [TorchBackend("cpu", heads="tensor", products="elementwise").run_window(w, inp, True)
                              for w, inp in cases],
        "batched": run_windows_batched([w for w, _ in cases], [inp for _, inp in cases], True, "cpu", chunk=4),
    }
    for name, got in outs.items():
        for r, g in zip(refs, got, strict=True):
            assert all(np.array_equal(a, b) for a, b in zip(r.weights, g.weights, strict=True)), name
            assert r.losses == g.losses and r.digests == g.digests, name


def test_batched_raises_like_train_window() -> None:
    from kernel.batched import train_windows_batched
    from kernel.train import train_window

    states = [genesis(keccak256(bytes([i]))) for i in range(3)]
    assert train_windows_batched([], PublicSource()) == []
    for kw in ({"active_masks": [None, 0b0001, None]}, {"lr_shifts": [None, None, 25]}):
        with pytest.raises(KernelError) as e1:
            train_windows_batched(states, PublicSource(), **kw)
        bad = next(i for i, v in enumerate(next(iter(kw.values()))) if v is not None)
        key = "active_mask" if "active_masks" in kw else "lr_shift"
        with pytest.raises(KernelError) as e2:
            train_window(states[bad], PublicSource(), **{key: next(iter(kw.values()))[bad]})
        assert str(e1.value) == str(e2.value)


def test_batched_many_beasts_mixed_settings() -> None:
    """48 beasts with different shapes, masks, lr_shifts and epochs in one call: same words as numpy."""
    from dataclasses import replace as dc_replace

    from kernel.batched import train_windows_batched
    from kernel.train import train_window

    rng = np.random.default_rng(48)
    shapes = [KernelParams(), KernelParams(slot_width=8, n_slots=8), KernelParams(slot_width=32, n_slots=2)]
    states = []
    for i in range(48):
        st0 = genesis(keccak256(b"many" + bytes([i])), shapes[i % 3])
        states.append(dc_replace(st0, global_step=int(rng.integers(0, 12)) * 128, lr_shift=int(rng.integers(0, 25))))
    masks = [s.active_mask | (1 << int(rng.integers(2, s.params.n_slots))) if i % 4 == 0 and s.params.n_slots > 2
             else None for i, s in enumerate(states)]
    assert sum(m is not None for m in masks) >= 4
    for chunk, workers in ((256, 1), (7, 2)):
        got = train_windows_batched(states, PublicSource(), active_masks=masks, device="cpu", inputs="fast",
                                    chunk=chunk, workers=workers)
        for s0, m, g in zip(states, masks, got, strict=True):
            assert g.payload.pack() == train_window(s0, PublicSource(), active_mask=m).payload.pack()
