"""StepVerifier against the reference kernel.step.micro_step, bit for bit, on py-evm (SPEC v2, V2-6).

Every generated case runs the committed StepVerifier bytecode in py-evm and compares (preHash, postHash)
with h128 of the pre-state and of the reference's post-state (bytes16(0) where the reference finds the
window start illegal). Most cases use small networks (slot_width 1-4), where the board, the labels and the
counters cost the same as in a large one; a few use the default shape and one the largest legal state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


@settings(max_examples=700, deadline=None, suppress_health_check=SLOW)
@given(case=cases(private=st.just(False)))
def test_public_steps_match_reference(chain: VerifierChain, case: Case) -> None:
    check(chain, case)


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(case=cases(private=st.just(True)))
def test_private_steps_match_reference(chain: VerifierChain, case: Case) -> None:
    check(chain, case)


@settings(max_examples=6, deadline=None, suppress_health_check=SLOW)
@given(case=cases(widths=st.just(16), n_slots=st.just(4)))
def test_default_shape_steps_match_reference(chain: VerifierChain, case: Case) -> None:
    check(chain, case)
