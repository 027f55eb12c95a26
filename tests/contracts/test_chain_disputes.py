"""Validators and the dispute game: every outcome, payout, deadline and revert path."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from devnet.bindings import Outcome, Param, Vote, WindowStatus

from chain_helpers import BURN, ev, make_word, raises_error

STAKE = 100 * 10**18
DATASET = bytes(range(256)) * 40
SECRET = b"\x42" * 32
UNAVAILABLE = b"\x00" * 32


def _private_beast(net, owner):  # type: ignore[no-untyped-def]
    return net.cb.hatch(owner, keccak(DATASET), keccak(SECRET))


def _setup(net, validators=2, private=True):  # type: ignore[no-untyped-def]
    owner, challenger = net.a[1], net.a[2]
    vals = net.a[3 : 3 + validators]
    for v in vals:
        net.cb.register_validator(v, STAKE)
    bid = _private_beast(net, owner) if private else net.cb.hatch(owner)
    net.commit_windows(owner, bid, 2)
    return owner, challenger, vals, bid


def _game_balance(net) -> int:  # type: ignore[no-untyped-def]
    return net.cb.balance_of(net.cb.addresses["DisputeGame"])


def test_validator_lifecycle(net) -> None:  # type: ignore[no-untyped-def]
    v = net.a[3]
    with raises_error("DisputeStakeTooLow", amount=STAKE - 1, minimum=STAKE):
        net.cb.register_validator(v, STAKE - 1)
    r = net.cb.register_validator(v, STAKE)
    ev(r, "ValidatorRegistered", validator=v.address, stake=STAKE)
    ev(r, "Transfer", to=net.cb.addresses["DisputeGame"], value=STAKE)
    assert net.cb.is_active_validator(v)
    with raises_error("DisputeValidatorExists", validator=v.address):
        net.cb.register_validator(v, STAKE)
    with raises_error("DisputeWithdrawalNotRequested", validator=v.address):
        net.cb.withdraw(v)
    r = net.cb.request_withdrawal(v)
    at = r.block_number + 20
    ev(r, "ValidatorWithdrawalRequested", validator=v.address, withdrawableAt=at)
    assert not net.cb.is_active_validator(v)
    with raises_error("DisputeWithdrawalAlreadyRequested", validator=v.address, withdrawableAt=at):
        net.cb.request_withdrawal(v)
    with raises_error("DisputeWithdrawalTooEarly", validator=v.address, withdrawableAt=at):
        net.cb.withdraw(v)
    net.mine(at - net.cb.block_number() - 1)
    before = net.cb.balance_of(v)
    ev(net.cb.withdraw(v), "ValidatorWithdrawn", validator=v.address, stake=STAKE)
    assert net.cb.balance_of(v) == before + STAKE and _game_balance(net) == 0
    for fn in (net.cb.withdraw, net.cb.request_withdrawal):
        with raises_error("DisputeNotValidator", caller=v.address):
            fn(v)


def test_open_dispute_checks_curriculum(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, _, bid = _setup(net)
    with raises_error("DisputeDatasetMismatch", expected=keccak(DATASET), got=keccak(DATASET[:-1])):
        net.cb.open_dispute(ch, bid, 0, DATASET[:-1], SECRET)
    with raises_error("DisputeSecretMismatch", expected=keccak(SECRET), got=keccak(b"\x00" * 32)):
        net.cb.open_dispute(ch, bid, 0, DATASET, b"\x00" * 32)
    public = net.cb.hatch(owner)
    net.cb.commit(owner, public, make_word(0))
    with raises_error("DisputeUnexpectedCurriculum", beastId=public):
        net.cb.open_dispute(ch, public, 0, b"x", b"\x00" * 32)
    with raises_error("DisputeUnexpectedCurriculum", beastId=public):
        net.cb.open_dispute(ch, public, 0, b"", SECRET)
    with raises_error("BeastNotFound", beastId=777):
        net.cb.open_dispute(ch, 777, 0)
    did = net.cb.open_dispute(ch, public, 0)  # no dataset, no secret
    assert net.cb.dispute(did).beast_id == public


def test_dataset_size_limit(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch = net.a[1], net.a[2]
    net.cb.queue_param_change(net.admin, Param.MAX_DATASET_BYTES, 100)
    net.mine(10)
    bid = _private_beast(net, owner)
    net.cb.commit(owner, bid, make_word(0))
    with raises_error("DisputeDatasetTooLarge", length=len(DATASET), maximum=100):
        net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)


def test_open_dispute_records_bond_and_event(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, _, bid = _setup(net)
    r = net.cb.open_dispute_tx(ch, bid, 1, DATASET, SECRET)
    args = ev(r, "DisputeOpened", disputeId=1, beastId=bid, index=1, challenger=ch.address, bond=2 * BURN,
              datasetHash=keccak(DATASET), ownerSecret=SECRET, votingDeadline=r.block_number + 20)
    ev(r, "WindowDisputed", beastId=bid, index=1)
    ev(r, "Transfer", **{"from": ch.address, "to": net.cb.addresses["DisputeGame"], "value": 2 * BURN})
    assert args["disputeId"] == net.cb.dispute_count() == 1
    assert net.cb.window_status(bid, 1) == WindowStatus.DISPUTED
    assert net.cb.dispute_dataset(1) == (DATASET, SECRET)
    d = net.cb.dispute(1)
    assert (d.word, d.bond, d.outcome, d.voters) == (make_word(1), 2 * BURN, Outcome.OPEN, ())
    # No second dispute, and a disputed window cannot be finalized.
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=1, status=int(WindowStatus.DISPUTED)):
        net.cb.open_dispute(ch, bid, 1, DATASET, SECRET)
    net.mine(25)
    with raises_error("LedgerWindowNotOpen", status=int(WindowStatus.DISPUTED)):
        net.cb.finalize(ch, bid, 1)
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=7, status=0):
        net.cb.open_dispute(ch, bid, 7, DATASET, SECRET)


def test_open_dispute_after_challenge_period(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, _, bid = _setup(net)
    deadline = net.cb.challenge_deadline(bid, 0)
    net.mine(deadline - net.cb.block_number())
    with raises_error("LedgerChallengePeriodOver", beastId=bid, index=0, deadline=deadline):
        net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)


def test_insufficient_bond_allowance(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, _, bid = _setup(net)
    net.cb.approve(ch, net.cb.addresses["DisputeGame"], 0)
    with raises_error("ERC20InsufficientAllowance", needed=2 * BURN):
        net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    assert net.cb.window_status(bid, 0) == WindowStatus.COMMITTED


def test_diverged_slashes_escrow_to_challenger_and_voters(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (v1, v2), bid = _setup(net)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    r = net.cb.vote(v1, did, b"\x99" * 32)
    ev(r, "VoteCast", disputeId=did, validator=v1.address, computedWord=b"\x99" * 32, agrees=False)
    assert net.cb.vote_of(did, v1.address) == Vote.AGAINST
    assert net.cb.validator(v1).open_votes == 1
    r = net.cb.resolve_tx(net.a[9], did)
    ev(r, "DisputeResolved", disputeId=did, outcome=int(Outcome.DIVERGED), agree=0, against=1)
    ev(r, "WindowSlashed", beastId=bid, index=0, amount=BURN)
    credits = {e.args["account"]: e.args["amount"] for e in r.all("Credited")}
    assert credits == {v1.address: BURN // 2, ch.address: 2 * BURN + BURN - BURN // 2}
    assert net.cb.window_status(bid, 0) == WindowStatus.SLASHED
    assert net.cb.validator(v1).open_votes == 0
    before = net.cb.balance_of(ch)
    r = net.cb._send(ch, net.cb.game, "claim", [], 100_000)
    ev(r, "Claimed", account=ch.address, amount=3 * BURN - BURN // 2)
    assert net.cb.balance_of(ch) == before + 3 * BURN - BURN // 2
    with raises_error("DisputeNothingToClaim", account=ch.address):
        net.cb.claim(ch)
    assert net.cb.claim(v1) == BURN // 2
    with raises_error("DisputeAlreadyResolved", disputeId=did, outcome=int(Outcome.DIVERGED)):
        net.cb.resolve(ch, did)
    with raises_error("DisputeAlreadyResolved", disputeId=did):
        net.cb.vote(v2, did, b"\x01" * 32)


def test_state_unavailable_counts_against_trainer(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (v1, _), bid = _setup(net, private=False)
    did = net.cb.open_dispute(ch, bid, 0)
    ev(net.cb.vote(v1, did, UNAVAILABLE), "VoteCast", agrees=False)
    assert net.cb.resolve(ch, did) == Outcome.DIVERGED


def test_upheld_forfeits_bond_to_owner_and_agreeing_voters(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (v1, v2), bid = _setup(net)
    # Quorum 2 so the second vote decides.
    net.cb.queue_param_change(net.admin, Param.VALIDATOR_QUORUM, 2)
    net.mine(10)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    net.cb.vote(v1, did, make_word(0))
    with raises_error("DisputeNotResolvable", disputeId=did):
        net.cb.resolve(ch, did)
    ev(net.cb.vote(v2, did, make_word(0)), "VoteCast", agrees=True)
    supply = net.cb.energy.functions.totalSupply().call()
    r = net.cb.resolve_tx(ch, did)
    ev(r, "DisputeResolved", outcome=int(Outcome.UPHELD), agree=2, against=0)
    ev(r, "WindowFinalized", beastId=bid, index=0, burned=BURN)
    share = 2 * BURN // 2 // 2
    credits = {e.args["account"]: e.args["amount"] for e in r.all("Credited")}
    assert credits == {v1.address: share, v2.address: share, owner.address: 2 * BURN - 2 * share}
    assert net.cb.energy.functions.totalSupply().call() == supply - BURN
    assert net.cb.window_status(bid, 0) == WindowStatus.FINALIZED


def test_no_quorum_refunds_bond_after_deadline(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (v1, v2), bid = _setup(net)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    net.cb.vote(v1, did, make_word(0))
    net.cb.vote(v2, did, b"\x01" * 32)  # 1-1 tie: no side has more votes
    deadline = net.cb.dispute(did).voting_deadline
    with raises_error("DisputeNotResolvable", disputeId=did, deadline=deadline):
        net.cb.resolve(ch, did)
    net.mine(deadline - net.cb.block_number())
    with raises_error("DisputeVotingClosed", disputeId=did, deadline=deadline):
        net.cb.vote(net.a[5], did, b"\x01" * 32)
    r = net.cb.resolve_tx(ch, did)
    ev(r, "DisputeResolved", outcome=int(Outcome.NO_QUORUM), agree=1, against=1)
    ev(r, "Credited", account=ch.address, amount=2 * BURN)
    assert net.cb.window_status(bid, 0) == WindowStatus.FINALIZED


def test_silent_dispute_resolves_after_deadline(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, _, bid = _setup(net)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    net.mine(21)
    assert net.cb.resolve(net.a[8], did) == Outcome.NO_QUORUM


def test_vote_reverts(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (v1, v2), bid = _setup(net)
    with raises_error("DisputeNotFound", disputeId=1):
        net.cb.vote(v1, 1, b"\x01" * 32)
    with raises_error("DisputeNotFound", disputeId=1):
        net.cb.resolve(v1, 1)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    with raises_error("DisputeNotValidator", caller=ch.address):
        net.cb.vote(ch, did, b"\x01" * 32)
    net.cb.vote(v1, did, b"\x01" * 32)
    with raises_error("DisputeAlreadyVoted", disputeId=did, validator=v1.address):
        net.cb.vote(v1, did, b"\x02" * 32)
    net.cb.request_withdrawal(v2)
    with raises_error("DisputeNotValidator", caller=v2.address):
        net.cb.vote(v2, did, b"\x01" * 32)


def test_vote_locks_withdrawal_until_resolution(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (v1, _), bid = _setup(net)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    net.cb.vote(v1, did, make_word(0))
    net.cb.request_withdrawal(v1)
    net.mine(25)
    with raises_error("DisputeValidatorLocked", validator=v1.address, openVotes=1):
        net.cb.withdraw(v1)
    net.cb.resolve(ch, did)
    net.cb.withdraw(v1)


@pytest.mark.slow
def test_voters_are_capped(net) -> None:  # type: ignore[no-untyped-def]
    from eth_account import Account

    owner, ch, _, bid = _setup(net, validators=0)
    net.cb.queue_param_change(net.admin, Param.VOTING_PERIOD, 500)
    net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, 500)
    vals = [Account.from_key(keccak(f"validator-{i}".encode())) for i in range(65)]
    for v in vals:
        net.cb.sender.send(net.admin, v.address, b"", gas=21_000, value=10**17)
        net.cb.mint(net.admin, v.address, STAKE)
        net.cb.approve(v, net.cb.addresses["DisputeGame"])
        net.cb.register_validator(v, STAKE)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    for v in vals[:64]:
        net.cb.vote(v, did, b"\x01" * 32)
    with raises_error("DisputeVotersFull", disputeId=did):
        net.cb.vote(vals[64], did, b"\x01" * 32)
    r = net.cb.resolve_tx(ch, did)
    assert len(r.all("Credited")) == 65  # 64 voters share half the escrow, plus the challenger
