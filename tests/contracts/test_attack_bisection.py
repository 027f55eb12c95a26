"""Outside review (issue 13): attacks on the bisection game (docs/PROTOCOL.md §10).

Each test asserts the claimed property ("one honest party with the data always wins, against any
number of dishonest accounts; ENERGY is conserved") in a situation where the current contracts
break it, so each FAILS on the reviewed code and passes once the finding is fixed. Each is marked
``xfail(strict=True)``: it documents an open hole of issue 13 and turns into a failure (XPASS) the
day the hole is closed, so whoever fixes it must remove the marker and keep the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak

from bisection_helpers import (
    DEFENDER_WON,
    SLASHED,
    each_test_reverted,
    GameNet,
    Lineage,
    h16,
    play_out,
    start_game_net,
)

@pytest.fixture(scope="module")
def _gn() -> GameNet:
    return start_game_net(accounts=12, clock=200, params={"challenge_period": 600})


@pytest.fixture
def gn(_gn: GameNet) -> Iterator[GameNet]:
    yield from each_test_reverted(_gn)


def _try(fn, *args) -> Exception | None:  # noqa: ANN001
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - report what the chain said
        return exc
    return None


@pytest.mark.xfail(strict=True, reason="open hole, issue 13 (finding 1: a seller holding the data cannot defend its windows)")
def test_seller_with_the_data_cannot_defend_its_windows_after_a_transfer(gn: GameNet) -> None:
    """Finding 1: the defender seat is checked against the committers *now*. The account that
    committed (and holds the states) of a window still inside its challenge period loses the right
    to defend it when the beast changes hands (or its trainer is revoked); anyone then slashes the
    true window for gas only (no defender bond posted: the challenger's own bond comes back)."""
    seller, buyer, griefer = gn.a[1], gn.a[3], gn.a[4]
    truth: list[list[bytes]] = []
    lin = Lineage(gn.cb.hatch(seller))
    lin.commit(gn, seller, honest_view=truth)
    k = lin.commit(gn, seller, honest_view=truth)  # a true window, still challengeable
    gn.cb.transfer_beast(seller, seller.address, buyer.address, lin.beast)
    before = gn.cb.balance_of(griefer.address)
    gid = gn.challenge(griefer, lin.beast, k)
    # The seller has the true states and tries to defend its own true window.
    err = _try(gn.bisect, seller, gid, h16(lin.windows[k][64]))
    if err is None:
        g = play_out(gn, gid, (seller, lin.windows[k]), (griefer, None), __import__("random").Random(1))
        assert g["outcome"] == DEFENDER_WON
        return
    # It cannot sit; the buyer never trained it (no states). The true window is slashed for free.
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[9], gid)
    assert gn.status(lin.beast, k) == SLASHED
    assert gn.cb.balance_of(griefer.address) == before
    pytest.fail(f"the committer holding the data could not defend its true window ({err!r}); "
                "window slashed, griefer paid nothing")


@pytest.mark.xfail(strict=True, reason="open hole, issue 13 (finding 1: a replaced trainer holding the data cannot defend its own windows)")
def test_revoked_trainer_with_the_data_cannot_defend_its_windows(gn: GameNet) -> None:
    """Finding 1b: same with a trainer change. The owner switches trainers; the old trainer's
    windows inside their challenge period can be slashed for free, their only data holder barred."""
    owner, old_trainer, new_trainer, griefer = gn.a[1], gn.a[2], gn.a[5], gn.a[4]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, old_trainer.address)
    lin = Lineage(beast)
    truth: list[list[bytes]] = []
    k = lin.commit(gn, old_trainer, honest_view=truth)
    gn.cb.authorize_trainer(owner, beast, new_trainer.address)  # replaces (revokes) the old one
    gid = gn.challenge(griefer, beast, k)
    err = _try(gn.bisect, old_trainer, gid, h16(lin.windows[k][64]))
    if err is None:
        return
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[9], gid)
    assert gn.status(beast, k) == SLASHED
    pytest.fail(f"the old trainer holding the data could not defend its true window ({err!r}); slashed")


