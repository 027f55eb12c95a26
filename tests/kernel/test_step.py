"""spec_version 2: step states, the micro-step transition, and windows equal to 128 micro-steps (SPEC v2).

Every whole-window path (numpy, torch CPU both head styles, batched with scalar and fast
inputs, fast inputs alone) must give exactly the checkpoint state that 128 ``micro_step``
calls give, in every corner the verifier is diff-tested on: all head epochs, a growth spurt,
a private source, the u32 wrap of globalStep inside a window, lr_shift 0 with saturating
weights, and lr_shift 24.
"""

from __future__ import annotations

import struct
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from kernel import SPEC_VERSION, SPEC_VERSIONS
from kernel.board import Board
from kernel.context import WindowContext
from kernel.errors import KernelError, StateBlobError
from kernel.hashing import keccak256
from kernel.heads import BLOCK_POS_WEIGHT, HEAD_ATTACK, HEAD_BLOCK, HEAD_MOVE, block_weight_for, head_grads
from kernel.params import KernelParams
from kernel.payload import FLAG_GROWTH_SPURT, FLAG_LOSS_DROPPED, FLAG_PRIVATE, WINDOW_STEPS
from kernel.prng import fold64
from kernel.sources import TEMPLATES, PublicSource, draw_board
from kernel.state import KernelState, decode_state_blob, encode_state_blob, from_bytes, genesis, state_size
from kernel.step import IllegalTransition, WindowStart, micro_step, window_step_hashes, window_step_states
from kernel.train import offline_epoch_seed, train_window
from kernel.window_settings import Illegal

STEP_OFFSET = 162  # V2-1 table: step u8, flags u16, loss_acc u64
FLAGS_OFFSET = 163
LOSS_ACC_OFFSET = 165


class ToyPrivateV2:
    """A private-flagged source sampling under spec_version 2 (boards keyed by keccak(seed_core, g))."""

    private = True
    spec_version = 2

    def window_boards(self, ctx: WindowContext) -> list[Board]:
        out = []
        for j in range(WINDOW_STEPS):
            g = ctx.step(j)
            key = fold64(keccak256(b"toy-private-v2" + ctx.seed_core + g.to_bytes(4, "big"))[:8])
            out.append(draw_board(key, TEMPLATES[g % 8] if g % 3 == 0 else None))
        return out


def _saturated(st: KernelState) -> KernelState:
    """Weights at and next to the i16 bounds, so lr_shift 0 saturates on the first steps."""
    rng = np.random.default_rng(5)
    out = st.copy()
    for a in (out.w1, out.b1, out.w2, out.b2):
        a[...] = rng.choice(np.array([-32768, -32767, 32766, 32767, 0, 1]), size=a.shape)
    return out


