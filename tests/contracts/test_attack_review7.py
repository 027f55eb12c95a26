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

Finding 2 (fixed in CheckpointLedger 3.1.0): unbonding stake requested in the block of a commit
unlocked in the very block the last game on that window could end (opened at the deadline, both
clocks spent, the timeout in deadline + 2 clockBlocks + 1), so a withdrawal sent first in that
block escaped the slash. It now unlocks one block later (challengePeriod + 2 clockBlocks + 2).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak

from bisection_helpers import (
    same_block,
    try_call,
    BURN,
    CHALLENGER_WON,
    COMMITTED,
    DEFENDER_WON,
    OPEN,
    SLASHED,
    VOIDED,
    GameNet,
    Lineage,
    compile_toy,
    each_test_reverted,
    genesis_v2_bytes,
    h16,
    start_game_net,
    window_states,
    word_for,
)
from curriculum.records import records_tree
from test_attack_invalid_dataset import BAD, VALID, _prove
from test_bisection_stateful import held_is_owed


@pytest.fixture(scope="module")
def _gn() -> GameNet:
    return start_game_net(accounts=8, clock=40, params={"challenge_period": 200}, verifier="StepVerifier")


@pytest.fixture
def gn(_gn: GameNet) -> Iterator[GameNet]:
    yield from each_test_reverted(_gn)




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
    assert same_block(gn, txs) == [1, 1]
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
    assert "GameNoReward" in str(try_call(gn.claim_reward, bot, beast, 0, gn.game_of(gid)["stored"]))


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


def test_a_role_change_mid_game_never_moves_the_slash(gn: GameNet) -> None:
    """The owner replaces its cheating trainer by a staked stranger (and then sells the beast to
    another) while the game on the trainer's window is open: the trainer that committed defends and
    pays; neither the new trainer nor the buyer can move or lose anything."""
    owner, trainer, finder, stranger, buyer = gn.a[1], gn.a[2], gn.a[3], gn.a[4], gn.a[5]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, trainer.address)
    k = Lineage(beast).commit(gn, trainer)
    gid = gn.challenge(finder, beast, k)
    gn.cb.authorize_trainer(owner, beast, stranger.address)
    gn.cb.transfer_beast(owner, owner.address, buyer.address, beast)
    for who in (stranger, buyer, owner):
        assert "GameNotDefender" in str(try_call(gn.bisect, who, gid, b"\x01" * 16))
    t0, s0, b0 = _wealth(gn, trainer), _wealth(gn, stranger), _wealth(gn, buyer)
    gn.mine(gn.clock + 1)
    r = gn.timeout(gn.a[0], gid)
    assert r.named("RewardHeld")[0]["amount"] == BURN
    assert (_wealth(gn, trainer), _wealth(gn, stranger), _wealth(gn, buyer)) == (t0 - BURN, s0, b0)
    held_is_owed(gn, [beast], [gid])


def test_role_changed_at_matches_the_blocks_of_role_changes(gn: GameNet) -> None:
    """Beast.roleChangedAt against a history the test wrote: the mint, authorizations, a revoke,
    transfers (which also clear the trainer), blocks without changes in between; both roles."""
    a, b, c = gn.a[1], gn.a[2], gn.a[3]
    beast = gn.cb.hatch(a)
    owner_blocks = {gn.block()}  # the mint (finalizeHatch)
    trainer_blocks: set[int] = set()
    owner = a
    for step in range(7):
        gn.mine(step % 3)
        if step in (0, 3, 5):
            r = gn.cb.authorize_trainer(owner, beast, c.address if step != 3 else a.address)
            trainer_blocks.add(int(r["blockNumber"]))
        elif step == 1:
            r = gn.cb.revoke_trainer(a, beast)
            trainer_blocks.add(int(r["blockNumber"]))
        elif step == 4:
            r = gn.cb.transfer_beast(a, a.address, b.address, beast)  # clears trainer a
            owner = b
            owner_blocks.add(int(r["blockNumber"]))
            trainer_blocks.add(int(r["blockNumber"]))
    first = min(owner_blocks) - 2
    for blk in range(first, gn.block() + 2):
        got = [gn.cb.beast.functions.roleChangedAt(beast, blk, t).call() for t in (False, True)]
        assert got == [blk in owner_blocks, blk in trainer_blocks], blk
    assert gn.cb.beast.functions.roleChangedAt(beast + 99, gn.block(), False).call() is False


