"""Generator of tests/vectors/kernel_v2.json: the committed spec_version 2 kernel test vectors.

``python -m tests.kernel.kernel_v2_vectors --write`` regenerates the file on purpose (only when
spec_version 2 changes, e.g. BLOCK_POS_WEIGHT); ``--check`` exits 1 when the file differs from
what the generator computes. tests/kernel/test_vectors_v2.py checks the file against this
generator and the numpy reference.

What it holds:
* ``steps``: single micro-steps (``kernel.step.micro_step``) with every intermediate value: at a
  checkpoint in each head epoch, mid-window, the window's last step, a growth spurt, a
  "block"-labelled board (the weighted block head), lr_shift 0 on saturating weights (drawn from a
  stream, and given in full as ``pre_state``);
* ``illegal``: window starts that have no post-state;
* ``runs``: windows trained from v2 genesis states (the same schedules as the v1 vectors) with
  their words, and for the first window of each run the 129 step-state hashes;
* a private run: a dataset file, owner secret, its records root, sampled with the v2 key.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from kernel.hashing import keccak256
from kernel.heads import BLOCK_POS_WEIGHT
from kernel.params import KernelParams
from kernel.prng import SplitMix64Stream, fold64
from kernel.sources import PublicSource
from kernel.state import ZERO32, KernelState, genesis
from kernel.step import IllegalTransition, WindowStart, micro_step, window_step_hashes
from kernel.train import offline_epoch_seed, train_window
from tests.kernel.kernel_vectors import PRIVATE_SECRET, RUNS, _private_dataset

VERSION = 2
PATH = Path(__file__).resolve().parents[1] / "vectors" / "kernel_v2.json"


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _state_keys(st: KernelState) -> dict:
    return {"h128": _hex(st.h128()), "keccak": _hex(keccak256(st.to_bytes())), "step": st.step,
            "global_step": st.global_step, "window": st.window, "flags": st.flags, "loss_acc": st.loss_acc,
            "loss_sum_prev": st.loss_sum_prev}


def _window_start(st: KernelState, mask: int | None = None, shift: int | None = None) -> WindowStart:
    e = st.params.epoch_of_step(st.global_step)
    return WindowStart(st.active_mask if mask is None else mask, st.lr_shift if shift is None else shift,
                       offline_epoch_seed(st.seed_core, e))


SATURATING_VALUES = (-32768, -32767, 32766, 32767, 0, 1)
SATURATING_TAG = b"v2-saturating"


def _saturated(st: KernelState) -> KernelState:
    """``st`` with every weight replaced, in canonical order (W1 row-major, b1, W2, b2), by
    SATURATING_VALUES[r mod 6] for the successive draws r of stream(fold64(keccak256("v2-saturating")))."""
    rng = SplitMix64Stream(fold64(keccak256(SATURATING_TAG)))
    out = st.copy()
    for a in (out.w1, out.b1, out.w2, out.b2):
        flat = [SATURATING_VALUES[rng.next() % len(SATURATING_VALUES)] for _ in range(a.size)]
        a[...] = np.array(flat, dtype=np.int64).reshape(a.shape)
    return out


def _advance(st: KernelState, w: WindowStart, n: int) -> KernelState:
    src = PublicSource()
    for _ in range(n):
        st = micro_step(st, src, w).state
    return st


def _first_block_step(st: KernelState, w: WindowStart) -> int:
    """The first micro-step of the window after ``st`` whose board is labelled "block"."""
    s = st
    for j in range(128):
        r = micro_step(s, PublicSource(), w)
        if r.labels.block:
            return j
        s = r.state
    raise AssertionError("no block board in the window")


def step_cases() -> list[tuple[str, KernelState, WindowStart]]:
    """(name, pre-state, window start) of every step vector."""
    seed = keccak256(b"v2-step-vectors")
    p128 = KernelParams(epoch_steps=128)
    g = genesis(seed, p128)
    out = []
    for epoch in (0, 3, 6):
        st = replace(g, global_step=epoch * 128)
        out.append((f"checkpoint-epoch{epoch}", st, _window_start(st)))
    st6 = replace(g, global_step=6 * 128)
    w6 = _window_start(st6)
    out.append(("mid-window-step5", _advance(st6, w6, 5), w6))
    out.append(("last-step-127", _advance(st6, w6, 127), w6))
    out.append(("block-labelled", _advance(st6, w6, _first_block_step(st6, w6)), w6))
    out.append(("growth-spurt", st6, _window_start(st6, mask=0b0111, shift=5)))
    sat = _saturated(st6)
    out.append(("saturating-lr0", sat, _window_start(sat, shift=0)))
    wrap = replace(genesis(seed), global_step=2**32 - 1)
    out.append(("wrap-first-step", wrap, _window_start(wrap)))
    return out


def step_vectors() -> list[dict]:
    out = []
    for name, pre, w in step_cases():
        r = micro_step(pre, PublicSource(), w)
        t = r.trace
        out.append({
            "name": name, "seed_core": _hex(pre.seed_core), "params": {"epoch_steps": pre.params.epoch_steps},
            "pre": _state_keys(pre),
            "window_start": {"active_mask": w.active_mask, "lr_shift": w.lr_shift, "epoch_seed": _hex(w.epoch_seed)},
            "j": r.context.j, "g": r.context.g, "heads": r.context.heads, "record": _hex(r.record),
            "observation": r.observation,
            "labels": {"move": r.labels.move, "attack": r.labels.attack, "block": r.labels.block},
            "hidden": [int(v) for v in t.h], "logits": r.logits, "grad_logits": [int(v) for v in t.gz],
            "loss": r.loss, "post": _state_keys(r.state),
        })
        if name == "saturating-lr0":  # its pre-state in full too: the exact calldata a verifier is given
            out[-1]["pre_state"] = _hex(pre.to_bytes())
    return out


def illegal_vectors() -> list[dict]:
    st = genesis(keccak256(b"v2-illegal"))
    out = []
    for mask, shift in ((0b0011, 25), (0, 6), (0b10011, 6), (0b0001, 6), (0b1111, 6)):
        w = WindowStart(mask, shift, st.seed_core)
        try:
            micro_step(st, PublicSource(), w)
        except IllegalTransition as exc:
            out.append({"pre_h128": _hex(st.h128()), "active_mask": mask, "lr_shift": shift,
                        "kind": exc.problem.kind.value})
        else:
            raise AssertionError(f"window start {mask:#x}/{shift} should be illegal")
    return out


def _run(name, seed, kw, schedule, start_step, source, root=ZERO32) -> dict:  # type: ignore[no-untyped-def]
    params = KernelParams(**kw)
    st = genesis(seed, params, dataset_commitment=root, spec_version=VERSION)
    entry = {"name": name, "seed_core": _hex(seed), "params": kw, "genesis_h128": _hex(st.h128()),
             "genesis_state_keccak": _hex(keccak256(st.to_bytes())), "windows": []}
    if start_step:
        st = replace(st, global_step=start_step)
        entry["start_global_step"] = start_step
        entry["start_h128"] = _hex(st.h128())
    for k, (mask, shift) in enumerate(schedule):
        epoch_seed = offline_epoch_seed(seed, st.global_step // params.epoch_steps)
        r = train_window(st, source, epoch_seed=epoch_seed, active_mask=mask, lr_shift=shift)
        row = {"window": k, "active_mask": mask, "lr_shift": shift, "epoch_seed": _hex(epoch_seed),
               "loss_sum": r.loss_sum, "word": r.payload.hex()}
        if k == 0:
            hashes = window_step_hashes(st, source, WindowStart(mask, shift, epoch_seed))
            assert hashes[-1] == r.payload.h128
            row["step_hashes"] = [_hex(h) for h in hashes]
        entry["windows"].append(row)
        st = r.state
    return entry


def run_vectors() -> list[dict]:
    out = [_run(name, seed, kw, schedule, start, PublicSource()) for name, seed, kw, schedule, start in RUNS]
    from curriculum import PrivateDatasetSource, decode_dataset

    data = _private_dataset()
    source = PrivateDatasetSource(decode_dataset(data), PRIVATE_SECRET, spec_version=VERSION)
    root = source.records_root
    entry = _run("private", keccak256(b"private"), {}, [(3, 6)] * 3, 0, source, root)
    entry["dataset_file"] = _hex(data)
    entry["dataset_commitment"] = _hex(keccak256(data))
    entry["records_root"] = _hex(root)
    entry["owner_secret"] = _hex(PRIVATE_SECRET)
    out.append(entry)
    return out


def build() -> dict:
    return {"spec_version": VERSION, "block_pos_weight": BLOCK_POS_WEIGHT, "steps": step_vectors(),
            "illegal": illegal_vectors(), "runs": run_vectors()}


def render(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="overwrite tests/vectors/kernel_v2.json")
    mode.add_argument("--check", action="store_true", help="exit 1 when the committed file differs")
    args = ap.parse_args(argv)
    text = render(build())
    if args.write:
        PATH.write_text(text)
        print(f"wrote {PATH}")
    elif args.check:
        same = PATH.exists() and PATH.read_text() == text
        print(f"{PATH}: {'up to date' if same else 'DIFFERS from the generator'}")
        return 0 if same else 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
