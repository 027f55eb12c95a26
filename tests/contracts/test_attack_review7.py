"""Outside review 7: a user's attacks on BisectionGame 2.1.0, CheckpointLedger and Beast's role history.

Each test is one abuse an attacker would try, asserting the safe behaviour (docs/PROTOCOL.md §4a,
§10). One module-scoped py-evm chain (real StepVerifier artifact, so ``proveInvalidDataset`` is the
real record check), every test reverted to the same snapshot.

Finding (review 7, fixed in CheckpointLedger 3.1.0 / Beast 4.1.0): a role change in the very block
of a commit made the slash take the reward from the holder at the END of that block. An attacker
gifted its beast (``transferFrom`` needs no consent) or named a trainer (``authorizeTrainer`` needs
none either) to any staked stranger right after its own false commit, in the same block; its
sybil's game then took up to energyBurn of the stranger's stake. Now a window whose role changed
in its commit block pays no reward (its committer is ambiguous): the escrow burn and the rewind
still happen, so the cheater loses what a self-challenge costs it, and no third party pays.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bisection_helpers import (
    BURN,
    CHALLENGER_WON,
    SLASHED,
    GameNet,
    Lineage,
    each_test_reverted,
    genesis_v2_bytes,
    h16,
    start_game_net,
    window_states,
    word_for,
)
from test_bisection_stateful import held_is_owed


@pytest.fixture(scope="module")
def _gn() -> GameNet:
    return start_game_net(accounts=8, clock=40, params={"challenge_period": 600}, verifier="StepVerifier")


@pytest.fixture
def gn(_gn: GameNet) -> Iterator[GameNet]:
    yield from each_test_reverted(_gn)


def _try(fn, *args) -> Exception | None:  # noqa: ANN001
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - report what the chain said
        return exc
    return None


def _same_block(gn: GameNet, txs: list[tuple[object, object, str, list]]) -> list[int]:  # noqa: ANN001
    """Send (account, contract, fn, args) transactions of different senders into one block; statuses."""
    w3, tester = gn.raw.w3, gn.raw.tester
    hashes = []
    nonces: dict[str, int] = {}
    tester.disable_auto_mine_transactions()
    try:
        for acct, contract, fn, args in txs:
            nonce = nonces.get(acct.address, w3.eth.get_transaction_count(acct.address))
            nonces[acct.address] = nonce + 1
            tx = {"chainId": w3.eth.chain_id, "gas": 600_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1,
                  "to": contract.address, "nonce": nonce,
                  "data": contract.encode_abi(fn, args=args)}
            hashes.append(w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
        tester.mine_blocks(1)
    finally:
        tester.enable_auto_mine_transactions()
    gn.cb.sender._nonces.clear()
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    return [int(r["status"]) for r in receipts]


def _window0(gn: GameNet, beast: int, committer) -> bytes:  # noqa: ANN001
    """A (toy, so false under the real verifier) window-0 word of ``beast``."""
    seed = gn.cb.ensure_epoch_seed(committer, beast, 0)
    hd = gn.cb.hatch_data(beast)
    states = window_states(genesis_v2_bytes(bytes(hd.seed_core)), seed)
    return word_for(0, h16(states[-1]))


def _wealth(gn: GameNet, acct) -> int:  # noqa: ANN001
    staked, unbonding, _ = gn.cb.stake_of(acct.address)
    return gn.cb.balance_of(acct.address) + staked + unbonding


# ---------------------------------------------------------------------- the finding


@pytest.mark.parametrize("how", ["gift", "trainer"])
def test_a_role_change_in_the_commit_block_never_slashes_a_stranger(gn: GameNet, how: str) -> None:
    """The cheater commits a false window and, in the same block, hands the role it committed in to
    a staked stranger (``gift``: transfers the beast to it; ``trainer``: its sybil trainer commits and
    the owner names the stranger trainer). The cheater's bot, committed to a challenge early, wins by
    timeout. The stranger's stake must not pay: the slash burns the escrow and pays no reward."""
    cheater, sybil, bot, victim = gn.a[1], gn.a[2], gn.a[3], gn.a[4]
    beast = gn.cb.hatch(cheater)
    gn.commit_challenge(bot, beast, 0)  # blind, before the window exists
    if how == "gift":
        gn.cb.send(cheater, gn.cb.beast, "approve", [sybil.address, beast], 200_000)  # its operator sends it
        word = _window0(gn, beast, cheater)
        txs = [(cheater, gn.cb.ledger, "commit", [beast, word]),
               (sybil, gn.cb.beast, "transferFrom", [cheater.address, victim.address, beast])]
    else:
        gn.cb.authorize_trainer(cheater, beast, sybil.address)
        word = _window0(gn, beast, sybil)
        txs = [(sybil, gn.cb.ledger, "commit", [beast, word]),
               (cheater, gn.cb.beast, "authorizeTrainer", [beast, victim.address])]
    assert _same_block(gn, txs) == [1, 1]
    v0 = _wealth(gn, victim)
    gid = gn.reveal(bot, beast, 0)
    gn.mine(gn.clock + 1)
    r = gn.timeout(gn.a[0], gid)
    assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON
    assert gn.status(beast, 0) == SLASHED
    assert gn.game_of(gid)["defender"] == victim.address  # holderAt: the holder after the block
    assert not r.named("RewardHeld")  # nobody's stake is taken for an ambiguous committer
    assert _wealth(gn, victim) == v0
    assert gn.cb.stake_of(victim.address)[0] == v0 - gn.cb.balance_of(victim.address)
    held_is_owed(gn, [beast], [gid])
    assert "GameNoReward" in str(_try(gn.claim_reward, bot, beast, 0, gn.game_of(gid)["stored"]))


def test_a_role_set_before_the_commit_block_still_pays_the_reward(gn: GameNet) -> None:
    """Control: a trainer authorized in an earlier block commits a false window; its stake pays."""
    owner, trainer, bot = gn.a[1], gn.a[2], gn.a[3]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, trainer.address)
    lin = Lineage(beast)
    k = lin.commit(gn, trainer)
    s0 = gn.cb.stake_of(trainer.address)[0]
    gid = gn.challenge(bot, beast, k)
    gn.mine(gn.clock + 1)
    r = gn.timeout(gn.a[0], gid)
    assert r.named("RewardHeld")[0]["amount"] == BURN
    assert gn.cb.stake_of(trainer.address)[0] == s0 - BURN