def _scenario(name: str) -> tuple[KernelState, object, WindowStart]:
    seed = keccak256(b"step-" + name.encode())
    p128 = KernelParams(epoch_steps=128)
    src: object = PublicSource()
    if name.startswith("epoch"):
        epoch = int(name[5:])
        st = replace(genesis(seed, p128), global_step=epoch * 128)
    elif name == "spurt":
        st = genesis(seed, p128)
        return st, src, WindowStart(0b0111, 5, offline_epoch_seed(seed, 0))
    elif name == "private":
        st = replace(genesis(seed, p128, dataset_commitment=keccak256(b"a records root")), global_step=6 * 128)
        src = ToyPrivateV2()
    elif name == "private-curriculum":  # the real private source, v2 keccak sampling over a records root
        from curriculum import PrivateDatasetSource, decode_dataset

        from tests.kernel.kernel_vectors import PRIVATE_SECRET, _private_dataset

        src = PrivateDatasetSource(decode_dataset(_private_dataset()), PRIVATE_SECRET, spec_version=2)
        st = replace(genesis(seed, p128, dataset_commitment=src.records_root), global_step=6 * 128 - 32)
    elif name == "wrap":  # globalStep wraps past 2**32 in the middle of the window
        st = replace(genesis(seed), global_step=2**32 - 64)
    elif name == "saturating":
        st = replace(_saturated(genesis(seed, p128)), global_step=6 * 128)
        return st, src, WindowStart(st.active_mask, 0, offline_epoch_seed(seed, 6))
    elif name == "shift24":
        st = replace(genesis(seed, p128), global_step=3 * 128)
        return st, src, WindowStart(st.active_mask, 24, offline_epoch_seed(seed, 3))
    elif name == "wide":
        st = replace(genesis(seed, KernelParams(slot_width=8, n_slots=8, epoch_steps=128)), global_step=6 * 128)
    else:
        raise AssertionError(name)
    return st, src, WindowStart(st.active_mask, 6, offline_epoch_seed(seed, st.global_step // st.params.epoch_steps))


SCENARIOS = ["epoch0", "epoch3", "epoch6", "spurt", "private", "private-curriculum", "wrap", "saturating", "shift24", "wide"]


@pytest.fixture(scope="module", params=SCENARIOS)
def stepped(request):  # type: ignore[no-untyped-def]
    st, src, w = _scenario(request.param)
    return request.param, st, src, w, window_step_states(st, src, w)


def _window(st: KernelState, src: object, w: WindowStart, **kw: object):  # type: ignore[no-untyped-def]
    return train_window(st, src, epoch_seed=w.epoch_seed, active_mask=w.active_mask, lr_shift=w.lr_shift,  # type: ignore[arg-type]
                        **kw)


def test_numpy_window_is_128_micro_steps(stepped) -> None:  # type: ignore[no-untyped-def]
    name, st, src, w, states = stepped
    assert len(states) == WINDOW_STEPS + 1 and states[0] is st
    r = _window(st, src, w)
    end = states[-1]
    assert end.to_bytes() == r.state.to_bytes() and end.step == 0 and end.loss_acc == 0
    assert r.payload.h128 == end.h128() and r.payload.flags == end.flags
    assert r.payload.global_step == end.global_step == (st.global_step + 128) % 2**32
    if name == "saturating":
        assert max(int(abs(a).max()) for a in (end.w1, end.w2, end.b1, end.b2)) >= 32767


@pytest.mark.parametrize("path", ["torch", "torch-tensor-heads", "batched", "batched-fast", "fast"])
def test_every_path_gives_the_micro_step_checkpoint(stepped, path: str) -> None:  # type: ignore[no-untyped-def]
    _, st, src, w, states = stepped
    if path.startswith("batched"):
        from kernel.batched import train_windows_batched

        r = train_windows_batched([st], [src], epoch_seeds=[w.epoch_seed], active_masks=[w.active_mask],  # type: ignore[list-item]
                                  lr_shifts=[w.lr_shift], device="cpu",
                                  inputs="fast" if path == "batched-fast" else "scalar")[0]
    elif path == "torch-tensor-heads":
        from kernel.net_torch import TorchBackend

        r = _window(st, src, w, backend=TorchBackend(device="cpu", heads="tensor", products="elementwise"))
    elif path == "fast":
        r = _window(st, src, w, inputs="fast")
    else:
        r = _window(st, src, w, backend="torch")
    assert r.state.to_bytes() == states[-1].to_bytes()


def test_step_states_count_and_round_trip(stepped) -> None:  # type: ignore[no-untyped-def]
    """Every step state has bytes that parse back to itself, and continuing from the parsed
    bytes (as a verifier given calldata does) gives the same next state."""
    _, st, src, w, states = stepped
    for j, s in enumerate(states[:-1]):
        assert s.step == j and s.spec_version == 2
        assert len(s.to_bytes()) == state_size(s.params, 2)
        back = from_bytes(s.to_bytes())
        assert back.to_bytes() == s.to_bytes()
        if j in (0, 1, 64, 126, 127):
            assert micro_step(back, src, w).state.to_bytes() == states[j + 1].to_bytes()  # type: ignore[arg-type]
    mids = states[1:-1]
    assert all(s.parent_h128 == st.h128() and s.epoch_seed == w.epoch_seed for s in mids)
    assert all(s.active_mask == w.active_mask and s.lr_shift == w.lr_shift for s in mids)
    assert [s.global_step for s in states] == [(st.global_step + j) % 2**32 for j in range(129)]
    assert all(s.window == st.window for s in mids) and states[-1].window == st.window + 1
    assert len({s.h128() for s in states}) == 129


def test_loss_acc_is_the_running_loss_sum(stepped) -> None:  # type: ignore[no-untyped-def]
    _, st, src, w, states = stepped
    r = _window(st, src, w)
    for j in range(1, 128):
        assert states[j].loss_acc == sum(r.losses[:j])
    assert states[-1].loss_sum_prev == r.loss_sum


def test_flags_of_the_window(stepped) -> None:  # type: ignore[no-untyped-def]
    name, st, src, w, states = stepped
    want = (FLAG_GROWTH_SPURT if name == "spurt" else 0) | (FLAG_PRIVATE if name.startswith("private") else 0)
    assert all(s.flags == want for s in states[1:-1])
    assert states[-1].flags & ~FLAG_LOSS_DROPPED == want
    assert not states[-1].flags & FLAG_LOSS_DROPPED  # no previous window: loss_sum_prev was 0


def test_mid_window_ignores_the_window_start(stepped) -> None:  # type: ignore[no-untyped-def]
    _, st, src, w, states = stepped
    other = WindowStart(0xFF, 24, bytes(32))
    assert micro_step(states[5], src, other).state.to_bytes() == states[6].to_bytes()  # type: ignore[arg-type]
    assert micro_step(states[5], src).state.to_bytes() == states[6].to_bytes()  # type: ignore[arg-type]


def test_loss_dropped_and_counters_over_two_windows() -> None:
    seed = keccak256(b"two windows")
    st = genesis(seed)
    src = PublicSource()
    first = train_window(st, src)
    second = train_window(first.state, src)
    w = WindowStart(3, 6, offline_epoch_seed(seed, 0))
    states = window_step_states(first.state, src, w)
    assert states[-1].to_bytes() == second.state.to_bytes()
    dropped = second.loss_sum < first.loss_sum
    assert bool(states[-1].flags & FLAG_LOSS_DROPPED) == dropped == bool(second.payload.flags & FLAG_LOSS_DROPPED)
    assert all(s.loss_sum_prev == first.loss_sum for s in states[:-1])
    assert states[-1].window == 2 and states[-1].parent_h128 == first.state.h128()


def test_step_result_exposes_what_a_differential_test_compares() -> None:
    seed = keccak256(b"step result")
    st = genesis(seed)
    w = WindowStart(3, 6, seed)
    r = micro_step(st, PublicSource(), w)
    assert r.pre_h128 == st.h128() and r.post_h128 == r.state.h128()
    assert len(r.record) == 28 and len(r.observation) == 64 and len(r.logits) == 6
    assert r.context.j == 0 and r.context.g == 0 and r.context.heads == HEAD_MOVE
    assert r.loss == r.state.loss_acc and r.state.step == 1
    assert r.board == PublicSource().window_boards(r.context.window)[0]
    assert r.sample_index is None  # public boards have no dataset index


def test_window_step_hashes_end_in_the_words_h128() -> None:
    seed = keccak256(b"hashes")
    st = genesis(seed)
    w = WindowStart(3, 6, seed)
    hashes = window_step_hashes(st, PublicSource(), w)
    assert len(hashes) == 129 and hashes[0] == st.h128()
    assert hashes[-1] == train_window(st, PublicSource(), epoch_seed=seed).payload.h128


# ---------------------------------------------------------------- illegal transitions and misuse


@pytest.mark.parametrize(("mask", "shift", "kind"), [
    (0b0011, 25, Illegal.LR_SHIFT_OUT_OF_RANGE),
    (0b0011, 255, Illegal.LR_SHIFT_OUT_OF_RANGE),
    (0, 6, Illegal.MASK_OUT_OF_RANGE),
    (0b10011, 6, Illegal.MASK_OUT_OF_RANGE),  # slot 4 of n_slots = 4
    (0b0001, 6, Illegal.MASK_DROPS_SLOTS),
    (0b1111, 6, Illegal.SPURT_TOO_LARGE),
])
def test_illegal_window_start_has_no_post_state(mask: int, shift: int, kind: Illegal) -> None:
    st = genesis(keccak256(b"illegal"))
    with pytest.raises(IllegalTransition) as exc:
        micro_step(st, PublicSource(), WindowStart(mask, shift, bytes(32)))
    assert exc.value.problem.kind is kind
    assert isinstance(exc.value, KernelError)


def test_micro_step_misuse_is_refused() -> None:
    st = genesis(keccak256(b"misuse"))
    with pytest.raises(KernelError, match="needs its WindowStart"):
        micro_step(st, PublicSource())
    with pytest.raises(KernelError, match="spec_version 2"):
        micro_step(genesis(keccak256(b"misuse"), spec_version=1), PublicSource(), WindowStart(3, 6, bytes(32)))
    with pytest.raises(KernelError, match="private"):
        micro_step(st, ToyPrivateV2(), WindowStart(3, 6, bytes(32)))  # type: ignore[arg-type]
    with pytest.raises(KernelError, match="32 bytes"):
        WindowStart(3, 6, bytes(31))
    with pytest.raises(KernelError, match="u8"):
        WindowStart(256, 6, bytes(32))
    mid = micro_step(st, PublicSource(), WindowStart(3, 6, bytes(32))).state
    with pytest.raises(KernelError, match="checkpoint"):
        train_window(mid, PublicSource())
    with pytest.raises(KernelError, match="checkpoint"):
        window_step_states(mid, PublicSource(), WindowStart(3, 6, bytes(32)))


def test_private_source_of_the_other_version_is_refused() -> None:
    class V1Private(ToyPrivateV2):
        spec_version = 1

    st = genesis(keccak256(b"p"), dataset_commitment=keccak256(b"root"))
    with pytest.raises(KernelError, match="samples under spec_version 1"):
        train_window(st, V1Private())  # type: ignore[arg-type]
    st1 = genesis(keccak256(b"p"), dataset_commitment=keccak256(b"root"), spec_version=1)
    with pytest.raises(KernelError, match="samples under spec_version 2"):
        train_window(st1, ToyPrivateV2())  # type: ignore[arg-type]


# ---------------------------------------------------------------- v2 state bytes (V2-1)


def test_versions_and_genesis() -> None:
    assert SPEC_VERSIONS == (1, 2) and SPEC_VERSION == 2
    seed = keccak256(b"genesis v2")
    g1, g2 = genesis(seed, spec_version=1), genesis(seed)
    assert g2.spec_version == 2 and g1.spec_version == 1
    assert g1.weight_bytes() == g2.weight_bytes()
    r1, r2 = g1.to_bytes(), g2.to_bytes()
    assert len(r1) == 9262 and len(r2) == 9273 == state_size(g2.params)
    assert r2[4:6] == (2).to_bytes(2, "little") and r1[4:6] == (1).to_bytes(2, "little")
    assert r2[6:STEP_OFFSET] == r1[6:STEP_OFFSET] and r2[STEP_OFFSET:173] == bytes(11)
    assert r2[173:] == r1[162:]
    root = keccak256(b"records root")
    assert genesis(seed, dataset_commitment=root).to_bytes()[64:96] == root
    with pytest.raises(StateBlobError, match="spec_version 3"):
        genesis(seed, spec_version=3)


def _mid_state() -> KernelState:
    st = genesis(keccak256(b"mid"))
    s = st
    w = WindowStart(3, 6, bytes(32))
    for _ in range(3):
        s = micro_step(s, PublicSource(), w).state
    return s


def _patched(raw: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(raw)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def test_mid_window_state_layout() -> None:
    s = _mid_state()
    raw = s.to_bytes()
    assert raw[STEP_OFFSET] == 3 == s.step
    assert struct.unpack_from("<H", raw, FLAGS_OFFSET)[0] == s.flags
    assert struct.unpack_from("<Q", raw, LOSS_ACC_OFFSET)[0] == s.loss_acc > 0
    back = decode_state_blob(encode_state_blob(s))
    assert (back.step, back.flags, back.loss_acc) == (s.step, s.flags, s.loss_acc)
    assert back.h128() == s.h128() == keccak256(raw)[:16]


@pytest.mark.parametrize(("offset", "fmt", "value", "message"), [
    (STEP_OFFSET, "<B", 128, "step 128 exceeds 127"),
    (STEP_OFFSET, "<B", 255, "step 255 exceeds 127"),
    (FLAGS_OFFSET, "<H", 0x0008, "reserved bits"),
    (FLAGS_OFFSET, "<H", 0x8000, "reserved bits"),
    (4, "<H", 0, "spec_version 0"),
    (4, "<H", 3, "spec_version 3"),
    (4, "<H", 0xFFFF, "spec_version 65535"),
])
def test_v2_parser_rejections(offset: int, fmt: str, value: int, message: str) -> None:
    raw = _patched(_mid_state().to_bytes(), offset, fmt, value)
    with pytest.raises(StateBlobError, match=message):
        from_bytes(raw)


def test_checkpoint_with_a_loss_acc_is_refused() -> None:
    raw = genesis(keccak256(b"ckpt")).to_bytes()
    assert from_bytes(_patched(raw, STEP_OFFSET, "<B", 1)).step == 1  # mid-window: any loss_acc is legal
    with pytest.raises(StateBlobError, match="loss_acc 0, got 1"):
        from_bytes(_patched(raw, LOSS_ACC_OFFSET, "<Q", 1))
    assert from_bytes(_patched(_patched(raw, STEP_OFFSET, "<B", 127), LOSS_ACC_OFFSET, "<Q", 2**64 - 1)).loss_acc == 2**64 - 1


def test_version_field_decides_the_layout() -> None:
    """A v1 state relabelled v2 (or the reverse) has the wrong length and is refused."""
    s1 = genesis(keccak256(b"relabel"), spec_version=1).to_bytes()
    s2 = genesis(keccak256(b"relabel")).to_bytes()
    with pytest.raises(StateBlobError, match="length 9262, expected 9273"):
        from_bytes(_patched(s1, 4, "<H", 2))
    with pytest.raises(StateBlobError, match="length 9273, expected 9262"):
        from_bytes(_patched(s2, 4, "<H", 1))
    assert from_bytes(s1).spec_version == 1 and from_bytes(s2).spec_version == 2


def test_v1_states_keep_zero_step_fields() -> None:
    st = train_window(genesis(keccak256(b"v1"), spec_version=1), PublicSource()).state
    assert (st.spec_version, st.step, st.flags, st.loss_acc) == (1, 0, 0, 0)
    assert len(st.to_bytes()) == 9262


# ---------------------------------------------------------------- the v2 block head (V2-5)


@pytest.mark.parametrize("z5", [-32768, -300, -1, 0, 1, 77, 32767])
def test_block_head_weights_the_positive_class(z5: int) -> None:
    z = [10, -20, 30, 0, 100, z5]
    heads = HEAD_MOVE | HEAD_ATTACK | HEAD_BLOCK
    g1, l1 = head_grads(z, 2, 3, 1, heads)
    gw, lw = head_grads(z, 2, 3, 1, heads, BLOCK_POS_WEIGHT)
    assert gw[:5] == g1[:5] and gw[5] == g1[5] * BLOCK_POS_WEIGHT
    g0, l0 = head_grads(z, 2, 3, 0, heads)
    assert head_grads(z, 2, 3, 0, heads, BLOCK_POS_WEIGHT) == (g0, l0)  # negatives are unweighted
    blk1 = l1 - head_grads(z, 2, 3, 1, HEAD_MOVE | HEAD_ATTACK)[1]
    assert lw - l1 == blk1 * (BLOCK_POS_WEIGHT - 1)
    assert block_weight_for(1) == 1 and block_weight_for(2) == BLOCK_POS_WEIGHT


@pytest.mark.parametrize("step", [1, 126, 127])
def test_loss_acc_saturates_at_u64(step: int) -> None:
    """A crafted mid-window state with loss_acc near 2**64 (the parser accepts it) still has a post-state."""
    st = genesis(keccak256(b"saturating loss_acc"))
    w = WindowStart(3, 6, bytes(32))
    s = micro_step(st, PublicSource(), w).state
    crafted = from_bytes(replace(s, step=step, global_step=step, loss_acc=2**64 - 1).to_bytes())
    q = micro_step(crafted, PublicSource()).state
    if step < 127:
        assert q.loss_acc == 2**64 - 1 and q.step == step + 1
    else:
        assert q.loss_acc == 0 and q.loss_sum_prev == 2**64 - 1 and q.step == 0
    assert from_bytes(q.to_bytes()).to_bytes() == q.to_bytes()


def test_private_boards_are_the_v2_sampled_records() -> None:
    """micro_step's board of a private beast is dataset[sample_index_v2(sample_key_v2, g, n)] (V2-4)."""
    from curriculum import PrivateDatasetSource, decode_dataset
    from curriculum.sampling import sample_index_v2, sample_key_v2

    from tests.kernel.kernel_vectors import PRIVATE_SECRET, _private_dataset

    ds = decode_dataset(_private_dataset())
    src = PrivateDatasetSource(ds, PRIVATE_SECRET, spec_version=2)
    seed = keccak256(b"private boards")
    st = replace(genesis(seed, dataset_commitment=src.records_root), global_step=2**32 - 2)
    key = sample_key_v2(seed, PRIVATE_SECRET)
    s = st
    for _ in range(4):  # across the u32 wrap
        r = micro_step(s, src, WindowStart(3, 6, seed))
        assert r.sample_index == sample_index_v2(key, r.context.g, len(ds))
        assert r.board == ds.board(r.sample_index)
        s = r.state
    v1 = PrivateDatasetSource(ds, PRIVATE_SECRET, spec_version=1)
    with pytest.raises(KernelError, match="samples under spec_version 1"):
        micro_step(st, v1, WindowStart(3, 6, seed))
    with pytest.raises(KernelError, match="records root"):
        micro_step(replace(st, dataset_commitment=keccak256(b"another root")), src, WindowStart(3, 6, seed))


@settings(max_examples=300, deadline=None)
@given(step=hst.integers(0, 255), flags=hst.integers(0, 0xFFFF), loss_acc=hst.integers(0, 2**64 - 1))
def test_v2_step_fields_are_accepted_exactly_by_the_rules(step: int, flags: int, loss_acc: int) -> None:
    """Any step/flags/loss_acc bytes: the parser accepts exactly step <= 127, flags < 8 and (step > 0 or loss_acc == 0),
    and what it accepts serializes back to the same bytes."""
    raw = _patched(_patched(_patched(_GENESIS_V2, STEP_OFFSET, "<B", step), FLAGS_OFFSET, "<H", flags),
                   LOSS_ACC_OFFSET, "<Q", loss_acc)
    legal = step <= 127 and flags < 8 and (step > 0 or loss_acc == 0)
    try:
        s = from_bytes(raw)
    except StateBlobError:
        assert not legal
        return
    assert legal and s.to_bytes() == raw and (s.step, s.flags, s.loss_acc) == (step, flags, loss_acc)


_GENESIS_V2 = genesis(keccak256(b"hypothesis step fields")).to_bytes()
