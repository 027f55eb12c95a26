"""Outside review (issue 13): attacks on the bisection game (docs/PROTOCOL.md §10).

Each test asserts the claimed property ("one honest party with the data always wins, against any
number of dishonest accounts; ENERGY is conserved") in a situation an attacker chooses. The first
seven were findings against BisectionGame 1.0.0 (strict-xfail markers while open); BisectionGame
2.0.0 with CheckpointLedger 3.0.0 closes them, and the markers are gone: the committer of a window
defends it whatever happens to the beast later (1, 1b), nobody else can take its seat (2), no
defender bond (3), the slash reward pays the finder (4), the challenger proves the last step (5),
the vote game is gone (6). The attacks after them were added with 2.0.0.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from eth_utils import keccak

from bisection_helpers import (
    same_block,
    try_call,
    BURN,
    CHALLENGED,
    CHALLENGER_WON,
    COMMITTED,
    DEFENDER_WON,
    OPEN,
    SLASHED,
    VOIDED,
    each_test_reverted,
    GameNet,
    Lineage,
    compile_toy,
    deploy_caller,
    empty_sample,
    h16,
    play_challenger,
    play_defender,
    play_out,
    start_game_net,
)
from chain_helpers import raises_error
from test_bisection_stateful import held_is_owed


@pytest.fixture(scope="module")
def _gn() -> GameNet:
    return start_game_net(accounts=70, clock=200, params={"challenge_period": 600})


@pytest.fixture
def gn(_gn: GameNet) -> Iterator[GameNet]:
    yield from each_test_reverted(_gn)



def _wealth(gn: GameNet, *accts) -> int:  # noqa: ANN002
    """ENERGY of accounts: balance plus stake and unbonding stake held by the ledger."""
    total = 0
    for a in accts:
        staked, unbonding, _ = gn.cb.stake_of(a.address)
        total += gn.cb.balance_of(a.address) + staked + unbonding
    return total


# ---------------------------------------------------------------------- findings against 1.0.0


def test_seller_with_the_data_cannot_defend_its_windows_after_a_transfer(gn: GameNet) -> None:
    """Finding 1 (closed): the seat was checked against the committers *now*; the account that
    committed (and holds the states) of a window still inside its challenge period lost the right
    to defend it when the beast changed hands. Now the seat is the window's committer."""
    seller, buyer, griefer = gn.a[1], gn.a[3], gn.a[4]
    truth: list[list[bytes]] = []
    lin = Lineage(gn.cb.hatch(seller))
    lin.commit(gn, seller, honest_view=truth)
    k = lin.commit(gn, seller, honest_view=truth)  # a true window, still challengeable
    gn.cb.transfer_beast(seller, seller.address, buyer.address, lin.beast)
    gid = gn.challenge(griefer, lin.beast, k)
    assert gn.game_of(gid)["defender"] == seller.address
    err = try_call(gn.bisect, buyer, gid, h16(lin.windows[k][64]))
    assert err is not None and "GameNotDefender" in str(err)  # the buyer holds no states of it
    g = play_out(gn, gid, (seller, lin.windows[k]), (griefer, None), random.Random(1))
    assert g["outcome"] == DEFENDER_WON
    assert gn.status(lin.beast, k) == COMMITTED


def test_revoked_trainer_with_the_data_cannot_defend_its_windows(gn: GameNet) -> None:
    """Finding 1b (closed): same with a trainer change: the old trainer defends its own windows."""
    owner, old_trainer, new_trainer, griefer = gn.a[1], gn.a[2], gn.a[5], gn.a[4]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, old_trainer.address)
    lin = Lineage(beast)
    k = lin.commit(gn, old_trainer)
    gn.cb.authorize_trainer(owner, beast, new_trainer.address)  # replaces (revokes) the old one
    gid = gn.challenge(griefer, beast, k)
    for other in (owner, new_trainer):
        assert "GameNotDefender" in str(try_call(gn.bisect, other, gid, h16(b"garbage")))
    g = play_out(gn, gid, (old_trainer, lin.windows[k]), (griefer, None), random.Random(2))
    assert g["outcome"] == DEFENDER_WON and gn.status(beast, k) == COMMITTED


