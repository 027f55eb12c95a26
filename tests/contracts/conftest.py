"""Fixtures for the contract tests: one embedded devnet per module, reverted after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import devnet
from chain_helpers import Net
from devnet.season import SPEC_VERSIONS


@pytest.fixture(scope="module")
def _module_net() -> Iterator[devnet.EmbeddedDevnet]:
    yield devnet.start(accounts=10)


@pytest.fixture(scope="module")
def _module_nets(_module_net: devnet.EmbeddedDevnet) -> dict[int, devnet.EmbeddedDevnet]:
    """One devnet per spec version in this module (the default one reused), started when first asked for."""
    return {_module_net.chain.spec_version(): _module_net}


def _fresh(raw: devnet.EmbeddedDevnet) -> Iterator[Net]:
    tester = raw.tester
    snap = tester.take_snapshot()
    raw.chain.sender._nonces.clear()
    yield Net(raw)
    tester.revert_to_snapshot(snap)
    raw.chain.sender._nonces.clear()


@pytest.fixture
def net(_module_net: devnet.EmbeddedDevnet) -> Iterator[Net]:
    """A fresh-looking devnet: state is snapshotted before the test and reverted after it."""
    yield from _fresh(_module_net)


@pytest.fixture(params=SPEC_VERSIONS, ids=[f"v{v}" for v in SPEC_VERSIONS])
def versioned_net(request: pytest.FixtureRequest, _module_nets: dict[int, devnet.EmbeddedDevnet]) -> Iterator[Net]:
    """Like ``net``, once per season spec version (a deployment hatching beasts of that version)."""
    version = request.param
    if version not in _module_nets:
        _module_nets[version] = devnet.start(accounts=10, spec_version=version)
    yield from _fresh(_module_nets[version])
