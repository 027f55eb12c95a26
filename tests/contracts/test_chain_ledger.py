"""CheckpointLedger: order, authorization, escrow, epoch seeds, finalization, every revert path."""

from __future__ import annotations

from eth_utils import keccak

import devnet
from devnet.bindings import Param, WindowStatus
from kernel.params import DEFAULT_PARAMS, KernelParams
from kernel.payload import Payload

from chain_helpers import BURN, GENESIS_MASK, ev, make_word, raises_error, records_root_for


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
    # A word that claims no ENERGY does not get past the ledger's own check to the token.
    with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=0, expected=BURN, got=0):
        net.cb.commit(owner, bid, make_word(0, burn=0))


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
    # One bad element reverts the whole batch: an unauthorized beast anywhere in it...
    theirs = net.hatch(net.a[2])
    with raises_error("LedgerNotAuthorized", beastId=theirs, caller=owner.address):
        net.cb.commit_many(owner, [ids[2], theirs, ids[1]], [make_word(1), make_word(0), make_word(1)])
    # ... or a window out of order.
    with raises_error("LedgerStepOutOfOrder", beastId=ids[1], expected=256, got=384):
        net.cb.commit_many(owner, [ids[2], ids[1]], [make_word(1), make_word(2)])
    assert net.cb.window_count(ids[2]) == 1


def test_epoch_seeds(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    assert net.cb.epoch_seed(bid, 0) == net.cb.hatch_data(bid).seed_core
    results = net.commit_windows(owner, bid, 8)  # epochSteps 512 = 4 windows
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=2):  # window 7 closed epoch 1; nobody sealed 2 yet
        net.cb.epoch_seed(bid, 2)
    results += net.commit_windows(owner, bid, 1, start=8)
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=3):
        net.cb.epoch_seed(bid, 3)
    for k, r in enumerate(results):
        seeded = r.all("EpochSeeded")
        if k % 4 == 0 and k > 0:  # the epoch's first window seals its seed: the closing block's hash
            epoch = k // 4
            closing = bytes(net.raw.w3.eth.get_block(results[k - 1].block_number)["hash"])
            ev(r, "EpochSeeded", beastId=bid, epoch=epoch, seed=closing)
            assert net.cb.epoch_seed(bid, epoch) == closing
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
    records = records_root_for(net.cb, b"x")
    a = net.cb.hatch(owner, ds, sec, records)
    b = net.cb.hatch(owner, ds, sec, records)
    assert net.cb.hatch_data(a).seed_core != net.cb.hatch_data(b).seed_core


# ---------------------------------------------------------------- storage layout (1.1.0)


def test_word_and_commit_block_share_one_slot(net) -> None:  # type: ignore[no-untyped-def]
    """The stored slot keeps the commit block in place of globalStep; the views undo it exactly."""
    owner = net.a[1]
    bid = net.hatch(owner)
    def raw(h128: int, k: int, burn: int, low: int) -> bytes:  # the ledger ignores h128, lrShift and flags
        return (h128 << 128 | (128 * (k + 1)) % 2**32 << 96 | burn << 32 | low).to_bytes(32, "big")

    words = [raw(2**128 - 1 - k, k, BURN, GENESIS_MASK << 24 | 0xFFFFFF - k) for k in range(10)]
    blocks = []
    for k, w in enumerate(words):
        net.mine(k % 3)  # commit blocks that differ from anything derived from k
        blocks.append(net.cb.commit(owner, bid, w).block_number)
    for k, w in enumerate(words):
        assert net.cb.word(bid, k) == w
        assert net.cb.commit_block(bid, k) == blocks[k]
        assert net.cb.challenge_deadline(bid, k) == blocks[k] + net.cb.param(5)
    # Growth spurts one slot at a time up to the full mask 0xFF, then a word of all ones in
    # h128, activeMask, lrShift and flags survives the round trip.
    mask = GENESIS_MASK
    for k in range(10, 16):
        mask = mask << 1 | 1
        net.cb.commit(owner, bid, raw(k, k, DEFAULT_PARAMS.window_energy_burn(mask, spurt=True), mask << 24))
    full = raw(2**128 - 1, 16, DEFAULT_PARAMS.window_energy_burn(0xFF, spurt=False), 2**32 - 1)
    net.cb.commit(owner, bid, full)
    assert net.cb.word(bid, 16) == full
    assert net.cb.next_global_step(bid) == 128 * 18


# ---------------------------------------------------------------- prepaid deposits


def _ledger(net) -> str:  # type: ignore[no-untyped-def]
    return str(net.cb.addresses["CheckpointLedger"])


