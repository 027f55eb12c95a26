"""Validators and the dispute game: every outcome, payout, slash, deadline and revert path."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from devnet.bindings import Outcome, Param, ValidatorInfo, Vote, WindowStatus

from chain_helpers import BURN, Net, ev, make_word, raises_error

STAKE = 100 * 10**18
DATASET = bytes(range(256)) * 40
SECRET = b"\x42" * 32
UNAVAILABLE = b"\x00" * 32
SLASH_BPS = 1000  # devnet default of WrongVoteSlashBps


def _private_beast(net, owner):  # type: ignore[no-untyped-def]
    return net.hatch(owner, DATASET, SECRET)  # with a records root on a version 2 deployment


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


def _assert_game_conserved(net) -> None:  # type: ignore[no-untyped-def]
    """docs/PROTOCOL.md §7: the game holds exactly the open bonds, the stakes and the unclaimed credits."""
    bonds = sum(d.bond for d in map(net.cb.dispute, range(1, net.cb.dispute_count() + 1)) if d.outcome == Outcome.OPEN)
    held = sum(net.cb.validator(a).stake + net.cb.credit_of(a) for a in net.a)
    assert _game_balance(net) == bonds + held


def _credits(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {e.args["account"]: e.args["amount"] for e in result.all("Credited")}


def _slashes(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {e.args["validator"]: e.args["amount"] for e in result.all("ValidatorSlashed")}


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


def test_open_dispute_checks_curriculum(versioned_net) -> None:  # type: ignore[no-untyped-def]
    """The game checks C_dataset and the secret the same way for beasts of every spec version."""
    net = versioned_net
    owner, ch, _, bid = _setup(net)
    assert net.cb.hatch_data(bid).spec_version == net.spec_version
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
    # A dataset of exactly the maximum is accepted (only length > maximum is refused).
    net.cb.queue_param_change(net.admin, Param.MAX_DATASET_BYTES, len(DATASET))
    net.mine(10)
    assert net.cb.param(Param.MAX_DATASET_BYTES) == len(DATASET)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    assert net.cb.dispute(did).outcome == Outcome.OPEN


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


def test_open_dispute_in_the_deadline_block(net) -> None:  # type: ignore[no-untyped-def]
    """The deadline block is still inside the challenge period (the ledger refuses only block > deadline)."""
    owner, ch, _, bid = _setup(net)
    deadline = net.cb.challenge_deadline(bid, 0)
    net.mine(deadline - net.cb.block_number() - 1)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    assert net.cb.block_number() == deadline
    assert net.cb.dispute(did).outcome == Outcome.OPEN
    assert net.cb.window_status(bid, 0) == WindowStatus.DISPUTED


def test_vote_in_the_voting_deadline_block(net) -> None:  # type: ignore[no-untyped-def]
    """votingDeadline is the last block (inclusive) that takes a vote."""
    owner, ch, (v1, _v2), bid = _setup(net)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    deadline = net.cb.dispute(did).voting_deadline
    net.mine(deadline - net.cb.block_number() - 1)
    net.cb.vote(v1, did, make_word(0))
    assert net.cb.block_number() == deadline
    assert (net.cb.dispute(did).agree, net.cb.dispute(did).against) == (1, 0)


def test_no_quorum_only_after_the_voting_deadline_block(net) -> None:  # type: ignore[no-untyped-def]
    """While the deadline block still takes votes, a dispute without a quorum cannot resolve."""
    owner, ch, _, bid = _setup(net)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    deadline = net.cb.dispute(did).voting_deadline
    net.mine(deadline - net.cb.block_number() - 1)  # the next transaction lands in the deadline block
    with raises_error("DisputeNotResolvable", disputeId=did, deadline=deadline):
        net.cb.resolve(ch, did)
    net.mine(deadline - net.cb.block_number())  # the next one lands after it
    net.cb.resolve(ch, did)
    assert net.cb.dispute(did).outcome == Outcome.NO_QUORUM


def test_insufficient_bond_allowance(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, _, bid = _setup(net)
    net.cb.approve(ch, net.cb.addresses["DisputeGame"], 0)
    with raises_error("ERC20InsufficientAllowance", needed=2 * BURN):
        net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)
    assert net.cb.window_status(bid, 0) == WindowStatus.COMMITTED


def test_diverged_slashes_escrow_to_challenger_and_voters(versioned_net) -> None:  # type: ignore[no-untyped-def]
    net = versioned_net  # the vote-based game is the same for version 1 and version 2 beasts
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
    r = net.cb.claim_tx(ch)
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
    # Windows 0 and 1 keep the 20-block period they were committed under (deadlines are fixed at
    # commit since CheckpointLedger 1.4.0); window 2, committed with 500 in force, stays open.
    assert net.cb.param(Param.CHALLENGE_PERIOD) == 500
    net.cb.commit(owner, bid, make_word(2))
    did = net.cb.open_dispute(ch, bid, 2, DATASET, SECRET)
    for v in vals[:64]:
        net.cb.vote(v, did, b"\x01" * 32)
    with raises_error("DisputeVotersFull", disputeId=did):
        net.cb.vote(vals[64], did, b"\x01" * 32)
    r = net.cb.resolve_tx(ch, did)
    assert len(r.all("Credited")) == 65  # 64 voters share half the escrow, plus the challenger


# ------------------------------------------------------------------ slashing wrong voters


def _three_voters(net, votes):  # type: ignore[no-untyped-def]
    """A public window disputed and voted by three validators; ``votes`` True = agree with the word."""
    owner, ch, vals, bid = _setup(net, validators=3, private=False)
    did = net.cb.open_dispute(ch, bid, 0)
    for v, agree in zip(vals, votes, strict=True):
        net.cb.vote(v, did, make_word(0) if agree else b"\x99" * 32)
    return owner, ch, vals, bid, did


def test_upheld_slashes_the_voter_against_and_pays_the_winners(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (g1, wrong, g2), bid, did = _three_voters(net, [True, False, True])
    assert net.cb.param(Param.WRONG_VOTE_SLASH_BPS) == SLASH_BPS
    held = _game_balance(net)
    r = net.cb.resolve_tx(net.a[9], did)
    penalty = STAKE * SLASH_BPS // 10_000
    assert penalty == 10 * 10**18  # 10 % of the stake
    ev(r, "ValidatorSlashed", disputeId=did, validator=wrong.address, amount=penalty)
    assert _slashes(r) == {wrong.address: penalty}
    ev(r, "DisputeResolved", disputeId=did, outcome=int(Outcome.UPHELD), agree=2, against=1)
    ev(r, "WindowFinalized", beastId=bid, index=0, burned=BURN)
    bond = 2 * BURN
    share = (bond // 2 + penalty) // 2
    assert _credits(r) == {g1.address: share, g2.address: share, owner.address: bond + penalty - 2 * share}
    assert net.cb.validator(wrong) == ValidatorInfo(STAKE - penalty, 0, 0)
    assert net.cb.validator(g1) == net.cb.validator(g2) == ValidatorInfo(STAKE, 0, 0)
    assert net.cb.credit_of(wrong) == 0 and net.cb.credit_of(ch) == 0
    assert not [e for e in r.all("Transfer") if e.args["from"] == net.cb.addresses["DisputeGame"]]  # no token moved
    assert _game_balance(net) == held  # the bond and S turned into credits inside the game
    _assert_game_conserved(net)


def test_diverged_slashes_the_voter_agreeing_and_pays_the_winners(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (a1, wrong, a2), bid, did = _three_voters(net, [False, True, False])
    r = net.cb.resolve_tx(net.a[9], did)
    penalty = STAKE * SLASH_BPS // 10_000
    assert _slashes(r) == {wrong.address: penalty}
    ev(r, "ValidatorSlashed", disputeId=did, validator=wrong.address, amount=penalty)
    ev(r, "DisputeResolved", disputeId=did, outcome=int(Outcome.DIVERGED), agree=1, against=2)
    ev(r, "WindowSlashed", beastId=bid, index=0, amount=BURN)
    bond, escrow = 2 * BURN, BURN
    share = (escrow // 2 + penalty) // 2
    assert _credits(r) == {a1.address: share, a2.address: share, ch.address: bond + escrow + penalty - 2 * share}
    assert net.cb.validator(wrong).stake == STAKE - penalty
    assert net.cb.validator(a1).stake == net.cb.validator(a2).stake == STAKE
    _assert_game_conserved(net)
    # Everything credited can be claimed.
    assert net.cb.claim(ch) == bond + escrow + penalty - 2 * share
    assert net.cb.claim(a1) == share
    _assert_game_conserved(net)


def test_slash_event_follows_the_stake_cut(net) -> None:  # type: ignore[no-untyped-def]
    """Log order: the ValidatorSlashed events, then DisputeResolved, then the credits."""
    *_, did = _three_voters(net, [True, False, True])
    names = [e.name for e in net.cb.resolve_tx(net.a[9], did).events]
    assert names.index("ValidatorSlashed") < names.index("DisputeResolved") < names.index("Credited")


def test_no_quorum_slashes_nobody(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (v1, v2), bid = _setup(net, private=False)
    did = net.cb.open_dispute(ch, bid, 0)
    net.cb.vote(v1, did, make_word(0))
    net.cb.vote(v2, did, b"\x01" * 32)  # a tie: NoQuorum after the deadline
    net.mine(net.cb.dispute(did).voting_deadline - net.cb.block_number())
    r = net.cb.resolve_tx(ch, did)
    ev(r, "DisputeResolved", outcome=int(Outcome.NO_QUORUM), agree=1, against=1)
    assert r.all("ValidatorSlashed") == []
    assert _credits(r) == {ch.address: 2 * BURN}
    assert net.cb.validator(v1).stake == net.cb.validator(v2).stake == STAKE
    _assert_game_conserved(net)


def test_rate_zero_at_resolve_time_slashes_nobody(net) -> None:  # type: ignore[no-untyped-def]
    """The rate in force when resolve runs counts, not the one when the votes were cast."""
    owner, ch, (g1, wrong, g2), bid, did = _three_voters(net, [True, False, True])
    r = net.cb.queue_param_change(net.admin, Param.WRONG_VOTE_SLASH_BPS, 0)
    ev(r, "ParamChangeQueued", param=int(Param.WRONG_VOTE_SLASH_BPS), value=0, effectiveAt=r.block_number + 10)
    net.mine(10)
    assert net.cb.param(Param.WRONG_VOTE_SLASH_BPS) == 0
    r = net.cb.resolve_tx(ch, did)
    assert r.all("ValidatorSlashed") == []
    share = 2 * BURN // 2 // 2  # the version 1.0.0 payouts
    assert _credits(r) == {g1.address: share, g2.address: share, owner.address: 2 * BURN - 2 * share}
    assert net.cb.validator(wrong).stake == STAKE
    _assert_game_conserved(net)


def test_devnet_deployed_with_rate_zero_slashes_nobody() -> None:
    import devnet

    net = Net(devnet.start(accounts=6, params={"wrong_vote_slash_bps": 0}))
    assert net.cb.param(Param.WRONG_VOTE_SLASH_BPS) == 0
    assert net.cb.registry.functions.wrongVoteSlashBps().call() == 0
    *_, did = _three_voters(net, [True, False, True])
    r = net.cb.resolve_tx(net.a[1], did)
    ev(r, "DisputeResolved", outcome=int(Outcome.UPHELD))
    assert r.all("ValidatorSlashed") == [] and net.cb.validator(net.a[4]).stake == STAKE


def test_slash_rounds_down_and_skips_zero_penalties(net) -> None:  # type: ignore[no-untyped-def]
    """At the maximum rate (half) a 1-wei stake loses nothing and a 3-wei stake loses 1: never 0."""
    net.cb.queue_param_change(net.admin, Param.MIN_VALIDATOR_STAKE, 1)
    net.cb.queue_param_change(net.admin, Param.WRONG_VOTE_SLASH_BPS, 5000)
    net.mine(10)
    owner, ch, good, bid = _setup(net, validators=3, private=False)
    tiny, small = net.a[6], net.a[7]
    net.cb.register_validator(tiny, 1)
    net.cb.register_validator(small, 3)
    did = net.cb.open_dispute(ch, bid, 0)
    for v in good:
        net.cb.vote(v, did, make_word(0))
    for v in (tiny, small):
        net.cb.vote(v, did, UNAVAILABLE)
    r = net.cb.resolve_tx(ch, did)
    ev(r, "DisputeResolved", outcome=int(Outcome.UPHELD), agree=3, against=2)
    assert _slashes(r) == {small.address: 1}
    assert (net.cb.validator(tiny).stake, net.cb.validator(small).stake) == (1, 2)
    share = (2 * BURN // 2 + 1) // 3
    assert _credits(r) == {**{v.address: share for v in good}, owner.address: 2 * BURN + 1 - 3 * share}
    _assert_game_conserved(net)


def test_slashed_validator_keeps_voting_and_withdraws_the_rest(net) -> None:  # type: ignore[no-untyped-def]
    owner, ch, (g1, wrong, g2), bid, did = _three_voters(net, [True, False, True])
    net.cb.resolve(ch, did)
    left = STAKE - STAKE * SLASH_BPS // 10_000
    assert net.cb.is_active_validator(wrong) and net.cb.validator(wrong).stake == left
    # It still votes (an address counts once whatever its stake) and can be slashed again.
    did2 = net.cb.open_dispute(ch, bid, 1)
    ev(net.cb.vote(wrong, did2, make_word(1)), "VoteCast", disputeId=did2, validator=wrong.address, agrees=True)
    net.cb.vote(g1, did2, b"\x01" * 32)
    net.cb.vote(g2, did2, b"\x01" * 32)
    r = net.cb.resolve_tx(ch, did2)
    ev(r, "DisputeResolved", outcome=int(Outcome.DIVERGED), agree=1, against=2)
    ev(r, "ValidatorSlashed", disputeId=did2, validator=wrong.address, amount=left * SLASH_BPS // 10_000)
    left -= left * SLASH_BPS // 10_000
    assert left == 81 * 10**18
    # It withdraws what is left of its stake.
    net.cb.request_withdrawal(wrong)
    net.mine(20)
    before = net.cb.balance_of(wrong)
    r = net.cb.withdraw(wrong)
    ev(r, "ValidatorWithdrawn", validator=wrong.address, stake=left)
    ev(r, "Transfer", **{"from": net.cb.addresses["DisputeGame"], "to": wrong.address, "value": left})
    assert net.cb.balance_of(wrong) == before + left and net.cb.validator(wrong).stake == 0
    _assert_game_conserved(net)


def _forwarder(net, target: str) -> str:  # type: ignore[no-untyped-def]
    """Deploy a 46-byte contract that forwards any call to ``target`` and bubbles up its result."""
    runtime = bytes.fromhex("365f5f37" + "5f5f365f5f73" + target[2:].lower() + "5af1" + "3d5f5f3e" + "602a57"
                            + "3d5ffd" + "5b3d5ff3")
    assert len(runtime) == 46 and runtime[42] == 0x5B
    init = bytes.fromhex("602e8060095f395ff3") + runtime
    receipt = net.cb.sender.send(net.admin, None, init, gas=200_000)
    return str(receipt["contractAddress"])


def test_open_dispute_only_as_the_transactions_own_call(net) -> None:  # type: ignore[no-untyped-def]
    """Validators read the dataset from the opening transaction's input, so a contract may not
    open a dispute: its transaction's input would be its own call (DisputeNotDirectCall)."""
    owner, ch, _, bid = _setup(net)
    fwd = _forwarder(net, net.cb.game.address)
    data = bytes.fromhex(net.cb.game.encode_abi("openDispute", args=[bid, 0, DATASET, SECRET])[2:])
    with raises_error("DisputeNotDirectCall", caller=fwd):
        net.cb.sender.send(ch, fwd, data, gas=3_000_000)
    did = net.cb.open_dispute(ch, bid, 0, DATASET, SECRET)  # the direct call works
    assert net.cb.dispute_dataset(did) == (DATASET, SECRET)


