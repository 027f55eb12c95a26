"""beast.json: one typed record; the bytes the node always wrote read back unchanged; malformed files are clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.beast_meta import META_MAX_BYTES, BeastMeta
from node.errors import DataError
from node.store import BeastStore

SEED = "0x" + "11" * 32
DATASET = "0x" + "22" * 32
SECRET = "0x" + "33" * 32
ZERO = "0x" + "00" * 32

# As the node wrote them before the record was typed (json.dumps(..., indent=2, sort_keys=True) + "\n").
HATCHED_PRIVATE = {"beast_id": 7, "seed_core": SEED, "dataset_commitment": DATASET, "secret_commitment": SECRET,
                   "spec_version": 1, "hatch_block": 12, "owner": "0x" + "ab" * 20, "hatch_tx": "0x" + "cd" * 32,
                   "dataset_path": "/data/boards.cbd", "secret_path": "/data/owner.secret"}
HATCHED_PUBLIC = {k: v for k, v in HATCHED_PRIVATE.items() if k not in ("dataset_path", "secret_path")} | {
    "dataset_commitment": ZERO, "secret_commitment": ZERO}
# A spec version 2 private beast: its R_dataset is kept (version 1 files never carry the key).
HATCHED_V2 = HATCHED_PRIVATE | {"spec_version": 2, "records_root": "0x" + "44" * 32}
ADOPTED = {"beast_id": 3, "seed_core": SEED, "dataset_commitment": ZERO, "secret_commitment": ZERO, "spec_version": 1,
           "hatch_block": 5, "adopted": True}


def legacy(doc: dict[str, object]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@pytest.mark.parametrize("doc", [HATCHED_PRIVATE, HATCHED_PUBLIC, ADOPTED, HATCHED_V2])
def test_existing_files_read_and_write_back_byte_for_byte(doc: dict[str, object]) -> None:
    meta = BeastMeta.decode(legacy(doc), "f")
    assert meta.encode() == legacy(doc)
    assert meta.hatch.seed_core == bytes.fromhex("11" * 32) and meta.is_private == (doc in (HATCHED_PRIVATE, HATCHED_V2))
    assert meta.hatch.records_root == bytes.fromhex(str(doc.get("records_root", ZERO))[2:])


def test_dataset_root_follows_the_version() -> None:
    """What the beast's states carry at offset 64: C_dataset under version 1, R_dataset under version 2."""
    assert BeastMeta.decode(legacy(HATCHED_PRIVATE), "f").hatch.dataset_root == bytes.fromhex("22" * 32)
    assert BeastMeta.decode(legacy(HATCHED_V2), "f").hatch.dataset_root == bytes.fromhex("44" * 32)


def test_fields_are_typed() -> None:
    meta = BeastMeta.decode(legacy(HATCHED_PRIVATE), "f")
    assert (meta.beast_id, meta.hatch.dataset_commitment, meta.hatch.hatch_block, meta.dataset_path, meta.adopted) == (
        7, bytes.fromhex("22" * 32), 12, "/data/boards.cbd", False)
    assert BeastMeta.decode(legacy(ADOPTED), "f").adopted and BeastMeta.decode(legacy(ADOPTED), "f").owner is None


@pytest.mark.parametrize(("data", "message"), [
    (b"{", "f is not JSON"),
    (b"[]", "f must hold a JSON object, got list"),
    (legacy({k: v for k, v in ADOPTED.items() if k != "seed_core"}), "f lacks seed_core"),
    (legacy(ADOPTED | {"colour": 1}), "f: unknown keys ['colour']"),
    (legacy(ADOPTED | {"seed_core": "0x1234"}), "f: seed_core must be 0x and 64 hex digits, got '0x1234'"),
    (legacy(ADOPTED | {"seed_core": "0x" + "zz" * 32}), "seed_core must be 0x and 64 hex digits"),
    (legacy(ADOPTED | {"seed_core": "11" * 33}), "seed_core must be 0x and 64 hex digits"),
    (legacy(ADOPTED | {"dataset_commitment": 5}), "dataset_commitment must be 0x and 64 hex digits, got 5"),
    (legacy(ADOPTED | {"beast_id": "3"}), "beast_id must be an integer >= 0, got '3'"),
    (legacy(ADOPTED | {"beast_id": 0}), "beast_id must be >= 1, got 0"),
    (legacy(ADOPTED | {"hatch_block": True}), "hatch_block must be an integer >= 0, got True"),
    (legacy(ADOPTED | {"spec_version": -1}), "spec_version must be an integer >= 0, got -1"),
    (legacy(ADOPTED | {"owner": 1}), "owner must be a string, got 1"),
    (legacy(ADOPTED | {"adopted": "yes"}), "adopted must be true or false, got 'yes'"),
    (legacy(HATCHED_V2 | {"records_root": "0x44"}), "records_root must be 0x and 64 hex digits, got '0x44'"),
])
def test_a_malformed_file_is_a_data_error_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(DataError) as info:
        BeastMeta.decode(data, "f")
    assert message in str(info.value)


def test_the_store_refuses_another_beasts_file(tmp_path: Path) -> None:
    store = BeastStore(tmp_path / "9", 9)
    try:
        store.write_meta(BeastMeta.decode(legacy(ADOPTED), "f"))
        with pytest.raises(DataError, match=r"beast 9: .*beast\.json describes beast 3"):
            store.read_meta()
        (tmp_path / "9" / "beast.json").write_text("{")
        with pytest.raises(DataError, match=r"beast 9: .*beast\.json is not JSON"):
            store.read_meta()
        (tmp_path / "9" / "beast.json").write_bytes(b" " * (META_MAX_BYTES + 1))
        with pytest.raises(DataError, match=r"beast 9: beast\.json .* over the limit of 65536 bytes"):
            store.read_meta()
        (tmp_path / "9" / "beast.json").unlink()
        with pytest.raises(DataError, match=r"beast 9: cannot open beast\.json"):
            store.read_meta()
    finally:
        store.close()