def test_deposit_and_withdraw(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    before = net.cb.balance_of(owner)
    r = net.cb.deposit(owner, 5 * BURN)
    ev(r, "Deposited", account=owner.address, amount=5 * BURN)
    ev(r, "Transfer", **{"from": owner.address, "to": _ledger(net), "value": 5 * BURN})
    assert [e.name for e in r.events] == ["Deposited", "Transfer"]
    assert net.cb.deposit_of(owner) == 5 * BURN and net.cb.balance_of(_ledger(net)) == 5 * BURN
    r = net.cb.withdraw_deposit(owner, 2 * BURN)
    ev(r, "DepositWithdrawn", account=owner.address, amount=2 * BURN)
    ev(r, "Transfer", **{"from": _ledger(net), "to": owner.address, "value": 2 * BURN})
    assert net.cb.deposit_of(owner) == 3 * BURN
    assert net.cb.balance_of(owner) == before - 3 * BURN
    net.cb.withdraw_deposit(owner, 3 * BURN)
    assert net.cb.deposit_of(owner) == 0 and net.cb.balance_of(owner) == before


def test_deposit_errors(net) -> None:  # type: ignore[no-untyped-def]
    owner, other = net.a[1], net.a[2]
    with raises_error("LedgerZeroAmount"):
        net.cb.deposit(owner, 0)
    with raises_error("LedgerZeroAmount"):
        net.cb.withdraw_deposit(owner, 0)
    net.cb.deposit(owner, BURN)
    with raises_error("LedgerDepositInsufficient", account=owner.address, balance=BURN, needed=BURN + 1):
        net.cb.withdraw_deposit(owner, BURN + 1)
    with raises_error("LedgerDepositInsufficient", account=other.address, balance=0, needed=1):
        net.cb.withdraw_deposit(other, 1)  # deposits are per account
    net.cb.approve(other, _ledger(net), BURN - 1)
    with raises_error("ERC20InsufficientAllowance", spender=_ledger(net), allowance=BURN - 1, needed=BURN):
        net.cb.deposit(other, BURN)
    assert net.cb.deposit_of(other) == 0  # the credit reverted with the transfer


def test_commit_locks_escrow_from_the_deposit(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    net.cb.deposit(owner, 2 * BURN)
    before = net.cb.balance_of(owner)
    r = net.cb.commit(owner, bid, make_word(0))
    assert [e.name for e in r.events] == ["CheckpointCommitted"]  # no ERC-20 transfer
    assert net.cb.deposit_of(owner) == BURN and net.cb.balance_of(owner) == before
    net.cb.commit(owner, bid, make_word(1))  # exactly the rest of the deposit
    assert net.cb.deposit_of(owner) == 0
    assert net.cb.balance_of(_ledger(net)) == 2 * BURN  # now all of it escrow
    with raises_error("LedgerDepositInsufficient", account=owner.address, balance=0, needed=1):
        net.cb.withdraw_deposit(owner, 1)  # locked escrow is not withdrawable


def test_short_deposit_falls_back_to_transfer_from(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    bid = net.hatch(owner)
    net.cb.deposit(owner, BURN - 1)
    r = net.cb.commit(owner, bid, make_word(0))
    ev(r, "Transfer", **{"from": owner.address, "to": _ledger(net), "value": BURN})  # the whole amount
    assert net.cb.deposit_of(owner) == BURN - 1  # untouched
    # Without an allowance the fallback fails with the token's error and the commit reverts.
    net.cb.approve(owner, _ledger(net), 0)
    with raises_error("ERC20InsufficientAllowance", needed=BURN):
        net.cb.commit(owner, bid, make_word(1))
    assert net.cb.window_count(bid) == 1
    assert net.cb.deposit_of(owner) == BURN - 1


def test_commit_many_locks_from_the_deposit(net) -> None:  # type: ignore[no-untyped-def]
    owner, trainer = net.a[1], net.a[2]
    ids = [net.hatch(owner) for _ in range(3)]
    net.cb.authorize_trainer(owner, ids[1], trainer.address)
    net.cb.deposit(owner, 3 * BURN)
    r = net.cb.commit_many(owner, ids, [make_word(0)] * 3)
    assert [e.name for e in r.events] == ["CheckpointCommitted"] * 3
    assert net.cb.deposit_of(owner) == 0
    # The trainer's deposit is its own: the owner's deposit never pays for the trainer's commits.
    net.cb.deposit(owner, BURN)
    r = net.cb.commit_many(trainer, [ids[1]], [make_word(1)])
    ev(r, "Transfer", **{"from": trainer.address, "to": _ledger(net), "value": BURN})
    assert net.cb.deposit_of(owner) == BURN
    # A batch the deposit cannot cover pulls its whole total.
    r = net.cb.commit_many(owner, [ids[0], ids[2]], [make_word(1), make_word(1)])
    ev(r, "Transfer", **{"from": owner.address, "to": _ledger(net), "value": 2 * BURN})
    assert net.cb.deposit_of(owner) == BURN
    assert net.cb.balance_of(_ledger(net)) == 6 * BURN + BURN  # escrow of 6 windows + the deposit


def test_authorization_follows_the_token(net) -> None:  # type: ignore[no-untyped-def]
    """Commits check Beast at commit time: a sold beast, a revoked or replaced trainer stop at once."""
    owner, trainer, buyer, t2 = net.a[1], net.a[2], net.a[3], net.a[4]
    bid = net.hatch(owner)
    net.cb.authorize_trainer(owner, bid, trainer.address)
    net.cb.commit(trainer, bid, make_word(0))
    net.cb.authorize_trainer(owner, bid, t2.address)
    with raises_error("LedgerNotAuthorized", beastId=bid, caller=trainer.address):
        net.cb.commit(trainer, bid, make_word(1))
    net.cb.commit_many(t2, [bid], [make_word(1)])
    net.cb._send(owner, net.cb.beast, "transferFrom", [owner.address, buyer.address, bid], 150_000)
    for who in (owner, t2):
        with raises_error("LedgerNotAuthorized", beastId=bid, caller=who.address):
            net.cb.commit(who, bid, make_word(2))
        with raises_error("LedgerNotAuthorized", beastId=bid, caller=who.address):
            net.cb.commit_many(who, [bid], [make_word(2)])
    net.cb.commit(buyer, bid, make_word(2))
    assert net.cb.window_count(bid) == 3


# ---------------------------------------------------------------- the escrow is the kernel's energyBurn (1.3.0)


def test_a_trainer_cannot_choose_its_own_escrow(net) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 item 1, as the outside review ran it: a trainer commits eight windows claiming
    energyBurn = 0. They would lock nothing, their dispute bond would be 0 and a slash would pay
    nobody. The ledger now requires the kernel's energyBurn of the word's activeMask."""
    owner, trainer = net.a[1], net.a[2]
    bid = net.hatch(owner)
    net.cb.authorize_trainer(owner, bid, trainer.address)
    free = [make_word(k, burn=0) for k in range(8)]
    held = net.cb.balance_of(trainer)
    with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=0, expected=BURN, got=0):
        net.cb.commit_many(trainer, [bid] * 8, free)
    with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=0, expected=BURN, got=0):
        net.cb.commit(trainer, bid, free[0])
    # One honest window, then the cheap ones again: still refused, at the window that cheats.
    net.cb.commit(trainer, bid, make_word(0))
    with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=1, expected=BURN, got=0):
        net.cb.commit_many(trainer, [bid] * 7, free[1:])
    assert net.cb.window_count(bid) == 1
    assert net.cb.balance_of(trainer) == held - BURN


def _burn(mask: int, spurt: bool, params: KernelParams = DEFAULT_PARAMS) -> int:
    """The kernel's energyBurn of a window (the one home of the formula)."""
    return params.window_energy_burn(mask, spurt)


def test_energy_burn_is_the_kernels_charge_for_every_mask(net) -> None:  # type: ignore[no-untyped-def]
    """From the genesis mask up to all eight slots and back to plain windows: the ledger takes exactly
    KernelParams.window_energy_burn and refuses a wei more or less, or a spurt charged wrongly."""
    owner = net.a[1]
    bid = net.hatch(owner)
    mask = GENESIS_MASK
    for k, grow in enumerate((False, True, False, True, True, True, True, True, False)):
        new = mask << 1 | 1 if grow else mask
        want = _burn(new, grow)
        for wrong in (want - 1, want + 1, 0, _burn(new, not grow)):
            with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=k, expected=want, got=wrong):
                net.cb.commit(owner, bid, make_word(k, burn=wrong, mask=new))
        r = net.cb.commit(owner, bid, make_word(k, burn=want, mask=new))
        ev(r, "Transfer", value=want)
        mask = new
    assert mask == 0xFF and net.cb.window_count(bid) == 9


def test_mask_must_keep_its_slots_and_grow_by_at_most_one(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    a, b = net.hatch(owner), net.hatch(owner)
    with raises_error("LedgerMaskEmpty", beastId=a, index=0):
        net.cb.commit(owner, a, make_word(0, burn=0, mask=0))
    # Window 0's previous mask is the genesis mask 0b0011.
    for mask in (0b0001, 0b0110, 0b1111, 0b0111_0000):  # drops slot 1 (cheaper), swaps, two new slots, none kept
        with raises_error("LedgerMaskInvalid", beastId=a, index=0, previousMask=GENESIS_MASK, mask=mask):
            net.cb.commit(owner, a, make_word(0, burn=_burn(mask, True), mask=mask))
    net.cb.commit(owner, a, make_word(0, burn=_burn(0b1011, True), mask=0b1011))  # any one new slot
    # Later windows compare with window k-1, also when it is an earlier element of the same batch.
    with raises_error("LedgerMaskInvalid", beastId=a, index=2, previousMask=0b1011, mask=GENESIS_MASK):
        net.cb.commit_many(owner, [b, a, a], [make_word(0), make_word(1, burn=_burn(0b1011, False), mask=0b1011), make_word(2)])
    with raises_error("LedgerMaskEmpty", beastId=a, index=1):
        net.cb.commit_many(owner, [b, a], [make_word(0), make_word(1, burn=0, mask=0)])
    # The order is checked first: a word out of order reports that, whatever its mask.
    with raises_error("LedgerStepOutOfOrder", beastId=a, expected=256, got=384):
        net.cb.commit(owner, a, make_word(2, burn=0, mask=0))
    assert net.cb.window_count(a) == 1 and net.cb.window_count(b) == 0
    r = net.cb.commit_many(owner, [a, a, b], [make_word(1, burn=_burn(0b1111, True), mask=0b1111),
                                              make_word(2, burn=_burn(0b1111, False), mask=0b1111), make_word(0)])
    assert len(r.all("CheckpointCommitted")) == 3


def test_the_charge_follows_the_season_constants(net) -> None:  # type: ignore[no-untyped-def]
    """A season with other baseCost, slabParams and spurtCost: the ledger reads them at deployment."""
    season = {"base_cost": 7, "spurt_cost": 1_000_003, "slab_params": 999}
    cb = devnet.deploy(net.raw.w3, net.admin, params=season)
    params = KernelParams.for_season(epoch_steps=512, base_cost=7, spurt_cost=1_000_003)
    owner = net.a[1]
    cb.mint(net.admin, owner.address, 10**18)
    cb.ensure_approvals(owner)
    bid = cb.hatch(owner)
    with raises_error("LedgerEnergyBurnInvalid", beastId=bid, index=0, expected=_burn(0b0111, True, params), got=BURN):
        cb.commit(owner, bid, make_word(0, mask=0b0111))
    r = cb.commit(owner, bid, make_word(0, burn=_burn(0b0111, True, params), mask=0b0111))
    ev(r, "Transfer", value=128 * 7 * 3 + 1_000_003)
    cb.commit(owner, bid, make_word(1, burn=128 * 7 * 3, mask=0b0111))


def test_a_windows_deadline_is_fixed_when_it_is_committed(net) -> None:  # type: ignore[no-untyped-def]
    """Issue 14 item 7: a shorter challengePeriod used to cut the windows already open (a challenger
    who had until block c + 20 lost the window at once). Each window now keeps the period in force
    in its commit block; a change applies to windows committed after it takes effect."""
    owner, ch, anyone = net.a[1], net.a[2], net.a[5]
    bid = net.hatch(owner)
    early = net.cb.commit(owner, bid, make_word(0)).block_number  # challengePeriod 20
    net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, 1)
    net.mine(10)
    assert net.cb.param(Param.CHALLENGE_PERIOD) == 1
    late = net.cb.commit(owner, bid, make_word(1)).block_number  # challengePeriod 1
    assert net.cb.challenge_deadline(bid, 0) == early + 20
    assert net.cb.challenge_deadline(bid, 1) == late + 1
    net.mine(2)  # past window 1's deadline, well inside window 0's
    with raises_error("LedgerChallengePeriodActive", beastId=bid, index=0, deadline=early + 20):
        net.cb.finalize(anyone, bid, 0)
    net.cb.open_dispute(ch, bid, 0)  # still disputable
    with raises_error("LedgerChallengePeriodOver", beastId=bid, index=1, deadline=late + 1):
        net.cb.open_dispute(ch, bid, 1)
    net.cb.finalize(anyone, bid, 1)
    # A longer period later neither reopens window 1 nor stretches windows already committed.
    net.cb.queue_param_change(net.admin, Param.CHALLENGE_PERIOD, 50)
    mid = net.cb.commit(owner, bid, make_word(2)).block_number  # before 50 takes effect: period 1
    net.mine(10)
    assert net.cb.challenge_deadline(bid, 2) == mid + 1 and net.cb.challenge_deadline(bid, 1) == late + 1
    now = net.cb.commit(owner, bid, make_word(3)).block_number
    assert net.cb.challenge_deadline(bid, 3) == now + 50
