"""Beast token: hatch data, trainer authorization, and every revert path."""

from __future__ import annotations

from eth_utils import keccak

from chain_helpers import ev, raises_error

ZERO = b"\x00" * 32


def test_hatch_mints_with_seed_derived_on_chain(net) -> None:  # type: ignore[no-untyped-def]
    owner = net.a[1]
    ds, sec = keccak(b"data"), keccak(b"\x05" * 32)
    r = net.cb.hatch_tx(owner, ds, sec)
    args = ev(r, "BeastHatched", beastId=1, owner=owner.address, datasetCommitment=ds, secretCommitment=sec, specVersion=1)
    parent = net.raw.w3.eth.get_block(r.block_number - 1)["hash"]
    expected = keccak(bytes(parent) + bytes.fromhex(owner.address[2:]) + (1).to_bytes(32, "big") + ds + sec)
    assert args["seedCore"] == expected
    h = net.cb.hatch_data(1)
    assert (h.seed_core, h.dataset_commitment, h.secret_commitment, h.spec_version, h.hatch_block) == (expected, ds, sec, 1, r.block_number)
    assert net.cb.owner_of(1) == owner.address
    assert net.cb.hatch(owner) == 2  # ids are sequential
    assert net.cb.beast.functions.totalHatched().call() == net.cb.total_hatched() == 2
    assert net.cb.epoch_seed(1, 0) == expected


def test_hatch_without_dataset_allows_zero_secret(net) -> None:  # type: ignore[no-untyped-def]
    bid = net.cb.hatch(net.a[1])
    assert net.cb.hatch_data(bid).secret_commitment == ZERO


def test_hatch_dataset_requires_secret(net) -> None:  # type: ignore[no-untyped-def]
    with raises_error("BeastSecretCommitmentRequired"):
        net.cb.hatch(net.a[1], keccak(b"data"), ZERO)


def test_unknown_beast(net) -> None:  # type: ignore[no-untyped-def]
    with raises_error("BeastNotFound", beastId=99):
        net.cb.hatch_data(99)
    with raises_error("BeastNotFound", beastId=99):
        net.cb.authorize_trainer(net.a[1], 99, net.a[2].address)
    assert net.cb.is_committer(99, net.a[1].address) is False


def test_authorize_and_revoke_trainer(net) -> None:  # type: ignore[no-untyped-def]
    owner, t1, t2 = net.a[1], net.a[2], net.a[3]
    bid = net.cb.hatch(owner)
    ev(net.cb.authorize_trainer(owner, bid, t1.address), "TrainerAuthorized", beastId=bid, trainer=t1.address)
    assert net.cb.trainer_of(bid) == t1.address and net.cb.is_committer(bid, t1)
    r = net.cb.authorize_trainer(owner, bid, t2.address)  # replaces t1
    ev(r, "TrainerRevoked", beastId=bid, trainer=t1.address)
    ev(r, "TrainerAuthorized", beastId=bid, trainer=t2.address)
    assert not net.cb.is_committer(bid, t1) and net.cb.is_committer(bid, t2)
    ev(net.cb.revoke_trainer(owner, bid), "TrainerRevoked", beastId=bid, trainer=t2.address)
    assert net.cb.trainer_of(bid) is None
    with raises_error("BeastNoTrainer", beastId=bid):
        net.cb.revoke_trainer(owner, bid)


def test_only_owner_manages_trainer(net) -> None:  # type: ignore[no-untyped-def]
    owner, other = net.a[1], net.a[2]
    bid = net.cb.hatch(owner)
    with raises_error("BeastNotOwner", beastId=bid, caller=other.address):
        net.cb.authorize_trainer(other, bid, other.address)
    with raises_error("BeastNotOwner", beastId=bid, caller=other.address):
        net.cb.revoke_trainer(other, bid)
    with raises_error("BeastInvalidTrainer"):
        net.cb.authorize_trainer(owner, bid, "0x" + "00" * 20)


def test_transfer_clears_trainer(net) -> None:  # type: ignore[no-untyped-def]
    owner, trainer, buyer = net.a[1], net.a[2], net.a[3]
    bid = net.cb.hatch(owner)
    net.cb.authorize_trainer(owner, bid, trainer.address)
    r = net.cb.transfer_beast(owner, owner.address, buyer.address, bid)
    ev(r, "TrainerRevoked", beastId=bid, trainer=trainer.address)
    ev(r, "Transfer", to=buyer.address, tokenId=bid)
    assert net.cb.trainer_of(bid) is None
    assert not net.cb.is_committer(bid, owner) and net.cb.is_committer(bid, buyer)
    with raises_error("ERC721InsufficientApproval"):
        net.cb.transfer_beast(owner, buyer.address, owner.address, bid)


def test_energy_minting_is_role_gated(net) -> None:  # type: ignore[no-untyped-def]
    role = net.cb.energy.functions.MINTER_ROLE().call()
    with raises_error("AccessControlUnauthorizedAccount", account=net.a[1].address, neededRole=role):
        net.cb.mint(net.a[1], net.a[1].address, 1)
    r = net.cb.mint(net.admin, net.a[2].address, 5)
    ev(r, "Transfer", **{"from": "0x" + "00" * 20, "to": net.a[2].address, "value": 5})
    assert net.cb.energy.functions.symbol().call() == "ENERGY"
    assert net.cb.energy.functions.decimals().call() == 18


def test_first_non_committer_authorizes_a_batch(net) -> None:  # type: ignore[no-untyped-def]
    """The batch form of isCommitter that commitMany calls once: same rule, first failing position."""
    owner, trainer, stranger = net.a[1], net.a[2], net.a[3]
    mine, trained, theirs = net.cb.hatch(owner), net.cb.hatch(owner), net.cb.hatch(stranger)
    net.cb.authorize_trainer(owner, trained, trainer.address)

    def first(account: str, ids: list[int]) -> int:
        return int(net.cb.beast.functions.firstNonCommitter(account, ids).call())

    assert first(owner.address, [mine, trained, mine]) == 3
    assert first(trainer.address, [trained, trained]) == 2
    assert first(trainer.address, [trained, mine]) == 1
    assert first(owner.address, [mine, theirs, trained]) == 1
    assert first(owner.address, [mine, 999]) == 1  # unknown beast
    zero = "0x" + "00" * 20
    assert first(zero, [999]) == 0  # owner 0 authorizes nobody, not even address 0
    assert first(zero, [mine]) == 0 and not net.cb.is_committer(mine, zero)  # "no trainer" is 0: matches nobody
    assert first(owner.address, []) == 0
    for ids, account in (([mine, trained, theirs, 999], owner), ([trained, mine], trainer)):
        assert first(account.address, ids) == next(
            (i for i, b in enumerate(ids) if not net.cb.is_committer(b, account)), len(ids))
