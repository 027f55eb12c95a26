"""StepVerifier against the reference kernel.step.micro_step, bit for bit, on py-evm (SPEC v2, V2-6).

Every generated case runs the committed StepVerifier bytecode in py-evm and compares (preHash, postHash)
with h128 of the pre-state and of the reference's post-state (bytes16(0) where the reference finds the
window start illegal). Most cases use small networks (slot_width 1-4), where the board, the labels and the
counters cost the same as in a large one; a few use the default shape and one the largest legal state.

py-evm interprets a step in about 50 ms, anvil (revm) in about 1, so most of each run's differential cases
run on anvil (test_step_verifier_anvil.py: 600 public + 400 private, the same generator) and 150 + 100
here keep py-evm, the devnet's EVM, checked against the reference on fresh draws every run (before
session 8: 700 + 300 here and 200 on anvil; together 1,250 a run now against 1,200).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.params import DEFAULT_PARAMS, KernelParams
from kernel.state import DEFAULT_MASK, genesis
from kernel.step import WindowStart
from step_verifier_cases import cases
from step_verifier_chain import Case, VerifierChain

SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


@pytest.fixture(scope="module")
def chain() -> Iterator[VerifierChain]:
    yield VerifierChain()


def check(chain: VerifierChain, case: Case) -> None:
    out = chain.call(case.pre, case.w, case.sample())
    assert out.ok, f"reverted: 0x{out.revert.hex()}"
    assert out.pre_hash == keccak(case.pre)[:16]
    assert out.post_hash == case.expected()


@settings(max_examples=150, deadline=None, suppress_health_check=SLOW)
@given(case=cases(private=st.just(False)))
def test_public_steps_match_reference(chain: VerifierChain, case: Case) -> None:
    check(chain, case)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(case=cases(private=st.just(True)))
def test_private_steps_match_reference(chain: VerifierChain, case: Case) -> None:
    check(chain, case)


@settings(max_examples=6, deadline=None, suppress_health_check=SLOW)
@given(case=cases(widths=st.just(16), n_slots=st.just(4)))
def test_default_shape_steps_match_reference(chain: VerifierChain, case: Case) -> None:
    check(chain, case)


def test_default_state_gas_on_pyevm(chain: VerifierChain) -> None:
    """Issue 12's target, on a whole transaction: at most 3,000,000 gas for the default state (every head
    training, every active unit with h > 0)."""
    g = genesis(keccak(b"gas"), DEFAULT_PARAMS, spec_version=2)
    pre = replace(g, global_step=6 * 512, b1=np.full(g.b1.shape, 9000)).to_bytes()
    w = WindowStart(DEFAULT_MASK, 6, bytes(32))
    assert chain.call(pre, w).post_hash == Case(pre, w).expected()
    assert chain.transact(pre, w) <= 3_000_000


def test_largest_state_on_pyevm(chain: VerifierChain) -> None:
    """One largest legal v2 state (slot_width 192, n_slots 8: the 1536-unit bound, every slot active, every unit h > 0) in py-evm."""
    params = KernelParams(slot_width=192, n_slots=8, epoch_steps=128)
    g = genesis(keccak(b"largest"), params, spec_version=2)
    rng = np.random.default_rng(5)
    pre = replace(g, global_step=6 * 128 + 3, step=3, active_mask=0xFF, lr_shift=4, loss_acc=99,
                  b1=rng.integers(8000, 12000, size=g.b1.shape)).to_bytes()
    w = WindowStart(0xFF, 0, bytes(32))
    out = chain.call(pre, w)
    assert out.ok and out.post_hash == Case(pre, w).expected()
    assert out.gas < 25_000_000
