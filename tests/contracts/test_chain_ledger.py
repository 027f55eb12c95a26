"""CheckpointLedger: order, authorization, escrow, epoch seeds, finalization, every revert path."""

from __future__ import annotations

from eth_utils import keccak

from devnet.bindings import WindowStatus
from kernel.payload import Payload

from chain_helpers import BURN, ev, make_word, raises_error


def test_commit_stores_word_locks_escrow_and_emits(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    before = net.cb.balance_of(owner)
    w = make_word(0)
    r = net.cb.commit(owner, bid, w)
    ev(r, "CheckpointCommitted", beastId=bid, index=0, word=w)
    ev(r, "Transfer", **{"from": owner.address, "to": net.cb.addresses["CheckpointLedger"], "value": BURN})
    assert [e.name for e in r.events] == ["CheckpointCommitted", "Transfer"]
    assert net.cb.word(bid, 0) == w
    assert net.cb.window_count(bid) == 1 and net.cb.next_global_step(bid) == 256
    assert net.cb.window_status(bid, 0) == WindowStatus.COMMITTED
    assert net.cb.commit_block(bid, 0) == r.block_number
    assert net.cb.challenge_deadline(bid, 0) == r.block_number + 20
    assert net.cb.balance_of(owner) == before - BURN
    assert net.cb.balance_of(net.cb.addresses["CheckpointLedger"]) == BURN


def test_window_count_search(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    for k in range(19):
        net.cb.commit(owner, bid, make_word(k))
        assert net.cb.window_count(bid) == k + 1
    assert net.cb.window_count(bid + 1) == 0


def test_order_is_enforced(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=128, got=256):
        net.cb.commit(owner, bid, make_word(1))  # skip window 0
    net.cb.commit(owner, bid, make_word(0))
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=256, got=128):
        net.cb.commit(owner, bid, make_word(0, tag=2))  # repeat window 0
    misaligned = Payload(b"\x01" * 16, 256 + 1, 0, 1, 8, 0).pack()
    with raises_error("LedgerStepOutOfOrder", beastId=bid, expected=256, got=257):
        net.cb.commit(owner, bid, misaligned)
    with raises_error("LedgerStepOutOfOrder", expected=256, got=0):
        net.cb.commit(owner, bid, Payload(b"\x01" * 16, 0, 0, 1, 8, 0).pack())  # the wrap word, far too early
    for k in range(1, 9):  # crosses the 8-per-slot boundary of commit blocks
        net.cb.commit(owner, bid, make_word(k))
    assert net.cb.window_count(bid) == 9


def test_only_owner_or_trainer_commits(net) -> None:  # type: ignore[no-untyped-def]
    owner, trainer, stranger = net.a[1], net.a[2], net.a[3]
    bid = net.hatch(owner)
    with raises_error("LedgerNotAuthorized", beastId=bid, caller=stranger.address):
        net.cb.commit(stranger, bid, make_word(0))
    with raises_error("LedgerNotAuthorized", beastId=bid, caller=trainer.address):
        net.cb.commit(trainer, bid, make_word(0))
    net.cb.authorize_trainer(owner, bid, trainer.address)
    net.cb.commit(trainer, bid, make_word(0))
    net.cb.commit(owner, bid, make_word(1))
    net.cb.revoke_trainer(owner, bid)
    with raises_error("LedgerNotAuthorized", beastId=bid, caller=trainer.address):
        net.cb.commit(trainer, bid, make_word(2))
    with raises_error("LedgerNotAuthorized", beastId=999):
        net.cb.commit(owner, 999, make_word(0))


def test_energy_errors_bubble_up(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    net.cb.approve(owner, net.cb.addresses["CheckpointLedger"], BURN - 1)
    with raises_error("ERC20InsufficientAllowance", needed=BURN):
        net.cb.commit(owner, bid, make_word(0))
    net.cb.approve(owner, net.cb.addresses["CheckpointLedger"])
    net.cb.transfer(owner, net.admin.address, net.cb.balance_of(owner) - 5)
    with raises_error("ERC20InsufficientBalance", sender=owner.address, balance=5, needed=BURN):
        net.cb.commit(owner, bid, make_word(0))
    assert net.cb.window_count(bid) == 0  # the whole commit reverted
    r = net.cb.commit(owner, bid, make_word(0, burn=0))  # a zero burn moves no ENERGY
    assert [e.name for e in r.events] == ["CheckpointCommitted"]


def test_commit_many(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    ids = [net.hatch(owner) for _ in range(3)]
    words = [make_word(0), make_word(0), make_word(0), make_word(1)]
    r = net.cb.commit_many(owner, [ids[0], ids[1], ids[2], ids[0]], words)
    committed = r.all("CheckpointCommitted")
    assert [(e.args["beastId"], e.args["index"]) for e in committed] == [(ids[0], 0), (ids[1], 0), (ids[2], 0), (ids[0], 1)]
    transfers = r.all("Transfer")
    assert len(transfers) == 1 and transfers[0].args["value"] == 4 * BURN
    assert net.cb.window_count(ids[0]) == 2
    with raises_error("LedgerBatchMismatch", beastIds=2, words=1):
        net.cb.commit_many(owner, ids[:2], words[:1])
    with raises_error("LedgerBatchMismatch", beastIds=0, words=0):
        net.cb.commit_many(owner, [], [])
    # One bad element reverts the whole batch.
    with raises_error("LedgerStepOutOfOrder", beastId=ids[1], expected=256, got=384):
        net.cb.commit_many(owner, [ids[2], ids[1]], [make_word(1), make_word(2)])
    assert net.cb.window_count(ids[2]) == 1


def test_epoch_seeds(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    assert net.cb.epoch_seed(bid, 0) == net.cb.hatch_data(bid).seed_core
    results = net.commit_windows(owner, bid, 8)  # epochSteps 512 = 4 windows
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=3):
        net.cb.epoch_seed(bid, 3)
    for k, r in enumerate(results):
        seeded = r.all("EpochSeeded")
        if (k + 1) % 4 == 0:
            epoch = (k + 1) // 4
            parent = bytes(net.raw.w3.eth.get_block(r.block_number - 1)["hash"])
            ev(r, "EpochSeeded", beastId=bid, epoch=epoch, seed=parent)
            assert net.cb.epoch_seed(bid, epoch) == parent
        else:
            assert seeded == []


def test_finalize_after_challenge_period(net) -> None:  # type: ignore[no-untyped-def]
    owner, anyone = net.a[1], net.a[5]
    bid = net.hatch(owner)
    net.commit_windows(owner, bid, 2)
    deadline = net.cb.challenge_deadline(bid, 0)
    supply = net.cb.energy.functions.totalSupply().call()
    net.mine(deadline - net.cb.block_number() - 1)
    with raises_error("LedgerChallengePeriodActive", beastId=bid, index=0, deadline=deadline):
        net.cb.finalize(anyone, bid, 0)  # mined in block == deadline
    r = net.cb.finalize(anyone, bid, 0)
    ev(r, "WindowFinalized", beastId=bid, index=0, burned=BURN)
    ev(r, "Transfer", to="0x" + "00" * 20, value=BURN)
    assert net.cb.window_status(bid, 0) == WindowStatus.FINALIZED
    assert net.cb.energy.functions.totalSupply().call() == supply - BURN
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=0, status=int(WindowStatus.FINALIZED)):
        net.cb.finalize(anyone, bid, 0)
    with raises_error("LedgerWindowNotOpen", beastId=bid, index=5, status=int(WindowStatus.NONE)):
        net.cb.finalize(anyone, bid, 5)
    net.mine(2)
    r = net.cb.finalize_many(anyone, [bid], [1])
    ev(r, "WindowFinalized", index=1)
    with raises_error("LedgerBatchMismatch"):
        net.cb.finalize_many(anyone, [bid, bid], [1])
    assert net.cb.balance_of(net.cb.addresses["CheckpointLedger"]) == 0


def test_views_of_missing_windows(net) -> None:  # type: ignore[no-untyped-def]
    bid = net.hatch(net.a[1])
    for fn in (net.cb.word, net.cb.commit_block, net.cb.challenge_deadline):
        with raises_error("LedgerWindowNotFound", beastId=bid, index=0):
            fn(bid, 0)
    assert net.cb.window_status(bid, 0) == WindowStatus.NONE
    assert net.cb.window_status(bid, 2**40) == WindowStatus.NONE


def test_dispute_hooks_are_game_only(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    net.commit_windows(owner, bid, 1)
    with raises_error("LedgerOnlyDisputeGame", caller=owner.address):
        net.cb._send(owner, net.cb.ledger, "beginDispute", [bid, 0], 100_000)
    with raises_error("LedgerOnlyDisputeGame", caller=owner.address):
        net.cb._send(owner, net.cb.ledger, "settleDispute", [bid, 0, True], 100_000)
    with raises_error("LedgerDisputeGameBinding", caller=net.admin.address):
        net.cb._send(net.admin, net.cb.ledger, "bindDisputeGame", [owner.address], 100_000)


def test_seed_core_cannot_be_chosen_by_commitments_alone(net) -> None:  # type: ignore[no-untyped-def]
    # Same commitments, same owner: different ids and blocks give different seeds.
    owner = net.a[1]
    ds, sec = keccak(b"x"), keccak(b"y")
    a = net.cb.hatch(owner, ds, sec)
    b = net.cb.hatch(owner, ds, sec)
    assert net.cb.hatch_data(a).seed_core != net.cb.hatch_data(b).seed_core
