"""Real kernel step states for the bisection tests: honest windows, and a trainer that lies in one micro-step.

``lying_states(start, source, w, wrong_at=77)`` is the window a trainer gets wrong in exactly one
micro-step: step state 77 is corrupted (one weight nudged) and states 78..128 are recomputed
honestly from it, so every hash from 77 on differs and the one-step verifier catches step 76 -> 77.
"""

from __future__ import annotations

from curriculum import PrivateDatasetSource, decode_dataset
from kernel.context import SampleSource
from kernel.hashing import keccak256
from kernel.params import DEFAULT_PARAMS
from kernel.sources import PublicSource
from kernel.state import KernelState, genesis
from kernel.step import WindowStart, micro_step, window_step_states
from tests.validator.windows import SECRET, example_dataset

MASK, LR_SHIFT = 3, 6
WRONG_AT = 77


def v2_genesis(seed: bytes = keccak256(b"bisection tests: public beast"), records_root: bytes | None = None) -> KernelState:
    """A spec-version-2 genesis (records root for a private beast)."""
    kw = {"dataset_commitment": records_root} if records_root is not None else {}
    return genesis(seed, DEFAULT_PARAMS, spec_version=2, **kw)


def nudge(state: KernelState) -> KernelState:
    """``state`` with one weight off by one (a wrong step state that still parses)."""
    bad = state.copy()
    v = int(bad.w1[0, 0])
    bad.w1[0, 0] = v + 1 if v < 1000 else v - 1
    return bad


def lying_states(start: KernelState, source: SampleSource, w: WindowStart, wrong_at: int = WRONG_AT) -> list[KernelState]:
    """The 129 states of a window wrong in exactly micro-step ``wrong_at - 1`` -> ``wrong_at`` (module docstring)."""
    truth = window_step_states(start, source, w)
    states = [*truth[:wrong_at], nudge(truth[wrong_at])]
    for _ in range(wrong_at, 128):
        states.append(micro_step(states[-1], source, w).state)
    return states


def private_source(secret: bytes = SECRET) -> tuple[PrivateDatasetSource, bytes]:
    """A spec-version-2 private source over the example dataset, and the dataset file."""
    data = example_dataset()
    return PrivateDatasetSource(decode_dataset(data, max_bytes=len(data)), secret, spec_version=2), data


def invalid_dataset(bad_at: int = 1) -> tuple[bytes, bytes]:
    """A dataset file (one valid zstd frame, a right header) whose record ``bad_at`` is not a valid board
    (self hp 0), and the records root of its records: what an owner who bypassed its node could hatch with."""
    from curriculum.dataset import FORMAT_VERSION, MAGIC, compress_payload
    from curriculum.records import records_tree

    good = decode_dataset(example_dataset(), max_bytes=1 << 20).records
    recs = [good[i * 28 : (i + 1) * 28] for i in range(3)]
    recs[bad_at] = recs[bad_at][:18] + b"\x00" + recs[bad_at][19:]
    header = MAGIC + FORMAT_VERSION.to_bytes(2, "big") + (28).to_bytes(2, "big") + len(recs).to_bytes(4, "big")
    return compress_payload(header + b"".join(recs)), records_tree(recs).records_root


def public_window(seed: bytes | None = None) -> tuple[KernelState, WindowStart]:
    g = v2_genesis() if seed is None else v2_genesis(seed)
    return g, WindowStart(MASK, LR_SHIFT, g.seed_core)


__all__ = ["LR_SHIFT", "MASK", "WRONG_AT", "PublicSource", "invalid_dataset", "lying_states", "nudge", "private_source", "public_window",
           "v2_genesis"]