def test_hired_trainer_takes_the_seat_and_throws_the_owners_true_window(gn: GameNet) -> None:
    """Finding 2 (closed): the seat went to whichever committer moved first; a hired trainer
    colluding with a sybil challenger sat first in a game on a window the OWNER committed and lost
    on purpose. Now only the owner (this window's committer) may move on the defender's side."""
    owner, trainer, sybil = gn.a[1], gn.a[2], gn.a[6]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, trainer.address)
    lin = Lineage(beast)
    k = lin.commit(gn, owner)  # the owner trains and commits, a true window
    gid = gn.challenge(sybil, beast, k)
    err = try_call(gn.bisect, trainer, gid, keccak(b"garbage")[:16])  # the trainer tries to front-run
    assert err is not None and "GameNotDefender" in str(err)
    while (g := gn.game_of(gid))["outcome"] == OPEN:
        if g["challengerToMove"] and g["hi"] - g["lo"] > 1:
            gn.respond(sybil, gid, False)
        elif g["challengerToMove"]:
            gn.mine(gn.clock + 1)
            gn.timeout(gn.a[9], gid)
        else:
            play_defender(gn, owner, gid, lin.windows[k])
    assert gn.status(beast, k) != SLASHED, "the owner's true window was slashed by its trainer's throw"


def test_capital_exhaustion_slashes_a_true_window(gn: GameNet) -> None:
    """Finding 3 (closed): every game asked the defender for a fresh bond, so an attacker with more
    ENERGY opened one game more than the committer could bond. Now the defender posts nothing: a
    committer with no free ENERGY at all answers any number of games and wins them all."""
    owner, attacker, sink = gn.a[1], gn.a[4], gn.a[8]
    lin = Lineage(gn.cb.hatch(owner))
    k = lin.commit(gn, owner)
    gn.cb.transfer(owner, sink.address, gn.cb.balance_of(owner.address))  # nothing left
    gids = [gn.challenge(attacker, lin.beast, k) for _ in range(3)]
    for gid in gids:
        err = try_call(gn.bisect, owner, gid, h16(lin.windows[k][64]))
        assert err is None, f"the honest committer could not answer a game ({err!r})"
    gn.mine(gn.clock + 1)  # the attacker stalls in every game
    for gid in gids:
        gn.timeout(gn.a[9], gid)
    assert gn.status(lin.beast, k) != SLASHED
    assert gn.cb.balance_of(owner.address) == 3 * gn.bond()


def test_a_rational_cheater_never_sits_so_the_finder_earns_nothing(gn: GameNet) -> None:
    """Finding 4 (closed): the finder's only possible reward was the defender's bond, which a
    cheater never posts. Now the slash pays the finder min(energyBurn, the cheater's stake), so a
    false window costs its committer more than a true one and catching it pays."""
    cheater, finder, honest = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    h_lin = Lineage(gn.cb.hatch(honest))
    c0, h0 = _wealth(gn, cheater), _wealth(gn, honest)
    k = lin.commit(gn, cheater, lie_at=1)  # a false window
    h_lin.commit(gn, honest)                # a true one, for comparison
    f0 = gn.cb.balance_of(finder.address)
    gid = gn.challenge(finder, lin.beast, k)
    gn.mine(gn.clock + 1)  # the cheater stays away
    gn.timeout(gn.a[9], gid)
    assert gn.status(lin.beast, k) == SLASHED
    gn.claim_reward(gn.a[9], lin.beast, k, gn.game_of(gid)["stored"])
    cheater_cost = c0 - _wealth(gn, cheater)
    honest_cost = h0 - _wealth(gn, honest)
    assert cheater_cost == honest_cost + BURN  # the escrow and the reward
    assert gn.cb.balance_of(finder.address) == f0 + BURN, "the finder of a false window earned nothing"


