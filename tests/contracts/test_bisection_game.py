"""BisectionGame 2.0.0 (docs/PROTOCOL.md §10) on py-evm: outcomes, clocks, bonds, rewards, commit-reveal, sybils.

The transition is the stand-in ToyStepVerifier (bisection_helpers), so that many games stay cheap;
the game, the ledger hooks, the genesis rebuild, the stakes and the money are the committed
contracts. The same game against the real StepVerifier and kernel step states:
test_bisection_real.py. Attacks: test_attack_bisection.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from eth_utils import keccak

from devnet.records import Param
from bisection_helpers import (
    CHALLENGED,
    CHALLENGER_WON,
    COMMITTED,
    DEFENDER_WON,
    SLASHED,
    TIMEOUT,
    each_test_reverted,
    BURN,
    GameNet,
    Lineage,
    commitment,
    deploy_caller,
    deploy_game,
    empty_sample,
    genesis_v2_bytes,
    h16,
    play_challenger,
    play_defender,
    play_out,
    start_chain,
    start_game_net,
    word_for,
)
from chain_helpers import raises_error


@pytest.fixture(scope="module")
def _gn() -> GameNet:
    return start_game_net(accounts=60, clock=200, params={"challenge_period": 600})


@pytest.fixture
def gn(_gn: GameNet) -> Iterator[GameNet]:
    yield from each_test_reverted(_gn)


def honest_lineage(gn: GameNet, owner_idx: int = 1, windows: int = 2) -> tuple[Lineage, list[list[bytes]]]:
    owner = gn.a[owner_idx]
    lin = Lineage(gn.cb.hatch(owner))
    truth: list[list[bytes]] = []
    for _ in range(windows):
        lin.commit(gn, owner, honest_view=truth)
    return lin, truth


def test_genesis_rebuilt_on_chain_equals_the_kernel_genesis(gn: GameNet) -> None:
    beast = gn.cb.hatch(gn.a[1])
    hd = gn.cb.hatch_data(beast)
    g = genesis_v2_bytes(bytes(hd.seed_core))
    assert len(g) == 9273
    assert gn.genesis_h128(beast) == h16(g)
    # A private beast's genesis carries R_dataset at offset 64.
    root = keccak(b"records root")
    pb = gn.cb.hatch(gn.a[1], keccak(b"dataset"), keccak(b"secret"), root)
    assert gn.genesis_h128(pb) == h16(genesis_v2_bytes(bytes(gn.cb.hatch_data(pb).seed_core), root))


def test_lying_trainer_loses_one_wrong_step_and_pays_the_finder(gn: GameNet) -> None:
    trainer, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(trainer))
    truth: list[list[bytes]] = []
    for _ in range(4):
        lin.commit(gn, trainer, honest_view=truth)
    k = lin.commit(gn, trainer, lie_at=77, honest_view=truth)  # window 5: step 77 wrong
    before_t, before_f = gn.cb.balance_of(trainer.address), gn.cb.balance_of(finder.address)
    stake_t = gn.cb.stake_of(trainer.address)[0]
    supply = gn.cb.total_supply()
    gid = gn.challenge(finder, lin.beast, k)
    assert gn.status(lin.beast, k) == CHALLENGED
    g = gn.game_of(gid)
    assert g["defender"] == trainer.address and g["bond"] == gn.bond()
    g = play_out(gn, gid, (trainer, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON
    assert (g["lo"], g["hi"]) == (76, 77)
    assert gn.status(lin.beast, k) == SLASHED
    assert gn.cb.balance_of(finder.address) == before_f  # its bond back
    assert gn.cb.balance_of(trainer.address) == before_t  # no defender bond in 2.0
    assert gn.cb.stake_of(trainer.address)[0] == stake_t - BURN  # the reward, from the cheater's stake
    assert gn.cb.total_supply() == supply - BURN  # the escrow burned
    assert gn.held_by_game() == BURN  # the reward, held for the window
    r = gn.claim_reward(gn.a[9], lin.beast, k, g["stored"])  # anyone triggers it; the finder is paid
    assert r.named("RewardClaimed")[0]["challenger"] == finder.address
    assert gn.cb.balance_of(finder.address) == before_f + BURN
    assert gn.held_by_game() == 0
    with raises_error("GameNoReward"):
        gn.claim_reward(gn.a[9], lin.beast, k, g["stored"])


def test_lying_challenger_loses_its_bond_to_the_defender(gn: GameNet) -> None:
    lin, truth = honest_lineage(gn)
    liar, trainer = gn.a[3], gn.a[1]
    before, before_t = gn.cb.balance_of(liar.address), gn.cb.balance_of(trainer.address)
    gid = gn.challenge(liar, lin.beast, 1)
    g = play_out(gn, gid, (trainer, lin.windows[1]), (liar, None), rng=random.Random(5))
    assert g["outcome"] == DEFENDER_WON
    assert gn.cb.balance_of(liar.address) == before - gn.bond()
    assert gn.cb.balance_of(trainer.address) == before_t + gn.bond()
    assert gn.status(lin.beast, 1) == COMMITTED  # back from Challenged, finalizable later
    gn.mine(gn.cb.param(Param.CHALLENGE_PERIOD) + 1)
    gn.cb.finalize(gn.a[0], lin.beast, 0)
    gn.cb.finalize(gn.a[0], lin.beast, 1)


def test_a_challenger_that_proves_a_true_step_loses(gn: GameNet) -> None:
    """The challenger follows the truth to the last step and proves it: the verifier agrees with the trainer."""
    lin, truth = honest_lineage(gn)
    gid = gn.challenge(gn.a[3], lin.beast, 0)
    g = play_out(gn, gid, (gn.a[1], lin.windows[0]), (gn.a[3], truth[0]))
    assert g["outcome"] == DEFENDER_WON and g["hi"] == 128 and g["lo"] == 127


def test_window_zero_step_zero_checks_the_genesis(gn: GameNet) -> None:
    """A trainer wrong at step 1 of its first window: the one-step's pre-state is the genesis, rebuilt on chain."""
    trainer, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(trainer))
    truth: list[list[bytes]] = []
    lin.commit(gn, trainer, lie_at=1, honest_view=truth)
    gid = gn.challenge(finder, lin.beast, 0)
    for _ in range(7):
        play_defender(gn, trainer, gid, lin.windows[0])
        g = gn.game_of(gid)
        gn.respond(finder, gid, bytes(g["midHash"]) == h16(truth[0][(g["lo"] + g["hi"]) // 2]))
    g = gn.game_of(gid)
    assert (g["lo"], g["hi"], g["challengerToMove"]) == (0, 1, True)  # the challenger stays to move
    with raises_error("GamePreStateMismatch"):
        gn.prove_step(finder, gid, b"not the genesis")
    r = gn.prove_step(finder, gid, truth[0][0], tag="proveStep (genesis rebuilt)")
    assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON
    print("\nproveStep at step 0 of window 0 (genesis rebuilt, toy verifier):", r.gas)
    assert r.gas < 1_600_000


def test_clocks_defender_absent_and_challenger_silent(gn: GameNet) -> None:
    lin, truth = honest_lineage(gn)
    c = gn.a[4]
    before = gn.cb.balance_of(c.address)
    gid = gn.challenge(c, lin.beast, 1)
    gn.mine(gn.clock - 1)
    with raises_error("GameClockRunning"):
        gn.timeout(gn.a[9], gid)
    gn.mine(1)
    with raises_error("GameClockExpired"):
        gn.bisect(gn.a[1], gid, h16(lin.windows[1][64]))
    r = gn.timeout(gn.a[9], gid)
    ended = r.named("GameEnded")[0]
    assert ended["outcome"] == CHALLENGER_WON and ended["reason"] == TIMEOUT
    assert gn.status(lin.beast, 1) == SLASHED
    assert gn.cb.balance_of(c.address) == before  # its own bond back

    gid = gn.challenge(c, lin.beast, 0)
    gn.bisect(gn.a[1], gid, h16(lin.windows[0][64]))
    gn.mine(gn.clock + 1)
    with raises_error("GameClockExpired"):
        gn.respond(c, gid, True)
    gn.timeout(gn.a[9], gid)
    assert gn.game_of(gid)["outcome"] == DEFENDER_WON


def test_the_challenger_must_prove_the_last_step_on_its_own_clock(gn: GameNet) -> None:
    """At hi - lo == 1 the turn stays with the challenger: silent, it loses; the defender has no move."""
    lin, truth = honest_lineage(gn, windows=1)
    c, d = gn.a[4], gn.a[1]
    gid = gn.challenge(c, lin.beast, 0)
    while (g := gn.game_of(gid))["hi"] - g["lo"] > 1:
        if g["challengerToMove"]:
            gn.respond(c, gid, False)
        else:
            play_defender(gn, d, gid, lin.windows[0])
    assert g["challengerToMove"] and (g["lo"], g["hi"]) == (0, 1)
    with raises_error("GameNotYourMove"):
        gn.bisect(d, gid, h16(b"x"))
    with raises_error("GameNotYourMove"):
        gn.prove_step(d, gid, truth[0][0])  # only the challenger proves
    with raises_error("GameNotYourMove"):
        gn.respond(c, gid, True)  # nothing left to bisect
    g = gn.game_of(gid)
    gn.mine(g["challengerClock"] - (gn.block() - g["lastMove"]) - 1)
    with raises_error("GameClockRunning"):
        gn.timeout(gn.a[9], gid)  # mined one block past the last one the clock allows
    gn.mine(1)
    with raises_error("GameClockExpired"):
        gn.prove_step(c, gid, truth[0][0])
    r = gn.timeout(gn.a[9], gid)
    assert r.named("GameEnded")[0]["outcome"] == DEFENDER_WON


def test_clock_is_spent_only_on_ones_own_turns(gn: GameNet) -> None:
    lin, truth = honest_lineage(gn, windows=1)
    c = gn.a[4]
    gid = gn.challenge(c, lin.beast, 0)
    gn.mine(10)
    gn.bisect(gn.a[1], gid, h16(lin.windows[0][64]))  # 11 blocks of the defender's clock
    gn.mine(20)
    gn.respond(c, gid, True)  # 21 of the challenger's
    g = gn.game_of(gid)
    assert (g["defenderClock"], g["challengerClock"]) == (gn.clock - 11, gn.clock - 21)


def test_moves_out_of_turn_and_strangers_refused(gn: GameNet) -> None:
    owner, trainer = gn.a[1], gn.a[2]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, trainer.address)
    lin = Lineage(beast)
    lin.commit(gn, trainer)
    c = gn.a[4]
    gid = gn.challenge(c, lin.beast, 0)
    with raises_error("GameNotYourMove"):
        gn.respond(c, gid, True)
    with raises_error("GameNotDefender"):
        gn.bisect(gn.a[5], gid, h16(lin.windows[0][64]))
    with raises_error("GameNotDefender"):  # the owner did not commit this window: its trainer did
        gn.bisect(owner, gid, h16(lin.windows[0][64]))
    with raises_error("GameZeroHash"):
        gn.bisect(trainer, gid, b"\x00" * 16)
    gn.bisect(trainer, gid, h16(lin.windows[0][64]))
    with raises_error("GameNotYourMove"):
        gn.bisect(trainer, gid, h16(lin.windows[0][64]))
    with raises_error("GameNotYourMove"):
        gn.respond(gn.a[5], gid, True)
    with raises_error("GameNotYourMove"):
        gn.prove_step(c, gid, lin.windows[0][0])  # not at the last step
    with raises_error("GameNotYourMove"):
        gn.prove_word_lie(gn.a[5], gid, lin.windows[0][-1])
    with raises_error("GameNotFound"):
        gn.timeout(c, 999)


def test_commit_reveal_rules(gn: GameNet) -> None:
    lin, _ = honest_lineage(gn, windows=1)
    c, other = gn.a[4], gn.a[5]
    salt = keccak(b"salt")
    with raises_error("GameCommitmentMissing", committedAt=0):
        gn.reveal(c, lin.beast, 0, salt)  # never committed
    r = gn.commit_challenge(c, lin.beast, 0, salt)
    assert r.named("ChallengeCommitted")[0]["commitment"] == commitment(c.address, lin.beast, 0, salt)
    with raises_error("GameCommitmentExists"):
        gn.commit_challenge(c, lin.beast, 0, salt)
    with raises_error("GameCommitmentMissing", committedAt=0):
        gn.reveal(other, lin.beast, 0, salt)  # a commitment binds its sender: nobody else reveals it
    with raises_error("GameCommitmentMissing", committedAt=0):
        gn.reveal(c, lin.beast, 0, keccak(b"other salt"))
    with raises_error("GameCommitmentMissing", committedAt=0):
        gn._send(c, gn.game, "challenge", [lin.beast, 1, salt], 600_000)  # another window
    gid = gn.reveal(c, lin.beast, 0, salt)
    assert gn.game_of(gid)["commitmentBlock"] == r.block
    with raises_error("GameCommitmentMissing", committedAt=0):
        gn.reveal(c, lin.beast, 0, salt)  # one game per commitment


def test_reveal_in_the_commitment_block_is_refused(gn: GameNet) -> None:
    """commitChallenge and challenge in one block (here one transaction of a contract): refused."""
    lin, _ = honest_lineage(gn, windows=1)
    caller = deploy_caller(gn, gn.a[4])
    salt = keccak(b"same block")
    c = commitment(caller.address, lin.beast, 0, salt)
    with raises_error("GameCommitmentMissing"):
        gn._send(gn.a[4], caller, "commitAndChallenge", [gn.game.address, lin.beast, 0, salt], 600_000)
    # Reverted with it: nothing was committed. Committed in one block, revealed in a later one: opens.
    gn._send(gn.a[4], caller, "forward", [gn.game.address, gn.game.encode_abi("commitChallenge", args=[c])], 600_000)
    r = gn._send(gn.a[4], caller, "forward",
                 [gn.game.address, gn.game.encode_abi("challenge", args=[lin.beast, 0, salt])], 600_000)
    assert r.named("GameOpened")[0]["challenger"] == caller.address


def test_challenge_rules_on_the_ledger(gn: GameNet) -> None:
    lin, _ = honest_lineage(gn, windows=1)
    c = gn.a[4]
    gid = gn.challenge(c, lin.beast, 0)
    gn.mine(gn.cb.param(Param.CHALLENGE_PERIOD) + 1)
    with raises_error("LedgerWindowNotOpen", status=CHALLENGED):
        gn.cb.finalize(gn.a[0], lin.beast, 0)  # no finalization while a game is open
    with raises_error("LedgerChallengePeriodOver"):
        gn.challenge(c, lin.beast, 0)
    gn.timeout(gn.a[9], gid)  # the defender never came: slashed
    with raises_error("LedgerWindowNotOpen", status=SLASHED):
        gn.cb.finalize(gn.a[0], lin.beast, 0)
    with raises_error("LedgerWindowNotOpen", status=0):
        gn.challenge(c, lin.beast, 5)  # never committed


def test_only_the_bound_game_calls_the_hooks(gn: GameNet) -> None:
    lin, _ = honest_lineage(gn, windows=1)
    stored = gn.cb.stored_of(lin.beast, 0)
    with raises_error("LedgerOnlyGame"):
        gn._send(gn.a[3], gn.cb.ledger, "beginGame", [lin.beast, 0], 300_000)
    with raises_error("LedgerOnlyGame"):
        gn._send(gn.a[3], gn.cb.ledger, "endGame", [lin.beast, 0, stored, True], 300_000)


def test_constructor_refuses_bad_clocks_and_other_shapes() -> None:
    """clockBlocks outside [8, 2^24]; a season whose SlabParams is not the default shape's (the only
    genesis GenesisState rebuilds)."""
    raw, cb, deployer = start_chain(2, {"challenge_period": 600})
    for bad in (0, 7, 2**24 + 1):
        with raises_error("GameClockInvalid", clockBlocks=bad):
            deploy_game(cb, deployer, deployer.address, bad)
    for ok in (8, 2**24):
        deploy_game(cb, deployer, deployer.address, ok)
    raw2, cb2, deployer2 = start_chain(2, {"challenge_period": 600, "slab_params": 2000})
    with raises_error("GameShapeUnsupported", slabParams=2000):
        deploy_game(cb2, deployer2, deployer2.address, 64)


def test_word_only_lie_loses_to_the_final_state(gn: GameNet) -> None:
    """A word whose h128 is the true final state's but whose flags claim a drop in loss."""
    trainer, finder = gn.a[1], gn.a[2]
    beast = gn.cb.hatch(trainer)
    hd = gn.cb.hatch_data(beast)
    final = bytearray(genesis_v2_bytes(bytes(hd.seed_core)))
    final[144:148] = (128).to_bytes(4, "little")  # global_step after window 0
    final[148:152] = (1).to_bytes(4, "little")
    final = bytes(final)
    gn.cb.commit(trainer, beast, word_for(0, h16(final), flags=4))  # LOSS_DROPPED claimed, state says 0
    gid = gn.challenge(finder, beast, 0)
    with raises_error("GameFinalStateMismatch"):
        gn.prove_word_lie(finder, gid, final + b"\x00")
    r = gn.prove_word_lie(finder, gid, final)
    assert r.named("GameEnded")[0]["reason"] == 1
    assert gn.status(beast, 0) == SLASHED

    # The same state under its true word: the proof is refused.
    beast2 = gn.cb.hatch(trainer)
    hd2 = gn.cb.hatch_data(beast2)
    final2 = bytearray(genesis_v2_bytes(bytes(hd2.seed_core)))
    final2[144:148] = (128).to_bytes(4, "little")
    final2 = bytes(final2)
    gn.cb.commit(trainer, beast2, word_for(0, h16(final2), mask=3, lr_shift=6))
    gid2 = gn.challenge(finder, beast2, 0)
    with raises_error("GameWordConsistent"):
        gn.prove_word_lie(finder, gid2, final2)


def test_private_beast_owner_proves_against_its_hired_trainer(gn: GameNet) -> None:
    """The owner disputes its hired trainer; the one-step reveals S_owner, checked against the hatch."""
    owner, trainer = gn.a[1], gn.a[2]
    secret = keccak(b"owner secret")
    beast = gn.cb.hatch(owner, keccak(b"dataset"), keccak(secret), keccak(b"records root"))
    gn.cb.authorize_trainer(owner, beast, trainer.address)
    lin = Lineage(beast)
    truth: list[list[bytes]] = []
    lin.commit(gn, trainer, s_owner=secret, lie_at=40, honest_view=truth)
    hd = gn.cb.hatch_data(beast)
    assert lin.windows[0][0] == genesis_v2_bytes(bytes(hd.seed_core), keccak(b"records root"))
    gid = gn.challenge(owner, beast, 0)
    while gn.game_of(gid)["hi"] - gn.game_of(gid)["lo"] > 1:
        play_defender(gn, trainer, gid, lin.windows[0])
        play_challenger(gn, owner, gid, truth[0])
    g = gn.game_of(gid)
    assert (g["lo"], g["hi"]) == (39, 40) and g["defender"] == trainer.address
    with raises_error("GameSecretMismatch"):  # refused before the verifier runs
        gn.prove_step(owner, gid, truth[0][39], empty_sample(keccak(b"a guess")))
    r = gn.prove_step(owner, gid, truth[0][39], empty_sample(secret))
    assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON


def test_fifty_sybil_challengers_pay_the_honest_trainer(gn: GameNet) -> None:
    lin, truth = honest_lineage(gn, windows=1)
    trainer = gn.a[1]
    sybils = gn.a[10:60]
    before = gn.cb.balance_of(trainer.address)
    gids = [gn.challenge(s, lin.beast, 0) for s in sybils]
    for gid in gids:  # the trainer answers in every game (no bond of its own to post)
        gn.bisect(trainer, gid, h16(lin.windows[0][64]))
    # One sybil plays to the end at random, the rest go silent; a sybil cannot defend.
    g = play_out(gn, gids[0], (trainer, lin.windows[0]), (sybils[0], None), rng=random.Random(1))
    assert g["outcome"] == DEFENDER_WON
    with raises_error("GameNotDefender"):
        gn.bisect(sybils[1], gn.challenge(sybils[1], lin.beast, 0), h16(b"fake"))  # a fake defender
    gn.mine(gn.clock + 1)
    for gid in gids[1:]:
        gn.timeout(gn.a[0], gid)
    assert all(gn.game_of(gid)["outcome"] == DEFENDER_WON for gid in gids)
    assert gn.cb.balance_of(trainer.address) == before + 50 * gn.bond()
    assert gn.status(lin.beast, 0) == CHALLENGED  # the last sybil's game is still open


def test_reward_goes_to_the_earliest_commitment_not_the_first_win(gn: GameNet) -> None:
    """The finder commits first; a later challenger's game ends first and slashes the window; the
    finder's game still wins later: the reward is the finder's, the other gets its bond back."""
    cheater, finder, late = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    k = lin.commit(gn, cheater, lie_at=100, honest_view=truth)
    f0, l0 = gn.cb.balance_of(finder.address), gn.cb.balance_of(late.address)
    gn.commit_challenge(finder, lin.beast, k)
    gn.commit_challenge(late, lin.beast, k)
    late_gid = gn.reveal(late, lin.beast, k)  # opened first, committed later
    gid = gn.reveal(finder, lin.beast, k)
    gl = play_out(gn, late_gid, (cheater, lin.windows[k]), (late, truth[k]))
    assert gl["outcome"] == CHALLENGER_WON and gn.status(lin.beast, k) == SLASHED
    with raises_error("GameWindowOpen", open=1):
        gn.claim_reward(late, lin.beast, k, gl["stored"])  # the finder's game is still open
    g = play_out(gn, gid, (cheater, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON
    pot = gn.pot_of(lin.beast, k, g["stored"])
    assert pot["bestGame"] == gid and pot["reward"] == BURN and pot["open"] == 0
    gn.claim_reward(late, lin.beast, k, g["stored"])
    assert gn.cb.balance_of(finder.address) == f0 + BURN
    assert gn.cb.balance_of(late.address) == l0
    assert gn.held_by_game() == 0


def test_equal_commitment_blocks_go_to_the_lowest_game_id(gn: GameNet) -> None:
    cheater, a, b = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    k = lin.commit(gn, cheater, lie_at=3)
    w3, tester = gn.raw.w3, gn.raw.tester
    salts = {a.address: keccak(b"a"), b.address: keccak(b"b")}
    tester.disable_auto_mine_transactions()
    try:
        for acct in (a, b):
            tx = {"chainId": w3.eth.chain_id, "gas": 100_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1,
                  "to": gn.game.address, "nonce": w3.eth.get_transaction_count(acct.address),
                  "data": gn.game.encode_abi("commitChallenge",
                                             args=[commitment(acct.address, lin.beast, k, salts[acct.address])])}
            w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
        tester.mine_blocks(1)
    finally:
        tester.enable_auto_mine_transactions()
    gn.cb.sender._nonces.clear()
    gb = gn.reveal(b, lin.beast, k, salts[b.address])
    ga = gn.reveal(a, lin.beast, k, salts[a.address])
    assert gn.game_of(ga)["commitmentBlock"] == gn.game_of(gb)["commitmentBlock"]
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], ga)
    gn.timeout(gn.a[0], gb)
    stored = gn.game_of(ga)["stored"]
    assert gn.pot_of(lin.beast, k, stored)["bestGame"] == min(ga, gb) == gb
    b0 = gn.cb.balance_of(b.address)
    gn.claim_reward(a, lin.beast, k, stored)
    assert gn.cb.balance_of(b.address) == b0 + BURN


def test_one_honest_challenger_beats_fifty_colluding_ones(gn: GameNet) -> None:
    """Fifty accounts of the cheater challenge its false window and lose on purpose, fake defenders
    try to move in the honest game: the honest challenger's own game still slashes the window."""
    cheater, finder = gn.a[1], gn.a[2]
    sybils = gn.a[10:60]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    k = lin.commit(gn, cheater, lie_at=64, honest_view=truth)
    fake_games = [gn.challenge(s, lin.beast, k) for s in sybils]
    # One collusive game is played to a defender win first: it shields nothing.
    play_out(gn, fake_games[0], (cheater, lin.windows[k]), (sybils[0], None), rng=random.Random(7))
    assert gn.game_of(fake_games[0])["outcome"] == DEFENDER_WON
    assert gn.status(lin.beast, k) == CHALLENGED
    gid = gn.challenge(finder, lin.beast, k)
    for s in sybils[:5]:
        with raises_error("GameNotDefender"):
            gn.bisect(s, gid, h16(truth[k][64]))
    g = play_out(gn, gid, (cheater, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON and gn.status(lin.beast, k) == SLASHED


def test_gas_per_move(gn: GameNet) -> None:
    """Gas of every move and outcome (toy verifier: the proveStep rows exclude StepVerifier's own
    gas; test_bisection_real.py measures it). Rows for docs/PERFORMANCE.md."""
    lin, truth = honest_lineage(gn, windows=2)
    bad = Lineage(gn.cb.hatch(gn.a[5]))
    bad_truth: list[list[bytes]] = []
    for _ in range(2):
        bad.commit(gn, gn.a[5], lie_at=90, honest_view=bad_truth)
    gn.gas.clear()
    c = gn.a[3]
    gn.commit_challenge(c, lin.beast, 1)
    gid = gn._send(c, gn.game, "challenge", [lin.beast, 1, gn.salts.pop((c.address, lin.beast, 1))], 600_000,
                   "challenge (first game on the window)").named("GameOpened")[0]["gameId"]
    gn.commit_challenge(c, lin.beast, 1)
    gid2 = gn._send(c, gn.game, "challenge", [lin.beast, 1, gn.salts.pop((c.address, lin.beast, 1))], 600_000,
                    "challenge (another game on it)").named("GameOpened")[0]["gameId"]
    while (g := gn.game_of(gid))["hi"] - g["lo"] > 1:  # the challenger agrees to the end: it loses
        play_defender(gn, gn.a[1], gid, lin.windows[1]) if not g["challengerToMove"] else play_challenger(
            gn, c, gid, truth[1], g=g)
    gn.prove_step(c, gid, truth[1][127], tag="proveStep (defender wins)")
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], gid2)  # the defender stays away (an honest window slashed: it had no reason to)
    fid = gn.challenge(c, bad.beast, 1)
    while (g := gn.game_of(fid))["hi"] - g["lo"] > 1:
        play_defender(gn, gn.a[5], fid, bad.windows[1]) if not g["challengerToMove"] else play_challenger(
            gn, c, fid, bad_truth[1], g=g)
    gn.prove_step(c, fid, bad_truth[1][89], tag="proveStep (challenger wins: slash, reward held)")
    gn.claim_reward(c, bad.beast, 1, gn.game_of(fid)["stored"])
    gid3 = gn.challenge(c, lin.beast, 0)
    gn.bisect(gn.a[1], gid3, h16(lin.windows[0][64]))
    gn.mine(gn.clock + 1)
    gn._send(gn.a[0], gn.game, "timeout", [gid3], 600_000, "timeout (defender wins)")
    report = {k: (min(v), max(v), len(v)) for k, v in gn.gas.items()}
    print("\nBisectionGame gas per move (min, max, count):")
    for k, v in report.items():
        print(f"  {k}: {v}")
    assert report["commitChallenge"][1] < 60_000
    assert report["challenge (first game on the window)"][1] < 400_000
    assert report["bisect"][1] < 60_000
    assert report["respond"][1] < 60_000
    assert report["timeout"][1] < 250_000
    assert report["claimReward"][1] < 100_000


def test_a_version_1_deployment_cannot_be_bisected() -> None:
    """Version-1 windows are not 128 micro-steps of step states: the game refuses them outright."""
    gn1 = start_game_net(accounts=2, params={"challenge_period": 600}, spec_version=1)
    beast = gn1.cb.hatch(gn1.a[1])
    gn1.cb.commit(gn1.a[1], beast, word_for(0, b"\x11" * 16))
    with raises_error("GameSpecVersion", specVersion=1):
        gn1.challenge(gn1.a[1], beast, 0)
