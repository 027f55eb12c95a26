"""One integration suite, run against every engine: embedded py-evm, py-evm over HTTP, anvil.

The anvil engine is a real anvil process on 127.0.0.1 (free port, Prague hardfork) started and
stopped by the fixture; nothing of ours is mocked.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak
from web3 import Web3

import devnet
from devnet.anvil import find_anvil
from devnet.bindings import ChainBeasts, Outcome, Reason, WindowStatus
from devnet.embedded import DEFAULT_STAKE
from devnet.errors import ConfigError
from devnet.launch import launch
from devnet.season import DEFAULT_GAME_CLOCK_BLOCKS
from devnet.tx import TX_GAS_CAP

from chain_helpers import BURN, make_word, raises_error, records_root_for

EIP170_CODE_LIMIT = 24_576


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


def _creations(cb: ChainBeasts) -> dict[str, int]:
    """Gas used by the transaction that created each contract (the deployment is the chain's first blocks)."""
    by_address = {a: n for n, a in cb.addresses.items()}
    out: dict[str, int] = {}
    for number in range(cb.block_number() + 1):
        for tx in cb.w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if not tx.get("to"):
                r = cb.w3.eth.get_transaction_receipt(tx["hash"])
                name = by_address.get(Web3.to_checksum_address(r["contractAddress"])) if r.get("contractAddress") else None
                if name:
                    out[name] = int(r["gasUsed"])
        if len(out) == len(by_address):
            break
    return out


def test_deployments_file_describes_the_chain(engine: Engine) -> None:
    cb = engine.cb
    assert set(cb.addresses) == {"Energy", "Beast", "SeasonRegistry", "CheckpointLedger", "StepVerifier", "BisectionGame"}
    assert cb.energy.functions.symbol().call() == "ENERGY"
    assert cb.energy.functions.decimals().call() == 18
    assert cb.ledger.functions.bisectionGame().call() == cb.addresses["BisectionGame"]
    assert cb.game.functions.verifier().call() == cb.addresses["StepVerifier"]
    assert cb.clock_blocks() == DEFAULT_GAME_CLOCK_BLOCKS
    assert cb.balance_of(engine.a[1]) > 10**20
    assert cb.stake_of(engine.a[1]).staked == DEFAULT_STAKE
    for spender in ("CheckpointLedger", "BisectionGame"):
        assert cb.allowance(engine.a[1].address, cb.addresses[spender]) == 2**256 - 1


def test_every_contract_deploys_under_the_size_and_gas_limits(engine: Engine) -> None:
    """StepVerifier is the largest contract: its runtime code must stay under EIP-170's 24,576 bytes
    and its creation under the 2^24 gas a transaction may carry (EIP-7825), on every engine."""
    cb = engine.cb
    sizes = {n: len(cb.w3.eth.get_code(a)) for n, a in cb.addresses.items()}
    assert all(0 < size <= EIP170_CODE_LIMIT for size in sizes.values()), sizes
    assert max(sizes, key=lambda n: sizes[n]) in ("StepVerifier", "BisectionGame")
    gas = _creations(cb)
    assert set(gas) == set(cb.addresses)
    assert all(g <= TX_GAS_CAP for g in gas.values()), gas
    print(f"\n{engine.name}: code bytes {sizes}; creation gas {gas}")


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


def test_a_game_won_on_time_slashes_rewinds_and_pays(engine: Engine) -> None:
    """A private beast's window 1 challenged; its committer never answers: the challenger wins on time,
    window 1 is slashed and 2 voided, clearVoided reopens the lineage, the reward is claimed."""
    cb, owner, ch, anyone = engine.cb, engine.a[1], engine.a[5], engine.a[6]
    dataset = keccak(b"seed") * (200_000 // 32)
    secret = b"\x11" * 32
    bid = cb.hatch(owner, keccak(dataset), keccak(secret), records_root_for(cb, dataset))
    for k in range(3):
        cb.commit(owner, bid, make_word(k))
    salt = keccak(b"salt" + engine.name.encode())
    cb.commit_challenge(ch, bid, 1, salt)
    before = cb.balance_of(ch)
    gid = cb.challenge(ch, bid, 1, salt)
    assert cb.games_of_window(bid, 1) == [gid]
    g = cb.game_of(gid)
    assert (g.defender, g.challenger, g.bond) == (owner.address, ch.address, 2 * BURN)
    cb.mine(cb.clock_blocks() + 1)
    r = cb.timeout(anyone, gid)
    assert (r.event("GameEnded").args["outcome"], r.event("GameEnded").args["reason"]) == (Outcome.CHALLENGER_WON, Reason.TIMEOUT)
    assert [cb.window_status(bid, k) for k in range(3)] == [WindowStatus.COMMITTED, WindowStatus.SLASHED, WindowStatus.VOIDED]
    assert cb.voided_range(bid) == (1, 3) and cb.window_count(bid) == 1
    cb.clear_voided(anyone, bid, 5)
    cb.commit(owner, bid, make_word(1, tag=9))
    cb.claim_reward(anyone, bid, 1, g.stored)
    assert cb.balance_of(ch) == before + BURN  # bond back, plus the reward (min(burn, stake))
    names = [e.name for e in cb.game_events(r.block_number - 1)]
    assert "GameEnded" in names and names[-1] == "RewardClaimed"


def test_errors_decode_on_reads_and_writes(engine: Engine) -> None:
    cb = engine.cb
    with raises_error("LedgerEpochSeedUnknown", epoch=99):
        cb.epoch_seed(1, 99)
    with raises_error("BeastNotFound", beastId=10**9):
        cb.hatch_data(10**9)
    with raises_error("GameNotFound", gameId=10**9):
        cb.game_of(10**9)
    with pytest.raises(devnet.GameError):
        cb.timeout(engine.a[7], 10**9)
    with pytest.raises(devnet.LedgerError):
        cb.challenge(engine.a[7], 10**9, 0, b"\x00" * 32)
