"""curriculum against tests/vectors/sampling_v2.json (written by the independent gen_vectors_v2.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from curriculum.dataset import Dataset
from curriculum.records import merkle_path, merkle_root, record_proof, records_root, records_tree, verify_path
from curriculum.sampling import SAMPLE_KEY_TAG_V2, sample_index_v2, sample_indices_v2, sample_key_v2
from curriculum.source import PrivateDatasetSource
from kernel.context import WindowContext
from tests.curriculum import gen_vectors, gen_vectors_v2
from tests.curriculum.helpers import REPO, VECTORS_PATH, VECTORS_V2_PATH

V2 = json.loads(VECTORS_V2_PATH.read_text())


def _b(h: str) -> bytes:
    return bytes.fromhex(h[2:])


def test_file_is_current() -> None:
    assert VECTORS_V2_PATH.read_text() == gen_vectors_v2.render()
    check = subprocess.run([sys.executable, "tests/curriculum/gen_vectors_v2.py", "--check"], cwd=REPO, timeout=120)
    assert check.returncode == 0


def test_v1_file_untouched() -> None:
    """spec_version 1 stays bit for bit: sampling.json is still exactly what the v1 generator writes."""
    assert VECTORS_PATH.read_text() == gen_vectors.render()


def test_generator_is_independent() -> None:
    source = (REPO / "tests" / "curriculum" / "gen_vectors_v2.py").read_text()
    assert "import curriculum" not in source and "from curriculum" not in source
    assert "from kernel" not in source and "import kernel" not in source


def test_tag() -> None:
    assert _b(V2["sample_key_tag"]) == SAMPLE_KEY_TAG_V2 and len(SAMPLE_KEY_TAG_V2) == 25


def test_sample_keys() -> None:
    assert len(V2["sample_keys"]) == 16
    for c in V2["sample_keys"]:
        assert sample_key_v2(_b(c["seed_core"]), _b(c["secret"])).reveal() == _b(c["sample_key"])


def test_sample_indices() -> None:
    cases = V2["sample_index"]
    assert {1, 1 << 17} <= {c["dataset_len"] for c in cases}
    assert any(c["global_step"] == 2**32 - 1 for c in cases)
    for c in cases:
        key = sample_key_v2(_b(c["seed_core"]), _b(c["secret"]))
        assert key.reveal() == _b(c["sample_key"])
        assert sample_index_v2(key, c["global_step"], c["dataset_len"]) == c["sample_index"]
        assert int.from_bytes(_b(c["digest"]), "big") % c["dataset_len"] == c["sample_index"]


def test_window_wraps_through_source() -> None:
    w = V2["window"]
    key = sample_key_v2(_b(w["seed_core"]), _b(w["secret"]))
    assert sample_indices_v2(key, w["first_step"], 128, w["dataset_len"]) == w["sample_indices"]
    records = b"".join(gen_vectors_v2.synthetic_record(332, i) for i in range(332))
    src = PrivateDatasetSource(Dataset(commitment=bytes(32), records=records), _b(w["secret"]), spec_version=2)
    ctx = WindowContext(_b(w["seed_core"]), bytes(16), bytes(32), w["first_step"])
    assert src.indices(ctx) == w["sample_indices"]


def test_records_roots_and_proofs() -> None:
    assert [d["dataset_len"] for d in V2["datasets"]] == [1, 2, 3, 5, 332]
    for d in V2["datasets"]:
        n = d["dataset_len"]
        records = [gen_vectors_v2.synthetic_record(n, i) for i in range(n)]
        if isinstance(d["records"], list):
            assert [_b(r) for r in d["records"]] == records
        assert merkle_root(records) == _b(d["merkle_root"])
        assert records_root(records) == _b(d["records_root"])
        assert records_tree(records).depth == d["depth"]
        for p in d["proofs"]:
            path = [_b(x) for x in p["path"]]
            assert records[p["index"]] == _b(p["record"])
            assert merkle_path(records, p["index"]) == path
            verify_path(_b(d["records_root"]), n, p["index"], _b(p["record"]), path)


def test_private_step_through_source() -> None:
    s = V2["private_step"]
    records = b"".join(gen_vectors_v2.synthetic_record(332, i) for i in range(332))
    src = PrivateDatasetSource(Dataset(commitment=bytes(32), records=records), _b(s["secret"]), spec_version=2)
    assert src.records_root == _b(s["records_root"])
    proof = src.proof(_b(s["seed_core"]), s["global_step"])
    assert proof.index == s["sample_index"] and proof.record == _b(s["record"])
    assert [("0x" + p.hex()) for p in proof.path] == s["path"]
    assert proof == record_proof(records, s["sample_index"])
