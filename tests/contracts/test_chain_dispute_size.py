"""Issue 14 item 4: every dataset a season accepts can be disputed inside one transaction.

Osaka (EIP-7825) caps a transaction at 2^24 gas. ``openDispute`` carries the private dataset as
calldata, and a high-entropy (incompressible) dataset pays the EIP-7623 floor of 40 gas per byte,
so a dataset near 418 kB can never be mined. The season's ``maxDatasetBytes`` is bounded so that
the largest dataset it admits still fits with margin, and the bindings never ask for more than
2^24 gas. The gas is measured on the embedded chain with random bytes (the worst case).
"""

from __future__ import annotations

import random

import pytest


from curriculum.dataset import MAX_DATASET_BYTES
from devnet.bindings import Param
from devnet.season import DEFAULT_PARAMS, MAX_DATASET_BYTES_LIMIT
from devnet.tx import TX_GAS_CAP

from chain_helpers import make_word, raises_error

SECRET = b"\x42" * 32
MARGIN = 500_000  # gas left under the cap by the largest dataset a season may admit


def _incompressible(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def _dispute_gas(net, size: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(gas used, gas limit sent) of openDispute with a random dataset of ``size`` bytes."""
    owner, challenger = net.a[1], net.a[2]
    dataset = _incompressible(size)
    bid = net.hatch(owner, dataset, SECRET)
    net.cb.commit(owner, bid, make_word(0))
    result = net.cb.open_dispute_tx(challenger, bid, 0, dataset, SECRET)
    sent = int(net.cb.w3.eth.get_transaction(result.tx_hash)["gas"])
    return result.gas_used, sent


def test_the_cap_is_the_osaka_limit() -> None:
    assert TX_GAS_CAP == 2**24 == 16_777_216


def test_default_limit_is_within_the_bound() -> None:
    # the loaders' default is the season's default, and a season may raise it up to the bound only
    assert DEFAULT_PARAMS["max_dataset_bytes"] == MAX_DATASET_BYTES == 262_144 < MAX_DATASET_BYTES_LIMIT == 393_216


def test_bound_matches_the_contract(net) -> None:  # type: ignore[no-untyped-def]
    assert net.cb.registry.functions.MAX_DATASET_BYTES_LIMIT().call() == MAX_DATASET_BYTES_LIMIT


def test_bindings_never_ask_for_more_than_the_cap() -> None:
    from devnet.errors import ChainError
    from devnet.tx import calldata_floor, gas_limit

    data = _incompressible(MAX_DATASET_BYTES_LIMIT)
    assert gas_limit(15_000_000, data) <= TX_GAS_CAP  # the 20% margin is cut at the cap
    assert gas_limit(1_000, b"") == calldata_floor(b"") + 10_000 == 31_000
    assert gas_limit(100_000, b"") == 130_000
    too_big = _incompressible(430_000)  # its EIP-7623 floor alone is over 2^24
    with pytest.raises(ChainError, match="over the 16777216 gas cap"):
        gas_limit(1_000_000, too_big)


def test_largest_incompressible_dataset_is_disputable(net) -> None:  # type: ignore[no-untyped-def]
    # the season at its highest allowed limit; a dataset of exactly that many random bytes
    net.cb.queue_param_change(net.admin, Param.MAX_DATASET_BYTES, MAX_DATASET_BYTES_LIMIT)
    net.mine(10)
    assert net.cb.param(Param.MAX_DATASET_BYTES) == MAX_DATASET_BYTES_LIMIT
    used, sent = _dispute_gas(net, MAX_DATASET_BYTES_LIMIT)
    assert used <= TX_GAS_CAP - MARGIN, used
    assert used <= sent <= TX_GAS_CAP, (used, sent)


def test_default_dataset_is_disputable(net) -> None:  # type: ignore[no-untyped-def]
    used, sent = _dispute_gas(net, DEFAULT_PARAMS["max_dataset_bytes"])
    assert used <= sent <= TX_GAS_CAP - MARGIN, (used, sent)


def test_season_refuses_a_limit_above_the_bound(net) -> None:  # type: ignore[no-untyped-def]
    with raises_error("SeasonParamInvalid", value=MAX_DATASET_BYTES_LIMIT + 1):
        net.cb.queue_param_change(net.admin, Param.MAX_DATASET_BYTES, MAX_DATASET_BYTES_LIMIT + 1)
