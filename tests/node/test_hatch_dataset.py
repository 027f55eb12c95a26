"""Issue 14 item 5 (a): the node refuses to hatch a beast nobody could dispute.

A private beast's dataset reaches validators only as ``openDispute`` calldata, which the game
refuses over the season's ``maxDatasetBytes``; and a file that is not a valid dataset cannot be
replayed. ``cb-node hatch`` checks both before it signs anything: nothing is minted, nothing is
journaled, and the error says why. Real embedded chain, real files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from curriculum.dataset import encode_dataset
from curriculum.importers import read_csv
from curriculum.secret import new_secret_file
from devnet.bindings import Param
from node.embedded import ChainHandle, embedded_chain
from node.errors import DataError
from tests.curriculum.helpers import EXAMPLE_CSV
from tests.node.conftest import make_engine


@pytest.fixture(scope="module")
def chain() -> Iterator[ChainHandle]:
    h = embedded_chain()
    yield h
    h.close()


def _files(tmp_path: Path, dataset: bytes) -> tuple[Path, Path]:
    ds, secret = tmp_path / "data.cbds", tmp_path / "owner.secret"
    ds.write_bytes(dataset)
    new_secret_file(secret)
    return ds, secret


def _hatched(chain: ChainHandle) -> int:
    return int(chain.bindings.beast.functions.totalHatched().call())


def test_invalid_dataset_file_is_refused(chain: ChainHandle, tmp_path: Path) -> None:
    engine = make_engine(chain, tmp_path / "node")
    ds, secret = _files(tmp_path, b"CBDS" + bytes(range(256)) * 4)  # the magic, then no valid frame
    before = _hatched(chain)
    with pytest.raises(DataError, match="cannot use the private curriculum"):
        engine.hatch(ds, secret)
    assert _hatched(chain) == before and engine.hatches.pending() == []


def test_dataset_over_the_season_limit_is_refused(chain: ChainHandle, tmp_path: Path) -> None:
    data = encode_dataset(read_csv(EXAMPLE_CSV))
    engine = make_engine(chain, tmp_path / "node")
    ds, secret = _files(tmp_path, data)
    # the season lowers maxDatasetBytes below this (valid) file: a hatch with it could never be disputed
    chain.bindings.queue_param_change(chain.accounts[0], Param.MAX_DATASET_BYTES, len(data) - 1)
    chain.mine(10)
    assert chain.bindings.param(Param.MAX_DATASET_BYTES) == len(data) - 1
    before = _hatched(chain)
    with pytest.raises(DataError, match=f"over the limit of {len(data) - 1}"):
        engine.hatch(ds, secret)
    assert _hatched(chain) == before and engine.hatches.pending() == []
    # at the limit it hatches
    chain.bindings.queue_param_change(chain.accounts[0], Param.MAX_DATASET_BYTES, len(data))
    chain.mine(10)
    run = engine.hatch(ds, secret)
    assert _hatched(chain) == before + 1 and run.beast_id > 0