def test_any_challenger_forces_a_private_owner_to_publish_its_secret(gn: GameNet) -> None:
    """Finding 5 (closed): the defender had to prove the last step, and on a private beast that
    reveals S_owner, so anyone could force it out for one bond. Now the challenger proves; one
    without S_owner cannot (GameSecretMismatch) and loses its bond on its own clock; the defender
    is never asked for anything but hashes."""
    owner, attacker = gn.a[1], gn.a[4]
    secret = keccak(b"the owner's private secret")
    beast = gn.cb.hatch(owner, keccak(b"dataset"), keccak(secret), keccak(b"records root"))
    lin = Lineage(beast)
    k = lin.commit(gn, owner, s_owner=secret)  # a true window
    first = gn.block() + 1
    a0, o0 = gn.cb.balance_of(attacker.address), gn.cb.balance_of(owner.address)
    gid = gn.challenge(attacker, beast, k)
    while (g := gn.game_of(gid))["hi"] - g["lo"] > 1:
        if g["challengerToMove"]:
            gn.respond(attacker, gid, False)
        else:
            play_defender(gn, owner, gid, lin.windows[k])
    decoy = empty_sample(keccak(b"not the secret"))  # the owner never sends its secret, not even to try
    assert "GameNotYourMove" in str(try_call(gn.prove_step, owner, gid, lin.windows[k][0], decoy))
    assert "GameSecretMismatch" in str(try_call(gn.prove_step, attacker, gid, lin.windows[k][0],
                                            empty_sample(keccak(b"a guess"))))
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[9], gid)
    assert gn.game_of(gid)["outcome"] == DEFENDER_WON
    assert gn.cb.balance_of(attacker.address) == a0 - gn.bond()
    assert gn.cb.balance_of(owner.address) == o0 + gn.bond()
    w3 = gn.raw.w3
    for n in range(first, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            assert secret not in bytes(tx.get("input", tx.get("data", b""))), "S_owner appeared in calldata"


def test_the_ledger_has_no_vote_dispute_entry_point() -> None:
    """Finding 6 (gone with the vote game): a vote dispute opened before bindBisectionGame could
    shield a false window. CheckpointLedger 3.0.0 has no vote game, no hook for one and no
    DisputeGame artifact exists: nothing but the bisection game can hold a window."""
    from devnet import artifacts

    abi = artifacts.load("CheckpointLedger").abi
    names = {item.get("name") for item in abi}
    for gone in ("bindDisputeGame", "beginDispute", "settleDispute", "disputeGame", "LedgerVoteDisputesClosed",
                 "LedgerOnlyDisputeGame", "WindowDisputed", "DisputeGameBound"):
        assert gone not in names, f"the ledger still has {gone}"
    hooks = sorted(i["name"] for i in abi if i.get("type") == "function"
                   and i.get("stateMutability") not in ("view", "pure") and "Game" in i["name"])
    assert hooks == ["beginGame", "bindBisectionGame", "endGame"]
    assert not (artifacts.build_dir() / "DisputeGame.json").exists()
    assert not (artifacts.REPO_ROOT / "contracts" / "src" / "DisputeGame.sol").exists()


# ---------------------------------------------------------------------- attacks on 2.0.0


def test_a_copied_challenge_wins_its_own_game_but_never_the_reward(gn: GameNet) -> None:
    """A bot copies the finder's revealed challenge (it cannot see it earlier: only a hash was
    committed), commits and reveals in later blocks and its game ends first: the window is
    slashed in the copier's game, yet the reward is the finder's (earliest commitment); the copier
    gets its bond back and nothing more."""
    cheater, finder, copier = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    k = lin.commit(gn, cheater, lie_at=100, honest_view=truth)
    f0, c0 = gn.cb.balance_of(finder.address), gn.cb.balance_of(copier.address)
    gid = gn.challenge(finder, lin.beast, k)
    copy = gn.challenge(copier, lin.beast, k)  # copied from the finder's reveal
    assert gn.game_of(copy)["commitmentBlock"] > gn.game_of(gid)["commitmentBlock"]
    # The cheater abandons the copy (it wins by timeout, first) and stalls the finder to the end.
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], copy)
    assert gn.status(lin.beast, k) == SLASHED
    assert "GameWindowOpen" in str(try_call(gn.claim_reward, copier, lin.beast, k, gn.game_of(copy)["stored"]))
    gn.timeout(gn.a[0], gid)
    gn.claim_reward(copier, lin.beast, k, gn.game_of(gid)["stored"])
    assert gn.cb.balance_of(copier.address) == c0
    assert gn.cb.balance_of(finder.address) == f0 + BURN
    assert gn.held_by_game() == 0


def test_a_copier_that_front_runs_the_reveal_cannot_open_without_its_own_commitment(gn: GameNet) -> None:
    """The copier replays the finder's reveal calldata as its own: the commitment binds the finder's
    address, so the copy reverts; a copier that reveals the finder's salt from its own commitment is
    later by construction."""
    cheater, finder, copier = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    k = lin.commit(gn, cheater, lie_at=9)
    salt = keccak(b"finder's salt")
    gn.commit_challenge(finder, lin.beast, k, salt)
    with raises_error("GameCommitmentMissing", committedAt=0):
        gn.reveal(copier, lin.beast, k, salt)  # the finder's calldata, sent by the copier first
    gid = gn.reveal(finder, lin.beast, k, salt)
    assert gn.game_of(gid)["challenger"] == finder.address


