"""Issue 14 item 4, as it stands with the bisection game: a dispute of any window a season admits fits one transaction.

Osaka (EIP-7825) caps a transaction at 2^24 gas. The vote game carried the whole private dataset
as openDispute's calldata, which is why the season's ``maxDatasetBytes`` has a bound
(``MAX_DATASET_BYTES_LIMIT``, 384 KiB) the registry enforces. A bisection game never carries the
dataset: its last move, ``proveStep``, carries one pre-state, one 28-byte record and its Merkle
path (log2 of the record count hashes). What still applies is checked here: the bindings never
ask for more than 2^24 gas, the registry keeps the bound, and the one-step verifier's check of a
private sample from the largest dataset a season admits costs about what a small one does
(measured on the devnet's StepVerifier with records of random boards).
"""

from __future__ import annotations

import random

import pytest
from eth_utils import keccak

from curriculum.dataset import MAX_DATASET_BYTES, Dataset
from curriculum.source import PrivateDatasetSource
from devnet.bindings import Param
from devnet.season import DEFAULT_PARAMS, MAX_DATASET_BYTES_LIMIT
from devnet.tx import TX_GAS_CAP, calldata_floor
from kernel.board import RECORD_SIZE, encode_record
from kernel.params import DEFAULT_PARAMS as KERNEL_PARAMS
from kernel.sources import draw_board
from kernel.state import genesis

from chain_helpers import raises_error

SECRET = b"\x42" * 32
MARGIN = 500_000  # gas left under the cap by a proveStep with the largest dataset a season may admit


def _incompressible(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def _records(size: int) -> bytes:
    """``size // 28`` valid board records (random boards: the verifier decodes the one it is shown)."""
    return b"".join(encode_record(draw_board(i + 1, None)) for i in range(size // RECORD_SIZE))


def _step_cost(net, size: int) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(StepVerifier.step gas estimate, the EIP-7623 floor of proveStep's calldata, path length) for step 0 of a
    private beast whose dataset is ``size`` bytes of records."""
    records = _records(size)
    source = PrivateDatasetSource(Dataset(keccak(records), records), SECRET, spec_version=2)
    seed_core = keccak(b"seed core")
    pre = genesis(seed_core, KERNEL_PARAMS, dataset_commitment=source.records_root, spec_version=2).to_bytes()
    proof = source.proof(seed_core, 0)
    sample = (SECRET, proof.dataset_len, proof.merkle_root, proof.record, list(proof.path))
    window = (3, 6, keccak(b"epoch seed"))
    verifier = net.cb.verifier
    gas = int(verifier.functions.step(pre, window, sample).estimate_gas({"from": net.a[1].address}))
    call = bytes.fromhex(net.cb.game.encode_abi("proveStep", args=[1, pre, sample]).removeprefix("0x"))
    return gas, calldata_floor(call), len(proof.path)


def test_the_cap_is_the_osaka_limit() -> None:
    assert TX_GAS_CAP == 2**24 == 16_777_216


def test_default_limit_is_within_the_bound() -> None:
    # the loaders' default is the season's default, and a season may raise it up to the bound only
    assert DEFAULT_PARAMS["max_dataset_bytes"] == MAX_DATASET_BYTES == 262_144 < MAX_DATASET_BYTES_LIMIT == 393_216


def test_bound_matches_the_contract(net) -> None:  # type: ignore[no-untyped-def]
    assert net.cb.registry.functions.MAX_DATASET_BYTES_LIMIT().call() == MAX_DATASET_BYTES_LIMIT


def test_bindings_never_ask_for_more_than_the_cap() -> None:
    from devnet.errors import ChainError
    from devnet.tx import gas_limit

    data = _incompressible(MAX_DATASET_BYTES_LIMIT)
    assert gas_limit(15_000_000, data) <= TX_GAS_CAP  # the 20% margin is cut at the cap
    assert gas_limit(1_000, b"") == calldata_floor(b"") + 10_000 == 31_000
    assert gas_limit(100_000, b"") == 130_000
    too_big = _incompressible(430_000)  # its EIP-7623 floor alone is over 2^24
    with pytest.raises(ChainError, match="over the 16777216 gas cap"):
        gas_limit(1_000_000, too_big)


def test_largest_dataset_a_season_admits_is_provable_in_one_step(net) -> None:  # type: ignore[no-untyped-def]
    # the season at its highest allowed limit; a dataset of that many random bytes
    net.cb.queue_param_change(net.admin, Param.MAX_DATASET_BYTES, MAX_DATASET_BYTES_LIMIT)
    net.mine(10)
    assert net.cb.param(Param.MAX_DATASET_BYTES) == MAX_DATASET_BYTES_LIMIT
    gas, floor, depth = _step_cost(net, MAX_DATASET_BYTES_LIMIT)
    assert depth == (MAX_DATASET_BYTES_LIMIT // RECORD_SIZE - 1).bit_length() == 14  # 14 hashes, not 384 KiB
    assert floor < 1_000_000  # the genesis pre-state dominates the calldata, not the dataset
    assert gas + floor <= TX_GAS_CAP - MARGIN, (gas, floor)


def test_a_private_step_is_cheap_at_any_dataset_size(net) -> None:  # type: ignore[no-untyped-def]
    """What the dataset's size adds is its Merkle path; the rest is the step itself (which board it draws)."""
    costs = {size: _step_cost(net, size) for size in (10 * RECORD_SIZE, DEFAULT_PARAMS["max_dataset_bytes"], MAX_DATASET_BYTES_LIMIT)}
    assert [depth for _, _, depth in costs.values()] == [4, 14, 14]
    for size, (gas, floor, _) in costs.items():
        assert gas + floor < 2_000_000, (size, gas, floor)  # a genesis-sized state's step: far below 2^24


def test_season_refuses_a_limit_above_the_bound(net) -> None:  # type: ignore[no-untyped-def]
    with raises_error("SeasonParamInvalid", value=MAX_DATASET_BYTES_LIMIT + 1):
        net.cb.queue_param_change(net.admin, Param.MAX_DATASET_BYTES, MAX_DATASET_BYTES_LIMIT + 1)
