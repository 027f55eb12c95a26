"""The state decoder's limits, each pinned by a test (issue 15 items 3 and 8).

A state blob is exactly one zstd frame (SPEC §6.3): bytes after it, a second frame or a
skippable frame are refused, not ignored. The limits a mutation run found unpinned are
here too: ``lr_shift > 24``, the largest legal state, non-bytes input, ``genesis`` seed
length and ``fold64`` of lengths SPEC §3 leaves undefined.
"""

from __future__ import annotations

import struct
from dataclasses import replace

import numpy as np
import pytest
import zstandard

from kernel.errors import KernelError, StateBlobError
from kernel.hashing import keccak256
from kernel.params import MAX_LR_SHIFT, KernelParams
from kernel.prng import fold64
from kernel.state import decode_state_blob, encode_state_blob, from_bytes, genesis, state_size

SKIPPABLE = (0x184D2A50).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"skip"
LARGEST = KernelParams(slot_width=256, n_slots=8)  # the largest legal state (SPEC §6.3)
LR_SHIFT_OFFSET = 153  # SPEC §6.3 table


@pytest.fixture(scope="module")
def state():
    return genesis(keccak256(b"state-limit-tests"))


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(lambda blob: b"\x00", id="one-zero-byte"),
        pytest.param(lambda blob: b"garbage after the frame", id="garbage"),
        pytest.param(lambda blob: blob, id="second-frame"),
        pytest.param(lambda blob: SKIPPABLE, id="skippable-frame-after"),
        pytest.param(lambda blob: zstandard.ZstdCompressor().compress(b""), id="empty-second-frame"),
    ],
)
def test_bytes_after_the_frame_are_refused(state, extra) -> None:  # type: ignore[no-untyped-def]
    blob = encode_state_blob(state)
    with pytest.raises(StateBlobError, match="exactly one zstd frame"):
        decode_state_blob(blob + extra(blob))


def test_skippable_frame_before_is_refused(state) -> None:
    with pytest.raises(StateBlobError, match="one zstd frame"):
        decode_state_blob(SKIPPABLE + encode_state_blob(state))


def test_frame_with_checksum_is_one_frame(state) -> None:
    """A checksum is part of the frame: a checksummed single frame still decodes to the same state."""
    params = zstandard.ZstdCompressionParameters.from_level(3, write_content_size=True, write_checksum=True)
    blob = zstandard.ZstdCompressor(compression_params=params).compress(state.to_bytes())
    assert decode_state_blob(blob).h128() == state.h128()
    with pytest.raises(StateBlobError, match="exactly one zstd frame"):
        decode_state_blob(blob + b"\x00")
    with pytest.raises(StateBlobError):
        decode_state_blob(blob[:-1])  # checksum cut short


@pytest.mark.parametrize("value", [None, 42, "28b52ffd", memoryview(b"\x28\xb5\x2f\xfd"), [0x28, 0xB5, 0x2F, 0xFD]])
def test_non_bytes_is_refused_with_the_decoders_error(value: object) -> None:
    with pytest.raises(StateBlobError):
        decode_state_blob(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, 42, "CBKS"])
def test_from_bytes_of_non_bytes_is_refused_with_the_decoders_error(value: object) -> None:
    with pytest.raises(StateBlobError):
        from_bytes(value)  # type: ignore[arg-type]


def _with_lr_shift(state, lr_shift: int) -> bytes:  # type: ignore[no-untyped-def]
    raw = state.to_bytes()
    assert raw[LR_SHIFT_OFFSET] == state.lr_shift
    return raw[:LR_SHIFT_OFFSET] + bytes([lr_shift]) + raw[LR_SHIFT_OFFSET + 1 :]


