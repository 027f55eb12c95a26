"""The checkpoint word's fields at their widths (SPEC §7.3), pinned by value.

Mutants of kernel/payload.py that widened a field's bit width, accepted a short word or
broke the JSON view survived the vector tests; these cases kill them.
"""

from __future__ import annotations

import pytest

from kernel.errors import PayloadError
from kernel.payload import Payload, next_global_step

H = bytes(range(16))
GOOD = {"h128": H, "global_step": 256, "energy_burn": 7, "active_mask": 3, "lr_shift": 6, "flags": 1}


@pytest.mark.parametrize(("field", "top"), [("global_step", 1 << 32), ("energy_burn", 1 << 64), ("active_mask", 1 << 8),
                                            ("lr_shift", 1 << 8)])
def test_each_field_takes_its_width_and_not_one_more(field: str, top: int) -> None:
    word = Payload(**{**GOOD, field: top - 1}).pack()
    assert getattr(Payload.unpack(word), field) == top - 1
    with pytest.raises(PayloadError, match=field):
        Payload(**{**GOOD, field: top})


def test_flags_beyond_the_known_bits_are_refused() -> None:
    assert Payload.unpack(Payload(**{**GOOD, "flags": 7}).pack()).flags == 7
    for flags in (8, 1 << 15, 1 << 16):
        with pytest.raises(PayloadError, match="flags"):
            Payload(**{**GOOD, "flags": flags})


@pytest.mark.parametrize("n", [0, 31, 33])
def test_a_word_is_exactly_32_bytes(n: int) -> None:
    with pytest.raises(PayloadError, match="32 bytes"):
        Payload.unpack(b"\x01" * n)


def test_json_view_by_value() -> None:
    p = Payload(**GOOD)
    assert p.to_json() == {"h128": "0x000102030405060708090a0b0c0d0e0f", "globalStep": 256, "energyBurn": 7, "activeMask": 3,
                           "lrShift": 6, "flags": 1, "word": p.hex()}
    assert p.hex() == "0x" + (H + (256).to_bytes(4, "big") + (7).to_bytes(8, "big") + bytes([3, 6, 0, 1])).hex()


def test_next_global_step_wraps_at_u32() -> None:
    assert next_global_step(0) == 128
    assert next_global_step(2**32 - 128) == 0
    assert next_global_step(2**32 - 64) == 64
