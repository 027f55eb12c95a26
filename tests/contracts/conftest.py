"""Fixtures for the contract tests: one embedded devnet per module, reverted after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import devnet
from chain_helpers import Net


@pytest.fixture(scope="module")
def _module_net() -> Iterator[devnet.EmbeddedDevnet]:
    yield devnet.start(accounts=10)


@pytest.fixture
def net(_module_net: devnet.EmbeddedDevnet) -> Iterator[Net]:
    """A fresh-looking devnet: state is snapshotted before the test and reverted after it."""
    tester = _module_net.tester
    snap = tester.take_snapshot()
    _module_net.chain.sender._nonces.clear()
    yield Net(_module_net)
    tester.revert_to_snapshot(snap)
    _module_net.chain.sender._nonces.clear()
