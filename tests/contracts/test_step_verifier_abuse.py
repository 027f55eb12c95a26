"""StepVerifier under hostile input: malformed pre-states, forged private samples, odd ABI encodings.

Each refusal is the custom error the contract documents, and the contract refuses a pre-state exactly
when kernel.state.from_bytes does; an input it accepts gives the reference's answer, never another one.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import replace

import eth_abi
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curriculum.records import records_tree
from kernel.board import encode_record
from kernel.errors import StateBlobError
from kernel.params import KernelParams
from kernel.sources import PublicSource, draw_board
from kernel.state import from_bytes, genesis
from kernel.step import WindowStart, micro_step
from step_verifier_chain import (
    BAD_PROOF,
    EMPTY_DATASET,
    INVALID_RECORD,
    MALFORMED,
    NO_SAMPLE,
    ROOT_MISMATCH,
    STEP_SELECTOR,
    STEP_TYPES,
    Case,
    Outcome,
    VerifierChain,
    encode_step,
    private_source,
)

SMALL = KernelParams(slot_width=2, n_slots=3)
SEED = bytes(range(32))
W = WindowStart(0b0011, 6, bytes(range(100, 132)))


@pytest.fixture(scope="module")
def chain() -> Iterator[VerifierChain]:
    yield VerifierChain()


def small_pre() -> bytes:
    return genesis(SEED, SMALL, spec_version=2).to_bytes()


def reason(out: Outcome) -> int:
    assert not out.ok and out.revert[:4] == MALFORMED, f"expected MalformedState, got 0x{out.revert.hex()}"
    return int.from_bytes(out.revert[4:36], "big")


def patched(pre: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(pre)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


# (name, how to break the state, the reason code MalformedState carries)
BROKEN = [
    ("empty", lambda p: b"", 1),
    ("31 bytes", lambda p: p[:31], 1),
    ("header only", lambda p: p[:173], 1),
    ("one byte short", lambda p: p[:-1], 1),
    ("one byte long", lambda p: p + b"\0", 1),
    ("two bytes long", lambda p: p + b"\0\0", 1),
    ("magic", lambda p: b"CBKT" + p[4:], 2),
    ("version 1 bytes", lambda p: patched(p, 4, "<H", 1), 3),
    ("version 3", lambda p: patched(p, 4, "<H", 3), 3),
    ("d_in 63", lambda p: patched(p, 6, "<H", 63), 4),
    ("slot_width 0", lambda p: patched(p, 8, "<H", 0), 4),
    ("slot_width 257", lambda p: patched(p, 8, "<H", 257), 4),
    ("n_slots 1", lambda p: patched(p, 10, "<B", 1), 4),
    ("n_slots 9", lambda p: patched(p, 10, "<B", 9), 4),
    ("n_out 5", lambda p: patched(p, 11, "<B", 5), 4),
    ("epoch_steps 0", lambda p: patched(p, 12, "<I", 0), 4),
    ("epoch_steps 100", lambda p: patched(p, 12, "<I", 100), 4),
    ("energy overflow", lambda p: patched(p, 16, "<Q", (1 << 64) - 1), 4),
    ("slot_width 3 (length)", lambda p: patched(p, 8, "<H", 3), 1),
    ("mask 0", lambda p: patched(p, 152, "<B", 0), 5),
    ("mask beyond n_slots", lambda p: patched(p, 152, "<B", 0b1011), 5),
    ("lr_shift 25", lambda p: patched(p, 153, "<B", 25), 6),
    ("step 128", lambda p: patched(p, 162, "<B", 128), 7),
    ("step 255", lambda p: patched(p, 162, "<B", 255), 7),
    ("flags bit 3", lambda p: patched(p, 163, "<H", 8), 8),
    ("flags bit 15", lambda p: patched(p, 163, "<H", 1 << 15), 8),
    ("checkpoint with loss_acc", lambda p: patched(p, 165, "<Q", 1), 9),
]


@pytest.mark.parametrize(("name", "breaker", "code"), BROKEN, ids=[b[0] for b in BROKEN])
def test_malformed_pre_state_reverts_like_the_parser(chain: VerifierChain, name: str, breaker, code: int) -> None:  # type: ignore[no-untyped-def]
    bad = breaker(small_pre())
    with pytest.raises(StateBlobError):
        from_bytes(bad)
    assert reason(chain.call(bad, W)) == code


@pytest.mark.parametrize(("slot_width", "n_slots", "ok"), [(192, 8, True), (193, 8, False), (256, 8, False), (256, 6, True),
                                                          (256, 7, False)])
def test_hidden_bound(chain: VerifierChain, slot_width: int, n_slots: int, ok: bool) -> None:
    """SPEC v2 bounds a state at 1536 hidden units: a longer state with consistent length is refused like the parser does."""
    small = genesis(SEED, KernelParams(slot_width=1, n_slots=n_slots), spec_version=2)
    hidden = slot_width * n_slots
    weights = bytes(2 * (hidden * 64 + hidden + 6 * hidden + 6))
    pre = patched(small.to_bytes()[:173], 8, "<H", slot_width) + weights
    if ok:
        assert from_bytes(pre).params.hidden == hidden
        assert chain.call(pre, WindowStart(small.active_mask, 6, bytes(32))).ok
        return
    with pytest.raises(StateBlobError):
        from_bytes(pre)
    assert reason(chain.call(pre, W)) == 4


def test_version_1_state_is_refused(chain: VerifierChain) -> None:
    v1 = genesis(SEED, SMALL, spec_version=1).to_bytes()
    assert reason(chain.call(v1, W)) == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(offset=st.integers(0, 172), value=st.integers(0, 255), step=st.sampled_from([0, 5]))
def test_any_header_byte_is_refused_or_answered_like_the_reference(chain: VerifierChain, offset: int, value: int,
                                                                    step: int) -> None:
    base = replace(genesis(SEED, SMALL, spec_version=2), step=step, loss_acc=7 if step else 0, global_step=step)
    pre = bytearray(base.to_bytes())
    pre[offset] = value
    out = chain.call(bytes(pre), W)
    try:
        state = from_bytes(bytes(pre))
    except StateBlobError:
        reason(out)
        return
    if state.private:  # a dataset_root byte changed: the (absent) sample cannot match it
        assert not out.ok and out.revert == ROOT_MISMATCH
        return
    assert out.ok and out.post_hash == Case(bytes(pre), W).expected()
    assert state.step == pre[162]


# ---------------------------------------------------------------- private samples


def _private_case(n_records: int = 5) -> Case:
    boards = [draw_board(1000 + i, None) for i in range(n_records)]
    secret = keccak(b"owner secret")
    source = private_source([encode_record(b) for b in boards], secret)
    state = genesis(SEED, SMALL, dataset_commitment=source.records_root, spec_version=2)
    return Case(state.to_bytes(), W, source, secret)


def _sample(case: Case, **changes: object) -> tuple[object, ...]:
    s = dict(zip(("sOwner", "datasetLen", "merkleRoot", "record", "path"), case.sample(), strict=True))
    s.update(changes)
    return tuple(s.values())


def test_private_sample_is_checked(chain: VerifierChain) -> None:
    case = _private_case()
    out = chain.call(case.pre, case.w, case.sample())
    assert out.ok and out.post_hash == case.expected()


@pytest.mark.parametrize("forgery", ["sibling", "short path", "long path", "other record", "other index",
                                     "wrong secret"])
def test_forged_proof_reverts(chain: VerifierChain, forgery: str) -> None:
    case = _private_case(5)
    owner, n, root, record, path = case.sample()
    st_ = case.state
    idx = case.source.index(st_.seed_core, st_.global_step)
    other = (idx + 1) % n
    tree = records_tree(case.source.dataset)
    if forgery == "sibling":
        sample = _sample(case, path=[bytes(32)] + path[1:])
    elif forgery == "short path":
        sample = _sample(case, path=path[:-1])
    elif forgery == "long path":
        sample = _sample(case, path=[*path, bytes(32)])
    elif forgery == "other record":
        sample = _sample(case, record=case.source.dataset.record(other))
    elif forgery == "other index":  # a record with its own valid proof, at the wrong index
        sample = _sample(case, record=case.source.dataset.record(other), path=tree.path(other))
    else:  # another secret samples another index (the caller also checks keccak(sOwner))
        wrong = next(s for s in (keccak(bytes([i])) for i in range(50))
                     if case.source.__class__(case.source.dataset, s, spec_version=2).index(st_.seed_core, st_.global_step) != idx)
        sample = _sample(case, sOwner=wrong)
    out = chain.call(case.pre, case.w, sample)
    assert not out.ok and out.revert == BAD_PROOF


@pytest.mark.parametrize("field", ["datasetLen", "merkleRoot", "public sample"])
def test_dataset_root_mismatch_reverts(chain: VerifierChain, field: str) -> None:
    case = _private_case()
    _, n, root, _, _ = case.sample()
    sample = {"datasetLen": _sample(case, datasetLen=n + 1), "merkleRoot": _sample(case, merkleRoot=keccak(root)),
              "public sample": NO_SAMPLE}[field]
    out = chain.call(case.pre, case.w, sample)
    assert not out.ok and out.revert == ROOT_MISMATCH


def test_empty_dataset_reverts(chain: VerifierChain) -> None:
    # a state whose dataset_root commits to zero records (no loader would hatch it)
    root = keccak((0).to_bytes(4, "big") + bytes(32))
    pre = genesis(SEED, SMALL, dataset_commitment=root, spec_version=2).to_bytes()
    out = chain.call(pre, W, (bytes(32), 0, bytes(32), bytes(28), []))
    assert not out.ok and out.revert == EMPTY_DATASET


@pytest.mark.parametrize("defect", ["27 bytes", "29 bytes", "tile code 3", "same tile", "self on wall", "hp 0",
                                    "stamina 16", "temp_def 97", "flag bit 4", "last_action 5", "position 64"])
def test_invalid_committed_record_reverts(chain: VerifierChain, defect: str) -> None:
    good = bytearray(encode_record(draw_board(7, None)))
    rec = bytearray(good)
    if defect == "27 bytes":
        rec = rec[:27]
    elif defect == "29 bytes":
        rec = rec + b"\0"
    elif defect == "tile code 3":
        rec[0] |= 3
    elif defect == "same tile":
        rec[17] = rec[16]
    elif defect == "self on wall":
        rec[rec[16] >> 2] = (rec[rec[16] >> 2] & ~(3 << 2 * (rec[16] & 3))) | (1 << 2 * (rec[16] & 3))
    elif defect == "hp 0":
        rec[18] = 0
    elif defect == "stamina 16":
        rec[24] = 16
    elif defect == "temp_def 97":
        rec[21] = 97
    elif defect == "flag bit 4":
        rec[22] |= 0x10
    elif defect == "last_action 5":
        rec[27] = (rec[27] & 1) | (5 << 1)
    else:
        rec[16] = 64
    # a one-record tree (depth 0): the leaf is keccak(record) whatever its length
    leaf = keccak(bytes(rec))
    root = keccak((1).to_bytes(4, "big") + leaf)
    pre = genesis(SEED, SMALL, dataset_commitment=root, spec_version=2).to_bytes()
    out = chain.call(pre, W, (bytes(32), 1, leaf, bytes(rec), []))
    assert not out.ok and out.revert == INVALID_RECORD
    if len(rec) == 28:  # the same tree through curriculum.records gives the same root
        assert records_tree([bytes(rec)]).records_root == root


def test_public_beast_ignores_the_sample(chain: VerifierChain) -> None:
    pre = small_pre()
    plain = chain.call(pre, W)
    junk = chain.call(pre, W, (keccak(b"x"), 7, keccak(b"y"), b"\x01" * 40, [keccak(b"z")] * 3))
    assert plain.ok and junk.ok and plain.post_hash == junk.post_hash == micro_step(from_bytes(pre), PublicSource(), W).post_h128


# ---------------------------------------------------------------- ABI encodings


def test_odd_abi_encodings(chain: VerifierChain) -> None:
    pre = small_pre()
    good = encode_step(pre, W)
    expected = chain.call_data(good)
    assert expected.ok
    head = good[4:4 + 5 * 32]
    # trailing bytes after a valid encoding are ignored: same answer
    assert chain.call_data(good + b"\xff" * 64).post_hash == expected.post_hash
    # truncated calldata, an offset or a length past the end: revert without data
    for bad in (good[:4], good[:100], good[:-1 - len(pre) // 2]):
        out = chain.call_data(bad)
        assert not out.ok and out.revert == b""
    far = STEP_SELECTOR + (1 << 64).to_bytes(32, "big") + good[36:]
    assert not chain.call_data(far).ok
    long_len = bytearray(good)
    off = int.from_bytes(head[0:32], "big") + 4
    long_len[off:off + 32] = (len(pre) + 10_000).to_bytes(32, "big")
    assert not chain.call_data(bytes(long_len)).ok
    # a uint8 field with bits above 8: the ABI decoder refuses it
    dirty = bytearray(good)
    dirty[4 + 32:4 + 64] = (0x103).to_bytes(32, "big")
    assert not chain.call_data(bytes(dirty)).ok
    # the sample struct moved further out (a non-canonical but valid offset): same answer
    args = eth_abi.encode(STEP_TYPES, [pre, (W.active_mask, W.lr_shift, W.epoch_seed), NO_SAMPLE])
    s_off = int.from_bytes(args[4 * 32:5 * 32], "big")
    moved = args[:4 * 32] + (s_off + 32).to_bytes(32, "big") + args[5 * 32:s_off] + bytes(32) + args[s_off:]
    assert chain.call_data(STEP_SELECTOR + moved).post_hash == expected.post_hash
    # an unknown selector: no fallback
    assert not chain.call_data(b"\x12\x34\x56\x78" + args).ok