def test_a_cheater_challenging_itself_loses_at_least_an_honest_windows_cost(gn: GameNet) -> None:
    """The cheater commits a false window and races to be its earliest challenger from a second
    account (it knows first): it wins its own game and takes the reward back, but the escrow is
    burned and its lineage rewinds. Its accounts together lose the escrow: exactly what an honest
    window burns. Losing on purpose instead (to keep the window) shields nothing: the honest
    finder's own game still slashes it."""
    cheater, alt, finder = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    lin.commit(gn, cheater, honest_view=truth)
    lose_acct = gn.a[5]
    before = _wealth(gn, cheater, alt, lose_acct)
    k = lin.commit(gn, cheater, lie_at=5, honest_view=truth)
    gn.commit_challenge(alt, lin.beast, k)  # right after its own commit: the earliest commitment
    lose = gn.challenge(lose_acct, lin.beast, k)  # another of its accounts, to lose on purpose
    play_out(gn, lose, (cheater, lin.windows[k]), (lose_acct, None), rng=random.Random(4))
    assert gn.game_of(lose)["outcome"] == DEFENDER_WON and gn.status(lin.beast, k) == COMMITTED
    own = gn.reveal(alt, lin.beast, k)
    fgid = gn.challenge(finder, lin.beast, k)
    g = play_out(gn, fgid, (cheater, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON and gn.status(lin.beast, k) == SLASHED
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], own)
    gn.claim_reward(gn.a[0], lin.beast, k, g["stored"])
    assert gn.pot_of(lin.beast, k, g["stored"])["bestGame"] == own
    lost = before - _wealth(gn, cheater, alt, lose_acct)
    honest_cost = BURN  # commit then finalize: the escrow burned
    assert lost >= honest_cost
    assert int(gn.cb.ledger.functions.windowCount(lin.beast).call()) == k  # the lineage rewound


def test_fifty_sybils_on_each_side_against_one_honest_challenger_and_one_honest_defender(gn: GameNet) -> None:
    """A cheater with 50 accounts: 25 challenge an honest beast's true window (each loses its bond
    to the honest defender), 25 challenge the cheater's own false window and throw their games
    (nothing shields it), and all 50 try to move as defender in the honest challenger's game and
    the honest defender's games (GameNotDefender). The one honest challenger slashes the false
    window; the one honest defender keeps its window and is paid 25 bonds."""
    cheater, finder, defender = gn.a[1], gn.a[2], gn.a[3]
    sybils = gn.a[10:60]
    bad = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    kb = bad.commit(gn, cheater, lie_at=64, honest_view=truth)
    good = Lineage(gn.cb.hatch(defender))
    kg = good.commit(gn, defender)
    d0 = gn.cb.balance_of(defender.address)
    on_good, on_bad = [], []
    for s in sybils[:25]:  # each honest defender answers at once, as its watcher does
        on_good.append(gn.challenge(s, good.beast, kg))
        play_defender(gn, defender, on_good[-1], good.windows[kg])
    for s in sybils[25:]:  # the cheater answers its throwaway games too (its sybils will stall)
        on_bad.append(gn.challenge(s, bad.beast, kb))
        play_defender(gn, cheater, on_bad[-1], bad.windows[kb])
    gid = gn.challenge(finder, bad.beast, kb)
    for s in sybils:
        assert "GameNotDefender" in str(try_call(gn.bisect, s, gid, h16(b"fake")))
    for s in sybils[:5]:
        assert "GameNotDefender" in str(try_call(gn.bisect, s, on_good[0], h16(b"fake")))
    g = play_out(gn, gid, (cheater, bad.windows[kb]), (finder, truth[kb]))
    assert g["outcome"] == CHALLENGER_WON and gn.status(bad.beast, kb) == SLASHED
    gn.mine(gn.clock + 1)
    for x in on_good + on_bad:
        gn.timeout(gn.a[0], x)
    assert all(gn.game_of(x)["outcome"] == DEFENDER_WON for x in on_good + on_bad)
    assert gn.status(good.beast, kg) == COMMITTED
    assert gn.cb.balance_of(defender.address) == d0 + 25 * gn.bond()
    gn.claim_reward(gn.a[0], bad.beast, kb, g["stored"])
    assert gn.pot_of(bad.beast, kb, g["stored"])["claimed"]


