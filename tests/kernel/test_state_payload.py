"""Payload words and state blobs: round trips and clear refusals of malformed input."""

from __future__ import annotations

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from kernel.board import RECORD_SIZE, decode_record, encode_record
from kernel.errors import BoardError, KernelError, PayloadError, StateBlobError
from kernel.hashing import keccak256
from kernel.payload import Payload
from kernel.sources import PublicSource, draw_board
from kernel.state import decode_state_blob, encode_state_blob, from_bytes, genesis
from kernel.train import train_window

payloads = st.builds(
    Payload, h128=st.binary(min_size=16, max_size=16), global_step=st.integers(0, 2**32 - 1),
    energy_burn=st.integers(0, 2**64 - 1), active_mask=st.integers(0, 255), lr_shift=st.integers(0, 255),
    flags=st.integers(0, 7),
)


@given(payloads)
def test_payload_round_trip(p: Payload) -> None:
    word = p.pack()
    assert len(word) == 32 and Payload.unpack(word) == p and Payload.from_hex(p.hex()) == p
    assert int.from_bytes(word, "big") >> 128 == int.from_bytes(p.h128, "big")


def test_payload_layout_table() -> None:
    p = Payload(bytes(range(16)), 0x01020304, 0x1112131415161718, 0x21, 0x22, 0x0003)
    assert p.hex() == "0x000102030405060708090a0b0c0d0e0f" + "01020304" + "1112131415161718" + "21" + "22" + "0003"


@pytest.mark.parametrize("bad", ["0x12", "zz" * 32, "0x" + "0" * 63, "0x" + "0" * 60 + "8000"])
def test_payload_refuses_malformed(bad: str) -> None:
    with pytest.raises(PayloadError):
        Payload.from_hex(bad)


def test_payload_field_ranges() -> None:
    with pytest.raises(PayloadError, match="global_step"):
        Payload(bytes(16), 2**32, 0, 1, 1, 0)
    with pytest.raises(PayloadError, match="h128"):
        Payload(bytes(15), 0, 0, 1, 1, 0)


@given(st.integers(0, 2**64 - 1))
def test_record_round_trip(key: int) -> None:
    b = draw_board(key, None)
    assert decode_record(encode_record(b)) == b


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r[:-1], "28 bytes"),
    (lambda r: bytes([0xFF] * 16) + r[16:], "invalid code"),
    (lambda r: r[:16] + bytes([64]) + r[17:], "self_pos"),
    (lambda r: r[:17] + r[16:17] + r[18:], "share a tile"),
    (lambda r: r[:18] + bytes([0]) + r[19:], "alive"),
    (lambda r: r[:19] + bytes([16]) + r[20:], "stamina"),
    (lambda r: r[:22] + bytes([0xF0]) + r[23:], "reserved"),
])
def test_record_refuses_malformed(mutate, message: str) -> None:
    good = encode_record(draw_board(12345, None))
    assert len(good) == RECORD_SIZE
    with pytest.raises(BoardError, match=message):
        decode_record(mutate(good))


@pytest.fixture(scope="module")
def trained():
    st0 = genesis(keccak256(b"state-tests"))
    return train_window(st0, PublicSource()).state


def test_state_blob_round_trip(trained) -> None:
    blob = encode_state_blob(trained)
    back = decode_state_blob(blob)
    assert back.to_bytes() == trained.to_bytes() and back.h128() == trained.h128()
    assert encode_state_blob(back) == blob  # deterministic compression


def test_h128_chains_to_parent(trained) -> None:
    assert trained.parent_h128 == genesis(keccak256(b"state-tests")).h128()
    assert trained.h128() == keccak256(trained.to_bytes())[:16]


def _zstd(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(raw)


@pytest.mark.parametrize("case", ["garbage", "truncated", "wrong-magic", "wrong-version", "short", "long", "bomb",
                                  "no-size", "bad-mask"])
def test_state_blob_refuses_malformed(trained, case: str) -> None:
    raw = trained.to_bytes()
    blob = {
        "garbage": b"\x00not a blob at all",
        "truncated": encode_state_blob(trained)[:-7],
        "wrong-magic": _zstd(b"XXXX" + raw[4:]),
        "wrong-version": _zstd(raw[:4] + (99).to_bytes(2, "little") + raw[6:]),
        "short": _zstd(raw[:-2]),
        "long": _zstd(raw + b"\x00\x00"),
        "bomb": _zstd(bytes(50_000_000)),
        "no-size": (zstandard.ZstdCompressor(write_content_size=False).compressobj().compress(raw)
                    + zstandard.ZstdCompressor(write_content_size=False).compressobj().flush()),
        "bad-mask": None,
    }[case]
    if case == "bad-mask":
        off = len(raw) - len(trained.weight_bytes()) - 18 + 8  # active_mask byte of the counters
        blob = _zstd(raw[:off] + bytes([0x80]) + raw[off + 1:])
    with pytest.raises(StateBlobError):
        decode_state_blob(blob)


def test_from_bytes_names_the_problem(trained) -> None:
    with pytest.raises(StateBlobError, match="length"):
        from_bytes(trained.to_bytes() + b"\x00")
    with pytest.raises(StateBlobError, match="magic"):
        from_bytes(b"NOPE" + trained.to_bytes()[4:])


def test_window_settings_are_checked(trained) -> None:
    with pytest.raises(KernelError, match="switches off"):
        train_window(trained, PublicSource(), active_mask=0b0001)
    with pytest.raises(KernelError, match="at most one slot"):
        train_window(trained, PublicSource(), active_mask=0b1111)
    with pytest.raises(KernelError, match="lr_shift"):
        train_window(trained, PublicSource(), lr_shift=99)


def test_growth_spurt_burns_extra_energy(trained) -> None:
    plain = train_window(trained, PublicSource())
    spurt = train_window(trained, PublicSource(), active_mask=0b0111)
    p = trained.params
    assert plain.payload.energy_burn == 128 * p.base_cost * 2
    assert spurt.payload.energy_burn == 128 * p.base_cost * 3 + p.spurt_cost
    assert spurt.payload.flags & 2 and not plain.payload.flags & 2


def test_fast_inputs_give_the_same_window(trained) -> None:
    spec = train_window(trained, PublicSource())
    fast = train_window(trained, PublicSource(), inputs="fast")
    assert fast.payload == spec.payload and fast.losses == spec.losses
    with pytest.raises(KernelError, match="inputs"):
        train_window(trained, PublicSource(), inputs="turbo")
