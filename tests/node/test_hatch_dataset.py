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

from curriculum.dataset import decode_dataset, encode_dataset
from curriculum.records import records_root
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


def test_version_2_hatch_commits_the_records_root(chain: ChainHandle, tmp_path: Path) -> None:
    """On a version 2 deployment the node computes R_dataset from the checked file and hatches with it:
    the hatch data, beast.json and the genesis state (offset 64) all carry it."""
    data = encode_dataset(read_csv(EXAMPLE_CSV))
    engine = make_engine(chain, tmp_path / "node")
    ds, secret = _files(tmp_path, data)
    assert chain.bindings.spec_version() == 2
    run = engine.hatch(ds, secret)
    hd = chain.bindings.hatch_data(run.beast_id)
    assert (hd.spec_version, hd.records_root) == (2, records_root(decode_dataset(data)))
    assert run.meta.hatch == hd and run.store.read_meta().hatch.records_root == hd.records_root
    g = run.store.load_state(0)
    assert (g.spec_version, g.dataset_commitment) == (2, hd.records_root)
    assert run.source.spec_version == 2 and run.source.records_root == hd.records_root


def test_a_dataset_whose_records_root_differs_from_the_hatch_is_refused(chain: ChainHandle, tmp_path: Path) -> None:
    """SPEC §10.2: a version 2 beast hatched (elsewhere, by its owner) with C_dataset of the file but another
    recordsRoot. Beast.hatch cannot see the file, so the node's loader is what refuses it: the run never
    trains on a curriculum whose records nobody could prove on chain."""
    from eth_utils import keccak

    from curriculum.secret import read_secret_file
    from node.beast_meta import BeastMeta
    from node.beast_run import open_run
    from node.store import BeastStore, beast_dir

    data = encode_dataset(read_csv(EXAMPLE_CSV))
    ds, secret = _files(tmp_path, data)
    owner = chain.accounts[3]  # the owner hatches with the bindings (its own nonces: not the node's account)
    bogus = keccak(b"not this file's records")
    bid = chain.bindings.hatch(owner, keccak(data), read_secret_file(secret).commitment, bogus)
    hd = chain.bindings.hatch_data(bid)
    store = BeastStore(beast_dir(tmp_path / "node", bid), bid)
    store.write_meta(BeastMeta(bid, hd, owner=owner.address, dataset_path=str(ds), secret_path=str(secret)))
    with pytest.raises(DataError, match=f"beast {bid}: private curriculum unusable: dataset records commitment mismatch: "
                                        f"expected 0x{bogus.hex()}"):
        open_run(store, make_engine(chain, tmp_path / "node").ledger.kernel_params(), tmp_path / "cache")
    assert store.get(0) is None  # no genesis was written for it
    store.close()
