"""CheckpointLedger 3.0.0: order, authorization, stake, escrow, epoch seeds, finalization in order,
the bisection game's hooks, the rewind after a slash and the lazy clearing of voided windows.

Runs on :class:`ledger_chain.LedgerChain` (the committed artifacts deployed by this module, a stub
in the game's seat that the tests drive), every revert path and abuse first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_utils import keccak

from devnet import artifacts
from devnet.records import Param
from kernel.params import DEFAULT_PARAMS, KernelParams
from kernel.payload import Payload

from chain_helpers import BURN, GENESIS_MASK, make_word, raises_error
from ledger_chain import CHALLENGE_PERIOD, GAME_CLOCK, LedgerChain, Status, ev

STAKE = 1000 * BURN


@pytest.fixture(scope="module")
def _chain() -> LedgerChain:
    chain = LedgerChain.start()
    for acct in chain.accounts[1:6]:
        chain.stake(acct, STAKE)
    return chain


@pytest.fixture
def ch(_chain: LedgerChain) -> Iterator[LedgerChain]:
    yield from _chain.fresh()


def conserved(ch: LedgerChain, bids: list[int]) -> None:
    """INVARIANT: the ledger holds exactly deposits + stakes + unbonding + the escrow of every window
    that still has escrow (Committed, Challenged, Voided and not cleared)."""
    assert ch.balance(ch.ledger.address) == ch.held_by_ledger_expected(ch.accounts, bids)


# ---------------------------------------------------------------- commits


def test_commit_stores_word_locks_escrow_and_emits(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    before, held = ch.balance(owner), ch.balance(ch.ledger.address)
    w = make_word(0)
    r = ch.commit(owner, bid, w)
    assert r.names == ["CheckpointCommitted", "Transfer"]
    ev(r.event("CheckpointCommitted"), beastId=bid, index=0, word=w)
    ev(r.event("Transfer"), **{"from": owner.address, "to": ch.ledger.address, "value": BURN})
    assert ch.word(bid, 0) == w
    assert ch.count(bid) == 1 and ch.call(ch.ledger, "nextGlobalStep", bid) == 256
    assert ch.status(bid, 0) == Status.COMMITTED
    assert ch.call(ch.ledger, "commitBlockOf", bid, 0) == r.block_number
    assert ch.call(ch.ledger, "challengeDeadline", bid, 0) == r.block_number + CHALLENGE_PERIOD
    assert ch.balance(owner) == before - BURN and ch.balance(ch.ledger.address) == held + BURN
    conserved(ch, [bid])


def test_window_count_search(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    for k in range(19):
        ch.commit(owner, bid, make_word(k))
        assert ch.count(bid) == k + 1
    assert ch.count(bid + 1) == 0


def test_order_is_enforced(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=128, got=256):
        ch.commit(owner, bid, make_word(1))  # skip window 0
    ch.commit(owner, bid, make_word(0))
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=256, got=128):
        ch.commit(owner, bid, make_word(0, tag=2))  # repeat window 0
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=256, got=257):
        ch.commit(owner, bid, Payload(b"\x01" * 16, 256 + 1, 0, 1, 8, 0).pack())
    with raises_error("LedgerStepOutOfOrder", expected=256, got=0):
        ch.commit(owner, bid, Payload(b"\x01" * 16, 0, 0, 1, 8, 0).pack())  # the wrap word, far too early
    assert ch.count(bid) == 1


def test_only_owner_or_trainer_commits(ch: LedgerChain) -> None:
    owner, trainer, stranger = ch.accounts[1], ch.accounts[2], ch.accounts[3]
    bid = ch.hatch(owner)
    for who in (stranger, trainer):
        with raises_error("LedgerNotAuthorized", beastId=bid, caller=who.address):
            ch.commit(who, bid, make_word(0))
        with raises_error("LedgerNotAuthorized", beastId=bid, caller=who.address):
            ch.commit_many(who, [bid], [make_word(0)])
    ch.authorize(owner, bid, trainer)
    ch.commit(trainer, bid, make_word(0))
    ch.commit(owner, bid, make_word(1))
    ch.revoke(owner, bid)
    with raises_error("LedgerNotAuthorized", beastId=bid, caller=trainer.address):
        ch.commit(trainer, bid, make_word(2))
    with raises_error("LedgerNotAuthorized", beastId=999):
        ch.commit(owner, 999, make_word(0))


def test_commit_many(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    ids = [ch.hatch(owner) for _ in range(3)]
    r = ch.commit_many(owner, [ids[0], ids[1], ids[2], ids[0]], [make_word(0), make_word(0), make_word(0), make_word(1)])
    assert [(e["beastId"], e["index"]) for e in r.all("CheckpointCommitted")] == [(ids[0], 0), (ids[1], 0), (ids[2], 0), (ids[0], 1)]
    assert [t["value"] for t in r.all("Transfer")] == [4 * BURN]
    with raises_error("LedgerBatchMismatch", beastIds=2, words=1):
        ch.commit_many(owner, ids[:2], [make_word(1)])
    with raises_error("LedgerBatchMismatch", beastIds=0, words=0):
        ch.commit_many(owner, [], [])
    theirs = ch.hatch(ch.accounts[2])
    with raises_error("LedgerNotAuthorized", beastId=theirs, caller=owner.address):
        ch.commit_many(owner, [ids[2], theirs, ids[1]], [make_word(1), make_word(0), make_word(1)])
    with raises_error("LedgerStepOutOfOrder", beastId=ids[1], expected=256, got=384):
        ch.commit_many(owner, [ids[2], ids[1]], [make_word(1), make_word(2)])
    assert ch.count(ids[2]) == 1


def test_a_trainer_cannot_choose_its_own_escrow(ch: LedgerChain) -> None:
    """Issue 14 item 1: words claiming energyBurn 0 are refused (the kernel's charge is required)."""
    owner, trainer = ch.accounts[1], ch.accounts[2]
    bid = ch.hatch(owner)
    ch.authorize(owner, bid, trainer)
    free = [make_word(k, burn=0) for k in range(8)]
    with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=0, expected=BURN, got=0):
        ch.commit_many(trainer, [bid] * 8, free)
    with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=0, expected=BURN, got=0):
        ch.commit(trainer, bid, free[0])
    assert ch.count(bid) == 0


def _burn(mask: int, spurt: bool, params: KernelParams = DEFAULT_PARAMS) -> int:
    return params.window_energy_burn(mask, spurt)


def test_energy_burn_is_the_kernels_charge_for_every_mask(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    mask = GENESIS_MASK
    for k, grow in enumerate((False, True, False, True, True, True, True, True, False)):
        new = mask << 1 | 1 if grow else mask
        want = _burn(new, grow)
        for wrong in (want - 1, want + 1, 0, _burn(new, not grow)):
            with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=k, expected=want, got=wrong):
                ch.commit(owner, bid, make_word(k, burn=wrong, mask=new))
        ev(ch.commit(owner, bid, make_word(k, burn=want, mask=new)).event("Transfer"), value=want)
        mask = new
    assert mask == 0xFF and ch.count(bid) == 9


