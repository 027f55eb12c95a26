"""Generate tests/vectors/sampling_v2.json: spec-version-2 sample keys, sampleIdx, R_dataset and record proofs.

Run ``python tests/curriculum/gen_vectors_v2.py`` from the repository root to rewrite the file;
``--check`` exits 1 when the committed file differs. Like gen_vectors.py (the v1 file, which
stays unchanged), this re-implements SPEC §10.2 and §10.5 from the text on purpose and
imports neither kernel nor curriculum, so the tests that read these vectors compare two
independent implementations. The Merkle tree here is the literal one (pad the leaf row
with bytes32(0) to 2^D, hash pairs up to one node); curriculum.records skips padding work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eth_hash.auto import keccak

OUT = Path(__file__).resolve().parents[1] / "vectors" / "sampling_v2.json"
TAG = b"chainbeasts/sample-key/v2"  # 25 ASCII bytes
RECORD_SIZE = 28
U32 = 1 << 32


def label(text: str) -> bytes:
    """A fixed 32-byte test value: keccak256 of an ASCII label."""
    return keccak(text.encode())


def hx(b: bytes) -> str:
    return "0x" + b.hex()


def sample_key(seed_core: bytes, secret: bytes) -> bytes:
    assert len(TAG) == 25 and len(seed_core) == 32 and len(secret) == 32
    return keccak(TAG + seed_core + secret)


def sample_index(key: bytes, g: int, n: int) -> int:
    assert 0 <= g < U32 and n >= 1
    return int.from_bytes(keccak(key + g.to_bytes(4, "big")), "big") % n


def synthetic_record(n: int, i: int) -> bytes:
    """Record i of the synthetic LEN-n test dataset: keccak256(ascii("record <n>/<i>"))[0:28]."""
    return label(f"record {n}/{i}")[:RECORD_SIZE]


def depth(n: int) -> int:
    d = 0
    while (1 << d) < n:
        d += 1
    return d


def tree(records: list[bytes]) -> list[list[bytes]]:
    """All rows of the padded tree, leaves first."""
    rows = [[keccak(r) for r in records] + [bytes(32)] * ((1 << depth(len(records))) - len(records))]
    while len(rows[-1]) > 1:
        row = rows[-1]
        rows.append([keccak(row[i] + row[i + 1]) for i in range(0, len(row), 2)])
    return rows


def records_root(n: int, root: bytes) -> bytes:
    return keccak(n.to_bytes(4, "big") + root)


def proof(rows: list[list[bytes]], i: int) -> list[str]:
    return [hx(rows[level][(i >> level) ^ 1]) for level in range(len(rows) - 1)]


def dataset_case(n: int, proof_indices: list[int]) -> dict[str, object]:
    records = [synthetic_record(n, i) for i in range(n)]
    rows = tree(records)
    root = rows[-1][0]
    return {
        "dataset_len": n,
        "depth": depth(n),
        "records": [hx(r) for r in records] if n <= 5 else "record i = keccak256(ascii('record <LEN>/<i>'))[0:28]",
        "merkle_root": hx(root),
        "records_root": hx(records_root(n, root)),
        "proofs": [{"index": i, "record": hx(records[i]), "leaf": hx(rows[0][i]), "path": proof(rows, i)} for i in proof_indices],
    }


def build() -> dict[str, object]:
    """The full vector document."""
    seeds = [bytes(32), b"\xff" * 32, label("seed_core/0"), label("seed_core/1")]
    secrets_ = [bytes(32), label("S_owner/0"), label("S_owner/1"), b"\xab" * 32]  # the last: equal 8-byte words (v1 folds it to 0)
    keys = [{"seed_core": hx(s), "secret": hx(o), "sample_key": hx(sample_key(s, o))} for s in seeds for o in secrets_]
    steps = [0, 1, 127, 128, 1000, 1 << 31, U32 - 129, U32 - 128, U32 - 2, U32 - 1]
    lens = [1, 2, 3, 28, 332, 1000, 1 << 17]
    cases = []
    for i, seed in enumerate(seeds[2:]):
        for j, sec in enumerate(secrets_):
            key = sample_key(seed, sec)
            for k, g in enumerate(steps):
                n = lens[(i * 7 + j * 3 + k) % len(lens)]
                digest = keccak(key + g.to_bytes(4, "big"))
                cases.append({"seed_core": hx(seed), "secret": hx(sec), "global_step": g, "dataset_len": n,
                              "sample_key": hx(key), "digest": hx(digest), "sample_index": int.from_bytes(digest, "big") % n})
    for n in lens:
        key = sample_key(label("seed_core/0"), label("S_owner/0"))
        cases.append({"seed_core": hx(label("seed_core/0")), "secret": hx(label("S_owner/0")), "global_step": U32 - 1,
                      "dataset_len": n, "sample_key": hx(key), "digest": hx(keccak(key + (U32 - 1).to_bytes(4, "big"))),
                      "sample_index": sample_index(key, U32 - 1, n)})
    win_seed, win_secret, first, n = label("seed_core/window"), label("S_owner/window"), U32 - 64, 332
    win_key = sample_key(win_seed, win_secret)
    window = {"seed_core": hx(win_seed), "secret": hx(win_secret), "first_step": first, "dataset_len": n,
              "sample_key": hx(win_key), "sample_indices": [sample_index(win_key, (first + j) % U32, n) for j in range(128)]}
    datasets = [dataset_case(1, [0]), dataset_case(2, [0, 1]), dataset_case(3, [0, 1, 2]), dataset_case(5, [0, 3, 4]),
                dataset_case(332, [0, 1, 255, 256, 331])]
    # One private micro-step end to end: g -> sampleIdx -> the record and its path in the LEN-332 dataset.
    step_seed, step_secret, step_g = label("seed_core/step"), label("S_owner/step"), 4096
    step_key = sample_key(step_seed, step_secret)
    step_idx = sample_index(step_key, step_g, 332)
    rows = tree([synthetic_record(332, i) for i in range(332)])
    private_step = {"seed_core": hx(step_seed), "secret": hx(step_secret), "global_step": step_g, "dataset_len": 332,
                    "sample_key": hx(step_key), "sample_index": step_idx, "record": hx(synthetic_record(332, step_idx)),
                    "path": proof(rows, step_idx), "records_root": hx(records_root(332, rows[-1][0]))}
    return {
        "description": "ChainBeasts SPEC §10.2 (R_dataset, Merkle paths) and §10.5 (v2 sample key, sampleIdx); "
                       "bytes as 0x-hex, integers as JSON integers; paths are sibling hashes bottom-up",
        "generator": "tests/curriculum/gen_vectors_v2.py",
        "sample_key_tag": hx(TAG),
        "sample_keys": keys,
        "sample_index": cases,
        "window": window,
        "datasets": datasets,
        "private_step": private_step,
    }


def render() -> str:
    """The exact text of sampling_v2.json."""
    return json.dumps(build(), indent=1) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")
