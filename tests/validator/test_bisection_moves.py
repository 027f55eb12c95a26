"""The bisection player's decisions, position by position, on real kernel step states (no chain).

The games themselves run against the real BisectionGame and StepVerifier in
test_bisection_chain.py; here every reachable position of a 128-step bisection is checked: the
defender claims exactly the honest hash of the midpoint, the challenger agrees exactly with the
honest hash, a range of one step is proven from state ``lo`` with its sample, clocks are read the
way the contract reads them, and a right h128 in a lying word is proven at once.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from curriculum.records import verify_path
from kernel.payload import Payload
from kernel.sources import PublicSource
from kernel.step import WindowStart, window_step_states
from tests.validator.bisection_lineages import WRONG_AT, lying_states, private_source, public_window, v2_genesis
from validator.bisection import (
    EMPTY_SAMPLE,
    NO_STATE,
    BisectionError,
    GameView,
    ReplaySource,
    Side,
    StatesSource,
    StepSource,
    checkpoint_word,
    next_move,
)

CLOCK = 64


@pytest.fixture(scope="module")
def honest() -> ReplaySource:
    g, w = public_window()
    truth = window_step_states(g, PublicSource(), w)
    return ReplaySource(g, checkpoint_word(truth[-1]), w.epoch_seed)


@pytest.fixture(scope="module")
def liar() -> StatesSource:
    g, w = public_window()
    return StatesSource(lying_states(g, PublicSource(), w))


def game(word: bytes, **kw: object) -> GameView:
    base = dict(game_id=1, beast_id=1, index=0, challenger="0x" + "aa" * 20, defender="0x" + "bb" * 20, lo=0, hi=128,
                challenger_to_move=False, outcome=0, defender_clock=CLOCK, challenger_clock=CLOCK, last_move=100,
                lo_hash=b"\x01" * 16, hi_hash=word[:16], mid_hash=b"\x00" * 16, word=word)
    base.update(kw)
    return GameView(**base)  # type: ignore[arg-type]


def positions() -> list[tuple[int, int]]:
    """Every (lo, hi) a bisection of 128 steps can reach with hi - lo > 1."""
    out, todo = set(), [(0, 128)]
    while todo:
        lo, hi = todo.pop()
        if hi - lo > 1:
            out.add((lo, hi))
            mid = (lo + hi) // 2
            todo += [(lo, mid), (mid, hi)]
    return sorted(out)


def test_sources_satisfy_the_protocol(honest: ReplaySource, liar: StatesSource) -> None:
    assert isinstance(honest, StepSource) and isinstance(liar, StepSource)
    assert len(positions()) == 127  # the inner nodes of a tree over 128 steps


def test_replay_source_is_the_kernel_window(honest: ReplaySource) -> None:
    g, w = public_window()
    truth = window_step_states(g, PublicSource(), w)
    assert honest.hashes == [s.h128() for s in truth]
    assert honest.state_at(77) == truth[77].to_bytes()
    assert honest.sample_at(0) == EMPTY_SAMPLE and honest.word() == checkpoint_word(truth[-1])
    assert Payload.unpack(honest.word()).h128 == truth[-1].h128()  # type: ignore[arg-type]


def test_the_lie_is_exactly_one_micro_step(honest: ReplaySource, liar: StatesSource) -> None:
    differ = [j for j in range(129) if honest.hash_at(j) != liar.hash_at(j)]
    assert differ == list(range(WRONG_AT, 129))


def test_defender_claims_exactly_the_honest_hashes(honest: ReplaySource) -> None:
    word = honest.word()
    assert word is not None
    for lo, hi in positions():
        m = next_move(game(word, lo=lo, hi=hi), Side.DEFENDER, honest, 100)
        assert m is not None and m.kind == "bisect" and m.args == (honest.hash_at((lo + hi) // 2),)
        # not its turn: nothing (the challenger's clock still runs)
        assert next_move(game(word, lo=lo, hi=hi, challenger_to_move=True), Side.DEFENDER, honest, 100) is None


def test_challenger_agrees_exactly_with_the_honest_hash(honest: ReplaySource, liar: StatesSource) -> None:
    word = liar.hashes[-1] + b"\x00" * 16
    for lo, hi in positions():
        mid = (lo + hi) // 2
        for claim in (honest.hash_at(mid), liar.hash_at(mid)):
            g = game(word, lo=lo, hi=hi, challenger_to_move=True, mid_hash=claim)
            m = next_move(g, Side.CHALLENGER, honest, 100)
            assert m is not None and m.kind == "respond" and m.args == (claim == honest.hash_at(mid),)
        assert next_move(game(word, lo=lo, hi=hi), Side.CHALLENGER, honest, 100) is None


def test_honest_challenger_narrows_a_lying_defender_to_the_lie(honest: ReplaySource, liar: StatesSource) -> None:
    """The decisions alone, chained: the range ends at [76, 77] and the proof starts from state 76."""
    word = liar.hashes[-1] + b"\x00" * 16
    lo, hi = 0, 128
    while hi - lo > 1:
        claim = next_move(game(word, lo=lo, hi=hi), Side.DEFENDER, liar, 100)
        assert claim is not None
        answer = next_move(game(word, lo=lo, hi=hi, challenger_to_move=True, mid_hash=claim.args[0]),
                           Side.CHALLENGER, honest, 100)
        assert answer is not None
        lo, hi = ((lo + hi) // 2, hi) if answer.args[0] else (lo, (lo + hi) // 2)
    assert (lo, hi) == (WRONG_AT - 1, WRONG_AT)
    prove = next_move(game(word, lo=lo, hi=hi, challenger_to_move=True), Side.CHALLENGER, honest, 100)
    assert prove is not None and prove.kind == "prove_step" and prove.args == (honest.state_at(lo), EMPTY_SAMPLE)
    assert "state" not in repr(prove) and prove.step == lo
    # the range of one step is the challenger's to move whatever the flag says; the defender waits
    assert next_move(game(word, lo=lo, hi=hi), Side.DEFENDER, liar, 100) is None


def test_clocks_and_timeouts(honest: ReplaySource) -> None:
    word = honest.word()
    assert word is not None
    g = game(word, last_move=100, defender_clock=10)  # defender to move until block 110
    assert next_move(g, Side.CHALLENGER, honest, 110) is None  # judged at the deadline block itself: too early
    m = next_move(g, Side.CHALLENGER, honest, 111)
    assert m is not None and m.kind == "timeout"
    assert next_move(g, Side.DEFENDER, honest, 109) is not None  # its last block to move in is 110
    assert next_move(g, Side.DEFENDER, honest, 110) is None  # its clock ran out: nothing left to send
    g = game(word, challenger_to_move=True, mid_hash=honest.hash_at(64), last_move=100, challenger_clock=3)
    assert next_move(g, Side.DEFENDER, honest, 103) is None
    m = next_move(g, Side.DEFENDER, honest, 104)
    assert m is not None and m.kind == "timeout"
    assert next_move(replace(g, outcome=2), Side.DEFENDER, honest, 500) is None
    assert next_move(replace(g, outcome=1), Side.CHALLENGER, honest, 500) is None
    assert g.deadline == 103 and replace(g, outcome=1).deadline is None


def test_right_h128_in_a_lying_word_is_proven_at_once(honest: ReplaySource) -> None:
    word = honest.word()
    assert word is not None
    p = Payload.unpack(word)
    lie = replace(p, flags=p.flags ^ 1).pack()  # LOSS_DROPPED flipped: same h128
    m = next_move(game(lie), Side.CHALLENGER, honest, 100)  # even on the defender's turn
    assert m is not None and m.kind == "prove_word_lie" and m.args == (honest.state_at(128),)
    assert next_move(game(word), Side.CHALLENGER, honest, 100) is None  # the honest word: nothing to prove


def test_illegal_settings_leave_only_the_start_state() -> None:
    g = v2_genesis()
    bad_word = Payload(b"\x07" * 16, 128, 1, 0xFF, 6, 0).pack()  # switches on every slot at once: illegal
    src = ReplaySource(g, bad_word, g.seed_core)
    assert not src.legal and src.word() is None
    assert src.hash_at(0) == g.h128() and all(src.hash_at(j) == NO_STATE for j in range(1, 129))
    m = next_move(game(bad_word, challenger_to_move=True, mid_hash=b"\x05" * 16), Side.CHALLENGER, src, 100)
    assert m is not None and m.args == (False,)
    m = next_move(game(bad_word, lo=0, hi=1, challenger_to_move=True), Side.CHALLENGER, src, 100)
    assert m is not None and m.kind == "prove_step" and m.args[0] == g.to_bytes()
    with pytest.raises(BisectionError, match="no step state"):
        next_move(game(bad_word), Side.DEFENDER, src, 100)
    with pytest.raises(BisectionError, match="does not exist"):
        src.state_at(5)


def test_private_sample_is_the_record_with_its_path() -> None:
    source, _ = private_source()
    g = v2_genesis(records_root=source.records_root)
    w = WindowStart(3, 6, g.seed_core)
    truth = window_step_states(g, source, w)
    with pytest.raises(BisectionError, match="owner secret"):
        ReplaySource(g, checkpoint_word(truth[-1]), w.epoch_seed, samples=source)
    from tests.validator.windows import SECRET

    src = ReplaySource(g, checkpoint_word(truth[-1]), w.epoch_seed, samples=source, owner_secret=SECRET)
    assert src.hashes == [s.h128() for s in truth]
    s_owner, n, root, record, path = src.sample_at(40)
    assert s_owner == SECRET and SECRET.hex() not in repr(src)
    index = source.index(truth[40].seed_core, truth[40].global_step)
    verify_path(source.records_root, n, index, record, path)
    with pytest.raises(BisectionError):
        src.sample_at(128)  # no micro-step after the checkpoint


def test_the_word_is_rebuilt_from_the_ledgers_stored_slot(honest: ReplaySource) -> None:
    from validator.bisection.moves import word_of_stored

    word = honest.word()
    assert word is not None and Payload.unpack(word).global_step == 128  # window 1 (ledger index 0)
    v = int.from_bytes(word, "big")
    stored = (v & ~(0xFFFFFFFF << 96)) | (1 << 127) | (4321 << 96)  # committed as trainer in block 4321
    assert word_of_stored(stored, 0) == word
    info = {**game(word).__dict__, "stored": stored, "commitmentBlock": 7}  # the contract's names
    del info["commitment_block"]
    del info["word"]
    g = GameView.of(3, {k: v for k, v in info.items() if k != "game_id"})
    assert g.word == word and g.stored == stored and g.commitment_block == 7 and g.game_id == 3


def test_the_player_imports_nothing_of_the_validators_service_chain_or_web3() -> None:
    """The node imports the defender side: it must not pull in the validator's service, chain reader or web3."""
    import subprocess
    import sys

    code = ("import sys, validator.bisection\n"
            "print([m for m in ('web3', 'grpc', 'eth_account', 'devnet', 'validator.replay', 'validator.chain',"
            " 'validator.watch', 'validator.service') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr
