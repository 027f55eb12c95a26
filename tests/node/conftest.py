"""Shared fixtures: a real embedded py-evm devnet and a node engine that trained a few windows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import pytest

from node.chain import ChainClient
from node.embedded import ChainHandle, embedded_chain
from node.ledger import Ledger
from node.beast_run import BeastRun
from node.trainer import Engine


@dataclass
class Trained:
    chain: ChainHandle
    ledger: Ledger
    engine: Engine
    run: BeastRun
    data_dir: Path


def make_engine(chain: ChainHandle, data_dir: Path, account_index: int = 1) -> Engine:
    client = ChainClient(chain.w3, chain.accounts[account_index], decoder=chain.decoder)
    return Engine(data_dir, Ledger(client, chain.contracts))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    """One beast on public sources with 3 committed windows (shared by a module's tests)."""
    chain = embedded_chain()
    data_dir = tmp_path_factory.mktemp("node-data")
    engine = make_engine(chain, data_dir)
    run = engine.hatch()
    for _ in range(3):
        engine.step([run])
    yield Trained(chain, engine.ledger, engine, run, data_dir)
    chain.close()