def test_lr_shift_limit(state) -> None:
    assert MAX_LR_SHIFT == 24
    assert from_bytes(_with_lr_shift(state, 24)).lr_shift == 24
    assert decode_state_blob(zstandard.ZstdCompressor().compress(_with_lr_shift(state, 24))).lr_shift == 24
    for bad in (25, 255):
        with pytest.raises(StateBlobError, match=f"lr_shift {bad} exceeds 24"):
            from_bytes(_with_lr_shift(state, bad))
        with pytest.raises(StateBlobError, match="lr_shift"):
            decode_state_blob(zstandard.ZstdCompressor().compress(_with_lr_shift(state, bad)))


LARGEST_V2 = KernelParams(slot_width=192, n_slots=8)  # v2 bounds hidden = slot_width * n_slots to 1536 (SPEC §6.3)


def _busy(params: KernelParams, version: int):  # type: ignore[no-untyped-def]
    st = genesis(keccak256(b"largest legal state"), params, spec_version=version)
    st.b1[:] = np.arange(st.b1.size) % 2048 - 1024  # non-zero everywhere: nothing compresses away
    return st


@pytest.fixture(scope="module")
def largest():  # type: ignore[no-untyped-def]
    """The largest legal state of all: version 1's (v2 is bounded lower)."""
    return _busy(LARGEST, 1)


@pytest.fixture(scope="module")
def largest_v2():  # type: ignore[no-untyped-def]
    return _busy(LARGEST_V2, 2)


def test_largest_parameters_per_version() -> None:
    from kernel.params import MAX_HIDDEN_V1, MAX_HIDDEN_V2, largest_params
    from kernel.state import LARGEST_PARAMS, max_state_size

    assert (MAX_HIDDEN_V1, MAX_HIDDEN_V2) == (2048, 1536)
    assert largest_params(1) == LARGEST == LARGEST_PARAMS and largest_params(2) == LARGEST_V2
    assert state_size(LARGEST, 1) == 290_990 and state_size(LARGEST_V2, 2) == 218_297
    assert max_state_size() == 290_990


@pytest.mark.parametrize(("version", "size"), [(1, 290_990), (2, 218_297)])
def test_largest_legal_state_round_trips(largest, largest_v2, version: int, size: int) -> None:  # type: ignore[no-untyped-def]
    st = largest if version == 1 else largest_v2
    raw = st.to_bytes()
    assert len(raw) == state_size(st.params, version) == size
    blob = encode_state_blob(st)
    back = decode_state_blob(blob)
    assert back.spec_version == version
    assert back.to_bytes() == raw and back.h128() == st.h128()
    assert decode_state_blob(blob, st.params).h128() == st.h128()  # the explicit bound equals the state


def test_one_byte_over_the_largest_state_is_refused(largest) -> None:  # type: ignore[no-untyped-def]
    """The blob bound is the largest legal state of any version (v1's 290,990 bytes)."""
    over = zstandard.ZstdCompressor(write_content_size=True).compress(largest.to_bytes() + b"\x00")
    with pytest.raises(StateBlobError, match=f"declares {290_991} bytes; expected a known size of at most {290_990}"):
        decode_state_blob(over)


@pytest.mark.parametrize(("slot_width", "n_slots"), [(256, 8), (193, 8), (256, 7), (220, 7)])
def test_v2_refuses_more_than_1536_hidden_units(slot_width: int, n_slots: int) -> None:
    """genesis and the parser refuse a v2 state over the bound (v1 keeps 2048), whatever its length."""
    params = KernelParams(slot_width=slot_width, n_slots=n_slots)
    with pytest.raises(StateBlobError, match="at most 1536 hidden units"):
        genesis(bytes(32), params)
    v1 = genesis(bytes(32), params, spec_version=1)
    assert from_bytes(v1.to_bytes()).params == params
    raw = replace(v1, spec_version=2).to_bytes()  # the v2 bytes of an over-bound net, as an attacker would send
    with pytest.raises(StateBlobError, match="parameters are invalid: spec_version 2 allows at most 1536"):
        from_bytes(raw)
    with pytest.raises(StateBlobError, match="parameters are invalid"):
        from_bytes(raw[:-1])  # refused for the parameters, not the length
    for ok in (KernelParams(slot_width=192, n_slots=8), KernelParams(slot_width=256, n_slots=6)):
        assert from_bytes(genesis(bytes(32), ok).to_bytes()).params == ok