@pytest.mark.xfail(strict=True, reason="open hole, issue 13 (finding 2: any committer may take the seat and lose on purpose)")
def test_hired_trainer_takes_the_seat_and_throws_the_owners_true_window(gn: GameNet) -> None:
    """Finding 2: the seat goes to whichever committer moves first. A hired trainer (or any
    authorized trainer turned hostile) colluding with a sybil challenger sits first in a game on a
    window the OWNER trained and committed itself, loses on purpose, and the owner — the honest
    party with the data — cannot sit in that game. PROTOCOL §10 states only the reverse direction
    (owner vs its trainer) and argues "the committers are the only accounts that hold the states"."""
    owner, trainer, sybil = gn.a[1], gn.a[2], gn.a[6]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, trainer.address)
    lin = Lineage(beast)
    truth: list[list[bytes]] = []
    k = lin.commit(gn, owner, honest_view=truth)  # the owner trains and commits, a true window
    gid = gn.challenge(sybil, beast, k)
    gn.bisect(trainer, gid, keccak(b"garbage")[:16])  # the trainer front-runs the owner for the seat
    err = _try(gn.bisect, owner, gid, h16(lin.windows[k][64]))
    assert err is not None  # GameNotYourMove: the seat is taken
    gn.respond(sybil, gid, False)
    while (g := gn.game_of(gid))["outcome"] == 0:
        if g["challengerToMove"]:
            gn.respond(sybil, gid, False)
        else:
            gn.mine(gn.clock + 1)
            gn.timeout(gn.a[9], gid)
    assert gn.status(beast, k) != SLASHED, "the owner's true window was slashed by its trainer's throw"


@pytest.mark.xfail(strict=True, reason="open hole, issue 13 (finding 3: a bond per game lets an attacker exhaust the defender)")
def test_capital_exhaustion_slashes_a_true_window(gn: GameNet) -> None:
    """Finding 3: every game asks the defender for a fresh bond, locked until that game ends, and
    ONE lost game slashes the window. An attacker with more ENERGY than the honest committer opens
    one game more than the committer can bond (all in the same block), stalls the games it is
    bonded in on its own clock, and the unanswered game times out: a true window slashed. The
    attacker's cost is about the defender's free ENERGY (the bonds of the games it did answer); in
    the unanswered one it gets its own bond back."""
    from devnet.records import Param
    from bisection_helpers import BURN

    owner, attacker, sink = gn.a[1], gn.a[4], gn.a[8]
    truth: list[list[bytes]] = []
    lin = Lineage(gn.cb.hatch(owner))
    k = lin.commit(gn, owner, honest_view=truth)
    b = gn.cb.param(Param.BOND_MULTIPLIER) * BURN
    # The honest committer keeps two bonds' worth of free ENERGY; the attacker has far more.
    gn.cb.transfer(owner, sink.address, gn.cb.balance_of(owner.address) - 2 * b)
    gids = [gn.challenge(attacker, lin.beast, k) for _ in range(3)]
    for gid in gids[:2]:
        gn.bisect(owner, gid, h16(lin.windows[k][64]))  # honest, and bonded
    err = _try(gn.bisect, owner, gids[2], h16(lin.windows[k][64]))
    assert err is not None  # ERC20InsufficientBalance: no third bond
    # The attacker sits on games 1 and 2 (its clock, not yet spent); game 3's defender clock runs out.
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[9], gids[2])
    assert gn.status(lin.beast, k) != SLASHED, (
        f"a true window was slashed because its honest committer could not post a {2 + 1}rd bond ({err!r})")


@pytest.mark.xfail(strict=True, reason="open hole, issue 13 (finding 4: the finder of a false window is paid nothing)")
def test_a_rational_cheater_never_sits_so_the_finder_earns_nothing(gn: GameNet) -> None:
    """Finding 4: the finder's only possible reward is the defender's bond, and the defender bonds
    only when it chooses to sit. A trainer that committed a false window simply never sits in a
    game against it: the finder wins by timeout and gets back exactly its own bond (zero reward,
    its gas and a locked bond for clockBlocks as cost), and the cheater's loss is the escrow, which
    an honest window burns too. Cheating costs nothing over honesty and catching it pays nothing,
    so the claim "the honest challenger's game slashes a false window" holds but nobody is paid to
    play it (PROTOCOL §10 'Incentives': "its only possible gain is its own defender's bond")."""
    cheater, finder, honest = gn.a[1], gn.a[2], gn.a[3]
    truth: list[list[bytes]] = []
    lin = Lineage(gn.cb.hatch(cheater))
    h_lin = Lineage(gn.cb.hatch(honest))
    c0, h0 = gn.cb.balance_of(cheater.address), gn.cb.balance_of(honest.address)
    k = lin.commit(gn, cheater, lie_at=1, honest_view=truth)  # a false window
    h_lin.commit(gn, honest)                                  # a true one, for comparison
    f0 = gn.cb.balance_of(finder.address)
    gid = gn.challenge(finder, lin.beast, k)
    gn.mine(gn.clock + 1)  # the cheater stays away
    gn.timeout(gn.a[9], gid)
    assert gn.status(lin.beast, k) == SLASHED
    cheater_cost = c0 - gn.cb.balance_of(cheater.address)
    honest_cost = h0 - gn.cb.balance_of(honest.address)
    assert cheater_cost == honest_cost  # the lie cost exactly what the truth did
    assert gn.cb.balance_of(finder.address) > f0, "the finder of a false window earned nothing"


