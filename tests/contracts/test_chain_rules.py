"""The contract rules Python mirrors in devnet.bindings, checked against the contracts on the embedded chain.

Each row sets the chain up, asks the Python rule what the contract will do, then lets the
contract do it: ``dispute_bond`` against the bond ``openDispute`` pulls, ``dispute_opens``
against whether ``openDispute`` gets past the ledger, ``DisputeInfo.resolution`` against what
``resolve`` does (an outcome, or DisputeNotResolvable / DisputeAlreadyResolved).
"""

from __future__ import annotations

import pytest

import devnet
from devnet.bindings import Outcome, Param, WindowStatus, dispute_bond, dispute_opens, energy_burn

from chain_helpers import BURN, Net, ev, make_word, raises_error

STAKE = 100 * 10**18
AGAINST_WORD = b"\x01" * 32


def _set(net: Net, changes: dict[Param, int]) -> None:
    for p, v in changes.items():
        net.cb.queue_param_change(net.admin, p, v)
    if changes:
        net.mine(10)  # the devnet's timelock delay
    for p, v in changes.items():
        assert net.cb.param(p) == v


@pytest.mark.parametrize(("burn", "multiplier"), [
    (0, 2), (1, 1), (BURN, 2), (BURN + 7, 3), (2**63 + 12345, 1), (2**64 - 1, 1), (10**15, 100),
])
def test_dispute_bond_matches_open_dispute(net: Net, burn: int, multiplier: int) -> None:
    """Since CheckpointLedger 1.3.0 a word's energyBurn must be the season's charge for its mask, so
    each case runs in a season (baseCost 0, spurtCost = burn) where window 0's growth spurt to
    0b0111 charges exactly ``burn``."""
    owner, ch = net.a[1], net.a[2]
    cb = devnet.deploy(net.raw.w3, net.admin, params={"base_cost": 0, "spurt_cost": burn, "bond_multiplier": multiplier})
    for who, amount in ((owner, burn), (ch, multiplier * burn)):  # the commit escrows the burn, the dispute the bond
        cb.mint(net.admin, who.address, amount)
        cb.ensure_approvals(who)
    bid = cb.hatch(owner)
    word = make_word(0, burn, mask=0b0111)
    cb.commit(owner, bid, word)
    assert energy_burn(word) == burn
    ours = dispute_bond(word, multiplier)
    assert cb.dispute_bond(word) == ours
    r = cb.open_dispute_tx(ch, bid, 0)
    ev(r, "DisputeOpened", bond=ours)
    assert cb.dispute(int(r.event("DisputeOpened").args["disputeId"])).bond == ours


@pytest.mark.parametrize("offset", [-2, -1, 0, 1])
@pytest.mark.parametrize("disputed", [False, True])
def test_dispute_opens_matches_begin_dispute(net: Net, offset: int, disputed: bool) -> None:
    """openDispute executed in block challengeDeadline + offset, on a committed or an already disputed window."""
    owner, ch = net.a[1], net.a[2]
    bid = net.cb.hatch(owner)
    net.cb.commit(owner, bid, make_word(0))
    if disputed:
        net.cb.open_dispute(ch, bid, 0)
    deadline = net.cb.challenge_deadline(bid, 0)
    net.mine(deadline + offset - 1 - net.cb.block_number())
    status = net.cb.window_status(bid, 0)
    assert status == (WindowStatus.DISPUTED if disputed else WindowStatus.COMMITTED)
    if dispute_opens(status, deadline, net.cb.block_number() + 1):
        net.cb.open_dispute(ch, bid, 0)
        assert net.cb.window_status(bid, 0) == WindowStatus.DISPUTED
    else:
        with pytest.raises(devnet.LedgerRevert) as err:
            net.cb.open_dispute(ch, bid, 0)
        assert err.value.name == ("LedgerWindowNotOpen" if disputed else "LedgerChallengePeriodOver")


# (quorum, agree votes, against votes, the block resolve runs in: None = at once, else deadline + this)
RESOLVE_CASES = [
    (q, a, b, late)
    for q in (1, 2)
    for a, b in ((0, 0), (1, 0), (0, 1), (1, 1), (2, 1), (1, 2))
    for late in (None, 0, 1)
]


@pytest.mark.parametrize(("quorum", "agree", "against", "late"), RESOLVE_CASES)
def test_resolution_matches_resolve(net: Net, quorum: int, agree: int, against: int, late: int | None) -> None:
    owner, ch = net.a[1], net.a[2]
    voters = net.a[3 : 3 + agree + against]
    _set(net, {Param.VALIDATOR_QUORUM: quorum} if quorum != net.cb.param(Param.VALIDATOR_QUORUM) else {})
    for v in voters:
        net.cb.register_validator(v, STAKE)
    bid = net.cb.hatch(owner)
    net.cb.commit(owner, bid, make_word(0))
    did = net.cb.open_dispute(ch, bid, 0)
    for i, v in enumerate(voters):
        net.cb.vote(v, did, make_word(0) if i < agree else AGAINST_WORD)
    if late is not None:
        net.mine(net.cb.dispute(did).voting_deadline + late - 1 - net.cb.block_number())
    # On the embedded chain a transaction runs in the block after the latest one.
    expected = net.cb.dispute(did).resolution(quorum, net.cb.block_number() + 1)
    if expected is None:
        with raises_error("DisputeNotResolvable", disputeId=did):
            net.cb.resolve(ch, did)
        return
    assert net.cb.resolve(ch, did) == expected
    assert net.cb.dispute(did).resolution(quorum, net.cb.block_number() + 1) is None
    with raises_error("DisputeAlreadyResolved", disputeId=did):
        net.cb.resolve(ch, did)

def test_resolution_table() -> None:
    """The rule's branches as the contract orders them (a quorum with more votes first, then the deadline)."""
    def info(agree: int, against: int, outcome: Outcome = Outcome.OPEN) -> devnet.DisputeInfo:
        return devnet.DisputeInfo(1, 1, 0, 100, "0x0", 0, b"\x00" * 32, agree, against, outcome, ())

    assert info(2, 1).resolution(2, 50) == Outcome.UPHELD
    assert info(1, 2).resolution(2, 50) == Outcome.DIVERGED
    assert info(2, 2).resolution(2, 50) is None  # a tie decides nothing before the deadline
    assert info(2, 2).resolution(2, 101) == Outcome.NO_QUORUM
    assert info(1, 0).resolution(2, 100) is None  # the deadline block itself still takes votes
    assert info(1, 0).resolution(2, 101) == Outcome.NO_QUORUM
    assert info(3, 0, Outcome.UPHELD).resolution(1, 500) is None