def test_odd_abi_encodings_change_nothing(gn: GameNet) -> None:
    """Moves with dirty bits in a bool or a bytes16, truncated or padded calldata: each is refused
    (solc's ABI decoder) or reads exactly like its clean form; the game is never corrupted."""
    lin = Lineage(gn.cb.hatch(gn.a[1]))
    k = lin.commit(gn, gn.a[1])
    c, d = gn.a[4], gn.a[1]
    gid = gn.challenge(c, lin.beast, k)
    sel = {n: bytes.fromhex(gn.game.encode_abi(n, args=a)[2:10]) for n, a in
           (("bisect", [0, b"\x00" * 16]), ("respond", [0, True]), ("timeout", [0]))}
    word = lambda v: v.to_bytes(32, "big")  # noqa: E731
    before = gn.game_of(gid)
    bad = [
        sel["bisect"] + word(gid) + h16(b"x") + b"\x01" * 16,  # bytes16 with dirty low bytes
        sel["bisect"] + word(gid) + h16(b"x")[:15],             # truncated
        sel["bisect"] + word(gid),                               # argument missing
    ]
    for data in bad:
        assert try_call(gn.send_raw, d, gn.game.address, data, 300_000, "odd") is not None
    assert gn.game_of(gid) == before
    gn.send_raw(d, gn.game.address, sel["bisect"] + word(gid) + h16(lin.windows[k][64]) + b"\x00" * 16 + b"junk",
                300_000, "odd")  # trailing bytes: ignored, a clean bisect
    assert bytes(gn.game_of(gid)["midHash"]) == h16(lin.windows[k][64])
    before = gn.game_of(gid)
    assert try_call(gn.send_raw, c, gn.game.address, sel["respond"] + word(gid) + word(2), 300_000, "odd") is not None
    assert try_call(gn.send_raw, c, gn.game.address, sel["respond"] + word(gid + 2**255) + word(1), 300_000, "odd") is not None
    assert gn.game_of(gid) == before
    gn.send_raw(c, gn.game.address, sel["respond"] + word(gid) + word(1), 300_000, "odd")
    assert gn.game_of(gid)["lo"] == 64


def test_eip7702_delegated_and_contract_accounts_move_as_themselves(gn: GameNet) -> None:
    """A player whose account runs code (a contract, or an EOA delegated with EIP-7702) is judged by
    its address like any other: a delegated defender moves through its code; a contract that
    commits and reveals in one transaction is refused (one block); nobody moves for another."""
    owner, attacker = gn.a[1], gn.a[4]
    w3 = gn.raw.w3
    art = compile_toy("GameCaller")
    from bisection_helpers import _create

    code = _create(gn.cb.sender, gn.a[0], art["bytecode"], [], [])
    nonce = w3.eth.get_transaction_count(owner.address)
    auth = owner.sign_authorization({"chainId": w3.eth.chain_id, "address": code, "nonce": nonce + 1})
    tx = {"type": 4, "chainId": w3.eth.chain_id, "nonce": nonce, "gas": 200_000, "maxFeePerGas": 10**10,
          "maxPriorityFeePerGas": 1, "to": owner.address, "value": 0, "data": b"", "authorizationList": [auth]}
    w3.eth.send_raw_transaction(owner.sign_transaction(tx).raw_transaction)
    gn.cb.sender._nonces.clear()
    assert bytes(w3.eth.get_code(owner.address))[:3] == b"\xef\x01\x00"
    delegated = w3.eth.contract(address=owner.address, abi=art["abi"])
    lin = Lineage(gn.cb.hatch(owner))
    k = lin.commit(gn, owner)
    gid = gn.challenge(attacker, lin.beast, k)
    # The delegated owner bisects through its own code: msg.sender is its address.
    gn._send(owner, delegated, "forward", [gn.game.address, gn.game.encode_abi("bisect", args=[gid, h16(lin.windows[k][64])])],
             300_000)
    assert bytes(gn.game_of(gid)["midHash"]) == h16(lin.windows[k][64])
    gn.respond(attacker, gid, True)
    # Another account calling a contract wallet moves as that contract, never as the owner.
    caller = deploy_caller(gn, attacker)
    err = try_call(gn._send, attacker, caller, "forward",
               [gn.game.address, gn.game.encode_abi("bisect", args=[gid, h16(b"forged")])], 300_000)
    assert err is not None and "GameNotDefender" in str(err)
    err = try_call(gn._send, attacker, caller, "commitAndChallenge", [gn.game.address, lin.beast, k, keccak(b"s")], 600_000)
    assert err is not None and "GameCommitmentMissing" in str(err)
    g = play_out(gn, gid, (owner, lin.windows[k]), (attacker, None), random.Random(3))
    assert g["outcome"] == DEFENDER_WON