@pytest.mark.xfail(strict=True, reason="open hole, issue 13 (finding 5: proveStep on a private beast reveals S_owner itself)")
def test_any_challenger_forces_a_private_owner_to_publish_its_secret(gn: GameNet) -> None:
    """Finding 5: for one bond (lost to the defender), anyone forces the owner of a private beast to
    publish S_owner (and one record with its path) on chain: the challenger disagrees with every
    claim, the game reaches hi - lo == 1 on the defender's clock, and the defender's only winning
    move is proveStep with the preimage of secretCommitment (anything else: GameSecretMismatch, or
    a timeout that slashes its true window). S_owner keys the private sampling of every window of
    the beast (and of every beast hatched with the same secret), so once public the private
    curriculum's sample order is public for good."""
    from bisection_helpers import empty_sample

    owner, attacker = gn.a[1], gn.a[4]
    secret = keccak(b"the owner's private secret")
    beast = gn.cb.hatch(owner, keccak(b"dataset"), keccak(secret), keccak(b"records root"))
    lin = Lineage(beast)
    k = lin.commit(gn, owner, s_owner=secret)  # a true window
    gid = gn.challenge(attacker, beast, k)
    while (g := gn.game_of(gid))["hi"] - g["lo"] > 1:
        if g["challengerToMove"]:
            gn.respond(attacker, gid, False)
        else:
            gn.bisect(owner, gid, h16(lin.windows[k][(g["lo"] + g["hi"]) // 2]))
    assert _try(gn.prove_step, owner, gid, lin.windows[k][0], empty_sample(keccak(b"decoy"))) is not None
    gn.prove_step(owner, gid, lin.windows[k][0], empty_sample(secret))  # the only way to win
    assert gn.game_of(gid)["outcome"] == DEFENDER_WON
    w3 = gn.raw.w3
    tx = w3.eth.get_block(w3.eth.block_number, full_transactions=True)["transactions"][-1]
    assert secret not in bytes(tx.get("input", tx.get("data", b""))), "S_owner is now public calldata, forced by a stranger"


@pytest.mark.xfail(strict=True, reason="open hole, issue 13 (finding 6: a vote dispute opened before bindBisectionGame shields the window)")
def test_a_vote_dispute_opened_before_the_binding_shields_a_false_window() -> None:
    """Finding 6 (transitional): LedgerVoteDisputesClosed only stops vote disputes opened AFTER
    bindBisectionGame. On a deployment whose vote game is live (devnet.start binds it), a cheater
    opens a vote dispute on its own false window before (or by front-running) the binding; the
    window sits in Disputed, where beginGame refuses every challenge, until its challenge deadline
    passes — exactly the shield PROTOCOL §10 says the closure prevents."""
    import devnet
    from web3 import Web3
    from devnet import artifacts
    from devnet.deploy import _create, fund
    from bisection_helpers import ENERGY, compile_toy, GameNet

    raw = devnet.start(accounts=10, spec_version=2, params={"challenge_period": 600}, energy_per_account=0,
                       approve=False)
    cb = raw.chain
    deployer, cheater, finder = raw.accounts[0], raw.accounts[1], raw.accounts[2]
    fund(cb, deployer, raw.accounts[:10], ENERGY)
    toy = compile_toy()
    receipt = cb.sender.send(deployer, None, bytes.fromhex(toy["bytecode"][2:]), gas=None)
    toy_address = Web3.to_checksum_address(receipt["contractAddress"])
    game_addr = _create(cb.sender, deployer, "BisectionGame", ["address", "address", "uint32"],
                        [cb.addresses["CheckpointLedger"], toy_address, 200])
    game = raw.w3.eth.contract(address=game_addr, abi=artifacts.load("BisectionGame").abi)
    gn = GameNet(raw, game, toy_address, 200)
    for acct in raw.accounts:
        cb.approve(acct, game_addr)
    # The cheater's false window, committed while only the vote game is bound.
    lin = Lineage(cb.hatch(cheater))
    k = lin.commit(gn, cheater, lie_at=5)
    cb.open_dispute(cheater, lin.beast, k)  # its own vote dispute, before the binding
    data = bytes.fromhex(cb.ledger.encode_abi("bindBisectionGame", args=[game_addr]).removeprefix("0x"))
    cb.sender.send(deployer, cb.ledger.address, data, gas=200_000)
    err = _try(gn.challenge, finder, lin.beast, k)
    assert err is None, f"the honest finder cannot open a game on the false window ({err!r})"
