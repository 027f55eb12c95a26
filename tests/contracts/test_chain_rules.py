"""The contract rules Python mirrors in devnet.bindings, checked against the contracts on the embedded chain.

Each row sets the chain up, asks the Python rule what the contract will do, then lets the
contract do it: ``challenge_bond`` against the bond ``challenge`` pulls, ``challenge_opens``
against whether ``challenge`` gets past the ledger's ``beginGame``, ``challenge_commitment``
against the commitment ``challenge`` looks for, ``unstake_unlock_block`` against the block
``requestUnstake`` records, ``GameInfo.timed_out`` / ``clock_left`` against ``timeout`` and a move
at each side's clock boundary.
"""

from __future__ import annotations

import pytest

import devnet
from devnet.bindings import (Outcome, Param, WindowStatus, challenge_bond, challenge_commitment, challenge_opens, energy_burn,
                             unstake_unlock_block)

from chain_helpers import BURN, Net, ev, make_word, raises_error

SALT = b"\x77" * 32


def _challenge(cb: devnet.ChainBeasts, who, beast: int, k: int, salt: bytes = SALT) -> devnet.TxResult:  # type: ignore[no-untyped-def]
    cb.commit_challenge(who, beast, k, salt)
    return cb.challenge_tx(who, beast, k, salt)


@pytest.mark.parametrize(("burn", "multiplier"), [
    (1, 1), (BURN, 2), (BURN + 7, 3), (2**63 + 12345, 1), (2**64 - 1, 1), (10**15, 100),
])
def test_challenge_bond_matches_challenge(net: Net, burn: int, multiplier: int) -> None:
    """A word's energyBurn must be the season's charge for its mask, so each case runs in a season
    (baseCost 0, spurtCost = burn) where window 0's growth spurt to 0b0111 charges exactly ``burn``.
    (An empty mask, the one word with burn 0, is refused at commit: a bond is never 0.)"""
    owner, ch = net.a[1], net.a[2]
    cb = devnet.deploy(net.raw.w3, net.admin, params={"base_cost": 0, "spurt_cost": burn, "bond_multiplier": multiplier})
    bond = multiplier * burn
    for who, amount in ((owner, 2 * burn), (ch, bond)):  # the commit escrows and stakes the burn, the challenge bonds
        cb.mint(net.admin, who.address, amount)
        cb.ensure_approvals(who)
    cb.stake(owner, burn)
    bid = cb.hatch(owner)
    word = make_word(0, burn, mask=0b0111)
    cb.commit(owner, bid, word)
    assert energy_burn(word) == burn
    ours = challenge_bond(word, multiplier)
    assert cb.challenge_bond(word) == ours == bond
    r = _challenge(cb, ch, bid, 0)
    ev(r, "GameOpened", bond=ours)
    assert cb.game_of(int(r.event("GameOpened").args["gameId"])).bond == ours
    assert cb.balance_of(ch) == 0


@pytest.mark.parametrize("offset", [-2, -1, 0, 1])
@pytest.mark.parametrize("challenged", [False, True])
def test_challenge_opens_matches_begin_game(net: Net, offset: int, challenged: bool) -> None:
    """challenge executed in block challengeDeadline + offset, on a committed or an already challenged window."""
    owner, ch, other = net.a[1], net.a[2], net.a[3]
    bid = net.cb.hatch(owner)
    net.cb.commit(owner, bid, make_word(0))
    if challenged:
        _challenge(net.cb, other, bid, 0)
    net.cb.commit_challenge(ch, bid, 0, SALT)
    deadline = net.cb.challenge_deadline(bid, 0)
    net.mine(deadline + offset - 1 - net.cb.block_number())
    status = net.cb.window_status(bid, 0)
    assert status == (WindowStatus.CHALLENGED if challenged else WindowStatus.COMMITTED)
    if challenge_opens(status, deadline, net.cb.block_number() + 1):
        net.cb.challenge(ch, bid, 0, SALT)
        assert net.cb.window_status(bid, 0) == WindowStatus.CHALLENGED
    else:
        with raises_error("LedgerChallengePeriodOver", beastId=bid, index=0, deadline=deadline):
            net.cb.challenge(ch, bid, 0, SALT)


@pytest.mark.parametrize("status", [WindowStatus.FINALIZED, WindowStatus.SLASHED, WindowStatus.VOIDED])
def test_challenge_opens_refuses_closed_windows(net: Net, status: WindowStatus) -> None:
    owner, ch = net.a[1], net.a[2]
    bid = net.cb.hatch(owner)
    net.commit_windows(owner, bid, 2)
    k = 1 if status == WindowStatus.VOIDED else 0
    if status == WindowStatus.FINALIZED:
        net.mine(net.cb.challenge_deadline(bid, 0) - net.cb.block_number())
        net.cb.finalize(ch, bid, 0)
    else:  # window 0 slashed on time: window 1 voided
        gid = int(_challenge(net.cb, ch, bid, 0).event("GameOpened").args["gameId"])
        net.mine(net.cb.clock_blocks() + 1)
        net.cb.timeout(ch, gid)
    assert net.cb.window_status(bid, k) == status
    assert not challenge_opens(status, net.cb.challenge_deadline(bid, k), net.cb.block_number() + 1)
    net.cb.commit_challenge(net.a[3], bid, k, SALT)
    with pytest.raises(devnet.LedgerRevert) as err:
        net.cb.challenge(net.a[3], bid, k, SALT)
    assert err.value.name in ("LedgerWindowNotOpen", "LedgerWindowNotFound")


