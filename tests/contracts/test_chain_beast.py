"""Beast token: hatch data, trainer authorization, and every revert path."""

from __future__ import annotations

import pytest
from eth_utils import keccak

import devnet
import kernel
from chain_helpers import ev, raises_error
from devnet.deploy import _create
from devnet.season import DEFAULT_SPEC_VERSION, SPEC_VERSIONS

ZERO = b"\x00" * 32


def _seed(net, r, owner, beast_id: int, ds: bytes, sec: bytes, records: bytes) -> bytes:  # type: ignore[no-untyped-def]
    """seedCore as Beast.finalizeHatch derives it (finalized within 256 blocks of the request): the
    request block's hash in version 1's preimage, version 2's with the records root appended."""
    request_block = net.cb.hatch_data(beast_id).hatch_block
    assert request_block < r.block_number <= request_block + 256
    pre = (bytes(net.raw.w3.eth.get_block(request_block)["hash"]) + bytes.fromhex(owner.address[2:])
           + beast_id.to_bytes(32, "big") + ds + sec)
    return keccak(pre + (records if net.spec_version == 2 else b""))


def test_hatch_mints_with_seed_derived_on_chain(versioned_net) -> None:  # type: ignore[no-untyped-def]
    net, v = versioned_net, versioned_net.spec_version
    owner = net.a[1]
    ds, sec = keccak(b"data"), keccak(b"\x05" * 32)
    records = keccak(b"records") if v == 2 else ZERO
    r = net.cb.hatch_tx(owner, ds, sec, records)
    args = ev(r, "BeastHatched", beastId=1, owner=owner.address, datasetCommitment=ds, secretCommitment=sec, specVersion=v,
              recordsRoot=records)
    expected = _seed(net, r, owner, 1, ds, sec, records)
    assert args["seedCore"] == expected
    h = net.cb.hatch_data(1)
    assert (h.seed_core, h.dataset_commitment, h.secret_commitment, h.spec_version, h.hatch_block, h.records_root) == (
        expected, ds, sec, v, r.block_number - 1, records)  # the request, the block before the finalize
    assert h.dataset_root == (ds if v == 1 else records)  # what the beast's states carry at offset 64
    assert net.cb.owner_of(1) == owner.address
    r2 = net.cb.hatch_tx(owner)
    assert ev(r2, "BeastHatched", beastId=2, specVersion=v, recordsRoot=ZERO)["seedCore"] == _seed(net, r2, owner, 2, ZERO, ZERO, ZERO)
    assert net.cb.hatch_data(2).records_root == ZERO and net.cb.hatch_data(2).spec_version == v
    assert net.cb.beast.functions.totalHatched().call() == net.cb.total_hatched() == 2  # ids are sequential
    assert net.cb.epoch_seed(1, 0) == expected


def test_spec_version_is_fixed_per_deployment(versioned_net) -> None:  # type: ignore[no-untyped-def]
    """The getter 1.x had as a constant answers the deployment's version; every beast carries it."""
    net = versioned_net
    assert net.cb.beast.functions.SPEC_VERSION().call() == net.cb.spec_version() in (1, 2)
    low, high = net.cb.beast.functions.MIN_SPEC_VERSION().call(), net.cb.beast.functions.MAX_SPEC_VERSION().call()
    # devnet.season mirrors the contract's range, which is every version the kernel implements.
    assert tuple(range(low, high + 1)) == SPEC_VERSIONS == kernel.SPEC_VERSIONS and DEFAULT_SPEC_VERSION == kernel.SPEC_VERSION


def test_version_1_refuses_a_records_root(versioned_net) -> None:  # type: ignore[no-untyped-def]
    """Abuse: a records root on a version 1 deployment (with or without a dataset) would be a hatch
    field no version 1 replay reads; and on any deployment a records root without a dataset."""
    net, bogus = versioned_net, keccak(b"records")
    if net.spec_version == 1:
        with raises_error("BeastRecordsRootUnexpected", recordsRoot=bogus):
            net.cb.hatch(net.a[1], keccak(b"data"), keccak(b"s"), bogus)
    with raises_error("BeastRecordsRootUnexpected", recordsRoot=bogus):
        net.cb.hatch(net.a[1], ZERO, ZERO, bogus)  # public beast: nothing to commit records of
    with raises_error("BeastRecordsRootUnexpected", recordsRoot=bogus):
        net.cb.hatch(net.a[1], ZERO, keccak(b"s"), bogus)
    assert net.cb.total_hatched() == 0


def test_version_2_private_hatch_requires_records_root(versioned_net) -> None:  # type: ignore[no-untyped-def]
    """Abuse: a version 2 private beast without R_dataset could never have a private sample proven
    on chain, so the hatch reverts (version 1 accepts it as before)."""
    net = versioned_net
    if net.spec_version == 2:
        with raises_error("BeastRecordsRootRequired"):
            net.cb.hatch(net.a[1], keccak(b"data"), keccak(b"s"))
        assert net.cb.total_hatched() == 0
    else:
        assert net.cb.hatch_data(net.cb.hatch(net.a[1], keccak(b"data"), keccak(b"s"))).records_root == ZERO
    with raises_error("BeastSecretCommitmentRequired"):  # the secret rule comes first in both versions
        net.cb.hatch(net.a[1], keccak(b"data"), ZERO, keccak(b"records"))


@pytest.mark.parametrize("version", [0, 3, 65535])
def test_deployment_refuses_unknown_spec_version(net, version: int) -> None:  # type: ignore[no-untyped-def]
    """Beast's constructor reverts for a version it cannot hatch; devnet.deploy refuses it before any transaction."""
    with pytest.raises(devnet.ConfigError, match="spec version must be one of 1, 2"):
        devnet.deploy(net.raw.w3, net.admin, spec_version=version)
    with raises_error("BeastSpecVersionUnsupported", specVersion=version):
        _create(net.cb.sender, net.admin, "Beast", ["uint16"], [version])


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