def test_event_queries(net) -> None:  # type: ignore[no-untyped-def]
    """The bindings' typed event queries find exactly the logs that match, with their transaction and block."""
    owner, ch, (v1, v2), bid = _setup(net, private=False)
    first = net.cb.open_dispute_tx(ch, bid, 0)
    second = net.cb.open_dispute_tx(ch, bid, 1)
    d1, d2 = (int(r.event("DisputeOpened").args["disputeId"]) for r in (first, second))
    assert net.cb.disputes_on(bid, 0) == [d1] and net.cb.disputes_on(bid, 1) == [d2] and net.cb.disputes_on(bid, 5) == []
    votes = [net.cb.vote(v1, d2, make_word(1)), net.cb.vote(v2, d2, UNAVAILABLE)]
    cast = net.cb.votes_cast(d2)
    assert [(c.dispute_id, c.validator, c.computed_word, c.agrees, c.block_number) for c in cast] == [
        (d2, v1.address, make_word(1), True, votes[0].block_number), (d2, v2.address, UNAVAILABLE, False, votes[1].block_number)]
    assert net.cb.votes_cast(d1) == []
    mine = net.cb.events("DisputeGame", "VoteCast", d2, v2.address)
    assert [(e.tx_hash, e.block_number) for e in mine] == [(votes[1].tx_hash, votes[1].block_number)]
    assert net.cb.events("DisputeGame", "DisputeOpened", from_block=second.block_number)[0].args["disputeId"] == d2
    assert net.cb.receipt(first.tx_hash).event("DisputeOpened").args == first.event("DisputeOpened").args
    assert net.cb.dispute_opened_event(d1)["transactionHash"] == first.tx_hash
