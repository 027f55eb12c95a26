"""Generator of tests/vectors/kernel.json: the committed spec_version 1 kernel test vectors (frozen).

Run ``python -m tests.kernel.kernel_vectors --write`` to regenerate on purpose (only when the
spec version changes); tests/kernel/test_vectors.py checks the file against this generator
and against the numpy reference.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from kernel.board import encode_record
from kernel.hashing import keccak256
from kernel.heads import HEAD_ATTACK, HEAD_BLOCK, HEAD_MOVE, head_grads
from kernel.net_numpy import NumpyBackend, digest, forward
from kernel.observe import observe
from kernel.params import KernelParams
from kernel.prng import fold64, splitmix64
from kernel.rules import labels
from kernel.sources import PublicSource, public_board
from kernel.context import WindowContext
from kernel.state import ZERO32, genesis
from kernel.train import offline_epoch_seed, train_window
from kernel.window_inputs import WindowInputs, unit_mask

VERSION = 1  # these vectors pin spec_version 1, which never changes
PATH = Path(__file__).resolve().parents[1] / "vectors" / "kernel.json"

# (name, seed_core, params kwargs, per-window (active_mask, lr_shift) schedule, start global_step)
# Genesis always has activeMask 0b0011 and lrShift 6 (SPEC §6.4).
RUNS = [
    ("default", bytes(range(32)), {}, [(3, 6)] * 6, 0),
    ("zero-seed", bytes(32), {}, [(3, 6), (3, 6), (7, 5), (7, 5), (7, 7), (15, 7)], 0),
    ("fast-epochs", keccak256(b"fast-epochs"), {"epoch_steps": 128}, [(3, 6)] * 4 + [(7, 6)] * 4, 0),
    ("wide-slots", keccak256(b"wide"), {"slot_width": 8, "n_slots": 8, "epoch_steps": 256},
     [(7, 5)] * 3 + [(0x0F, 5)] * 3 + [(0x1F, 4)] * 2, 0),
    # lr_shift 0 (the k = 0 branch) drives weights, activations and gradients into saturation
    ("saturating", keccak256(b"hot"), {"epoch_steps": 128}, [(3, 0)] * 8, 0),
    # starts 2 windows before the u32 wrap of globalStep (epoch index 8388607 there)
    ("wrap", keccak256(b"wrap"), {}, [(3, 6)] * 4, 2**32 - 256),
]
PRIVATE_SECRET = keccak256(b"chainbeasts vector secret")


def _private_dataset() -> bytes:
    from curriculum import encode_dataset
    from curriculum.importers import read_csv

    boards = read_csv(Path(__file__).resolve().parents[2] / "curriculum" / "examples" / "battles.csv")
    return encode_dataset(boards[:40])


def _run(name, seed, kw, schedule, start_step, source, commitment=ZERO32) -> dict:
    params = KernelParams(**kw)
    st = genesis(seed, params, dataset_commitment=commitment, spec_version=VERSION)
    entry = {"name": name, "seed_core": "0x" + seed.hex(), "params": kw,
             "genesis_h128": "0x" + st.h128().hex(),
             "genesis_state_keccak": "0x" + keccak256(st.to_bytes()).hex(), "windows": []}
    if start_step:
        # not a genesis: the genesis state with globalStep replaced (parent_h128 stays zero)
        st = replace(st, global_step=start_step)
        entry["start_global_step"] = start_step
        entry["start_h128"] = "0x" + st.h128().hex()
    for k, (mask, shift) in enumerate(schedule):
        epoch_seed = offline_epoch_seed(seed, st.global_step // params.epoch_steps)
        r = train_window(st, source, epoch_seed=epoch_seed, active_mask=mask, lr_shift=shift)
        entry["windows"].append({"window": k, "active_mask": mask, "lr_shift": shift,
                                 "epoch_seed": "0x" + epoch_seed.hex(), "loss_sum": r.loss_sum,
                                 "word": r.payload.hex()})
        st = r.state
    return entry


def run_vectors() -> list[dict]:
    out = [_run(name, seed, kw, schedule, start, PublicSource()) for name, seed, kw, schedule, start in RUNS]
    from curriculum import PrivateDatasetSource, decode_dataset

    data = _private_dataset()
    source = PrivateDatasetSource(decode_dataset(data), PRIVATE_SECRET)
    entry = _run("private", keccak256(b"private"), {}, [(3, 6)] * 3, 0, source, keccak256(data))
    entry["dataset_file"] = "0x" + data.hex()
    entry["owner_secret"] = "0x" + PRIVATE_SECRET.hex()
    out.append(entry)
    return out


def step_vectors() -> list[dict]:
    """Single micro-steps from genesis with every intermediate value."""
    out = []
    seed = keccak256(b"step-vectors")
    st = genesis(seed, spec_version=VERSION)
    p = st.params
    ctx = WindowContext(seed, st.h128(), seed, 0)
    umask = unit_mask(st.active_mask, p.slot_width, p.n_slots)
    for j, heads in ((0, HEAD_MOVE), (1, HEAD_MOVE | HEAD_ATTACK), (2, HEAD_MOVE | HEAD_ATTACK | HEAD_BLOCK),
                     (3, HEAD_MOVE | HEAD_ATTACK | HEAD_BLOCK), (5, HEAD_MOVE | HEAD_ATTACK | HEAD_BLOCK)):
        board = public_board(ctx, j)
        x = np.array(observe(board), dtype=np.int64)
        lab = labels(board)
        a1, h, z = forward(st.w1, st.b1, st.w2, st.b2, x, umask)
        gz, loss = head_grads([int(v) for v in z], lab.move, lab.attack, lab.block, heads)
        inp = WindowInputs(x[None, :], np.array([lab.move]), np.array([lab.attack]), np.array([lab.block]),
                           heads, umask, st.lr_shift)
        outc = NumpyBackend().run_window((st.w1, st.b1, st.w2, st.b2), inp, want_digests=True)
        out.append({
            "seed_core": "0x" + seed.hex(), "g": j, "heads": heads, "lr_shift": st.lr_shift,
            "record": "0x" + encode_record(board).hex(),
            "observation": [int(v) for v in x],
            "labels": {"move": lab.move, "attack": lab.attack, "block": lab.block},
            "hidden": [int(v) for v in h], "logits": [int(v) for v in z],
            "grad_logits": gz, "loss": loss,
            "update_digest": "0x" + outc.digests[0].hex(),
        })
        assert outc.digests[0] == digest(*outc.weights)
    return out


def prng_vectors() -> dict:
    xs = [0, 1, 0x9E3779B97F4A7C15, (1 << 64) - 1, 0x0123456789ABCDEF]
    return {
        "splitmix64": [{"x": hex(x), "out": hex(splitmix64(x))} for x in xs],
        "fold64": [{"bytes": "0x" + b.hex(), "out": hex(fold64(b))} for b in (bytes(range(32)), bytes(range(16)), b"\xff" * 8)],
    }


def build() -> dict:
    return {"spec_version": VERSION, "prng": prng_vectors(), "steps": step_vectors(), "runs": run_vectors()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="overwrite tests/vectors/kernel.json")
    args = ap.parse_args()
    data = build()
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if args.write:
        PATH.write_text(text)
        print(f"wrote {PATH}")
    else:
        print(text)


if __name__ == "__main__":
    main()