def test_mask_must_keep_its_slots_and_grow_by_at_most_one(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    a, b = ch.hatch(owner), ch.hatch(owner)
    with raises_error("LedgerMaskEmpty", beastId=a, index=0):
        ch.commit(owner, a, make_word(0, burn=0, mask=0))
    for mask in (0b0001, 0b0110, 0b1111, 0b0111_0000):
        with raises_error("LedgerMaskInvalid", beastId=a, index=0, previousMask=GENESIS_MASK, mask=mask):
            ch.commit(owner, a, make_word(0, burn=_burn(mask, True), mask=mask))
    ch.commit(owner, a, make_word(0, burn=_burn(0b1011, True), mask=0b1011))
    with raises_error("LedgerMaskInvalid", beastId=a, index=2, previousMask=0b1011, mask=GENESIS_MASK):
        ch.commit_many(owner, [b, a, a], [make_word(0), make_word(1, burn=_burn(0b1011, False), mask=0b1011), make_word(2)])
    assert ch.count(a) == 1 and ch.count(b) == 0


def test_word_role_and_commit_block_share_one_slot(ch: LedgerChain) -> None:
    """The stored slot: globalStep's 32 bits hold the commit block (bits 96..126) and the role bit
    (127: 1 = committed as the trainer); the views undo both exactly, whatever h128 and flags hold."""
    owner, trainer = ch.accounts[1], ch.accounts[2]
    bid = ch.hatch(owner)
    ch.authorize(owner, bid, trainer)

    def raw(h128: int, k: int, low: int) -> bytes:
        return (h128 << 128 | (128 * (k + 1)) % 2**32 << 96 | BURN << 32 | low).to_bytes(32, "big")

    words = [raw(2**128 - 1 - k, k, GENESIS_MASK << 24 | 0xFFFFFF - k) for k in range(6)]
    blocks = []
    for k, w in enumerate(words):
        ch.mine(k % 3)
        who = trainer if k % 2 else owner
        blocks.append(ch.commit(who, bid, w).block_number)
    for k, w in enumerate(words):
        assert ch.word(bid, k) == w
        stored = ch.stored(bid, k)
        assert (stored >> 96) & (2**31 - 1) == blocks[k] and stored >> 127 & 1 == k % 2
        assert ch.committer_of(bid, k) == ((trainer if k % 2 else owner).address, blocks[k], bool(k % 2))
    with raises_error("LedgerWindowNotFound", beastId=bid, index=6):
        ch.committer_of(bid, 6)


def test_event_topics_in_the_commit_loop_are_the_events() -> None:
    """The loop logs with literal topics (no stack slot left for Event.selector): they must be the
    keccak256 of the two events' signatures, as the ABI has them."""
    src = (artifacts.REPO_ROOT / "contracts" / "src" / "CheckpointLedger.sol").read_text()
    abi = {e["name"]: e for e in artifacts.load("CheckpointLedger").abi if e["type"] == "event"}
    for const, name in (("COMMITTED_TOPIC", "CheckpointCommitted"), ("SEEDED_TOPIC", "EpochSeeded")):
        sig = f"{name}({','.join(i['type'] for i in abi[name]['inputs'])})"
        assert f"{const} = 0x{keccak(text=sig).hex()};" in src, const


# ---------------------------------------------------------------- stake


def test_committing_without_stake_is_refused(ch: LedgerChain) -> None:
    """Abuse: a committer with no stake (or too little for the call's total) commits nothing; a slash
    would have nothing to pay the challenger from."""
    owner = ch.accounts[6]  # never staked
    bid = ch.hatch(owner)
    with raises_error("LedgerStakeInsufficient", account=owner.address, staked=0, needed=BURN):
        ch.commit(owner, bid, make_word(0))
    ch.stake(owner, 2 * BURN - 1)
    ch.commit(owner, bid, make_word(0))  # one window: covered
    with raises_error("LedgerStakeInsufficient", account=owner.address, staked=2 * BURN - 1, needed=2 * BURN):
        ch.commit_many(owner, [bid, bid], [make_word(1), make_word(2)])  # the call's total is checked
    ch.deposit(owner, 10 * BURN)
    with raises_error("LedgerStakeInsufficient"):
        ch.commit_many(owner, [bid, bid], [make_word(1), make_word(2)])  # a deposit is no stake
    # The stake is not consumed by commits: it only has to cover each call.
    for k in range(1, 4):
        ch.commit(owner, bid, make_word(k))
    assert ch.stake_of(owner) == (2 * BURN - 1, 0, 0)
    # A trainer's stake is its own: the owner's stake does not cover the trainer's commits.
    trainer = ch.accounts[7]
    ch.authorize(owner, bid, trainer)
    with raises_error("LedgerStakeInsufficient", account=trainer.address, staked=0):
        ch.commit(trainer, bid, make_word(4))


def test_stake_unstake_withdraw(ch: LedgerChain) -> None:
    who = ch.accounts[6]
    before, held = ch.balance(who), ch.balance(ch.ledger.address)
    r = ch.stake(who, 5 * BURN)
    assert r.names == ["Staked", "Transfer"]
    ev(r.event("Staked"), account=who.address, amount=5 * BURN)
    ch.deposit(who, 3 * BURN)
    assert ch.stake_of(who) == (5 * BURN, 0, 0) and ch.deposit_of(who) == 3 * BURN  # one slot, two halves
    r = ch.request_unstake(who, 2 * BURN)
    unlock = r.block_number + CHALLENGE_PERIOD + 2 * GAME_CLOCK + 2
    ev(r.event("UnstakeRequested"), account=who.address, amount=2 * BURN, unlockBlock=unlock)
    assert ch.stake_of(who) == (3 * BURN, 2 * BURN, unlock)
    with raises_error("LedgerStakeInsufficient", account=who.address, staked=3 * BURN, needed=3 * BURN + 1):
        ch.request_unstake(who, 3 * BURN + 1)
    ch.mine_to(unlock - 1)
    with raises_error("LedgerStakeLocked", account=who.address, unbonding=2 * BURN, unlockBlock=unlock):
        ch.withdraw_stake(who)
    r = ch.withdraw_stake(who)
    assert r.block_number == unlock
    ev(r.event("StakeWithdrawn"), account=who.address, amount=2 * BURN)
    assert ch.stake_of(who) == (3 * BURN, 0, 0) and ch.deposit_of(who) == 3 * BURN
    with raises_error("LedgerStakeLocked", account=who.address, unbonding=0, unlockBlock=0):
        ch.withdraw_stake(who)  # nothing unbonding
    # A deposit withdrawal never touches the stake half of the slot.
    with raises_error("LedgerDepositInsufficient", account=who.address, balance=3 * BURN, needed=3 * BURN + 1):
        ch.withdraw_deposit(who, 3 * BURN + 1)
    ch.withdraw_deposit(who, 3 * BURN)
    assert ch.stake_of(who) == (3 * BURN, 0, 0)
    assert ch.balance(who) == before - 3 * BURN and ch.balance(ch.ledger.address) == held + 3 * BURN
    for fn in (ch.stake, ch.request_unstake, ch.deposit, ch.withdraw_deposit):
        with raises_error("LedgerZeroAmount"):
            fn(who, 0)


def test_a_later_request_relocks_all_unbonding_stake(ch: LedgerChain) -> None:
    who = ch.accounts[1]
    first = ch.request_unstake(who, BURN).block_number
    ch.mine(10)
    second = ch.request_unstake(who, BURN).block_number
    assert ch.stake_of(who) == (STAKE - 2 * BURN, 2 * BURN, second + CHALLENGE_PERIOD + 2 * GAME_CLOCK + 2)
    ch.mine_to(first + CHALLENGE_PERIOD + 2 * GAME_CLOCK + 2)
    with raises_error("LedgerStakeLocked"):
        ch.withdraw_stake(who)


def test_stake_and_deposit_halves_cannot_overflow(ch: LedgerChain) -> None:
    who = ch.accounts[6]
    ch.send(ch.admin, ch.energy, "mint", who.address, 2**129)
    with raises_error("LedgerAmountTooLarge", account=who.address, amount=2**128):
        ch.stake(who, 2**128)
    with raises_error("LedgerAmountTooLarge", account=who.address, amount=2**128):
        ch.deposit(who, 2**128)
    ch.deposit(who, 2**128 - 1)
    ch.stake(who, 2**128 - 1)
    assert ch.deposit_of(who) == 2**128 - 1 and ch.stake_of(who)[0] == 2**128 - 1
    with raises_error("LedgerAmountTooLarge", account=who.address, amount=1):
        ch.deposit(who, 1)
    with raises_error("LedgerAmountTooLarge", account=who.address, amount=1):
        ch.stake(who, 1)


def test_stake_withdrawn_to_dodge_a_slash_is_still_taken(ch: LedgerChain) -> None:
    """Abuse: a cheater commits a false window and asks to unstake at once. Its stake unlocks only
    after the last block in which a game on that window can end (challenge period + both clocks +
    1), and unbonding stake stays slashable: the reward is taken from it before it can leave."""
    cheat = ch.accounts[6]
    bid = ch.hatch(cheat)
    ch.stake(cheat, BURN)
    c = ch.commit(cheat, bid, make_word(0)).block_number
    r = ch.request_unstake(cheat, BURN)
    unlock = r.block_number + CHALLENGE_PERIOD + 2 * GAME_CLOCK + 2
    assert ch.stake_of(cheat) == (0, BURN, unlock)
    # The latest game: opened at the deadline, both clocks spent, ended one block later.
    ch.mine_to(c + CHALLENGE_PERIOD)
    _, stored = ch.begin_game(ch.accounts[3], bid, 0)
    ch.mine_to(c + CHALLENGE_PERIOD + 2 * GAME_CLOCK + 1)
    assert ch.block_number() + 1 <= unlock
    with raises_error("LedgerStakeLocked"):
        ch.withdraw_stake(cheat)
    game_before = ch.balance(ch.game.address)
    r, reward = ch.end_game(ch.accounts[3], bid, 0, stored, True)
    assert reward == BURN and ch.balance(ch.game.address) == game_before + BURN
    ev(r.event("StakeSlashed"), account=cheat.address, amount=BURN)
    assert ch.stake_of(cheat) == (0, 0, unlock)
    ch.mine_to(unlock)
    with raises_error("LedgerStakeLocked", unbonding=0):
        ch.withdraw_stake(cheat)
    conserved(ch, [bid])


def test_reward_is_taken_from_unbonding_stake_first_then_the_stake(ch: LedgerChain) -> None:
    owner = ch.accounts[6]
    bid = ch.hatch(owner)
    ch.stake(owner, 3 * BURN)
    ch.commit_many(owner, [bid] * 3, [make_word(k) for k in range(3)])
    ch.request_unstake(owner, BURN // 2)
    _, reward = ch.slash(ch.accounts[3], bid, 2)
    assert reward == BURN and ch.stake_of(owner)[:2] == (3 * BURN - BURN // 2 - (BURN - BURN // 2), 0)
    ch.request_unstake(owner, 2 * BURN)
    _, reward = ch.slash(ch.accounts[3], bid, 1)
    assert reward == BURN and ch.stake_of(owner)[:2] == (0, BURN)
    conserved(ch, [bid])


def test_reward_with_too_little_stake_pays_what_there_is(ch: LedgerChain) -> None:
    owner = ch.accounts[6]
    bid, other = ch.hatch(owner), ch.hatch(owner)
    ch.stake(owner, BURN + BURN // 4)
    ch.commit(owner, bid, make_word(0))
    ch.commit(owner, other, make_word(0))  # the stake covers each call; commits do not consume it
    ch.request_unstake(owner, BURN // 4)
    _, reward = ch.slash(ch.accounts[3], other, 0)
    assert reward == BURN and ch.stake_of(owner)[:2] == (BURN // 4, 0)
    _, reward = ch.slash(ch.accounts[3], bid, 0)
    assert reward == BURN // 4 and ch.stake_of(owner)[:2] == (0, 0)  # all there was
    assert ch.status(bid, 0) == Status.SLASHED
    conserved(ch, [bid, other])


# ---------------------------------------------------------------- deposits


def test_deposit_and_withdraw(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    before, held = ch.balance(owner), ch.balance(ch.ledger.address)
    r = ch.deposit(owner, 5 * BURN)
    assert r.names == ["Deposited", "Transfer"]
    ev(r.event("Deposited"), account=owner.address, amount=5 * BURN)
    assert ch.deposit_of(owner) == 5 * BURN and ch.balance(ch.ledger.address) == held + 5 * BURN
    r = ch.withdraw_deposit(owner, 2 * BURN)
    ev(r.event("DepositWithdrawn"), account=owner.address, amount=2 * BURN)
    ev(r.event("Transfer"), **{"from": ch.ledger.address, "to": owner.address, "value": 2 * BURN})
    assert ch.deposit_of(owner) == 3 * BURN and ch.balance(owner) == before - 3 * BURN
    with raises_error("LedgerDepositInsufficient", account=owner.address, balance=3 * BURN, needed=3 * BURN + 1):
        ch.withdraw_deposit(owner, 3 * BURN + 1)


def test_commit_locks_escrow_from_the_deposit(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    ch.deposit(owner, 2 * BURN)
    before = ch.balance(owner)
    assert ch.commit(owner, bid, make_word(0)).names == ["CheckpointCommitted"]  # no ERC-20 transfer
    assert ch.deposit_of(owner) == BURN and ch.balance(owner) == before
    ch.commit(owner, bid, make_word(1))  # exactly the rest
    assert ch.deposit_of(owner) == 0 and ch.stake_of(owner)[0] == STAKE  # the stake half untouched
    # A short deposit falls back to transferFrom of the whole amount.
    ch.deposit(owner, BURN - 1)
    ev(ch.commit(owner, bid, make_word(2)).event("Transfer"), **{"from": owner.address, "value": BURN})
    assert ch.deposit_of(owner) == BURN - 1
    conserved(ch, [bid])


# ---------------------------------------------------------------- epoch seeds


def test_epoch_seeds(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    results = [ch.commit(owner, bid, make_word(k)) for k in range(9)]  # epochSteps 512 = 4 windows
    for k, r in enumerate(results):
        if k % 4 == 0 and k > 0:
            closing = bytes(ch.w3.eth.get_block(results[k - 1].block_number)["hash"])
            ev(r.event("EpochSeeded"), beastId=bid, epoch=k // 4, seed=closing)
            assert ch.call(ch.ledger, "epochSeed", bid, k // 4) == closing
        else:
            assert r.all("EpochSeeded") == []
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=3):
        ch.call(ch.ledger, "epochSeed", bid, 3)


# ---------------------------------------------------------------- finalization


def test_finalize_after_challenge_period_parent_first(ch: LedgerChain) -> None:
    owner, anyone = ch.accounts[1], ch.accounts[5]
    bid = ch.hatch(owner)
    ch.commit_many(owner, [bid] * 3, [make_word(k) for k in range(3)])
    deadline = ch.call(ch.ledger, "challengeDeadline", bid, 0)
    supply = ch.supply()
    ch.mine_to(deadline)
    with raises_error("LedgerChallengePeriodActive", beastId=bid, index=0, deadline=deadline):
        ch.finalize(anyone, bid, 0)
    # Abuse: finalize out of order. Window 1 cannot finalize before window 0.
    with raises_error("LedgerParentNotFinal", beastId=bid, index=1):
        ch.finalize(anyone, bid, 1)
    with raises_error("LedgerParentNotFinal", beastId=bid, index=2):
        ch.finalize_many(anyone, [bid, bid], [2, 1])
    r = ch.finalize(anyone, bid, 0)
    ev(r.event("WindowFinalized"), beastId=bid, index=0, burned=BURN)
    assert ch.status(bid, 0) == Status.FINALIZED and ch.supply() == supply - BURN
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=0, status=int(Status.FINALIZED)):
        ch.finalize(anyone, bid, 0)
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=5, status=int(Status.NONE)):
        ch.finalize(anyone, bid, 5)
    r = ch.finalize_many(anyone, [bid, bid], [1, 2])  # in order within one call
    assert [e["index"] for e in r.all("WindowFinalized")] == [1, 2]
    conserved(ch, [bid])


def test_views_of_missing_windows(ch: LedgerChain) -> None:
    bid = ch.hatch(ch.accounts[1])
    for fn in ("word", "commitBlockOf", "challengeDeadline", "committerOf"):
        with raises_error("LedgerWindowNotFound", beastId=bid, index=0):
            ch.call(ch.ledger, fn, bid, 0)
    assert ch.status(bid, 0) == Status.NONE and ch.status(bid, 2**40) == Status.NONE
    assert ch.voided_range(bid) == (0, 0)


def test_a_windows_deadline_is_fixed_when_it_is_committed(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    early = ch.commit(owner, bid, make_word(0)).block_number
    ch.send(ch.admin, ch.registry, "queueChange", int(Param.CHALLENGE_PERIOD), 1)
    ch.mine(10)
    late = ch.commit(owner, bid, make_word(1)).block_number
    assert ch.call(ch.ledger, "challengeDeadline", bid, 0) == early + CHALLENGE_PERIOD
    assert ch.call(ch.ledger, "challengeDeadline", bid, 1) == late + 1
    ch.mine(2)
    ch.begin_game(ch.accounts[3], bid, 0)  # window 0 still challengeable
    with raises_error("LedgerChallengePeriodOver", beastId=bid, index=1, deadline=late + 1):
        ch.begin_game(ch.accounts[3], bid, 1)


# ---------------------------------------------------------------- game hooks


def test_game_hooks_only_for_the_bound_game(ch: LedgerChain) -> None:
    """Abuse: a stranger (or the beast's owner) calls the game hooks directly."""
    owner, stranger = ch.accounts[1], ch.accounts[3]
    bid = ch.hatch(owner)
    ch.commit(owner, bid, make_word(0))
    stored = ch.stored(bid, 0)
    for who in (owner, stranger, ch.admin):
        with raises_error("LedgerOnlyGame", caller=who.address):
            ch.send(who, ch.ledger, "beginGame", bid, 0)
        with raises_error("LedgerOnlyGame", caller=who.address):
            ch.send(who, ch.ledger, "endGame", bid, 0, stored, True)
    with raises_error("LedgerGameBinding", caller=ch.admin.address):
        ch.send(ch.admin, ch.ledger, "bindBisectionGame", stranger.address)  # bound once
    assert ch.call(ch.ledger, "bisectionGame") == ch.game.address
    assert ch.status(bid, 0) == Status.COMMITTED


def test_vote_game_is_gone() -> None:
    names = {e.get("name") for e in artifacts.load("CheckpointLedger").abi}
    for gone in ("bindDisputeGame", "beginDispute", "settleDispute", "disputeGame", "LedgerVoteDisputesClosed",
                 "LedgerOnlyDisputeGame", "WindowDisputed", "DisputeGameBound"):
        assert gone not in names, gone
    assert not (artifacts.REPO_ROOT / "contracts" / "src" / "DisputeGame.sol").exists()


def test_begin_and_end_game(ch: LedgerChain) -> None:
    owner, challenger = ch.accounts[1], ch.accounts[3]
    bid = ch.hatch(owner)
    ch.commit_many(owner, [bid] * 2, [make_word(0), make_word(1)])
    r, stored = ch.begin_game(challenger, bid, 1)
    assert stored == ch.stored(bid, 1)
    data = r.event("Returned")["data"]
    assert data[:32] == make_word(1) and data[32:48] == make_word(0)[:16]  # the word, h0 = window 0's h128
    ev(r.event("WindowChallenged"), beastId=bid, index=1, open=1)
    _, stored0 = ch.begin_game(challenger, bid, 0)
    assert ch.game_calls(challenger, [("beginGame", (bid, 0))]).event("Returned")["data"][32:48] == b"\x00" * 16
    ch.begin_game(challenger, bid, 1)
    assert ch.status(bid, 1) == Status.CHALLENGED and ch.call(ch.ledger, "openGames", bid, 1) == 2
    # A defender win: the last game returns the window to Committed.
    assert ch.end_game(challenger, bid, 1, stored, False)[1] == 0
    assert ch.status(bid, 1) == Status.CHALLENGED
    ch.end_game(challenger, bid, 1, stored, False)
    assert ch.status(bid, 1) == Status.COMMITTED and ch.call(ch.ledger, "openGames", bid, 1) == 0
    # Without a counted game, or with a stored slot that is not this window's: nothing happens.
    r, reward = ch.end_game(challenger, bid, 1, stored, True)
    assert reward == 0 and r.names == ["Returned"] and ch.status(bid, 1) == Status.COMMITTED
    r, reward = ch.end_game(challenger, bid, 0, stored, True)  # window 1's slot for window 0
    assert reward == 0 and r.names == ["Returned"] and ch.status(bid, 0) == Status.CHALLENGED
    # A game on a Finalized or None window cannot open.
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=2, status=int(Status.NONE)):
        ch.begin_game(challenger, bid, 2)
    conserved(ch, [bid])


# ---------------------------------------------------------------- slash and rewind


def commit_range(ch: LedgerChain, who: Any, bid: int, ks: range, tag: int = 1) -> None:
    """Commit windows ``ks`` in batches that each end before an epoch's first window (epochSteps
    512 = 4 windows): an epoch's first window cannot share the block of the window closing the
    previous epoch (its seed is that block's hash)."""
    batch: list[int] = []
    for k in ks:
        if k % 4 == 0 and batch:
            ch.commit_many(who, [bid] * len(batch), [make_word(j, tag=tag) for j in batch], gas=15_000_000)
            batch = []
        batch.append(k)
    if batch:
        ch.commit_many(who, [bid] * len(batch), [make_word(j, tag=tag) for j in batch], gas=15_000_000)


def _lineage(ch: LedgerChain, owner: Any, n: int, tag: int = 1) -> int:
    bid = ch.hatch(owner)
    commit_range(ch, owner, bid, range(n), tag)
    return bid


def _seal(ch: LedgerChain, bid: int, epoch: int) -> None:
    """Seal ``epoch`` of ``bid`` in a block after its closing commit (anyone may)."""
    ch.mine(1)
    ev(ch.send(ch.accounts[5], ch.ledger, "sealEpochSeeds", [bid], [epoch]).event("EpochSeeded"), beastId=bid, epoch=epoch)


def test_slash_rewinds_the_lineage(ch: LedgerChain) -> None:
    owner, challenger = ch.accounts[1], ch.accounts[3]
    bid = _lineage(ch, owner, 6)
    supply, game_before = ch.supply(), ch.balance(ch.game.address)
    r, reward = ch.slash(challenger, bid, 2)
    assert reward == BURN
    assert r.names == ["WindowChallenged", "Returned", "StakeSlashed", "WindowSlashed", "LineageRewound", "Transfer",
                       "Transfer", "Returned"]  # the escrow's burn, then the reward to the game
    ev(r.event("WindowSlashed"), beastId=bid, index=2, amount=BURN, reward=BURN)
    ev(r.event("LineageRewound"), beastId=bid, tip=2, voidedTo=6)
    assert ch.supply() == supply - BURN and ch.balance(ch.game.address) == game_before + BURN
    assert ch.count(bid) == 2 and ch.call(ch.ledger, "nextGlobalStep", bid) == 128 * 3
    assert [ch.status(bid, k) for k in range(7)] == [Status.COMMITTED] * 2 + [Status.SLASHED] + [Status.VOIDED] * 3 + [Status.NONE]
    assert ch.voided_range(bid) == (2, 6)
    # Voided windows: no game opens, none finalizes, the words are still readable.
    for k in (2, 3, 5):
        with raises_error("LedgerWindowNotOpen", beastId=bid, index=k):
            ch.begin_game(challenger, bid, k)
    assert ch.word(bid, 4) == make_word(4)
    ch.mine(CHALLENGE_PERIOD + 1)
    ch.finalize_many(owner, [bid, bid], [0, 1])
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=3, status=int(Status.VOIDED)):
        ch.finalize(owner, bid, 3)
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=2, status=int(Status.SLASHED)):
        ch.finalize(owner, bid, 2)
    # The next commit of window 2 needs slot 2 cleared first.
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=128 * 3, got=128 * 3):
        ch.commit(owner, bid, make_word(2, tag=9))
    conserved(ch, [bid])


def test_clear_voided_then_commit_again(ch: LedgerChain) -> None:
    owner, anyone = ch.accounts[1], ch.accounts[5]
    bid = _lineage(ch, owner, 6)
    ch.slash(ch.accounts[3], bid, 2)
    supply = ch.supply()
    r = ch.clear_voided(anyone, bid, 2)  # anyone; the slashed window (escrow already burned) and window 3
    assert [(e["index"], e["burned"]) for e in r.all("WindowVoided")] == [(2, 0), (3, BURN)]
    assert ch.supply() == supply - BURN
    assert ch.voided_range(bid) == (4, 6) and ch.count(bid) == 2
    assert ch.status(bid, 2) == Status.NONE and ch.status(bid, 3) == Status.NONE and ch.status(bid, 4) == Status.VOIDED
    # Window 2 again (a new word), then 3 again: slot 3 is clear, slot 4 is not yet.
    ch.commit_many(owner, [bid, bid], [make_word(2, tag=7), make_word(3, tag=7)])
    assert ch.count(bid) == 4 and ch.status(bid, 3) == Status.COMMITTED
    with raises_error("LedgerStepOutOfOrder", beastId=bid):
        ch.commit(owner, bid, make_word(4, tag=7))
    r = ch.clear_voided(anyone, bid, 10)  # more than there is: clears the range and stops
    assert [e["index"] for e in r.all("WindowVoided")] == [4, 5]
    assert ch.voided_range(bid) == (0, 0) and ch.stored(bid, 6) == 0
    with raises_error("LedgerNothingVoided", beastId=bid):
        ch.clear_voided(anyone, bid, 1)
    ch.commit(owner, bid, make_word(4, tag=7))
    assert ch.count(bid) == 5 and ch.word(bid, 2) == make_word(2, tag=7)
    conserved(ch, [bid])


def test_clear_voided_abuse(ch: LedgerChain) -> None:
    """count 0; a beast with nothing voided; a count past the range (live windows and empty slots above
    are never touched); two clears in one transaction continue where the first stopped (state is
    written before the only external call, a burn on our own hook-less token: nothing re-enters)."""
    owner, anyone = ch.accounts[1], ch.accounts[5]
    bid = _lineage(ch, owner, 5)
    healthy = _lineage(ch, owner, 2)
    with raises_error("LedgerNothingVoided", beastId=healthy):
        ch.clear_voided(anyone, healthy, 5)
    ch.slash(ch.accounts[3], bid, 3)
    with raises_error("LedgerZeroAmount"):
        ch.clear_voided(anyone, bid, 0)
    supply = ch.supply()
    r = ch.game_calls(anyone, [("clearVoided", (bid, 1)), ("clearVoided", (bid, 1000))])
    assert [e["index"] for e in r.all("WindowVoided")] == [3, 4]
    assert ch.supply() == supply - BURN  # window 4's escrow, once
    assert [ch.status(bid, k) for k in range(5)] == [Status.COMMITTED] * 3 + [Status.NONE] * 2
    assert ch.word(bid, 2) == make_word(2) and ch.count(bid) == 3 and ch.count(healthy) == 2
    conserved(ch, [bid, healthy])


def test_window_zero_slashed(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = _lineage(ch, owner, 3)
    r, _ = ch.slash(ch.accounts[3], bid, 0)
    ev(r.event("LineageRewound"), beastId=bid, tip=0, voidedTo=3)
    assert ch.count(bid) == 0 and ch.call(ch.ledger, "nextGlobalStep", bid) == 128
    assert ch.voided_range(bid) == (0, 3)
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=128):
        ch.commit(owner, bid, make_word(0, tag=5))
    ch.clear_voided(owner, bid, 1)
    ch.commit(owner, bid, make_word(0, tag=5))  # a new window 0 while 1 and 2 still wait
    assert ch.count(bid) == 1 and ch.status(bid, 0) == Status.COMMITTED and ch.status(bid, 1) == Status.VOIDED
    ch.mine(CHALLENGE_PERIOD + 1)
    ch.finalize(owner, bid, 0)
    conserved(ch, [bid])


def test_commit_above_a_voided_range_is_voided_with_it(ch: LedgerChain) -> None:
    """Abuse: after a slash the committer keeps committing on top of the voided windows (the
    ledger's commit path only sees that slot k is empty and slot k-1 is not). Those windows land in
    the voided range: Voided, never finalizable or challengeable, and clearVoided clears them too."""
    owner = ch.accounts[1]
    bid = _lineage(ch, owner, 4)
    _seal(ch, bid, 1)  # while window 3 is live: a voided closing window would seal nothing
    ch.slash(ch.accounts[3], bid, 1)
    assert ch.commit(owner, bid, make_word(4)).all("EpochSeeded") == []  # on top of voided window 3
    ch.commit(owner, bid, make_word(5))
    assert ch.status(bid, 4) == Status.VOIDED and ch.status(bid, 5) == Status.VOIDED and ch.count(bid) == 1
    assert ch.voided_range(bid) == (1, 6)
    ch.mine(CHALLENGE_PERIOD + 1)
    with raises_error("LedgerWindowNotOpen", index=4, status=int(Status.VOIDED)):
        ch.finalize(owner, bid, 4)
    r = ch.clear_voided(owner, bid, 100)
    assert [e["index"] for e in r.all("WindowVoided")] == [1, 2, 3, 4, 5]
    assert ch.voided_range(bid) == (0, 0)
    conserved(ch, [bid])


def test_a_second_slash_merges_the_ranges(ch: LedgerChain) -> None:
    """Window 5 slashed (range [5, 8)), slot 5 cleared, then window 2 slashed: one range [2, 8) whose
    cleared slot 5 is walked over; a clear that stops on it leaves a mark so no commit lands inside."""
    owner = ch.accounts[1]
    bid = _lineage(ch, owner, 8)
    ch.slash(ch.accounts[3], bid, 5)
    ch.clear_voided(owner, bid, 1)
    assert ch.voided_range(bid) == (6, 8) and ch.count(bid) == 5
    r, _ = ch.slash(ch.accounts[3], bid, 2)
    ev(r.event("LineageRewound"), tip=2, voidedTo=8)
    assert ch.voided_range(bid) == (2, 8) and ch.count(bid) == 2
    assert [ch.status(bid, k) for k in range(8)] == [Status.COMMITTED] * 2 + [Status.SLASHED] + [Status.VOIDED] * 2 + [
        Status.NONE] + [Status.VOIDED] * 2
    r = ch.clear_voided(owner, bid, 3)  # 2, 3, 4: stops on the empty slot 5
    assert [e["index"] for e in r.all("WindowVoided")] == [2, 3, 4]
    assert ch.voided_range(bid) == (5, 8) and ch.stored(bid, 5) == 1  # the mark
    assert ch.status(bid, 5) == Status.NONE
    commit_range(ch, owner, bid, range(2, 5), tag=3)
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=128 * 6, got=128 * 6):
        ch.commit(owner, bid, make_word(5, tag=3))  # the mark holds slot 5
    r = ch.clear_voided(owner, bid, 5)
    assert [e["index"] for e in r.all("WindowVoided")] == [6, 7]
    commit_range(ch, owner, bid, range(5, 9), tag=3)
    assert ch.count(bid) == 9 and all(ch.status(bid, k) == Status.COMMITTED for k in range(9))
    conserved(ch, [bid])


def test_a_merge_keeps_windows_committed_on_top_of_the_old_range(ch: LedgerChain) -> None:
    """Window 2 slashed (range [2, 4)); junk committed on top (4, 5); a clear of 3 slots walks past
    the range's end (from 5 > to 4); the owner commits window 2 again, which is then slashed too.
    The merged range must still reach the junk at 5 beyond the cleared gap at 3..4: otherwise the
    clear would stop at the gap and slot 5 would block window 5 forever with nothing to clear."""
    owner = ch.accounts[1]
    bid = _lineage(ch, owner, 4)
    _seal(ch, bid, 1)  # while window 3 is live: a voided closing window would seal nothing
    ch.slash(ch.accounts[3], bid, 2)
    ch.commit(owner, bid, make_word(4))  # on top of voided window 3
    ch.commit(owner, bid, make_word(5))
    ch.clear_voided(owner, bid, 3)  # 2, 3, 4
    assert ch.voided_range(bid) == (5, 6) and ch.status(bid, 5) == Status.VOIDED
    ch.commit(owner, bid, make_word(2, tag=2))
    assert ch.count(bid) == 3
    r, _ = ch.slash(ch.accounts[3], bid, 2)
    ev(r.event("LineageRewound"), tip=2, voidedTo=5)
    assert ch.voided_range(bid) == (2, 6)
    r = ch.clear_voided(owner, bid, 10)
    assert [e["index"] for e in r.all("WindowVoided")] == [2, 5]
    assert ch.voided_range(bid) == (0, 0) and ch.stored(bid, 5) == 0
    commit_range(ch, owner, bid, range(2, 7), tag=3)
    assert ch.count(bid) == 7
    conserved(ch, [bid])


def test_games_still_open_on_voided_windows(ch: LedgerChain) -> None:
    """A game on window 4 is open when window 2 is slashed: ending it does nothing (window 4 is
    voided; its escrow burns when cleared). After the clear and a new window 4, the old game's
    stale `stored` does nothing either, even as a challenger win."""
    owner, c1, c2 = ch.accounts[1], ch.accounts[3], ch.accounts[4]
    bid = _lineage(ch, owner, 5)
    _, stored4 = ch.begin_game(c1, bid, 4)
    _, stored4b = ch.begin_game(c2, bid, 4)
    ch.slash(c2, bid, 2)
    r, reward = ch.end_game(c1, bid, 4, stored4, True)  # voided, not cleared: uncount only
    assert reward == 0 and r.names == ["Returned"] and ch.call(ch.ledger, "openGames", bid, 4) == 1
    assert ch.status(bid, 4) == Status.VOIDED
    ch.clear_voided(owner, bid, 10)
    assert ch.call(ch.ledger, "openGames", bid, 4) == 0
    commit_range(ch, owner, bid, range(2, 5), tag=8)
    _, fresh = ch.begin_game(c1, bid, 4)
    r, reward = ch.end_game(c2, bid, 4, stored4b, True)  # the old window's game
    assert reward == 0 and r.names == ["Returned"]
    assert ch.status(bid, 4) == Status.CHALLENGED and ch.call(ch.ledger, "openGames", bid, 4) == 1 and ch.count(bid) == 5
    ch.end_game(c1, bid, 4, fresh, False)
    assert ch.status(bid, 4) == Status.COMMITTED
    conserved(ch, [bid])


def test_later_slashed_window_first_then_the_earlier_one(ch: LedgerChain) -> None:
    """Two false windows, both challenged: the later one is slashed first, then the earlier one
    (still live and Challenged); both pay a reward and the ranges merge."""
    owner = ch.accounts[1]
    bid = _lineage(ch, owner, 5)
    _, s1 = ch.begin_game(ch.accounts[3], bid, 1)
    _, s3 = ch.begin_game(ch.accounts[4], bid, 3)
    assert ch.end_game(ch.accounts[4], bid, 3, s3, True)[1] == BURN
    assert ch.voided_range(bid) == (3, 5) and ch.count(bid) == 3
    assert ch.end_game(ch.accounts[3], bid, 1, s1, True)[1] == BURN
    assert ch.voided_range(bid) == (1, 5) and ch.count(bid) == 1
    assert ch.status(bid, 3) == Status.SLASHED and ch.status(bid, 2) == Status.VOIDED
    r = ch.clear_voided(owner, bid, 9)
    assert [(e["index"], e["burned"]) for e in r.all("WindowVoided")] == [(1, 0), (2, BURN), (3, 0), (4, BURN)]
    conserved(ch, [bid])


def test_recommitting_an_epoch_opening_window_reuses_its_sealed_seed(ch: LedgerChain) -> None:
    """Window 4 opens epoch 1 (epochSteps 512): its seed was sealed from window 3's commit block.
    After window 4 is slashed and committed again, the seed stays the one sealed (window 3 is live)."""
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    rs = [ch.commit(owner, bid, make_word(k)) for k in range(6)]
    seed = ch.call(ch.ledger, "epochSeed", bid, 1)
    assert seed == bytes(ch.w3.eth.get_block(rs[3].block_number)["hash"])
    ch.slash(ch.accounts[3], bid, 4)
    ch.clear_voided(owner, bid, 1)
    ch.mine(300)  # past the blockhash horizon of window 3's block
    r = ch.commit(owner, bid, make_word(4, tag=2))
    assert r.all("EpochSeeded") == [] and ch.call(ch.ledger, "epochSeed", bid, 1) == seed
    conserved(ch, [bid])


def test_a_slash_seals_the_epoch_its_voided_tip_closes(ch: LedgerChain) -> None:
    """Window 7 closes epoch 1 and nobody sealed epoch 2 yet; a slash of window 6 voids window 7. The
    slash seals epoch 2 from window 7's block first (CheckpointLedger 3.2.0: else the re-committed
    window 7 would bring a new seed, a re-roll; test_chain_grinding plays it as the attacker), so the
    lineage committed again trains epoch 2 on that seed."""
    owner = ch.accounts[1]
    bid = _lineage(ch, owner, 8)
    closed_at = ch.committer_of(bid, 7)[1]
    r, _ = ch.slash(ch.accounts[3], bid, 6)
    ev(r.event("EpochSeeded"), beastId=bid, epoch=2, seed=bytes(ch.w3.eth.get_block(closed_at)["hash"]))
    assert ch.send(owner, ch.ledger, "sealEpochSeeds", [bid], [2]).all("EpochSeeded") == []  # kept
    ch.clear_voided(owner, bid, 10)
    commit_range(ch, owner, bid, range(6, 8), tag=2)
    assert ch.commit(owner, bid, make_word(8, tag=2)).all("EpochSeeded") == []
    assert ch.call(ch.ledger, "epochSeed", bid, 2) == bytes(ch.w3.eth.get_block(closed_at)["hash"])
    # A slash whose tip closes no epoch, or one already sealed, seals nothing.
    r, _ = ch.slash(ch.accounts[3], bid, 8)
    assert r.all("EpochSeeded") == []
    conserved(ch, [bid])


def test_a_voided_closing_window_seals_nothing(ch: LedgerChain) -> None:
    """Abuse: after a slash the committer goes on committing on top of its voided windows, up to
    window 11, which closes epoch 2, and reads the seed its block would give epoch 3. Neither
    sealEpochSeeds (LedgerEpochNotClosed) nor its commit of window 12 on top (LedgerEpochSeedUnknown;
    before CheckpointLedger 3.2.0 it sealed epoch 3 from that known hash: a choice between it and the
    seed the re-committed window 11 brings) seals from a voided window; the re-committed one does."""
    owner = ch.accounts[1]
    bid = _lineage(ch, owner, 8)
    ch.slash(ch.accounts[3], bid, 2)  # seals epoch 2 (window 7 closes epoch 1 of the old lineage)
    commit_range(ch, owner, bid, range(8, 12), tag=2)  # on top of the voided windows
    assert ch.voided_range(bid) == (2, 12) and ch.status(bid, 11) == Status.VOIDED
    ch.mine(1)
    with raises_error("LedgerEpochNotClosed", beastId=bid, epoch=3):
        ch.send(owner, ch.ledger, "sealEpochSeeds", [bid], [3])
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=3):
        ch.commit(owner, bid, make_word(12, tag=2))
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=3):
        ch.call(ch.ledger, "epochSeed", bid, 3)
    assert ch.stored(bid, 12) == 0
    ch.clear_voided(owner, bid, 100)
    commit_range(ch, owner, bid, range(2, 12), tag=3)
    closed_at = ch.committer_of(bid, 11)[1]
    r = ch.commit(owner, bid, make_word(12, tag=3))
    ev(r.event("EpochSeeded"), beastId=bid, epoch=3, seed=bytes(ch.w3.eth.get_block(closed_at)["hash"]))
    conserved(ch, [bid])


def test_the_revoked_trainers_150_junk_windows(ch: LedgerChain) -> None:
    """Issue 14 item 2: a trainer, about to be revoked, commits 150 junk windows in a few batches. The
    owner revokes it; a watcher slashes the first junk window. The 149 later ones are voided, the
    trainer's stake pays the reward (it committed as the trainer: committerOf names it, not the
    owner), and the owner clears the range in bounded calls and commits its own window there."""
    owner, trainer, watcher = ch.accounts[1], ch.accounts[2], ch.accounts[4]
    bid = ch.hatch(owner)
    commit_range(ch, owner, bid, range(3))  # the owner's honest windows
    ch.authorize(owner, bid, trainer)
    commit_range(ch, trainer, bid, range(3, 4), tag=0xBAD)
    _, stored = ch.begin_game(watcher, bid, 3)  # the watcher challenges the first junk window at once
    commit_range(ch, trainer, bid, range(4, 153), tag=0xBAD)
    ch.revoke(owner, bid)
    assert ch.count(bid) == 153
    assert ch.committer_of(bid, 3)[0] == trainer.address and ch.committer_of(bid, 3)[2] is True
    assert ch.committer_of(bid, 2) == (owner.address, ch.committer_of(bid, 2)[1], False)
    trainer_stake, owner_stake = ch.stake_of(trainer)[0], ch.stake_of(owner)[0]
    r, reward = ch.end_game(watcher, bid, 3, stored, True)
    assert reward == BURN
    ev(r.event("StakeSlashed"), account=trainer.address, amount=BURN)
    assert ch.stake_of(trainer)[0] == trainer_stake - BURN and ch.stake_of(owner)[0] == owner_stake
    ev(r.event("LineageRewound"), beastId=bid, tip=3, voidedTo=153)
    assert ch.count(bid) == 3 and ch.status(bid, 152) == Status.VOIDED
    conserved(ch, [bid])
    # The owner clears in bounded calls and commits its own window 3 as soon as slot 3 is free.
    supply = ch.supply()
    r = ch.clear_voided(owner, bid, 1)
    assert r.all("WindowVoided") == [{"beastId": bid, "index": 3, "burned": 0}]
    mine = ch.commit(owner, bid, make_word(3, tag=0x600D))
    assert ch.count(bid) == 4 and ch.committer_of(bid, 3)[:1] == (owner.address,) and ch.status(bid, 3) == Status.COMMITTED
    assert mine.block_number > 0
    gas = []
    while ch.voided_range(bid) != (0, 0):
        r = ch.clear_voided(owner, bid, 50)
        gas.append(r.gas_used)
    assert len(gas) == 3 and max(gas) < 2_000_000
    assert ch.supply() == supply - 149 * BURN
    ch.commit(owner, bid, make_word(4, tag=0x600D))
    assert ch.count(bid) == 5
    conserved(ch, [bid])


# ---------------------------------------------------------------- random walk against a model


class _Model:
    """The rewind rules of docs/PROTOCOL.md §4a restated in Python, for one beast: which slots hold a
    window ('W') or the mark ('M'), the raw statuses, the pending range."""

    def __init__(self) -> None:
        self.slots: dict[int, str] = {}
        self.raw: dict[int, Status] = {}
        self.range: tuple[int, int] | None = None

    def count(self) -> int:
        cap = self.range[0] if self.range else 2**25
        c = 0
        while c < cap and self.slots.get(c) == "W":
            c += 1
        return c

    def status(self, i: int) -> Status:
        if self.slots.get(i) != "W":
            return Status.NONE
        s = self.raw.get(i, Status.COMMITTED)
        if s != Status.SLASHED and self.range and i >= self.range[0]:
            return Status.VOIDED
        return s

    def can_commit(self, i: int) -> bool:
        return i not in self.slots and (i == 0 or self.slots.get(i - 1) == "W")

    def slash(self, j: int) -> None:
        live = self.count()
        self.raw[j] = Status.SLASHED
        to = max(self.range[1], self.range[0], live) if self.range else live
        self.range = (j, to)

    def clear(self, n: int) -> int:
        assert self.range
        frm, to = self.range
        burned = 0
        for _ in range(n):
            st = self.slots.get(frm)
            if st is None and frm >= to:
                break
            if st == "W":
                burned += 0 if self.raw.get(frm) == Status.SLASHED else BURN
            self.raw.pop(frm, None)
            self.slots.pop(frm, None)
            frm += 1
        st = self.slots.get(frm)
        if st is None and frm >= to:
            self.range = None
        else:
            if st is None:
                self.slots[frm] = "M"
            self.range = (frm, to)
        return burned

    def voided_range(self) -> tuple[int, int]:
        if not self.range:
            return (0, 0)
        frm, to = self.range
        to = max(to, frm)
        while to in self.slots:
            to += 1
        return (frm, to)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_commits_slashes_clears_and_finalizes_follow_the_model(ch: LedgerChain, seed: int) -> None:
    """Random commits (on the lineage and on top of a voided range), challenges, slashes, clears and
    finalizations on one beast; after every step the ledger's windowCount, voidedRange, every
    window's status, the marks, the ENERGY burned and conservation match the model."""
    import random

    rnd = random.Random(seed)
    owner, challenger = ch.accounts[1], ch.accounts[3]
    bid = ch.hatch(owner)
    m = _Model()
    tag = 100
    done: set[str] = set()
    for _step in range(70):
        top = max(m.slots, default=-1)
        op = rnd.choice(["commit", "commit", "commit", "top", "slash", "clear", "finalize", "mine"])
        supply = ch.supply()
        burned = 0
        if op == "commit" and m.can_commit(m.count()):
            tag += 1
            ch.commit(owner, bid, make_word(m.count(), tag=tag))
            m.slots[m.count()] = "W"
        elif op == "top" and m.range and top >= 0 and m.slots.get(top) == "W" and (top + 1) % 4:
            tag += 1
            ch.commit(owner, bid, make_word(top + 1, tag=tag))  # lands in the voided range
            m.slots[top + 1] = "W"
            done.add("top")
        elif op == "slash":
            now = ch.block_number() + 1
            live = [j for j in range(m.count()) if m.status(j) in (Status.COMMITTED, Status.CHALLENGED)
                    and ch.call(ch.ledger, "challengeDeadline", bid, j) >= now]
            if live:
                j = rnd.choice(live)
                _, reward = ch.slash(challenger, bid, j)
                assert reward == BURN
                burned = BURN
                done.add("merge" if m.range else "slash")
                m.slash(j)
        elif op == "clear" and m.range:
            n = rnd.randint(1, 4)
            burned = m.clear(n)
            r = ch.clear_voided(challenger, bid, n)
            assert sum(e["burned"] for e in r.all("WindowVoided")) == burned
            done.add("mark" if m.slots.get(m.range[0] if m.range else -1) == "M" else "clear")
        elif op == "finalize":
            j = next((i for i in range(m.count()) if m.raw.get(i) != Status.FINALIZED), None)
            if j is not None and m.status(j) == Status.COMMITTED and \
                    ch.call(ch.ledger, "challengeDeadline", bid, j) < ch.block_number() + 1:
                ch.finalize(challenger, bid, j)
                m.raw[j] = Status.FINALIZED
                burned = BURN
                done.add("finalize")
        elif op == "mine":
            ch.mine(rnd.randint(1, 8))
        assert ch.supply() == supply - burned, (op, _step)
        assert ch.count(bid) == m.count(), (op, _step)
        assert ch.voided_range(bid) == m.voided_range(), (op, _step)
        top = max(m.slots, default=-1)
        assert [ch.status(bid, i) for i in range(top + 2)] == [m.status(i) for i in range(top + 2)], (op, _step)
        assert [ch.stored(bid, i) == 1 for i in range(top + 2)] == [m.slots.get(i) == "M" for i in range(top + 2)]
    conserved(ch, [bid])
    assert {"slash", "merge", "clear", "finalize", "top"} <= done  # the seeds reach every kind of step