def test_challenge_commitment_matches_challenge(net: Net) -> None:
    """Only the commitment of (this challenger, this window, this salt) opens the game."""
    owner, ch = net.a[1], net.a[2]
    bid = net.cb.hatch(owner)
    net.commit_windows(owner, bid, 2)
    for who, beast, k, salt in ((net.a[3], bid, 0, SALT), (ch, bid, 1, SALT), (ch, bid, 0, b"\x78" * 32)):
        net.cb._send(ch, net.cb.game, "commitChallenge", [challenge_commitment(who, beast, k, salt)], 200_000)
    net.mine(1)
    with raises_error("GameCommitmentMissing", commitment=challenge_commitment(ch, bid, 0, SALT), committedAt=0):
        net.cb.challenge(ch, bid, 0, SALT)
    net.cb._send(ch, net.cb.game, "commitChallenge", [challenge_commitment(ch, bid, 0, SALT)], 200_000)
    assert net.cb.commitment_block(ch, challenge_commitment(ch, bid, 0, SALT)) == net.cb.block_number()
    net.cb.challenge(ch, bid, 0, SALT)


@pytest.mark.parametrize(("period", "clock"), [(20, 64), (1, 8), (600, 200)])
def test_unstake_unlock_block_matches_request_unstake(net: Net, period: int, clock: int) -> None:
    cb = devnet.deploy(net.raw.w3, net.admin, params={"challenge_period": period}, game_clock_blocks=clock)
    who = net.a[1]
    cb.mint(net.admin, who.address, 10)
    cb.ensure_approvals(who)
    cb.stake(who, 10)
    r = cb.request_unstake(who, 4)
    unlock = unstake_unlock_block(r.block_number, period, clock)
    assert cb.stake_of(who) == (6, 4, unlock)
    net.mine(unlock - 2 - cb.block_number())  # the withdrawal runs in block unlock - 1
    with raises_error("LedgerStakeLocked", account=who.address, unbonding=4, unlockBlock=unlock):
        cb.withdraw_stake(who)  # mined in block unlock - 1, reverted
    cb.withdraw_stake(who)  # in block unlock
    assert cb.stake_of(who).unbonding == 0 and cb.balance_of(who) == 4


def test_bond_multiplier_read_at_challenge_time(net: Net) -> None:
    """The bond is the multiplier in force when the game opens, not at commit."""
    owner, ch = net.a[1], net.a[2]
    bid = net.cb.hatch(owner)
    net.cb.commit(owner, bid, make_word(0))
    net.cb.queue_param_change(net.admin, Param.BOND_MULTIPLIER, 5)
    net.mine(10)
    r = _challenge(net.cb, ch, bid, 0)
    ev(r, "GameOpened", bond=challenge_bond(make_word(0), 5))


@pytest.mark.parametrize("offset", [-1, 0, 1])
@pytest.mark.parametrize("side", ["defender", "challenger"])
def test_timed_out_matches_timeout_and_moves(net: Net, offset: int, side: str) -> None:
    """timeout and the side's move executed in block lastMove + remaining + offset."""
    owner, ch, anyone = net.a[1], net.a[2], net.a[3]
    bid = net.cb.hatch(owner)
    net.cb.commit(owner, bid, make_word(0))
    gid = int(_challenge(net.cb, ch, bid, 0).event("GameOpened").args["gameId"])
    if side == "challenger":
        net.cb.bisect(owner, gid, b"\x01" * 16)
    g = net.cb.game_of(gid)
    assert g.to_move() == side
    at = g.last_move + (g.challenger_clock if side == "challenger" else g.defender_clock) + offset
    net.mine(at - 1 - net.cb.block_number())
    assert g.clock_left(at) == -offset
    snap = net.raw.tester.take_snapshot()
    move = (lambda: net.cb.respond(ch, gid, True)) if side == "challenger" else (lambda: net.cb.bisect(owner, gid, b"\x02" * 16))
    if g.timed_out(at):
        with raises_error("GameClockExpired", gameId=gid):
            move()
    else:
        move()
    net.raw.tester.revert_to_snapshot(snap)
    net.cb.sender._nonces.clear()
    if g.timed_out(at):
        r = net.cb.timeout(anyone, gid)
        assert r.block_number == at
        assert r.event("GameEnded").args["outcome"] == (Outcome.DEFENDER_WON if side == "challenger" else Outcome.CHALLENGER_WON)
    else:
        with raises_error("GameClockRunning", gameId=gid):
            net.cb.timeout(anyone, gid)