# ---------------------------------------------------------------------- clocks


def test_a_move_and_a_timeout_racing_in_the_last_block_of_a_clock(gn: GameNet) -> None:
    """In the block where the mover has exactly its clock left, a timeout sent first fails and the
    move lands (leaving 0); one block later the other side's move fails and the timeout wins."""
    cheater, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(cheater))
    k = lin.commit(gn, cheater)
    gid = gn.challenge(finder, lin.beast, k)
    g = gn.game_of(gid)
    gn.mine(g["lastMove"] + g["defenderClock"] - 1 - gn.block())  # the next block: elapsed == clock
    statuses = same_block(gn, [(gn.a[0], gn.game, "timeout", [gid]),
                                (cheater, gn.game, "bisect", [gid, h16(lin.windows[k][64])])])
    assert statuses == [0, 1]
    g = gn.game_of(gid)
    assert (g["defenderClock"], g["challengerToMove"]) == (0, True)
    gn.mine(g["lastMove"] + g["challengerClock"] - gn.block())  # the next block: elapsed == clock + 1
    statuses = same_block(gn, [(finder, gn.game, "respond", [gid, True]), (gn.a[0], gn.game, "timeout", [gid])])
    assert statuses == [0, 1]
    assert gn.game_of(gid)["outcome"] == DEFENDER_WON
    assert gn.status(lin.beast, k) == COMMITTED
    held_is_owed(gn, [lin.beast], [gid])


# ---------------------------------------------------------------------- proveInvalidDataset


def test_invalid_dataset_proof_after_the_game_ended_or_from_another_beast(gn: GameNet) -> None:
    """A finder that lost its game on time cannot prove the bad dataset into it afterwards
    (GameOver); a proof of another beast's bad dataset never opens this beast's root; a padding leaf
    (index >= datasetLen) and a datasetLen with dirty high bits are refused; a fresh game in the
    challenge period wins with the proof."""
    trainer, finder = gn.a[1], gn.a[2]
    good = records_tree(VALID[:3])
    bad = records_tree([VALID[0], VALID[1], BAD])
    honest = gn.cb.hatch(trainer, keccak(b"d1"), keccak(b"s1"), good.records_root)
    cheat = gn.cb.hatch(trainer, keccak(b"d2"), keccak(b"s2"), bad.records_root)
    k = Lineage(cheat).commit(gn, trainer)
    kh = Lineage(honest).commit(gn, trainer)
    gid = gn.challenge(finder, cheat, k)
    gn.bisect(trainer, gid, b"\x01" * 16)
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], gid)  # the finder slept: DefenderWon
    assert "GameOver" in str(try_call(_prove, gn, finder, gid, 3, bad.merkle_root, 2, BAD, bad.path(2)))
    hid = gn.challenge(finder, honest, kh)
    assert "GameDatasetRootMismatch" in str(try_call(_prove, gn, finder, hid, 3, bad.merkle_root, 2, BAD, bad.path(2)))
    # the padding leaf of a 3-record tree (index 3, leaf 0) with an all-zero "record"
    assert "GameRecordNotProven" in str(try_call(_prove, gn, finder, hid, 3, good.merkle_root, 3, b"\x00" * 28,
                                             good.path(2)))
    sel = bytes.fromhex(gn.game.encode_abi("proveInvalidDataset", args=[0, 0, b"\x00" * 32, 0, b"", []])[2:10])
    body = bytes.fromhex(gn.game.encode_abi("proveInvalidDataset", args=[hid, 0, good.merkle_root, 0, b"", []])[10:])
    dirty = sel + body[:32] + (2**32).to_bytes(32, "big") + body[64:]  # datasetLen 0 with bit 32 set
    assert try_call(gn.send_raw, finder, gn.game.address, dirty, 600_000, "dirty") is not None
    assert gn.game_of(hid)["outcome"] == OPEN
    gid2 = gn.challenge(finder, cheat, k)
    _prove(gn, finder, gid2, 3, bad.merkle_root, 2, BAD, bad.path(2))
    assert gn.game_of(gid2)["outcome"] == CHALLENGER_WON and gn.status(cheat, k) == SLASHED
    held_is_owed(gn, [cheat, honest], [gid, hid, gid2])


# ---------------------------------------------------------------------- rewards


