"""Generate tests/vectors/sampling.json: splitMix64, fold64 and sampleIdx vectors (SPEC §3, §4.1).

Run ``python tests/curriculum/gen_vectors.py`` from the repository root to rewrite the file;
``--check`` exits 1 when the committed file differs. The generator re-implements the
formulas from the spec text on purpose (it does not import kernel.prng or curriculum),
so the tests that read these vectors compare two independent implementations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eth_hash.auto import keccak

OUT = Path(__file__).resolve().parents[1] / "vectors" / "sampling.json"
M = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


def splitmix64(x: int) -> int:
    return mix64((x + GAMMA) & M)


def fold64(b: bytes) -> int:
    assert b and len(b) % 8 == 0
    acc = 0
    for i in range(0, len(b), 8):
        acc ^= int.from_bytes(b[i : i + 8], "big")
    return acc


def h64(v: int) -> str:
    return f"0x{v:016x}"


def label(text: str) -> bytes:
    """A fixed 32-byte test value: keccak256 of an ASCII label."""
    return keccak(text.encode())


def sample_case(seed_core: bytes, secret: bytes, g: int, n: int) -> dict[str, object]:
    key = fold64(seed_core) ^ fold64(secret)
    mixed = splitmix64(key ^ g)
    return {
        "seed_core": "0x" + seed_core.hex(),
        "secret": "0x" + secret.hex(),
        "global_step": g,
        "dataset_len": n,
        "fold_seed_core": h64(fold64(seed_core)),
        "fold_secret": h64(fold64(secret)),
        "splitmix_input": h64(key ^ g),
        "splitmix_output": h64(mixed),
        "sample_index": mixed % n,
    }


def build() -> dict[str, object]:
    """The full vector document."""
    xs = [0, 1, 2, GAMMA, M, (1 << 64) - GAMMA, 0x0123456789ABCDEF, 0xFFFFFFFF, 1 << 32, 1 << 63]
    streams = []
    for seed in (0, 1, 0xDEADBEEF):
        state, outs = seed, []
        for _ in range(5):
            state = (state + GAMMA) & M
            outs.append(h64(mix64(state)))
        streams.append({"seed": h64(seed), "outputs": outs})
    folds = [
        bytes(8),
        bytes(range(8)),
        bytes(range(16)),
        bytes(range(32)),
        b"\xff" * 32,
        label("fold64/a"),
        label("fold64/b")[:16],
    ]
    seeds = [bytes(32), b"\xff" * 32, label("seed_core/0"), label("seed_core/1")]
    secrets_ = [bytes(32), label("S_owner/0"), label("S_owner/1")]
    steps = [0, 1, 127, 128, 1000, 1 << 31, (1 << 32) - 129, (1 << 32) - 128, (1 << 32) - 2, (1 << 32) - 1]
    lens = [1, 2, 3, 28, 332, 1000, 131072]
    cases = []
    for i, seed in enumerate(seeds):
        for j, sec in enumerate(secrets_):
            for k, g in enumerate(steps):
                n = lens[(i * 7 + j * 3 + k) % len(lens)]
                cases.append(sample_case(seed, sec, g, n))
    for n in lens + [(1 << 32) + 15, M]:
        cases.append(sample_case(label("seed_core/0"), label("S_owner/0"), (1 << 32) - 1, n))
    win_seed, win_secret, first, n = label("seed_core/window"), label("S_owner/window"), (1 << 32) - 64, 332
    key = fold64(win_seed) ^ fold64(win_secret)
    window = {
        "seed_core": "0x" + win_seed.hex(),
        "secret": "0x" + win_secret.hex(),
        "first_step": first,
        "dataset_len": n,
        "sample_indices": [splitmix64(key ^ ((first + j) & 0xFFFFFFFF)) % n for j in range(128)],
    }
    return {
        "description": "ChainBeasts SPEC §3 (splitMix64, fold64) and §4.1 (private sampleIdx); "
                       "64-bit values as 0x-hex, others as JSON integers",
        "generator": "tests/curriculum/gen_vectors.py",
        "splitmix64": [{"x": h64(x), "out": h64(splitmix64(x))} for x in xs],
        "stream": streams,
        "fold64": [{"data": "0x" + b.hex(), "out": h64(fold64(b))} for b in folds],
        "sample_index": cases,
        "window": window,
    }


def render() -> str:
    """The exact text of sampling.json."""
    return json.dumps(build(), indent=1) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        sys.exit(0 if OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")
