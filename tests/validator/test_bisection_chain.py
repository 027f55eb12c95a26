"""The bisection player against the real BisectionGame and StepVerifier on the embedded chain (py-evm).

Every game here is played by :func:`validator.bisection.play_challenger` and
:func:`validator.bisection.play_defender` with real kernel step states (spec version 2): an honest
challenger beats a trainer that lies in exactly one micro-step (step state 77 corrupted, the later
ones recomputed from it); a lying challenger loses to an honest defender, whose claims are exactly
the honest hashes; the word-lie proof and the defender's timeout end games at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

import devnet
from kernel.payload import Payload
from kernel.sources import PublicSource
from kernel.state import genesis
from kernel.step import WindowStart
from tests.validator.bisection_lineages import LR_SHIFT, MASK, WRONG_AT, lying_states
from validator.bisection import (
    CHALLENGER_WON,
    DEFENDER_WON,
    ReplaySource,
    StatesSource,
    checkpoint_word,
    play_challenger,
    play_defender,
    read_game,
)

CLOCK = 16  # blocks per side


@pytest.fixture(scope="module")
def net() -> Iterator[Any]:
    raw = devnet.start(accounts=6, params={"challenge_period": 600}, game_clock_blocks=CLOCK)
    yield raw


@pytest.fixture
def chain(net: Any) -> Iterator[Any]:
    """The module's chain, reverted after each test."""
    snap = net.tester.take_snapshot()
    net.chain.sender._nonces.clear()
    yield net
    net.tester.revert_to_snapshot(snap)
    net.chain.sender._nonces.clear()


def window_one(cb: Any, beast: int) -> tuple[Any, WindowStart]:
    """The beast's genesis and window 1's settings (epoch 0's seed is seedCore)."""
    hd = cb.hatch_data(beast)
    g = genesis(bytes(hd.seed_core), cb.kernel_params(), spec_version=2)
    return g, WindowStart(MASK, LR_SHIFT, cb.epoch_seed(beast, 0))


def settings_word() -> bytes:
    """A word carrying only window 1's settings (mask, lrShift): what a replay reads of the committed word."""
    return Payload(b"\x01" * 16, 128, 1, MASK, LR_SHIFT, 0).pack()


def open_game(cb: Any, challenger: Any, beast: int, index: int) -> int:
    salt = secrets.token_bytes(32)
    cb.commit_challenge(challenger, beast, index, salt)
    return int(cb.challenge(challenger, beast, index, salt))


def play_out(cb: Any, gid: int, challenger: tuple[Any, Any], defender: tuple[Any, Any] | None,
             limit: int = 64) -> list[Any]:
    """Both sides move in turn until the game ends; a missing defender is timed out. Returns the moves sent."""
    moves = []
    for _ in range(limit):
        if not read_game(cb, gid).open:
            return moves
        m = play_challenger(cb, challenger[0], gid, challenger[1])
        if m is None and defender is not None:
            m = play_defender(cb, defender[0], gid, defender[1])
        if m is None:
            cb.mine(1)  # nobody moved: the clock runs
        else:
            moves.append(m)
    raise AssertionError(f"game {gid} still open after {limit} rounds: {read_game(cb, gid)}")


def test_honest_challenger_beats_a_trainer_lying_in_one_micro_step(chain: Any) -> None:
    from devnet.bindings import WindowStatus

    cb, (trainer, challenger) = chain.chain, chain.accounts[1:3]
    beast = cb.hatch(trainer)
    g0, w = window_one(cb, beast)
    lie = lying_states(g0, PublicSource(), w)
    word = checkpoint_word(lie[-1])
    cb.commit(trainer, beast, word)
    honest = ReplaySource(g0, word, w.epoch_seed)
    assert honest.word() != word and honest.hash_at(WRONG_AT - 1) == lie[WRONG_AT - 1].h128()
    gid = open_game(cb, challenger, beast, 0)
    before = cb.balance_of(challenger.address)
    moves = play_out(cb, gid, (challenger, honest), (trainer, StatesSource(lie)))
    g = read_game(cb, gid)
    assert g.outcome == CHALLENGER_WON and (g.lo, g.hi) == (WRONG_AT - 1, WRONG_AT)
    assert [m.kind for m in moves].count("bisect") == 7 and moves[-1].kind == "prove_step"
    assert cb.window_status(beast, 0) == WindowStatus.SLASHED
    ev = cb.events("BisectionGame", "GameEnded", gid)[0].args
    assert int(ev["reason"]) == 0  # the verifier decided the step
    r = cb.claim_reward(challenger, beast, 0, g.stored)
    amount = int(r.event("RewardClaimed").args["amount"])
    assert amount > 0 and cb.balance_of(challenger.address) == before + g.bond + amount  # bond back + reward


def test_lying_challenger_loses_and_the_defender_claims_exactly_the_honest_hashes(chain: Any) -> None:
    cb, (trainer, challenger) = chain.chain, chain.accounts[1:3]
    beast = cb.hatch(trainer)
    g0, w = window_one(cb, beast)
    honest = ReplaySource(g0, settings_word(), w.epoch_seed)
    word = honest.word()
    assert word is not None
    cb.commit(trainer, beast, word)
    liar = StatesSource(lying_states(g0, PublicSource(), w))  # a challenger that believes the wrong states
    gid = open_game(cb, challenger, beast, 0)
    trainer_before = cb.balance_of(trainer.address)
    play_out(cb, gid, (challenger, liar), (trainer, honest))
    g = read_game(cb, gid)
    assert g.outcome == DEFENDER_WON
    claims = [(int(e.args["mid"]), bytes(e.args["hash"])) for e in cb.events("BisectionGame", "Bisected", gid)]
    assert len(claims) == 7 and all(h == honest.hash_at(mid) for mid, h in claims)
    assert cb.balance_of(trainer.address) == trainer_before + g.bond  # the challenger's bond, to the defender


def test_a_right_h128_in_a_lying_word_is_proven_at_once(chain: Any) -> None:
    from dataclasses import replace

    cb, (trainer, challenger) = chain.chain, chain.accounts[1:3]
    beast = cb.hatch(trainer)
    g0, w = window_one(cb, beast)
    honest = ReplaySource(g0, settings_word(), w.epoch_seed)
    good = Payload.unpack(honest.word())  # type: ignore[arg-type]
    cb.commit(trainer, beast, replace(good, flags=good.flags ^ 1).pack())  # LOSS_DROPPED flipped, h128 right
    gid = open_game(cb, challenger, beast, 0)
    m = play_challenger(cb, challenger, gid, honest)
    assert m is not None and m.kind == "prove_word_lie" and read_game(cb, gid).outcome == CHALLENGER_WON


def test_a_silent_defender_is_timed_out(chain: Any) -> None:
    cb, (trainer, challenger) = chain.chain, chain.accounts[1:3]
    beast = cb.hatch(trainer)
    g0, w = window_one(cb, beast)
    lie = lying_states(g0, PublicSource(), w)
    cb.commit(trainer, beast, checkpoint_word(lie[-1]))
    honest = ReplaySource(g0, checkpoint_word(lie[-1]), w.epoch_seed)
    gid = open_game(cb, challenger, beast, 0)
    assert play_challenger(cb, challenger, gid, honest) is None  # the defender's clock runs
    cb.mine(CLOCK)
    assert play_challenger(cb, challenger, gid, honest) is None  # the latest block is the defender's last one
    cb.mine(1)
    m = play_challenger(cb, challenger, gid, honest)
    assert m is not None and m.kind == "timeout" and read_game(cb, gid).outcome == CHALLENGER_WON