def test_each_sides_clock_runs_out_and_every_game_ends_in_bounded_blocks(gn: GameNet) -> None:
    """A stalling defender, then a stalling challenger, waits 40 blocks before each move: the
    staller runs out of its clock and loses, by the opening block + 2 clockBlocks + 1 at the latest."""
    for stalling in ("defender", "challenger"):
        lin = Lineage(gn.cb.hatch(gn.a[1]))
        truth: list[list[bytes]] = []
        k = lin.commit(gn, gn.a[1], lie_at=50, honest_view=truth)
        gid = gn.challenge(gn.a[4], lin.beast, k)
        opened = gn.game_of(gid)["lastMove"]
        while (g := gn.game_of(gid))["outcome"] == OPEN:
            if g["challengerToMove"] == (stalling == "challenger"):
                left = (g["challengerClock"] if g["challengerToMove"] else g["defenderClock"]) - (gn.block() - g["lastMove"])
                if left <= 40:
                    gn.mine(left + 1)
                    gn.timeout(gn.a[9], gid)
                    continue
                gn.mine(40)
            if g["challengerToMove"]:
                play_challenger(gn, gn.a[4], gid, truth[k], g=g)
            else:
                play_defender(gn, gn.a[1], gid, lin.windows[k], g)
        assert gn.block() <= opened + 2 * gn.clock + 1
        assert g["outcome"] == (CHALLENGER_WON if stalling == "defender" else DEFENDER_WON)


def test_a_challenger_without_the_data_cannot_make_a_private_owner_reveal_anything(gn: GameNet) -> None:
    """A private beast: the challenger has neither the records nor S_owner. Whatever it answers,
    the owner only ever posts hashes; at the last step the challenger must prove and cannot: it
    loses its bond, and no transaction of the owner carries more than a hash."""
    owner, attacker = gn.a[1], gn.a[6]
    secret = keccak(b"private")
    beast = gn.cb.hatch(owner, keccak(b"dataset"), keccak(secret), keccak(b"records root"))
    lin = Lineage(beast)
    k = lin.commit(gn, owner, s_owner=secret)
    for seed in range(2):
        gid = gn.challenge(attacker, beast, k)
        g = play_out(gn, gid, (owner, lin.windows[k]), (attacker, None), random.Random(seed))
        assert g["outcome"] == DEFENDER_WON
    sizes = [len(bytes(tx.get("input", tx.get("data", b"")))) for n in range(1, gn.block() + 1)
             for tx in gn.raw.w3.eth.get_block(n, full_transactions=True)["transactions"]
             if tx["from"] == owner.address and tx["to"] == gn.game.address]
    assert sizes and max(sizes) == 4 + 32 + 32  # bisect(gameId, bytes16): nothing else


def test_a_game_still_open_on_a_window_voided_by_an_earlier_slash(gn: GameNet) -> None:
    """Window 1 is false and slashed; the rewind voids window 2, on which a game is still open. That
    game ends normally (bonds only), takes no second stake and slashes nothing; after clearVoided
    and a new window 2, its end does not touch the new window."""
    cheater, finder, other = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    lin.commit(gn, cheater, honest_view=truth)
    k = lin.commit(gn, cheater, lie_at=20, honest_view=truth)
    k2 = lin.commit(gn, cheater, honest_view=truth)
    lin.commit(gn, cheater, honest_view=truth)
    on_voided = gn.challenge(other, lin.beast, k2)
    stored2 = gn.game_of(on_voided)["stored"]
    g = play_out(gn, gn.challenge(finder, lin.beast, k), (cheater, lin.windows[k]), (finder, truth[k]))
    assert g["outcome"] == CHALLENGER_WON
    assert gn.status(lin.beast, k2) == VOIDED
    stake_after_slash = gn.cb.stake_of(cheater.address)
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], on_voided)  # the cheater abandons the voided window's game: challenger wins
    assert gn.game_of(on_voided)["outcome"] == CHALLENGER_WON
    assert gn.cb.stake_of(cheater.address) == stake_after_slash  # no second reward
    assert gn.pot_of(lin.beast, k2, stored2)["reward"] == 0
    assert "GameNoReward" in str(try_call(gn.claim_reward, other, lin.beast, k2, stored2))
    # The old window 2's slot is cleared and the beast trains again from window 1.
    gn.cb.send(gn.a[0], gn.cb.ledger, "clearVoided", [lin.beast, 10], 1_000_000)
    lin.rewind(k)
    lin.commit(gn, cheater)
    new2 = lin.commit(gn, cheater)
    late = gn.challenge(other, lin.beast, new2)
    assert gn.game_of(late)["stored"] != stored2
    assert gn.status(lin.beast, new2) == CHALLENGED
    held_is_owed(gn, [lin.beast], list(range(1, int(gn.game.functions.gameCount().call()) + 1)))


