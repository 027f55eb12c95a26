"""Beast 4.0.0: hatch data, trainer authorization, the role history (holderAt), the batch
authorization with roles the ledger calls, and every revert path.

Runs on :class:`ledger_chain.LedgerChain` (the committed artifacts, deployed by this module).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

import kernel
from devnet import artifacts
from devnet.season import DEFAULT_SPEC_VERSION, SPEC_VERSIONS

from chain_helpers import make_word, raises_error
from ledger_chain import LedgerChain, ev

ZERO = b"\x00" * 32
ZERO_ADDR = "0x" + "00" * 20


@pytest.fixture(scope="module")
def _chains() -> dict[int, LedgerChain]:
    return {}


def _chain_of(chains: dict[int, LedgerChain], version: int) -> LedgerChain:
    if version not in chains:
        chain = LedgerChain.start(spec_version=version)
        for acct in chain.accounts[1:6]:
            chain.stake(acct, 10**21)  # the ledger commits in the attribution tests need stake
        chains[version] = chain
    return chains[version]


@pytest.fixture
def ch(_chains: dict[int, LedgerChain]) -> Iterator[LedgerChain]:
    yield from _chain_of(_chains, DEFAULT_SPEC_VERSION).fresh()


@pytest.fixture(params=SPEC_VERSIONS, ids=[f"v{v}" for v in SPEC_VERSIONS])
def vch(request: pytest.FixtureRequest, _chains: dict[int, LedgerChain]) -> Iterator[LedgerChain]:
    """Like ``ch``, once per season spec version (a deployment hatching beasts of that version)."""
    yield from _chain_of(_chains, request.param).fresh()


def version(ch: LedgerChain) -> int:
    return int(ch.call(ch.beast, "SPEC_VERSION"))


def hatch_data(ch: LedgerChain, bid: int) -> tuple[Any, ...]:
    """(seedCore, datasetCommitment, secretCommitment, specVersion, hatchBlock, recordsRoot)."""
    return tuple(ch.call(ch.beast, "hatchData", bid))


def is_committer(ch: LedgerChain, bid: int, who: Any) -> bool:
    return bool(ch.call(ch.beast, "isCommitter", bid, who if isinstance(who, str) else who.address))


def trainer_of(ch: LedgerChain, bid: int) -> str:
    return str(ch.call(ch.beast, "trainerOf", bid))


def total_hatched(ch: LedgerChain) -> int:
    return int(ch.call(ch.beast, "totalHatched"))


def _seed(ch: LedgerChain, finalize_block: int, owner: Any, beast_id: int, ds: bytes, sec: bytes, records: bytes) -> bytes:
    """seedCore as Beast.finalizeHatch derives it (finalized within 256 blocks of the request)."""
    request_block = hatch_data(ch, beast_id)[4]
    assert request_block < finalize_block <= request_block + 256
    pre = (bytes(ch.w3.eth.get_block(request_block)["hash"]) + bytes.fromhex(owner.address[2:])
           + beast_id.to_bytes(32, "big") + ds + sec)
    return keccak(pre + (records if version(ch) == 2 else b""))


def test_hatch_mints_with_seed_derived_on_chain(vch: LedgerChain) -> None:
    ch, v = vch, version(vch)
    owner = ch.accounts[1]
    ds, sec = keccak(b"data"), keccak(b"\x05" * 32)
    records = keccak(b"records") if v == 2 else ZERO
    r = ch.send(owner, ch.beast, "hatch", ds, sec, records)
    ev(r.event("HatchRequested"), beastId=1, owner=owner.address, specVersion=v, recordsRoot=records)
    assert ch.call(ch.beast, "pendingHatchOwner", 1) == owner.address
    r = ch.send(owner, ch.beast, "finalizeHatch", 1)
    args = r.event("BeastHatched")
    ev(args, beastId=1, owner=owner.address, datasetCommitment=ds, secretCommitment=sec, specVersion=v, recordsRoot=records)
    expected = _seed(ch, r.block_number, owner, 1, ds, sec, records)
    assert args["seedCore"] == expected
    assert hatch_data(ch, 1) == (expected, ds, sec, v, r.block_number - 1, records)
    assert ch.call(ch.beast, "ownerOf", 1) == owner.address and ch.call(ch.beast, "pendingHatchOwner", 1) == ZERO_ADDR
    bid2 = ch.hatch(owner)
    assert bid2 == 2 and hatch_data(ch, 2)[5] == ZERO and total_hatched(ch) == 2
    assert ch.call(ch.ledger, "epochSeed", 1, 0) == expected
    with raises_error("BeastHatchNotPending", beastId=1):
        ch.send(owner, ch.beast, "finalizeHatch", 1)


def test_spec_version_is_fixed_per_deployment(vch: LedgerChain) -> None:
    low, high = vch.call(vch.beast, "MIN_SPEC_VERSION"), vch.call(vch.beast, "MAX_SPEC_VERSION")
    assert version(vch) in (1, 2)
    assert tuple(range(low, high + 1)) == SPEC_VERSIONS == kernel.SPEC_VERSIONS and DEFAULT_SPEC_VERSION == kernel.SPEC_VERSION


def test_version_1_refuses_a_records_root(vch: LedgerChain) -> None:
    ch, bogus = vch, keccak(b"records")
    owner = ch.accounts[1]
    if version(ch) == 1:
        with raises_error("BeastRecordsRootUnexpected", recordsRoot=bogus):
            ch.hatch(owner, keccak(b"data"), keccak(b"s"), bogus)
    with raises_error("BeastRecordsRootUnexpected", recordsRoot=bogus):
        ch.hatch(owner, ZERO, ZERO, bogus)
    with raises_error("BeastRecordsRootUnexpected", recordsRoot=bogus):
        ch.hatch(owner, ZERO, keccak(b"s"), bogus)
    assert total_hatched(ch) == 0


def test_version_2_private_hatch_requires_records_root(vch: LedgerChain) -> None:
    ch = vch
    owner = ch.accounts[1]
    if version(ch) == 2:
        with raises_error("BeastRecordsRootRequired"):
            ch.hatch(owner, keccak(b"data"), keccak(b"s"))
        assert total_hatched(ch) == 0
    else:
        assert hatch_data(ch, ch.hatch(owner, keccak(b"data"), keccak(b"s")))[5] == ZERO
    with raises_error("BeastSecretCommitmentRequired"):
        ch.hatch(owner, keccak(b"data"), ZERO, keccak(b"records"))


@pytest.mark.parametrize("bad", [0, 3, 65535])
def test_deployment_refuses_unknown_spec_version(ch: LedgerChain, bad: int) -> None:
    art = artifacts.load("Beast")
    data = bytes.fromhex(art.bytecode.removeprefix("0x")) + abi_encode(["uint16"], [bad])
    with raises_error("BeastSpecVersionUnsupported", specVersion=bad):
        ch.sender.send(ch.admin, None, data, gas=8_000_000)


def test_hatch_errors(ch: LedgerChain) -> None:
    owner = ch.accounts[1]
    bid = ch.hatch(owner)
    assert hatch_data(ch, bid)[2] == ZERO  # no dataset: a zero secret is fine
    with raises_error("BeastSecretCommitmentRequired"):
        ch.hatch(owner, keccak(b"data"), ZERO)
    r = ch.send(owner, ch.beast, "hatch", ZERO, ZERO, ZERO)
    pending = r.event("HatchRequested")["beastId"]
    with raises_error("BeastNotFound", beastId=pending):
        hatch_data(ch, pending)  # not minted yet


def test_unknown_beast(ch: LedgerChain) -> None:
    with raises_error("BeastNotFound", beastId=99):
        hatch_data(ch, 99)
    with raises_error("BeastNotFound", beastId=99):
        ch.authorize(ch.accounts[1], 99, ch.accounts[2])
    assert is_committer(ch, 99, ch.accounts[1]) is False
    assert ch.holder_at(99, ch.block_number(), False) == ZERO_ADDR


def test_authorize_and_revoke_trainer(ch: LedgerChain) -> None:
    owner, t1, t2 = ch.accounts[1], ch.accounts[2], ch.accounts[3]
    bid = ch.hatch(owner)
    ev(ch.authorize(owner, bid, t1).event("TrainerAuthorized"), beastId=bid, trainer=t1.address)
    assert trainer_of(ch, bid) == t1.address and is_committer(ch, bid, t1)
    r = ch.authorize(owner, bid, t2)  # replaces t1
    ev(r.event("TrainerRevoked"), beastId=bid, trainer=t1.address)
    ev(r.event("TrainerAuthorized"), beastId=bid, trainer=t2.address)
    assert not is_committer(ch, bid, t1) and is_committer(ch, bid, t2)
    ev(ch.revoke(owner, bid).event("TrainerRevoked"), beastId=bid, trainer=t2.address)
    assert trainer_of(ch, bid) == ZERO_ADDR
    with raises_error("BeastNoTrainer", beastId=bid):
        ch.revoke(owner, bid)


def test_only_owner_manages_trainer(ch: LedgerChain) -> None:
    owner, other = ch.accounts[1], ch.accounts[2]
    bid = ch.hatch(owner)
    with raises_error("BeastNotOwner", beastId=bid, caller=other.address):
        ch.authorize(other, bid, other)
    with raises_error("BeastNotOwner", beastId=bid, caller=other.address):
        ch.revoke(other, bid)
    with raises_error("BeastInvalidTrainer"):
        ch.authorize(owner, bid, ZERO_ADDR)


def test_transfer_clears_trainer(ch: LedgerChain) -> None:
    owner, trainer, buyer = ch.accounts[1], ch.accounts[2], ch.accounts[3]
    bid = ch.hatch(owner)
    ch.authorize(owner, bid, trainer)
    r = ch.transfer_beast(owner, bid, buyer)
    ev(r.event("TrainerRevoked"), beastId=bid, trainer=trainer.address)
    assert trainer_of(ch, bid) == ZERO_ADDR
    assert not is_committer(ch, bid, owner) and is_committer(ch, bid, buyer)
    with raises_error("ERC721InsufficientApproval"):
        ch.send(owner, ch.beast, "transferFrom", buyer.address, owner.address, bid)


def test_energy_minting_is_role_gated(ch: LedgerChain) -> None:
    role = ch.call(ch.energy, "MINTER_ROLE")
    with raises_error("AccessControlUnauthorizedAccount", account=ch.accounts[1].address, neededRole=role):
        ch.send(ch.accounts[1], ch.energy, "mint", ch.accounts[1].address, 1)
    assert ch.call(ch.energy, "symbol") == "ENERGY" and ch.call(ch.energy, "decimals") == 18


def _authorized_batch(ch: LedgerChain) -> tuple[Any, Any, int, int, int]:
    owner, trainer, stranger = ch.accounts[1], ch.accounts[2], ch.accounts[3]
    mine, trained, theirs = ch.hatch(owner), ch.hatch(owner), ch.hatch(stranger)
    ch.authorize(owner, trained, trainer)
    return owner, trainer, mine, trained, theirs


def test_first_non_committer_authorizes_a_batch(ch: LedgerChain) -> None:
    """The batch form of isCommitter: same rule, first failing position."""
    owner, trainer, mine, trained, theirs = _authorized_batch(ch)

    def first(account: str, ids: list[int]) -> int:
        return int(ch.call(ch.beast, "firstNonCommitter", account, ids))

    assert first(owner.address, [mine, trained, mine]) == 3
    assert first(trainer.address, [trained, trained]) == 2
    assert first(trainer.address, [trained, mine]) == 1
    assert first(owner.address, [mine, theirs, trained]) == 1
    assert first(owner.address, [mine, 999]) == 1
    assert first(ZERO_ADDR, [999]) == 0 and first(ZERO_ADDR, [mine]) == 0 and not is_committer(ch, mine, ZERO_ADDR)
    assert first(owner.address, []) == 0


def test_committer_roles_name_each_windows_role(ch: LedgerChain) -> None:
    """What the ledger calls once per commit: for each leading beast the caller may commit for, 0 as
    the owner or 1 as the trainer; the answer stops at the first one it may not (same rule as
    firstNonCommitter, so its length is that function's answer)."""
    owner, trainer, mine, trained, theirs = _authorized_batch(ch)

    def roles(account: str, ids: list[int]) -> list[int]:
        return list(ch.call(ch.beast, "committerRoles", account, ids))

    assert roles(owner.address, [mine, trained, mine]) == [0, 0, 0]
    assert roles(trainer.address, [trained, trained]) == [1, 1]
    assert roles(trainer.address, [trained, mine, trained]) == [1]
    assert roles(owner.address, [mine, theirs, trained]) == [0]
    assert roles(owner.address, [999]) == [] and roles(ZERO_ADDR, [mine]) == [] and roles(owner.address, []) == []
    # An owner who authorized itself commits as the owner.
    ch.authorize(owner, mine, owner)
    assert roles(owner.address, [mine]) == [0]
    for ids, account in (([mine, trained, theirs, 999], owner), ([trained, mine], trainer), ([theirs], owner)):
        assert len(roles(account.address, ids)) == int(ch.call(ch.beast, "firstNonCommitter", account.address, ids))


def test_committer_role_is_the_single_form(ch: LedgerChain) -> None:
    """What the ledger's single commit calls: 1 owner, 2 trainer, 0 neither; same rule as isCommitter."""
    owner, trainer, mine, trained, theirs = _authorized_batch(ch)

    def role(bid: int, account: str) -> int:
        return int(ch.call(ch.beast, "committerRole", bid, account))

    assert role(mine, owner.address) == 1 and role(trained, owner.address) == 1
    assert role(trained, trainer.address) == 2 and role(mine, trainer.address) == 0
    assert role(theirs, owner.address) == 0 and role(999, owner.address) == 0
    assert role(mine, ZERO_ADDR) == 0 and role(999, ZERO_ADDR) == 0
    ch.authorize(owner, mine, owner)
    assert role(mine, owner.address) == 1  # an owner who is also its trainer commits as the owner
    for bid in (mine, trained, theirs, 999):
        for acct in (owner, trainer, ch.accounts[5]):
            assert (role(bid, acct.address) != 0) == is_committer(ch, bid, acct)


def test_holder_at_follows_every_role_change(ch: LedgerChain) -> None:
    """Role history across mint, authorize, replace, revoke and transfer, in separate blocks: each
    block answers the holder after its last transaction; before the mint there is nobody."""
    owner, t1, t2, buyer = ch.accounts[1], ch.accounts[2], ch.accounts[3], ch.accounts[4]
    bid = ch.hatch(owner)
    minted = ch.block_number()
    b_auth = ch.authorize(owner, bid, t1).block_number
    ch.mine(3)
    b_repl = ch.authorize(owner, bid, t2).block_number
    b_rev = ch.revoke(owner, bid).block_number
    b_auth2 = ch.authorize(owner, bid, t1).block_number
    ch.mine(2)
    b_sold = ch.transfer_beast(owner, bid, buyer).block_number
    now = ch.mine(2)

    def owner_at(b: int) -> str:
        return ch.holder_at(bid, b, False)

    def trainer_at(b: int) -> str:
        return ch.holder_at(bid, b, True)

    assert owner_at(minted - 1) == ZERO_ADDR and owner_at(0) == ZERO_ADDR
    assert all(owner_at(b) == owner.address for b in range(minted, b_sold))
    assert owner_at(b_sold) == buyer.address and owner_at(now) == buyer.address and owner_at(2**64) == buyer.address
    assert trainer_at(b_auth - 1) == ZERO_ADDR
    assert [trainer_at(b) for b in (b_auth, b_auth + 2, b_repl - 1)] == [t1.address] * 3
    assert trainer_at(b_repl) == t2.address and trainer_at(b_rev) == ZERO_ADDR
    assert trainer_at(b_auth2) == t1.address and trainer_at(b_sold - 1) == t1.address
    assert trainer_at(b_sold) == ZERO_ADDR and trainer_at(now) == ZERO_ADDR  # cleared by the transfer
    assert ch.call(ch.beast, "roleChanges", bid, False) == 2 and ch.call(ch.beast, "roleChanges", bid, True) == 5


def test_holder_at_a_block_with_several_changes_is_the_last(ch: LedgerChain) -> None:
    """Several role changes in one block (through the stub's multicall: authorize, revoke and
    authorize again, then a transfer and back): the block's entry is the holder after the last one;
    the block before still answers the old holder."""
    owner, t1, t2 = ch.accounts[1], ch.accounts[2], ch.accounts[3]
    bid = ch.hatch(owner)
    # The stub forwards as itself: give it the beast so it may act as owner.
    ch.transfer_beast(owner, bid, ch.game.address)
    before = ch.block_number()
    calls = [("authorizeTrainer", (bid, t1.address)), ("revokeTrainer", (bid,)), ("authorizeTrainer", (bid, t2.address)),
             ("transferFrom", (ch.game.address, owner.address, bid))]
    datas = [bytes.fromhex(ch.beast.encode_abi(fn, args=list(a)).removeprefix("0x")) for fn, a in calls]
    r = ch.send(owner, ch.game, "forward", ch.beast.address, datas)
    assert ch.holder_at(bid, before, False) == ch.game.address and ch.holder_at(bid, before, True) == ZERO_ADDR
    assert ch.holder_at(bid, r.block_number, False) == owner.address
    assert ch.holder_at(bid, r.block_number, True) == ZERO_ADDR  # t2 was cleared by the transfer in the block
    # One entry per block: the block's four changes left one entry each role.
    assert ch.call(ch.beast, "roleChanges", bid, True) == 1 and ch.call(ch.beast, "roleChanges", bid, False) == 3


def test_committer_of_attributes_windows_across_role_changes(ch: LedgerChain) -> None:
    """The ledger's committerOf: each window names the account that committed it, in the role it
    committed in, whatever happened to the roles after (revoke, new trainer, sale)."""
    owner, t1, t2, buyer = ch.accounts[1], ch.accounts[2], ch.accounts[3], ch.accounts[4]
    bid = ch.hatch(owner)
    ch.authorize(owner, bid, t1)
    who = [owner, t1, owner, t1]
    for k, acct in enumerate(who):
        ch.commit(acct, bid, _word(k))
    ch.authorize(owner, bid, t2)
    ch.commit(t2, bid, _word(4))
    ch.revoke(owner, bid)
    ch.transfer_beast(owner, bid, buyer)
    ch.commit(buyer, bid, _word(5))
    expected = [(owner, False), (t1, True), (owner, False), (t1, True), (t2, True), (buyer, False)]
    for k, (acct, as_trainer) in enumerate(expected):
        committer, block, trainer = ch.committer_of(bid, k)
        assert (committer, trainer) == (acct.address, as_trainer), k
        assert block == ch.call(ch.ledger, "commitBlockOf", bid, k)


def test_a_role_change_in_the_commit_block_names_the_holder_after_it(ch: LedgerChain) -> None:
    """The residual edge (docs/PROTOCOL.md): a commit by the trainer and its revocation in the same
    block attribute the window to the trainer role's holder at the end of the block (nobody)."""
    owner, trainer = ch.accounts[1], ch.accounts[2]
    bid = ch.hatch(owner)
    ch.authorize(owner, bid, trainer)
    ch.tester.disable_auto_mine_transactions()
    try:
        data_commit = bytes.fromhex(ch.ledger.encode_abi("commit", args=[bid, _word(0)]).removeprefix("0x"))
        data_revoke = bytes.fromhex(ch.beast.encode_abi("revokeTrainer", args=[bid]).removeprefix("0x"))
        h1 = _send_raw(ch, trainer, ch.ledger.address, data_commit)
        h2 = _send_raw(ch, owner, ch.beast.address, data_revoke)
        ch.mine(1)
    finally:
        ch.tester.enable_auto_mine_transactions()
    r1, r2 = ch.w3.eth.get_transaction_receipt(h1), ch.w3.eth.get_transaction_receipt(h2)
    assert r1["status"] == r2["status"] == 1 and r1["blockNumber"] == r2["blockNumber"]
    assert ch.committer_of(bid, 0) == (ZERO_ADDR, r1["blockNumber"], True)


def _word(k: int) -> bytes:
    return make_word(k)


def _send_raw(ch: LedgerChain, acct: Any, to: str, data: bytes) -> Any:
    """Send without waiting (automining may be off): several transactions can share a block."""
    nonce = ch.sender._next_nonce(acct.address)  # the sender's cache counts transactions not mined yet
    tx = {"from": acct.address, "to": to, "data": data, "gas": 1_000_000, "nonce": nonce, "chainId": ch.sender.chain_id,
          "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 1, "value": 0}
    return ch.w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)


@pytest.mark.parametrize("seed", [7, 8])
def test_holder_at_random_role_changes_match_the_replayed_blocks(ch: LedgerChain, seed: int) -> None:
    """Random authorize / revoke / transfer, up to three in a block (each by the owner of the moment:
    one pending transaction per sender), some blocks empty: for every
    block since the mint, holderAt answers each role's holder after that block, as read from the
    chain's own state at the block (ownerOf / trainerOf at that block number)."""
    import random

    rnd = random.Random(seed)
    people = ch.accounts[1:5]
    bid = ch.hatch(people[0])
    minted = ch.block_number()
    owner = people[0]
    trainer: Any = None
    sent: list[Any] = []
    crowded = 0  # blocks with more than one role change
    for _ in range(40):
        before = len(sent)
        ch.tester.disable_auto_mine_transactions()
        try:
            used: set[str] = set()  # eth-tester takes one pending transaction per sender
            for _ in range(rnd.randint(0, 3)):
                if owner.address in used:
                    break
                used.add(owner.address)
                op = rnd.choice(["auth", "auth", "revoke", "transfer", "transfer"])
                if op == "auth":
                    trainer = rnd.choice(people)
                    sent.append(_send_raw(ch, owner, ch.beast.address, _data(ch.beast, "authorizeTrainer", bid, trainer.address)))
                elif op == "revoke" and trainer is not None:  # (without one: nothing sent this turn)
                    trainer = None
                    sent.append(_send_raw(ch, owner, ch.beast.address, _data(ch.beast, "revokeTrainer", bid)))
                elif op == "transfer":
                    to = rnd.choice(people)
                    sent.append(_send_raw(ch, owner, ch.beast.address,
                                          _data(ch.beast, "transferFrom", owner.address, to.address, bid)))
                    if to != owner:
                        trainer = None
                    owner = to
            ch.mine(1)
            crowded += len(sent) - before > 1
        finally:
            ch.tester.enable_auto_mine_transactions()
    assert all(ch.w3.eth.get_transaction_receipt(h)["status"] == 1 for h in sent) and crowded >= 3
    now = ch.block_number()
    for b in range(minted - 1, now + 1):
        want_owner = ch.beast.functions.ownerOf(bid).call(block_identifier=b) if b >= minted else ZERO_ADDR
        want_trainer = ch.beast.functions.trainerOf(bid).call(block_identifier=b) if b >= minted else ZERO_ADDR
        assert ch.holder_at(bid, b, False) == want_owner, b
        assert ch.holder_at(bid, b, True) == want_trainer, b


def _data(contract: Any, fn: str, *args: Any) -> bytes:
    return bytes.fromhex(contract.encode_abi(fn, args=list(args)).removeprefix("0x"))