def test_claim_reward_pays_once_to_its_window_only(gn: GameNet) -> None:
    """claimReward while another game is open, with a wrong slot, index or beast, and a second
    time: refused; the reward goes once, to the earliest commitment (here the game won last)."""
    cheater, early, late = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    gn.commit_challenge(early, lin.beast, 0)  # committed first, revealed later
    k = lin.commit(gn, cheater)
    g_late = gn.challenge(late, lin.beast, k)
    gn.mine(gn.clock // 2)
    g_early = gn.reveal(early, lin.beast, k)
    gn.mine(gn.game_of(g_late)["lastMove"] + gn.clock - gn.block())
    gn.timeout(gn.a[0], g_late)  # the late game wins first: the slash, the reward held
    stored = gn.game_of(g_late)["stored"]
    assert "GameWindowOpen" in str(try_call(gn.claim_reward, late, lin.beast, k, stored))
    gn.mine(gn.clock)
    gn.timeout(gn.a[0], g_early)
    for args in ((lin.beast, k, stored ^ 1), (lin.beast, k + 1, stored), (lin.beast + 1, k, stored)):
        assert "GameNoReward" in str(try_call(gn.claim_reward, late, *args))
    e0, l0 = gn.cb.balance_of(early.address), gn.cb.balance_of(late.address)
    gn.claim_reward(late, lin.beast, k, stored)
    assert (gn.cb.balance_of(early.address), gn.cb.balance_of(late.address)) == (e0 + BURN, l0)
    assert "GameNoReward" in str(try_call(gn.claim_reward, early, lin.beast, k, stored))
    held_is_owed(gn, [lin.beast], [g_late, g_early])


# ---------------------------------------------------------------------- windows a game may not open on


def test_no_game_on_a_final_voided_cleared_or_aliased_window(gn: GameNet) -> None:
    """challenge() on a finalized window, a voided one, a cleared slot, an index that aliases a
    window in the game's u32 field (k + 2^32), or past the deadline: the ledger refuses each."""
    cheater, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(cheater))
    for _ in range(3):
        lin.commit(gn, cheater)
    for k in (2**32, 2**32 + 1, 2**255):
        gn.commit_challenge(finder, lin.beast, k)
        assert "LedgerWindowNotOpen" in str(try_call(gn.reveal, finder, lin.beast, k))
    deadline = int(gn.cb.ledger.functions.challengeDeadline(lin.beast, 0).call())
    gn.commit_challenge(finder, lin.beast, 0)
    gn.mine(deadline - gn.block())
    assert "LedgerChallengePeriodOver" in str(try_call(gn.reveal, finder, lin.beast, 0))
    gn.cb.finalize(gn.a[0], lin.beast, 0)
    gn.commit_challenge(finder, lin.beast, 0)
    assert "LedgerWindowNotOpen" in str(try_call(gn.reveal, finder, lin.beast, 0))
    lin2 = Lineage(gn.cb.hatch(cheater))
    for _ in range(3):
        lin2.commit(gn, cheater)
    gid = gn.challenge(finder, lin2.beast, 1)
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], gid)
    assert (gn.status(lin2.beast, 1), gn.status(lin2.beast, 2)) == (SLASHED, VOIDED)
    gn.commit_challenge(finder, lin2.beast, 2)
    assert "LedgerWindowNotOpen" in str(try_call(gn.reveal, finder, lin2.beast, 2))
    gn.cb.send(gn.a[0], gn.cb.ledger, "clearVoided", [lin2.beast, 5], 400_000)
    for j in (1, 2):
        gn.commit_challenge(finder, lin2.beast, j)
        assert "LedgerWindowNotOpen" in str(try_call(gn.reveal, finder, lin2.beast, j))
    held_is_owed(gn, [lin.beast, lin2.beast], [gid])


# ---------------------------------------------------------------------- stake


def test_unstaking_does_not_escape_a_slash_nor_allow_unstaked_commits(gn: GameNet) -> None:
    """A cheater moves all its stake to unbonding: its next commit is refused; the window committed
    before is still slashed from the unbonding stake, and a second request re-locks all of it."""
    cheater, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(cheater))
    k = lin.commit(gn, cheater)
    staked, _, _ = gn.cb.stake_of(cheater.address)
    gn.cb.send(cheater, gn.cb.ledger, "requestUnstake", [staked - BURN], 200_000)
    _, _, unlock1 = gn.cb.stake_of(cheater.address)
    gn.mine(5)
    gn.cb.send(cheater, gn.cb.ledger, "requestUnstake", [BURN], 200_000)
    _, unbonding, unlock2 = gn.cb.stake_of(cheater.address)
    assert unbonding == staked and unlock2 == unlock1 + 6  # everything unbonding waits for the newest request
    assert "LedgerStakeInsufficient" in str(try_call(lin.commit, gn, cheater))
    gid = gn.challenge(finder, lin.beast, k)
    gn.mine(gn.clock + 1)
    assert gn.timeout(gn.a[0], gid).named("RewardHeld")[0]["amount"] == BURN
    assert gn.cb.stake_of(cheater.address)[:2] == (0, staked - BURN)
    held_is_owed(gn, [lin.beast], [gid])


