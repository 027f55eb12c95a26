"""One integration suite, run against every engine: embedded py-evm, py-evm over HTTP, anvil.

The anvil engine is a real anvil process on 127.0.0.1 (free port, Prague hardfork) started and
stopped by the fixture; nothing of ours is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak

import devnet
from devnet.anvil import find_anvil
from devnet.bindings import ChainBeasts, Outcome, WindowStatus
from devnet.errors import ConfigError
from devnet.launch import launch

from chain_helpers import BURN, make_word, raises_error, records_root_for

STAKE = 100 * 10**18


def _anvil_available() -> bool:
    try:
        return find_anvil().exists()
    except ConfigError:
        return False


class Engine:
    """What a test needs from an engine: bindings, funded accounts, a way to mine."""

    def __init__(self, name: str, chain: ChainBeasts) -> None:
        self.name = name
        self.cb = chain
        self.a = chain.accounts


@pytest.fixture(scope="module", params=["pyevm", "pyevm-http", "anvil"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "pyevm":
        net = devnet.start(accounts=8)
        yield Engine("pyevm", net.chain)
        return
    if request.param == "anvil" and not _anvil_available():
        pytest.skip("anvil binary missing: run `cd contracts && npm ci` (CI does)")
    run = tmp_path_factory.mktemp(request.param)
    kind = "anvil" if request.param == "anvil" else "pyevm"
    running = launch(kind, port=0, run_dir=run, accounts=8)
    try:
        # Connect the way another process would: from the deployments file.
        chain = devnet.connect(run / "deployments.json")
        yield Engine(request.param, chain)
    finally:
        running.stop()


def test_deployments_file_describes_the_chain(engine: Engine) -> None:
    assert engine.cb.energy.functions.symbol().call() == "ENERGY"
    assert engine.cb.energy.functions.decimals().call() == 18
    assert engine.cb.ledger.functions.disputeGame().call() == engine.cb.addresses["DisputeGame"]
    assert engine.cb.balance_of(engine.a[1]) > 10**20
    assert engine.cb.allowance(engine.a[1].address, engine.cb.addresses["CheckpointLedger"]) == 2**256 - 1


def test_commit_lifecycle(engine: Engine) -> None:
    cb, owner, trainer = engine.cb, engine.a[1], engine.a[2]
    bid = cb.hatch(owner)
    cb.authorize_trainer(owner, bid, trainer.address)
    for k in range(4):
        cb.commit(trainer if k % 2 else owner, bid, make_word(k))
    assert cb.window_count(bid) == 4 and cb.word(bid, 3) == make_word(3)
    # Window 3 closed epoch 0 (epochSteps 512); anyone seals epoch 1's seed from its block's hash.
    assert cb.ensure_epoch_seed(engine.a[3], bid, 1) == bytes(cb.w3.eth.get_block(cb.commit_block(bid, 3))["hash"])
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=640, got=768):
        cb.commit(owner, bid, make_word(5))
    with raises_error("LedgerNotAuthorized", beastId=bid, caller=engine.a[3].address):
        cb.commit(engine.a[3], bid, make_word(4))
    cb.mine(cb.challenge_deadline(bid, 0) - cb.block_number())
    cb.finalize(engine.a[4], bid, 0)
    assert cb.window_status(bid, 0) == WindowStatus.FINALIZED


def test_commit_many(engine: Engine) -> None:
    cb, owner = engine.cb, engine.a[1]
    ids = [cb.hatch(owner) for _ in range(8)]
    r = cb.commit_many(owner, ids, [make_word(0)] * 8)
    assert len(r.all("CheckpointCommitted")) == 8 and len(r.all("Transfer")) == 1
    assert all(cb.window_count(i) == 1 for i in ids)


def test_dispute_with_large_dataset(engine: Engine) -> None:
    """A 200 kB dataset: the transaction needs the EIP-7623 calldata floor on Prague."""
    cb, owner, ch, val = engine.cb, engine.a[1], engine.a[5], engine.a[6]
    dataset = keccak(b"seed") * (200_000 // 32)
    secret = b"\x11" * 32
    bid = cb.hatch(owner, keccak(dataset), keccak(secret), records_root_for(cb, dataset))
    cb.commit(owner, bid, make_word(0))
    if not cb.is_active_validator(val):
        cb.register_validator(val, STAKE)
    r = cb.open_dispute_tx(ch, bid, 0, dataset, secret)
    did = r.event("DisputeOpened").args["disputeId"]
    assert r.gas_used >= 21_000 + 40 * sum(1 for b in dataset if b)
    assert cb.dispute_dataset(did) == (dataset, secret)
    cb.vote(val, did, b"\x00" * 32)  # start state unavailable -> against the trainer
    assert cb.resolve(ch, did) == Outcome.DIVERGED
    assert cb.window_status(bid, 0) == WindowStatus.SLASHED
    assert cb.claim(ch) == 2 * BURN + BURN - BURN // 2


def test_errors_decode_on_reads_and_writes(engine: Engine) -> None:
    cb = engine.cb
    with raises_error("LedgerEpochSeedUnknown", epoch=99):
        cb.epoch_seed(1, 99)
    with raises_error("BeastNotFound", beastId=10**9):
        cb.hatch_data(10**9)
    with raises_error("DisputeNothingToClaim", account=engine.a[7].address):
        cb.claim(engine.a[7])
    with pytest.raises(devnet.LedgerError):
        cb.open_dispute(engine.a[7], 10**9, 0)
