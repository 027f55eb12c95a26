"""contracts/src/CheckpointWord.sol, the Solidity home of the word layout, agrees with kernel.payload.

The library's constants are number literals (inline assembly reads nothing else), so the relations
between them (mask = 2^width - 1, the fields tile the word, the window index's position) are
checked here, and every field against the Python packing of the same payload.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernel.payload import WINDOW_STEPS, Payload
from kernel.state import DEFAULT_MASK

SRC = Path(__file__).resolve().parents[2] / "contracts" / "src"
CONSTANT = re.compile(r"^uint256 constant (\w+) = (0x[0-9a-fA-F]+|\d+);", re.MULTILINE)
FIELDS = {"H128": "h128", "GLOBAL_STEP": "global_step", "ENERGY_BURN": "energy_burn", "ACTIVE_MASK": "active_mask",
          "LR_SHIFT": "lr_shift", "FLAGS": "flags"}


def word_constants() -> dict[str, int]:
    text = (SRC / "CheckpointWord.sol").read_text()
    found = {name: int(value, 0) for name, value in CONSTANT.findall(text)}
    # Every file-level constant must be a plain literal the regex saw (assembly cannot read others).
    assert len(found) == len(re.findall(r"^uint256 constant ", text, re.MULTILINE))
    return found


def test_fields_tile_the_word() -> None:
    c = word_constants()
    spans = sorted((c[f"{f}_OFFSET"], c[f"{f}_MASK"]) for f in FIELDS)
    at = 0
    for offset, mask in spans:
        assert offset == at, f"gap or overlap at bit {at}"
        assert mask & (mask + 1) == 0 and mask > 0, f"mask 0x{mask:x} is not all ones"
        at += mask.bit_length()
    assert at == 256


@pytest.mark.parametrize("payload", [
    Payload(bytes(range(1, 17)), 0x89ABCDEF, 0x0123456789ABCDEF, 0xA5, 0x3C, 0x0005),
    Payload(b"\xff" * 16, 2**32 - 1, 2**64 - 1, 0xFF, 0xFF, 0x0007),
    Payload(bytes(16), 128, 1, 1, 0, 0),
])
def test_each_field_reads_back_from_the_packed_word(payload: Payload) -> None:
    c = word_constants()
    w = payload.to_int()
    for name, attr in FIELDS.items():
        want = getattr(payload, attr)
        want = int.from_bytes(want, "big") if isinstance(want, bytes) else want
        assert (w >> c[f"{name}_OFFSET"]) & c[f"{name}_MASK"] == want, name


def test_window_constants_follow_the_window_size() -> None:
    c = word_constants()
    assert c["STEPS_PER_WINDOW"] == WINDOW_STEPS
    assert 1 << c["STEPS_PER_WINDOW_LOG2"] == WINDOW_STEPS
    assert c["STEP_IN_WINDOW_MASK"] == WINDOW_STEPS - 1
    assert c["WINDOW_INDEX_OFFSET"] == c["GLOBAL_STEP_OFFSET"] + c["STEPS_PER_WINDOW_LOG2"]
    assert c["WINDOW_INDEX_MASK"] == c["GLOBAL_STEP_MASK"] >> c["STEPS_PER_WINDOW_LOG2"]
    # The ledger's derivation of k, done here in Python with the same constants, inverts stepOfWindow.
    for k in (0, 1, 2, 1000, 2**25 - 2, 2**25 - 1):
        step = (WINDOW_STEPS * (k + 1)) % 2**32
        w = Payload(bytes(16), step, 0, 0, 0, 0).to_int()
        derived = ((w - (1 << c["WINDOW_INDEX_OFFSET"])) >> c["WINDOW_INDEX_OFFSET"]) & c["WINDOW_INDEX_MASK"]
        assert derived == k


def test_fields_in_place_and_the_genesis_mask() -> None:
    """Each FIELD literal is its MASK shifted to its OFFSET; the genesis mask is the kernel's."""
    c = word_constants()
    fields = [name for name in c if name.endswith("_FIELD") and name != "GENESIS_ACTIVE_MASK_FIELD"]
    assert sorted(fields) == ["ACTIVE_MASK_FIELD", "ENERGY_BURN_FIELD", "GLOBAL_STEP_FIELD", "STEP_IN_WINDOW_FIELD"]
    for name in fields:
        base = name.removesuffix("_FIELD")
        mask = c[f"{base}_MASK"]
        offset = c["GLOBAL_STEP_OFFSET"] if base == "STEP_IN_WINDOW" else c[f"{base}_OFFSET"]
        assert c[name] == mask << offset, name
    assert c["GENESIS_ACTIVE_MASK"] == DEFAULT_MASK
    assert c["GENESIS_ACTIVE_MASK_FIELD"] == DEFAULT_MASK << c["ACTIVE_MASK_OFFSET"]


def test_ledger_assembly_names_its_bit_positions() -> None:
    """The only numbers left in the ledger's assembly are memory and calldata offsets, shifts by 5 (x32) and 0/1."""
    allowed = {0, 1, 5, 0x04, 0x20, 0x24, 0x40, 0x44, 0x64}
    blocks = re.findall(r"assembly \([^)]*\) \{(.*?)\n        \}\n", (SRC / "CheckpointLedger.sol").read_text(), re.DOTALL)
    assert len(blocks) == 4  # commitMany's offsets, the committerRole and committerRoles calls, the commit loop
    for block in blocks:
        code = "\n".join(line.split("//")[0] for line in block.splitlines())
        numbers = {int(n, 0) for n in re.findall(r"\b(0x[0-9a-fA-F]+|\d+)\b", code)}
        assert numbers <= allowed, f"bare numbers {sorted(numbers - allowed)} in the ledger's assembly"


def test_ledger_constants_match() -> None:
    from ledger_chain import LedgerChain  # the committed artifacts deployed on py-evm

    c = word_constants()
    ledger = LedgerChain.start(accounts=1).ledger.functions
    assert ledger.WINDOW_STEPS().call() == c["STEPS_PER_WINDOW"]
    assert ledger.MAX_WINDOWS().call() == (c["GLOBAL_STEP_MASK"] + 1) >> c["STEPS_PER_WINDOW_LOG2"]