def test_a_smaller_bound_refuses_a_larger_state(largest, state) -> None:
    with pytest.raises(StateBlobError, match="at most"):
        decode_state_blob(encode_state_blob(largest), state.params)
    assert decode_state_blob(encode_state_blob(state), state.params).h128() == state.h128()


def test_parameters_beyond_the_largest_are_refused(state) -> None:
    """A header naming slot_width 257 is refused as invalid parameters, whatever its length."""
    raw = bytearray(state.to_bytes())
    struct.pack_into("<H", raw, 8, 257)
    with pytest.raises(StateBlobError, match="parameters are invalid"):
        from_bytes(bytes(raw))


@pytest.mark.parametrize("n", [0, 31, 33, 64])
def test_genesis_needs_a_32_byte_seed(n: int) -> None:
    with pytest.raises(StateBlobError, match="32 bytes"):
        genesis(bytes(n))


def test_genesis_needs_a_32_byte_dataset_commitment() -> None:
    with pytest.raises(StateBlobError, match="32 bytes"):
        genesis(bytes(32), dataset_commitment=bytes(31))


@pytest.mark.parametrize("n", [0, 1, 7, 9, 31, 33])
def test_fold64_is_undefined_off_whole_words(n: int) -> None:
    """SPEC §3: fold64 takes a non-zero multiple of 8 bytes; anything else is refused, never padded."""
    with pytest.raises(ValueError, match=f"non-empty multiple of 8 bytes, got {n}"):
        fold64(bytes(n))


def test_fold64_of_whole_words() -> None:
    assert fold64(bytes(range(8))) == 0x0001020304050607
    assert fold64(b"\xff" * 8 + b"\x0f" * 8) == 0xF0F0F0F0F0F0F0F0


def test_state_errors_are_kernel_errors() -> None:
    assert issubclass(StateBlobError, KernelError)


def test_the_largest_incompressible_state_fits_the_validators_transport_limit(largest) -> None:
    """Full-range random weights do not compress: the blob is then its largest, and must still be accepted."""
    from validator.replay import MAX_STATE_BLOB_BYTES

    worst = largest.copy()
    rng = np.random.default_rng(7)
    for a in (worst.w1, worst.b1, worst.w2, worst.b2):
        a[...] = rng.integers(-32768, 32768, size=a.shape)
    blob = encode_state_blob(worst)
    assert state_size(LARGEST) < len(blob) <= MAX_STATE_BLOB_BYTES
    assert decode_state_blob(blob).to_bytes() == worst.to_bytes()


def test_v2_hidden_bound_mechanism(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound is one constant (kernel.params.MAX_HIDDEN_V2): lowered further, genesis, the parser and the
    largest v2 parameters follow it, and version 1 never does."""
    import kernel.params as kp
    from kernel.params import largest_params, version_problem

    raw = genesis(bytes(32), LARGEST_V2).to_bytes()  # 1536 units: legal today
    monkeypatch.setattr(kp, "MAX_HIDDEN_V2", 1024)
    assert largest_params(2) == KernelParams(slot_width=128, n_slots=8)
    assert version_problem(KernelParams(slot_width=256, n_slots=4), 2) is None
    with pytest.raises(StateBlobError, match="at most 1024 hidden units"):
        genesis(bytes(32), LARGEST_V2)
    with pytest.raises(StateBlobError, match="at most 1024 hidden units"):
        from_bytes(raw)
    assert genesis(bytes(32), LARGEST, spec_version=1).params == LARGEST
    assert state_size(largest_params(2), 2) == 173 + 2 * (1024 * 65 + 6 * 1025)