def test_a_late_game_on_the_old_slot_cannot_touch_a_recommitted_window(gn: GameNet) -> None:
    """A game opened on window 2 before the slash of window 1 stays open through clearVoided and the
    re-commit of window 2; it ends for the challenger, and the new window 2 is untouched."""
    cheater, finder, other = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    lin.commit(gn, cheater, honest_view=truth)
    k = lin.commit(gn, cheater, lie_at=20, honest_view=truth)
    k2 = lin.commit(gn, cheater, honest_view=truth)
    old = gn.challenge(other, lin.beast, k2)
    play_out(gn, gn.challenge(finder, lin.beast, k), (cheater, lin.windows[k]), (finder, truth[k]))
    gn.cb.send(gn.a[0], gn.cb.ledger, "clearVoided", [lin.beast, 10], 1_000_000)
    lin.rewind(k)
    lin.commit(gn, cheater)
    lin.commit(gn, cheater)
    stake = gn.cb.stake_of(cheater.address)
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], old)
    assert gn.game_of(old)["outcome"] == CHALLENGER_WON
    assert gn.status(lin.beast, k2) == COMMITTED
    assert gn.cb.stake_of(cheater.address) == stake
    held_is_owed(gn, [lin.beast], list(range(1, int(gn.game.functions.gameCount().call()) + 1)))


