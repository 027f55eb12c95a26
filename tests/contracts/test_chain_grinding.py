"""Abuse (issue 14 item 3): grinding the randomness a beast trains on, written as the attacker would.

An owner who can predict ``seedCore`` before its hatch transaction grinds ``secretCommitment``
offline until the seed has a property it likes; a trainer who can predict the next epoch's seed
before its epoch-closing commit holds the commit back until the seed picks the board template it
likes (``epoch_seed[31] mod 8``, SPEC §5). Both predictions must fail: the seeds come from the hash
of a block that does not exist yet when the owner or trainer signs (docs/PROTOCOL.md §2, §4).
"""

from __future__ import annotations

from eth_utils import keccak

from chain_helpers import make_word, raises_error

ZERO = b"\x00" * 32
CANDIDATES = 4096  # the review searched 16,384 in 0.35 s; a few thousand show the same


def _predict_seed(parent: bytes, owner: str, beast_id: int, ds: bytes, sec: bytes) -> bytes:
    """seedCore as a hatch in the next block would derive it if it used the newest known block hash (1.x rule)."""
    return keccak(parent + bytes.fromhex(owner[2:]) + beast_id.to_bytes(32, "big") + ds + sec)


def test_owner_cannot_grind_seed_core_with_its_secret_commitment(net) -> None:  # type: ignore[no-untyped-def]
    """The owner searches secret commitments offline for a seedCore whose first byte is 0 (1 in 256),
    using everything it knows before sending: the newest block hash, its address, the next id."""
    owner = net.a[1]
    parent = bytes(net.raw.w3.eth.get_block("latest")["hash"])
    beast_id = net.cb.total_hatched() + 1
    ds = keccak(b"the owner's dataset")
    wanted = None
    for i in range(CANDIDATES):
        sec = keccak(i.to_bytes(32, "big"))
        seed = _predict_seed(parent, owner.address, beast_id, ds, sec)
        if seed[0] == 0:
            wanted = (sec, seed)
            break
    assert wanted is not None, "a few thousand candidates always contain a 1-in-256 hit"
    sec, predicted = wanted
    records = keccak(b"records") if net.spec_version == 2 else ZERO
    got = net.cb.hatch_data(net.cb.hatch(owner, ds, sec, records)).seed_core
    assert got != predicted, "the owner chose seedCore: it was known before the hatch transaction"
    # Nor did any other block hash the owner could read before signing predict it.
    w3 = net.raw.w3
    request_block = net.cb.hatch_data(beast_id).hatch_block
    known = [bytes(w3.eth.get_block(b)["hash"]) for b in range(max(0, request_block - 256), request_block)]
    tail = records if net.spec_version == 2 else b""
    pre = bytes.fromhex(owner.address[2:]) + beast_id.to_bytes(32, "big") + ds + sec + tail
    assert all(keccak(h + pre) != got for h in known)


def test_trainer_cannot_choose_the_next_epochs_template_by_holding_back_its_closing_commit(net) -> None:  # type: ignore[no-untyped-def]
    """The trainer commits windows 0..2 of epoch 0 (epochSteps 512 = 4 windows), then waits block by
    block until the seed it predicts for epoch 1 gives the template it wants, and only then commits
    the closing window 3."""
    owner = net.a[1]
    bid = net.cb.hatch(owner)
    net.commit_windows(owner, bid, 3)
    want = 5
    w3 = net.raw.w3
    for _ in range(200):  # 1 in 8 per block: 200 blocks fail with probability (7/8)^200
        predicted = bytes(w3.eth.get_block("latest")["hash"])  # what a commit in the next block would snapshot (1.x)
        if predicted[31] % 8 == want:
            break
        net.mine(1)
    assert predicted[31] % 8 == want
    net.cb.commit(owner, bid, make_word(3))
    seed = net.cb.ensure_epoch_seed(owner, bid, 1) if hasattr(net.cb, "ensure_epoch_seed") else net.cb.epoch_seed(bid, 1)
    assert seed != predicted, "the trainer chose the next epoch's seed (and its template) by timing its commit"


def test_next_epoch_cannot_be_committed_in_the_closing_block(net) -> None:  # type: ignore[no-untyped-def]
    """Abuse: committing the closing window and the next epoch's first window in one transaction
    would train the latter before its seed exists (the hash of the closing block is unknown inside it)."""
    owner = net.a[1]
    bid = net.cb.hatch(owner)
    net.commit_windows(owner, bid, 3)
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=1):
        net.cb.commit_many(owner, [bid, bid], [make_word(3), make_word(4)])
    assert net.cb.window_count(bid) == 3