def _multi_caller(gn: GameNet, owner):  # noqa: ANN001, ANN202
    """A MultiCaller contract (tests/contracts/solidity) holding ENERGY, approving the ledger."""
    art = compile_toy("MultiCaller")
    data = bytes.fromhex(art["bytecode"].removeprefix("0x"))
    address = gn.cb.sender.send(owner, None, data, gas=None)["contractAddress"]
    mc = gn.raw.w3.eth.contract(address=address, abi=art["abi"])
    gn.cb.transfer(owner, mc.address, 10 * BURN)
    _batch(gn, owner, mc, [(gn.cb.energy, "approve", [gn.cb.ledger.address, 2**256 - 1])])
    return mc


def _batch(gn: GameNet, owner, mc, calls) -> object:  # noqa: ANN001
    targets = [c.address for c, _, _ in calls]
    datas = [bytes.fromhex(c.encode_abi(fn, args=args).removeprefix("0x")) for c, fn, args in calls]
    return gn.cb.send(owner, mc, "batch", [targets, datas], 2_000_000)


def test_unbonding_requested_in_the_commit_block_outlives_the_last_game(gn: GameNet) -> None:
    """A contract committer commits a false window and requests to unstake all of it in the same
    transaction. A finder opens at the deadline and both sides spend their whole clocks: the
    timeout that slashes lands in the last block a game can end, racing the cheater's
    withdrawStake sent first in that block. The stake must still be locked there."""
    owner, finder = gn.a[1], gn.a[2]
    mc = _multi_caller(gn, owner)
    r = _batch(gn, owner, mc, [(gn.cb.ledger, "stake", [BURN]),
                               (gn.cb.beast, "hatch", [b"\x00" * 32] * 3)])
    beast = int(gn.cb.beast.events.HatchRequested().process_receipt(r)[0]["args"]["beastId"])
    gn.cb.send(owner, gn.cb.beast, "finalizeHatch", [beast], 400_000)
    word = _window0(gn, beast, owner)
    gn.commit_challenge(finder, beast, 0)
    r = _batch(gn, owner, mc, [(gn.cb.ledger, "commit", [beast, word]), (gn.cb.ledger, "requestUnstake", [BURN])])
    _, unbonding, unlock = gn.cb.stake_of(mc.address)
    assert unbonding == BURN and gn.cb.committer_of(beast, 0)[1] == r["blockNumber"]
    deadline = int(gn.cb.ledger.functions.challengeDeadline(beast, 0).call())
    gn.mine(deadline - 1 - gn.block())
    gid = gn.reveal(finder, beast, 0)
    assert gn.game_of(gid)["lastMove"] == deadline
    gn.mine(deadline + gn.clock - 1 - gn.block())
    _batch(gn, owner, mc, [(gn.game, "bisect", [gid, b"\x01" * 16])])  # the defender's whole clock
    gn.mine(deadline + 2 * gn.clock - 1 - gn.block())
    gn.respond(finder, gid, True)  # the finder's whole clock
    assert gn.block() + 1 == deadline + 2 * gn.clock + 1  # the next block: the last one a game ends in
    targets, datas = [gn.cb.ledger.address], [bytes.fromhex(gn.cb.ledger.encode_abi("withdrawStake", args=[])[2:])]
    statuses = same_block(gn, [(owner, mc, "batch", [targets, datas]), (gn.a[0], gn.game, "timeout", [gid])])
    assert unlock > deadline + 2 * gn.clock + 1  # unlocked only after the last block a game can end in
    assert statuses == [0, 1]  # so the withdrawal sent first in that block fails, and the slash pays
    assert gn.game_of(gid)["outcome"] == CHALLENGER_WON
    assert gn.cb.stake_of(mc.address)[1] == 0 and gn.cb.balance_of(gn.game.address) == BURN  # the reward, held
    held_is_owed(gn, [beast], [gid])
