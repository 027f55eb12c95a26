"""Issue 14 item 5: a private beast hatched on an invalid dataset loses every game (BisectionGame 2.1.0).

A trainer that commits (at hatch) a records root whose dataset holds a record that is not a valid
board (or a length of 0 or over MAX_RECORDS) has no honest training: the one-step verifier refuses
every step that samples the bad record (InvalidRecord), so the challenger could never prove such a
step and the trainer's lies finalized. ``proveInvalidDataset`` turns the bad record into the
challenger's win at any point of a game: the committer is slashed exactly as by a proven step. It
never lets anyone win against a valid dataset: a valid record, a wrong path, a (LEN, root) that does
not open the hatch's recordsRoot, a public beast, the defender, a third party and a challenger whose
clock ran out are all refused. Real StepVerifier (its record checks are the step's), py-evm.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak

from bisection_helpers import (
    BURN,
    CHALLENGER_WON,
    OPEN,
    SLASHED,
    GameNet,
    Lineage,
    board_record,
    each_test_reverted,
    invalid_record,
    start_game_net,
)
from chain_helpers import raises_error
from curriculum.records import records_tree
from devnet import artifacts
from devnet.bindings import Reason
from test_bisection_stateful import held_is_owed

MAX_RECORDS = 131072


@pytest.fixture(scope="module")
def _gn() -> GameNet:
    return start_game_net(accounts=6, clock=60, params={"challenge_period": 600}, verifier="StepVerifier")


@pytest.fixture
def gn(_gn: GameNet) -> Iterator[GameNet]:
    yield from each_test_reverted(_gn)


VALID = [board_record(i) for i in range(5)]
BAD = invalid_record(VALID[2])  # self hp 0


def _hatch(gn: GameNet, owner, records_root: bytes) -> int:  # noqa: ANN001
    return gn.cb.hatch(owner, keccak(b"the dataset file"), keccak(b"owner secret"), records_root)


def _tokens(gn: GameNet) -> int:
    """ENERGY held by every account, the ledger (stakes, escrows) and the game (bonds, rewards)."""
    return sum(gn.cb.balance_of(a.address) for a in gn.a) + gn.cb.balance_of(gn.cb.ledger.address) + gn.held_by_game()


def _game(gn: GameNet, records_root: bytes) -> tuple[int, int, int]:
    """A private beast on ``records_root`` with one committed window challenged by account 2: (beast, k, game)."""
    trainer, finder = gn.a[1], gn.a[2]
    lin = Lineage(_hatch(gn, trainer, records_root))
    k = lin.commit(gn, trainer)  # whatever the trainer claims: no honest training of this dataset exists
    return lin.beast, k, gn.challenge(finder, lin.beast, k)


def _prove(gn: GameNet, acct, gid: int, n: int, root: bytes, index: int, record: bytes, path) -> object:  # noqa: ANN001
    return gn._send(acct, gn.game, "proveInvalidDataset", [gid, n, root, index, record, list(path)], 2_000_000,
                    "proveInvalidDataset")


def test_an_invalid_record_slashes_the_committer_and_pays_the_finder(gn: GameNet) -> None:
    tree = records_tree([VALID[0], VALID[1], BAD])
    s0 = gn.cb.total_supply()
    assert _tokens(gn) == s0
    beast, k, gid = _game(gn, tree.records_root)
    trainer, finder = gn.a[1], gn.a[2]
    staked0, _, _ = gn.cb.stake_of(trainer.address)
    f0 = gn.cb.balance_of(finder.address)
    assert not gn.game_of(gid)["challengerToMove"]  # the defender's turn: no bisection needed first
    r = _prove(gn, finder, gid, 3, tree.merkle_root, 2, BAD, tree.path(2))
    ended = r.named("GameEnded")[0]
    assert (ended["outcome"], ended["reason"]) == (CHALLENGER_WON, Reason.INVALID_DATASET)
    assert gn.status(beast, k) == SLASHED
    reward = r.named("RewardHeld")[0]["amount"]
    assert gn.cb.stake_of(trainer.address)[0] == staked0 - reward
    assert gn.cb.balance_of(finder.address) == f0 + gn.bond()  # the bond came back
    held_is_owed(gn, [beast], [gid])
    gn.claim_reward(gn.a[0], beast, k, gn.game_of(gid)["stored"])
    assert gn.cb.balance_of(finder.address) == f0 + gn.bond() + reward
    burned = s0 - gn.cb.total_supply()
    assert burned == BURN  # the window's escrow; the reward is the committer's stake, moved to the finder
    assert _tokens(gn) == s0 - burned  # ENERGY is conserved: nothing minted, nothing lost but the burn
    held_is_owed(gn, [beast], [gid])


def test_it_also_ends_a_game_in_its_last_step(gn: GameNet) -> None:
    """Bisected down to one step, the challenger (to move, on its clock) may still show the dataset invalid."""
    tree = records_tree([BAD])
    beast, k, gid = _game(gn, tree.records_root)
    trainer, finder = gn.a[1], gn.a[2]
    while (g := gn.game_of(gid))["hi"] - g["lo"] > 1:
        if g["challengerToMove"]:
            gn.respond(finder, gid, True)
        else:
            gn.bisect(trainer, gid, keccak(bytes([g["lo"]]))[:16])
    _prove(gn, finder, gid, 1, tree.merkle_root, 0, BAD, [])
    assert gn.game_of(gid)["outcome"] == CHALLENGER_WON
    assert gn.status(beast, k) == SLASHED
    held_is_owed(gn, [beast], [gid])


@pytest.mark.parametrize("n", [0, MAX_RECORDS + 1, 2**32 - 1], ids=["len-0", "len-over-max", "len-u32-max"])
def test_a_committed_length_outside_the_format_loses_without_a_record(gn: GameNet, n: int) -> None:
    root = keccak(b"whatever the trainer built")
    beast, k, gid = _game(gn, keccak(n.to_bytes(4, "big") + root))
    _prove(gn, gn.a[2], gid, n, root, 0, b"", [])
    assert gn.game_of(gid)["outcome"] == CHALLENGER_WON
    assert gn.status(beast, k) == SLASHED


def test_nothing_wins_against_a_valid_dataset(gn: GameNet) -> None:
    """Every record of a valid dataset, each with its true path, is refused; so is the largest length."""
    tree = records_tree(VALID)
    beast, k, gid = _game(gn, tree.records_root)
    finder = gn.a[2]
    for i, rec in enumerate(VALID):
        with raises_error("GameRecordValid", gameId=gid, index=i):
            _prove(gn, finder, gid, len(VALID), tree.merkle_root, i, rec, tree.path(i))
    root = keccak(b"r")
    gid2 = _game(gn, keccak(MAX_RECORDS.to_bytes(4, "big") + root))[2]
    with raises_error("GameRecordNotProven", gameId=gid2, index=0):  # MAX_RECORDS is a valid length: a proof is due
        _prove(gn, finder, gid2, MAX_RECORDS, root, 0, BAD, [])
    assert gn.game_of(gid)["outcome"] == OPEN and gn.game_of(gid2)["outcome"] == OPEN


def test_a_proof_that_does_not_open_the_hatch_commitment_is_refused(gn: GameNet) -> None:
    tree = records_tree([VALID[0], VALID[1], BAD])
    beast, k, gid = _game(gn, tree.records_root)
    finder = gn.a[2]
    other = records_tree([VALID[0], BAD])  # a dataset of the challenger's own making
    with raises_error("GameDatasetRootMismatch", gameId=gid, recordsRoot=tree.records_root, got=other.records_root):
        _prove(gn, finder, gid, 2, other.merkle_root, 1, BAD, other.path(1))
    with raises_error("GameDatasetRootMismatch"):  # the right root under another length
        _prove(gn, finder, gid, 4, tree.merkle_root, 2, BAD, tree.path(2))
    wrong = list(tree.path(2))
    wrong[0] = keccak(b"not the sibling")
    for index, rec, path in ((2, BAD, wrong), (1, BAD, tree.path(1)), (2, BAD, tree.path(2)[:1]),
                             (3, BAD, tree.path(2)), (2, BAD + b"\x00", tree.path(2)), (6, BAD, tree.path(2))):
        with raises_error("GameRecordNotProven", gameId=gid, index=index):
            _prove(gn, finder, gid, 3, tree.merkle_root, index, rec, path)
    assert gn.game_of(gid)["outcome"] == OPEN


def test_only_the_challenger_in_time_on_a_private_beast(gn: GameNet) -> None:
    tree = records_tree([BAD, VALID[0]])
    beast, k, gid = _game(gn, tree.records_root)
    trainer, finder, other = gn.a[1], gn.a[2], gn.a[3]
    for acct in (trainer, other):
        with raises_error("GameNotYourMove", gameId=gid, caller=acct.address):
            _prove(gn, acct, gid, 2, tree.merkle_root, 0, BAD, tree.path(0))
    # the challenger's own clock ran out on its turn: the defender wins by timeout, not the proof
    gn.bisect(trainer, gid, keccak(b"mid")[:16])
    gn.mine(gn.clock + 1)
    with raises_error("GameClockExpired", gameId=gid):
        _prove(gn, finder, gid, 2, tree.merkle_root, 0, BAD, tree.path(0))
    # a public beast has no dataset to be invalid
    pub = Lineage(gn.cb.hatch(trainer))
    pk = pub.commit(gn, trainer)
    pgid = gn.challenge(finder, pub.beast, pk)
    with raises_error("GameDatasetPublic", gameId=pgid):
        _prove(gn, finder, pgid, 2, tree.merkle_root, 0, BAD, tree.path(0))
    # a game that ended takes no more moves
    gn.timeout(gn.a[0], gid)
    with raises_error("GameOver", gameId=gid):
        _prove(gn, finder, gid, 2, tree.merkle_root, 0, BAD, tree.path(0))


def test_the_verifiers_record_checks_are_the_steps(gn: GameNet) -> None:
    """recordValid agrees with the kernel's codec on valid and invalid records; recordProven with curriculum."""
    from kernel.board import decode_record
    from kernel.errors import BoardError

    v = gn.raw.w3.eth.contract(address=gn.toy_address, abi=artifacts.load("StepVerifier").abi)
    samples = [*VALID, BAD, b"\xff" * 28, VALID[0][:22] + bytes([0x10]) + VALID[0][23:],
               VALID[0][:22] + bytes([0x0a]) + VALID[0][23:], VALID[0][:16] + bytes([5, 5]) + VALID[0][18:], VALID[0][:27]]
    for rec in samples:
        try:
            decode_record(rec)
            ok = True
        except BoardError:
            ok = False
        assert v.functions.recordValid(rec).call() is ok
    tree = records_tree(VALID)
    for i in range(len(VALID)):
        assert v.functions.recordProven(len(VALID), tree.merkle_root, i, VALID[i], tree.path(i)).call()
        assert not v.functions.recordProven(len(VALID), tree.merkle_root, (i + 1) % 5, VALID[i], tree.path(i)).call()


def test_the_last_record_of_the_largest_dataset(gn: GameNet) -> None:
    """A 17-level path to record MAX_RECORDS - 1 (the deepest proof a dataset has) is checked as the step checks it."""
    from curriculum.records import root_from_path

    path = [keccak(bytes([i])) for i in range(17)]
    root = root_from_path(BAD, MAX_RECORDS - 1, path)
    beast, k, gid = _game(gn, keccak(MAX_RECORDS.to_bytes(4, "big") + root))
    with raises_error("GameRecordNotProven", gameId=gid, index=MAX_RECORDS - 2):
        _prove(gn, gn.a[2], gid, MAX_RECORDS, root, MAX_RECORDS - 2, BAD, path)
    _prove(gn, gn.a[2], gid, MAX_RECORDS, root, MAX_RECORDS - 1, BAD, path)
    assert gn.game_of(gid)["outcome"] == CHALLENGER_WON and gn.status(beast, k) == SLASHED
