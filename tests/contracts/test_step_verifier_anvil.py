"""StepVerifier on anvil (a second EVM, revm): most of the differential cases, the largest legal
state against the reference, and the gas targets of issue 12 measured on real transactions.

The same committed bytecode as on py-evm; anvil runs the largest state in well under a second where
py-evm takes tens of seconds, so the largest-state cases run here.
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
from step_verifier_chain import AnvilVerifier, Case

TARGET_DEFAULT = 3_000_000
TARGET_LARGEST = 25_000_000
LARGEST = KernelParams(slot_width=192, n_slots=8, epoch_steps=128)
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def _anvil_available() -> bool:
    from devnet.anvil import find_anvil
    from devnet.errors import ConfigError

    try:
        find_anvil()
    except ConfigError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _anvil_available(), reason="anvil binary missing: run `cd contracts && npm ci` (CI does)")


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilVerifier]:
    v = AnvilVerifier(str(tmp_path_factory.mktemp("anvil")))
    yield v
    v.stop()


def busy_state(params: KernelParams, mask: int, seed: int, global_step: int) -> bytes:
    """A state in epoch >= 6 (every head) whose active units all have h > 0 (b1 8000..12000, genesis-range
    weights): the most rows and columns a step visits."""
    g = genesis(keccak(b"anvil %d" % seed), params, spec_version=2)
    rng = np.random.default_rng(seed)
    return replace(g, global_step=global_step, active_mask=mask, lr_shift=seed % 25,
                   b1=rng.integers(8000, 12000, size=g.b1.shape)).to_bytes()


def check(anvil: AnvilVerifier, case: Case) -> None:
    out = anvil.call(case.pre, case.w, case.sample())
    assert out.ok, f"reverted: 0x{out.revert.hex()}"
    assert out.pre_hash == keccak(case.pre)[:16]
    assert out.post_hash == case.expected()


# Most of a run's differential cases (test_step_verifier.py's docstring says why): anvil answers a step in
# about a millisecond, so a case costs what drawing it and the reference cost.
@settings(max_examples=600, deadline=None, suppress_health_check=SLOW)
@given(case=cases(private=st.just(False)))
def test_anvil_public_steps_match_reference(anvil: AnvilVerifier, case: Case) -> None:
    check(anvil, case)


@settings(max_examples=400, deadline=None, suppress_health_check=SLOW)
@given(case=cases(private=st.just(True)))
def test_anvil_private_steps_match_reference(anvil: AnvilVerifier, case: Case) -> None:
    check(anvil, case)


@pytest.mark.parametrize("j", [0, 127])
def test_largest_state_matches_reference_within_gas(anvil: AnvilVerifier, j: int) -> None:
    pre = busy_state(LARGEST, 0xFF, 3 + j, 6 * 128 + j)
    state = Case(pre, WindowStart(0xFF, 0, bytes(32))).state
    case = Case(replace(state, step=j, loss_acc=5 * j, loss_sum_prev=1 << 40).to_bytes(), WindowStart(0xFF, 0, bytes(32)))
    out = anvil.call(case.pre, case.w)
    assert out.ok and out.post_hash == case.expected()
    assert anvil.transact(case.pre, case.w) < TARGET_LARGEST


def test_default_state_gas(anvil: AnvilVerifier) -> None:
    for seed in range(3):
        case = Case(busy_state(DEFAULT_PARAMS, DEFAULT_MASK, seed, 6 * 512 + seed), WindowStart(DEFAULT_MASK, 6, bytes(32)))
        assert anvil.call(case.pre, case.w).post_hash == case.expected()
        assert anvil.transact(case.pre, case.w) <= TARGET_DEFAULT