def test_the_reward_never_exceeds_the_committers_stake(gn: GameNet) -> None:
    """A committer whose stake was partly withdrawn (requested) is slashed: the reward is what the
    ledger could take, min(energyBurn, staked + unbonding), and the game pays out exactly that."""
    cheater, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(cheater))
    k = lin.commit(gn, cheater, lie_at=2)
    staked, _, _ = gn.cb.stake_of(cheater.address)
    gn.cb.send(cheater, gn.cb.ledger, "requestUnstake", [staked - BURN // 4], 200_000)
    gn.cb.send(cheater, gn.cb.ledger, "requestUnstake", [BURN // 4 - BURN // 8], 200_000)
    staked, unbonding, _ = gn.cb.stake_of(cheater.address)
    gid = gn.challenge(finder, lin.beast, k)
    gn.mine(gn.clock + 1)
    r = gn.timeout(gn.a[0], gid)
    held = r.named("RewardHeld")[0]["amount"]
    assert held == min(BURN, staked + unbonding) == BURN
    f0 = gn.cb.balance_of(finder.address)
    gn.claim_reward(gn.a[0], lin.beast, k, gn.game_of(gid)["stored"])
    assert gn.cb.balance_of(finder.address) == f0 + held


@pytest.mark.parametrize("seed", [0, 1])
def test_random_players_never_break_conservation(gn: GameNet, seed: int) -> None:
    """Random honest/dishonest games on one beast; after every move the ENERGY the ledger and the
    game hold is what they owe (tests/contracts/test_bisection_stateful.py does this at length)."""
    rng = random.Random(seed)
    lin = Lineage(gn.cb.hatch(gn.a[1]))
    truth: list[list[bytes]] = []
    for lie in (None, 30, None):
        lin.commit(gn, gn.a[1], lie_at=lie, honest_view=truth)
    gids = [gn.challenge(gn.a[2 + rng.randrange(3)], lin.beast, rng.randrange(3)) for _ in range(4)]
    held_is_owed(gn, [lin.beast], gids)
    for gid in gids:
        g = gn.game_of(gid)
        if g["outcome"] != OPEN:
            continue
        acct = next(a for a in gn.a if a.address == g["challenger"])
        play_out(gn, gid, (gn.a[1], lin.windows[g["index"]]), (acct, None), rng)
        held_is_owed(gn, [lin.beast], gids)



def test_residual_a_trainer_revoked_in_its_commit_block_leaves_the_window_without_defender(gn: GameNet) -> None:
    """Residual edge (PROTOCOL §10, §4a): the owner revokes its trainer in the very block of the
    trainer's commit, so the window's committer is address(0). Nobody can defend it: any challenger
    wins by timeout, the reward is 0 (no stake), and the game still ends cleanly (no payout to
    address(0) is ever due: the defender's turn comes first and never ends but by timeout)."""
    owner, trainer, griefer = gn.a[1], gn.a[2], gn.a[4]
    beast = gn.cb.hatch(owner)
    gn.cb.authorize_trainer(owner, beast, trainer.address)
    lin = Lineage(beast)
    seed = gn.cb.ensure_epoch_seed(trainer, beast, 0)
    from bisection_helpers import genesis_v2_bytes, window_states, word_for

    hd = gn.cb.hatch_data(beast)
    states = window_states(genesis_v2_bytes(bytes(hd.seed_core)), seed)
    lin.windows.append(states)
    statuses = same_block(gn, [(trainer, gn.cb.ledger, "commit", [beast, word_for(0, h16(states[-1]))]),
                                (owner, gn.cb.beast, "revokeTrainer", [beast])])
    assert statuses == [1, 1]
    assert gn.cb.committer_of(beast, 0)[0] == "0x" + "00" * 20
    gid = gn.challenge(griefer, beast, 0)
    for who in (owner, trainer):
        assert "GameNotDefender" in str(try_call(gn.bisect, who, gid, h16(states[64])))
    gn.mine(gn.clock + 1)
    r = gn.timeout(gn.a[0], gid)
    assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON and not r.named("RewardHeld")
    assert gn.status(beast, 0) == SLASHED
    assert "GameNoReward" in str(try_call(gn.claim_reward, griefer, beast, 0, gn.game_of(gid)["stored"]))


def test_residual_a_blind_early_commitment_takes_the_reward_from_the_finder(gn: GameNet) -> None:
    """Residual edge (PROTOCOL §10): the earliest commitment, not knowledge, takes the reward. A bot
    commits blindly to the next window of a beast before it even exists; the finder replays,
    commits and wins; the cheater abandons the bot's game too, which the bot wins by timeout with no
    data at all. The reward is the bot's; the finder gets its bond back. (An honest watcher that
    wants the reward commits as early, and reveals only when its replay refutes the window.)"""
    cheater, finder, bot = gn.a[1], gn.a[2], gn.a[3]
    lin = Lineage(gn.cb.hatch(cheater))
    truth: list[list[bytes]] = []
    gn.commit_challenge(bot, lin.beast, 0)  # before window 0 exists
    k = lin.commit(gn, cheater, lie_at=70, honest_view=truth)
    f0, b0 = gn.cb.balance_of(finder.address), gn.cb.balance_of(bot.address)
    fid = gn.challenge(finder, lin.beast, k)
    bid = gn.reveal(bot, lin.beast, k)
    gn.mine(gn.clock + 1)
    gn.timeout(gn.a[0], fid)
    gn.timeout(gn.a[0], bid)
    gn.claim_reward(gn.a[0], lin.beast, k, gn.game_of(fid)["stored"])
    assert gn.cb.balance_of(bot.address) == b0 + BURN
    assert gn.cb.balance_of(finder.address) == f0


def test_a_cheater_cannot_withdraw_its_stake_before_the_last_game_can_end(gn: GameNet) -> None:
    """The cheater requests to unstake everything right after committing a false window; the finder
    challenges in the last block of the challenge period and the cheater spends its whole clock:
    the stake is still locked when the game ends, and the reward is taken from the unbonding."""
    from devnet.records import Param

    cheater, finder = gn.a[1], gn.a[2]
    lin = Lineage(gn.cb.hatch(cheater))
    k = lin.commit(gn, cheater, lie_at=33)
    staked, _, _ = gn.cb.stake_of(cheater.address)
    gn.cb.send(cheater, gn.cb.ledger, "requestUnstake", [staked], 200_000)
    deadline = int(gn.cb.ledger.functions.challengeDeadline(lin.beast, k).call())
    gn.commit_challenge(finder, lin.beast, k)
    gn.mine(deadline - gn.block() - 1)
    gid = gn.reveal(finder, lin.beast, k)
    assert gn.game_of(gid)["lastMove"] == deadline
    gn.mine(gn.clock)  # the cheater's clock, spent to the last block
    assert "LedgerStakeLocked" in str(try_call(gn._send, cheater, gn.cb.ledger, "withdrawStake", [], 200_000))
    gn.mine(1)
    r = gn.timeout(gn.a[0], gid)
    assert r.named("RewardHeld")[0]["amount"] == BURN
    _, unbonding, unlock = gn.cb.stake_of(cheater.address)
    assert unbonding == staked - BURN and unlock > gn.block()
    assert gn.cb.param(Param.CHALLENGE_PERIOD) == 600
