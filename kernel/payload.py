"""The checkpoint payload and its packing into one 32-byte word (SPEC §7).

    bit 255                   128 127        96 95                32 31     24 23     16 15       0
       +-------------------------+-------------+--------------------+---------+---------+---------+
       |          h128           | globalStep  |     energyBurn     | active  | lrShift |  flags  |
       |        (128 bits)       |  (u32)      |       (u64)        | Mask u8 |   u8    |   u16   |
       +-------------------------+-------------+--------------------+---------+---------+---------+

The word is the big-endian 32-byte encoding of that 256-bit unsigned integer, which is
exactly how Solidity sees a ``bytes32``/``uint256`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kernel.errors import PayloadError

WINDOW_STEPS: Final = 128

FLAG_LOSS_DROPPED: Final = 1 << 0  # the window's loss sum is below the previous window's
FLAG_GROWTH_SPURT: Final = 1 << 1  # a dormant slot was switched on at the start of this window
FLAG_PRIVATE: Final = 1 << 2  # samples came from the committed private dataset
FLAGS_KNOWN: Final = FLAG_LOSS_DROPPED | FLAG_GROWTH_SPURT | FLAG_PRIVATE


@dataclass(frozen=True, slots=True)
class Payload:
    """The fields a window commits on chain."""

    h128: bytes  # 16 bytes: lineage hash of the state after the window
    global_step: int  # u32: micro-steps since genesis after the window, mod 2**32
    energy_burn: int  # u64: ENERGY (smallest unit) burned by the window
    active_mask: int  # u8: one bit per hidden slot
    lr_shift: int  # u8: learning rate as a right shift
    flags: int  # u16: FLAG_* bits

    def __post_init__(self) -> None:
        if not isinstance(self.h128, bytes) or len(self.h128) != 16:
            raise PayloadError(f"h128 must be 16 bytes, got {self.h128!r}")
        for name, value, bits in (
            ("global_step", self.global_step, 32),
            ("energy_burn", self.energy_burn, 64),
            ("active_mask", self.active_mask, 8),
            ("lr_shift", self.lr_shift, 8),
            ("flags", self.flags, 16),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
                raise PayloadError(f"{name} must be an unsigned {bits}-bit integer, got {value!r}")
        if self.flags & ~FLAGS_KNOWN:
            raise PayloadError(f"flags 0x{self.flags:04x} set reserved bits (known: 0x{FLAGS_KNOWN:04x})")

    def to_int(self) -> int:
        """The word as an unsigned 256-bit integer."""
        return (
            (int.from_bytes(self.h128, "big") << 128)
            | (self.global_step << 96)
            | (self.energy_burn << 32)
            | (self.active_mask << 24)
            | (self.lr_shift << 16)
            | self.flags
        )

    def pack(self) -> bytes:
        """The 32-byte big-endian checkpoint word."""
        return self.to_int().to_bytes(32, "big")

    def hex(self) -> str:
        """The word as ``0x`` followed by 64 lowercase hex digits."""
        return "0x" + self.pack().hex()

    def to_json(self) -> dict[str, object]:
        """A JSON-friendly view of the fields (hex strings for the byte fields)."""
        return {
            "h128": "0x" + self.h128.hex(),
            "globalStep": self.global_step,
            "energyBurn": self.energy_burn,
            "activeMask": self.active_mask,
            "lrShift": self.lr_shift,
            "flags": self.flags,
            "word": self.hex(),
        }

    @classmethod
    def unpack(cls, word: bytes) -> Payload:
        """Parse a 32-byte word; raises PayloadError when it is malformed."""
        if not isinstance(word, (bytes, bytearray)) or len(word) != 32:
            got = len(word) if isinstance(word, (bytes, bytearray)) else type(word).__name__
            raise PayloadError(f"a checkpoint word is 32 bytes, got {got}")
        v = int.from_bytes(word, "big")
        return cls(
            h128=(v >> 128).to_bytes(16, "big"),
            global_step=(v >> 96) & 0xFFFFFFFF,
            energy_burn=(v >> 32) & 0xFFFFFFFFFFFFFFFF,
            active_mask=(v >> 24) & 0xFF,
            lr_shift=(v >> 16) & 0xFF,
            flags=v & 0xFFFF,
        )

    @classmethod
    def from_hex(cls, text: str) -> Payload:
        """Parse ``0x`` + 64 hex digits."""
        t = text.strip()
        if t.startswith(("0x", "0X")):
            t = t[2:]
        if len(t) != 64:
            raise PayloadError(f"a checkpoint word is 64 hex digits after 0x, got {len(t)}")
        try:
            raw = bytes.fromhex(t)
        except ValueError as exc:
            raise PayloadError(f"not a hex string: {text!r}") from exc
        return cls.unpack(raw)


def next_global_step(prev: int) -> int:
    """The globalStep a window must carry after one with ``prev``: prev + 128 mod 2**32."""
    return (prev + WINDOW_STEPS) & 0xFFFFFFFF
