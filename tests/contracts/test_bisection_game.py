"""BisectionGame (docs/PROTOCOL.md §10) on py-evm: outcomes, clocks, bonds, sybils, copies, self-challenges.

The transition is the stand-in ToyStepVerifier (bisection_helpers), so that many games stay cheap;
the game, the ledger hooks, the genesis rebuild and the money are the committed contracts. The
same game against the real StepVerifier and kernel step states: test_bisection_real.py.
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
    each_test_reverted,
    BURN,
    GameNet,
    Lineage,
    empty_sample,
    genesis_v2_bytes,
    h16,
    play_challenger,
    play_defender,
    play_out,
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


def bond(gn: GameNet) -> int:
    return gn.cb.param(Param.BOND_MULTIPLIER) * BURN


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


def test_lying_trainer_loses_one_wrong_step(gn: GameNet) -> None:
    trainer, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(trainer))
    truth: list[list[bytes]] = []
    for _ in range(4):
        lin.commit(gn, trainer, honest_view=truth)
    k = lin.commit(gn, trainer, lie_at=77, honest_view=truth)  # window 5: step 77 wrong
    before_t, before_f = gn.cb.balance_of(trainer.address), gn.cb.balance_of(finder.address)
    supply = gn.cb.energy.functions.totalSupply().call()
    gid = gn.challenge(finder, lin.beast, k)
    assert gn.status(lin.beast, k) == CHALLENGED
    g = play_out(gn, gid, (trainer, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON
    assert (g["lo"], g["hi"]) == (76, 77)
    assert gn.status(lin.beast, k) == SLASHED
    b = bond(gn)
    assert gn.cb.balance_of(finder.address) == before_f + b  # its bond back and the trainer's
    assert gn.cb.balance_of(trainer.address) == before_t - b
    assert gn.cb.energy.functions.totalSupply().call() == supply - BURN  # the escrow burned
    assert gn.held_by_game() == 0


def test_lying_challenger_loses_its_bond(gn: GameNet) -> None:
    lin, truth = honest_lineage(gn)
    liar = gn.a[3]
    before = gn.cb.balance_of(liar.address)
    gid = gn.challenge(liar, lin.beast, 1)
    g = play_out(gn, gid, (gn.a[1], lin.windows[1]), (liar, None), rng=random.Random(5))
    assert g["outcome"] == DEFENDER_WON
    assert gn.cb.balance_of(liar.address) == before - bond(gn)
    assert gn.status(lin.beast, 1) == COMMITTED  # back from Challenged, finalizable later
    gn.mine(gn.cb.param(Param.CHALLENGE_PERIOD) + 1)
    gn.cb.finalize(gn.a[0], lin.beast, 1)


def test_a_challenger_that_proves_a_true_step_loses(gn: GameNet) -> None:
    """The liar follows the truth to the last step and proves it: the verifier agrees with the trainer."""
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
        g = gn.game_of(gid)
        gn.bisect(trainer, gid, h16(lin.windows[0][(g["lo"] + g["hi"]) // 2]))
        g = gn.game_of(gid)
        gn.respond(finder, gid, bytes(g["midHash"]) == h16(truth[0][(g["lo"] + g["hi"]) // 2]))
    assert (gn.game_of(gid)["lo"], gn.game_of(gid)["hi"]) == (0, 1)
    with raises_error("GamePreStateMismatch"):
        gn.prove_step(finder, gid, b"not the genesis")
    r = gn.prove_step(finder, gid, truth[0][0], tag="proveStep (genesis rebuilt)")
    assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON
    print("\nproveStep at step 0 of window 0 (genesis rebuilt, toy verifier):", r.gas)
    assert r.gas < 1_500_000


def test_clocks_defender_absent_and_challenger_silent(gn: GameNet) -> None:
    lin, _ = honest_lineage(gn)
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
    assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON and r.named("GameEnded")[0]["reason"] == 2
    assert gn.status(lin.beast, 1) == SLASHED
    assert gn.cb.balance_of(c.address) == before  # no defender bond to win: its own back

    gid = gn.challenge(c, lin.beast, 0)
    gn.bisect(gn.a[1], gid, h16(lin.windows[0][64]))
    gn.mine(gn.clock + 1)
    with raises_error("GameClockExpired"):
        gn.respond(c, gid, True)
    gn.timeout(gn.a[9], gid)
    assert gn.game_of(gid)["outcome"] == DEFENDER_WON
    assert gn.status(lin.beast, 0) == COMMITTED


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
    lin, _ = honest_lineage(gn, windows=1)
    c = gn.a[4]
    gid = gn.challenge(c, lin.beast, 0)
    with raises_error("GameNotYourMove"):
        gn.respond(c, gid, True)
    with raises_error("GameNotDefender"):
        gn.bisect(gn.a[5], gid, h16(lin.windows[0][64]))
    with raises_error("GameZeroHash"):
        gn.bisect(gn.a[1], gid, b"\x00" * 16)
    gn.bisect(gn.a[1], gid, h16(lin.windows[0][64]))
    with raises_error("GameNotYourMove"):
        gn.bisect(gn.a[1], gid, h16(lin.windows[0][64]))
    with raises_error("GameNotYourMove"):
        gn.respond(gn.a[5], gid, True)
    with raises_error("GameNotYourMove"):
        gn.prove_step(c, gid, lin.windows[0][0])
    with raises_error("GameNotYourMove"):
        gn.prove_word_lie(gn.a[5], gid, lin.windows[0][-1])
    with raises_error("GameNotFound"):
        gn.timeout(c, 999)


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


def test_binding_the_bisection_game_closes_the_vote_game(gn: GameNet) -> None:
    """A vote dispute would hold a false window Disputed (no game can open there) past its deadline
    and end NoQuorum: once the bisection game is bound, the deployment takes no vote disputes."""
    lin, _ = honest_lineage(gn, windows=2)
    gn.challenge(gn.a[4], lin.beast, 0)
    with raises_error("LedgerVoteDisputesClosed", index=1):
        gn.cb.open_dispute(gn.a[5], lin.beast, 1)
    with raises_error("LedgerVoteDisputesClosed", index=0):
        gn.cb.open_dispute(gn.a[5], lin.beast, 0)


def test_only_the_bound_game_calls_the_hooks(gn: GameNet) -> None:
    lin, _ = honest_lineage(gn, windows=1)
    with raises_error("LedgerOnlyDisputeGame"):
        gn._send(gn.a[3], gn.cb.ledger, "beginGame", [lin.beast, 0], 300_000)
    with raises_error("LedgerOnlyDisputeGame"):
        gn._send(gn.a[3], gn.cb.ledger, "endGame", [lin.beast, 0, True], 300_000)
    with raises_error("LedgerDisputeGameBinding"):
        gn._send(gn.a[0], gn.cb.ledger, "bindBisectionGame", [gn.a[3].address], 300_000)


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


def test_private_beast_needs_the_owner_secret(gn: GameNet) -> None:
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
    for gid in gids:  # the trainer sits down in every game
        gn.bisect(trainer, gid, h16(lin.windows[0][64]))
    # One sybil plays to the end at random, one proves a true step; the rest go silent.
    g = play_out(gn, gids[0], (trainer, lin.windows[0]), (sybils[0], None), rng=random.Random(1))
    assert g["outcome"] == DEFENDER_WON
    with raises_error("GameNotDefender"):
        gn.bisect(sybils[1], gn.challenge(sybils[1], lin.beast, 0), h16(b"fake"))  # a fake defender
    gn.mine(gn.clock + 1)
    for gid in gids[1:]:
        gn.timeout(gn.a[0], gid)
    assert all(gn.game_of(gid)["outcome"] == DEFENDER_WON for gid in gids)
    assert gn.cb.balance_of(trainer.address) == before + 50 * bond(gn)
    assert gn.status(lin.beast, 0) == CHALLENGED  # the fake defender's game is still open


def test_copying_a_pending_challenge_takes_nothing_from_the_finder(gn: GameNet) -> None:
    """A bot copies the finder's challenge (even ahead of it): it gets a game of its own; the finder's
    game and payout are the same as without it, and the copy pays only if the cheater bonds in it."""
    cheater, finder, copier = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    k = lin.commit(gn, cheater, lie_at=100, honest_view=truth)
    f0, c0 = gn.cb.balance_of(finder.address), gn.cb.balance_of(copier.address)
    copy = gn.challenge(copier, lin.beast, k)  # front-run
    gid = gn.challenge(finder, lin.beast, k)
    g = play_out(gn, gid, (cheater, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON
    assert gn.cb.balance_of(finder.address) == f0 + bond(gn)
    # The cheater does not bond in the copy (its window is lost anyway): the copy ends by timeout
    # and returns the copier's own bond, nothing more.
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], copy)
    assert gn.game_of(copy)["outcome"] == CHALLENGER_WON
    assert gn.cb.balance_of(copier.address) == c0
    assert gn.cb.balance_of(finder.address) == f0 + bond(gn)
    assert gn.held_by_game() == 0


def test_self_challenge_costs_at_least_honesty(gn: GameNet) -> None:
    """A cheater challenges its own false window from a second account and loses on purpose: its two
    accounts together lose the escrow, exactly what an honest window burns; nobody is paid from it."""
    cheater, alt = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(cheater))
    before = gn.cb.balance_of(cheater.address) + gn.cb.balance_of(alt.address)
    k = lin.commit(gn, cheater, lie_at=5)
    gid = gn.challenge(alt, lin.beast, k)
    rng = random.Random(3)
    g = play_out(gn, gid, (cheater, lin.windows[k]), (alt, None), rng=rng)
    after = gn.cb.balance_of(cheater.address) + gn.cb.balance_of(alt.address)
    honest_cost = BURN
    assert before - after >= honest_cost
    assert g["outcome"] in (DEFENDER_WON, CHALLENGER_WON)

    # The honest alternative: commit and finalize burns the same escrow.
    honest = gn.a[4]
    h_lin = Lineage(gn.cb.hatch(honest))
    b0 = gn.cb.balance_of(honest.address)
    h_lin.commit(gn, honest)
    gn.mine(gn.cb.param(Param.CHALLENGE_PERIOD) + 1)
    gn.cb.finalize(gn.a[0], h_lin.beast, 0)
    assert b0 - gn.cb.balance_of(honest.address) == honest_cost


def test_one_honest_challenger_beats_fifty_colluding_ones(gn: GameNet) -> None:
    """Fifty accounts of the cheater challenge its false window and lose on purpose, fake defenders
    try to sit in the honest game: the honest challenger's own game still slashes the window."""
    cheater, finder = gn.a[1], gn.a[2]
    sybils = gn.a[10:60]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    k = lin.commit(gn, cheater, lie_at=64, honest_view=truth)
    fake_games = [gn.challenge(s, lin.beast, k) for s in sybils]
    gid = gn.challenge(finder, lin.beast, k)
    for s in sybils[:5]:
        with raises_error("GameNotDefender"):
            gn.bisect(s, gid, h16(truth[k][64]))
    # One collusive game is played to a defender win first: it shields nothing.
    play_out(gn, fake_games[0], (cheater, lin.windows[k]), (sybils[0], None), rng=random.Random(7))
    assert gn.game_of(fake_games[0])["outcome"] == DEFENDER_WON
    assert gn.status(lin.beast, k) == CHALLENGED
    g = play_out(gn, gid, (cheater, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON and gn.status(lin.beast, k) == SLASHED


def test_gas_per_move(gn: GameNet) -> None:
    """Gas of every move in a full game (toy verifier: the one-step row excludes StepVerifier's own gas)."""
    lin, truth = honest_lineage(gn, windows=2)
    gn.gas.clear()
    gid = gn.challenge(gn.a[3], lin.beast, 1)
    play_out(gn, gid, (gn.a[1], lin.windows[1]), (gn.a[3], truth[1]))
    gid = gn.challenge(gn.a[3], lin.beast, 1)
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[3], gid)
    report = {k: (min(v), max(v), len(v)) for k, v in gn.gas.items()}
    print("\nBisectionGame gas per move (min, max, count):", report)
    assert report["challenge"][1] < 320_000
    assert report["bisect (joining)"][1] < 150_000
    assert report["bisect"][1] < 60_000
    assert report["respond"][1] < 60_000
    assert report["timeout"][1] < 100_000


def test_a_version_1_deployment_cannot_be_bisected() -> None:
    """Version-1 windows are not 128 micro-steps of step states: the game refuses them outright."""
    gn1 = start_game_net(accounts=2, params={"challenge_period": 600}, spec_version=1)
    beast = gn1.cb.hatch(gn1.a[1])
    gn1.cb.commit(gn1.a[1], beast, word_for(0, b"\x11" * 16))
    with raises_error("GameSpecVersion", specVersion=1):
        gn1.challenge(gn1.a[1], beast, 0)
