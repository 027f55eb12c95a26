"""Abuse (issue 14 item 3): grinding the randomness a beast trains on, written as the attacker would.

An owner who can predict ``seedCore`` before its hatch transaction grinds ``secretCommitment``
offline until the seed has a property it likes; a trainer who can predict the next epoch's seed
before its epoch-closing commit holds the commit back until the seed picks the board template it
likes (``epoch_seed[31] mod 8``, SPEC §5). Both predictions must fail: the seeds come from the hash
of a block that does not exist yet when the owner or trainer signs (docs/PROTOCOL.md §2, §4).
"""

from __future__ import annotations

from eth_utils import keccak

from devnet.bindings import Outcome

from chain_helpers import ev, make_word, raises_error

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
    seed = net.cb.ensure_epoch_seed(owner, bid, 1)
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
    r = net.cb.commit(owner, bid, make_word(3))
    opening = net.cb.commit(owner, bid, make_word(4))  # a later block: nobody sealed, so the commit does
    closing_hash = bytes(net.raw.w3.eth.get_block(r.block_number)["hash"])
    ev(opening, "EpochSeeded", beastId=bid, epoch=1, seed=closing_hash)
    assert net.cb.epoch_seed(bid, 1) == closing_hash and net.cb.window_count(bid) == 5


def test_epoch_seed_sealing_rules(net) -> None:  # type: ignore[no-untyped-def]
    """Anyone seals; a seal is final (idempotent); epoch 0 needs none; an epoch not closed yet cannot
    be sealed; past the EVM's 256-block horizon the seed is the hash of the newest block C + 256 j."""
    owner, anyone = net.a[1], net.a[6]
    bid = net.cb.hatch(owner)
    assert net.cb.seal_epoch_seeds(anyone, [bid], [0]).all("EpochSeeded") == []
    with raises_error("LedgerEpochNotClosed", beastId=bid, epoch=1):
        net.cb.seal_epoch_seeds(anyone, [bid], [1])
    with raises_error("LedgerEpochNotClosed", beastId=bid, epoch=2**40):
        net.cb.seal_epoch_seeds(anyone, [bid], [2**40])
    with raises_error("LedgerBatchMismatch", beastIds=1, words=2):
        net.cb.seal_epoch_seeds(anyone, [bid], [1, 2])
    closes = net.commit_windows(owner, bid, 4)
    close_block = closes[-1].block_number
    w3 = net.raw.w3
    net.mine(300 - (net.cb.block_number() - close_block))  # the next transaction lands in close + 301
    r = net.cb.seal_epoch_seeds(anyone, [bid, bid], [1, 1])
    assert r.block_number == close_block + 301
    late = bytes(w3.eth.get_block(close_block + 256)["hash"])
    assert len(r.all("EpochSeeded")) == 1 and net.cb.epoch_seed(bid, 1) == late
    assert net.cb.seal_epoch_seeds(owner, [bid], [1]).all("EpochSeeded") == []  # kept, whoever asks
    assert net.cb.epoch_seed(bid, 1) == late
    net.commit_windows(owner, bid, 1, start=4)  # the commit uses the sealed seed
    assert net.cb.epoch_seed(bid, 1) == late


def test_hatch_takes_two_steps(net) -> None:  # type: ignore[no-untyped-def]
    """A requested beast does not exist until finalized: no owner, no trainer, no commit; anyone
    finalizes it for its requester, once; seedCore takes the hash of the request's block."""
    owner, anyone = net.a[1], net.a[6]
    ds, sec = keccak(b"data"), keccak(b"secret")
    records = keccak(b"records") if net.spec_version == 2 else ZERO
    req = net.cb.request_hatch_tx(owner, ds, sec, records)
    bid = ev(req, "HatchRequested", owner=owner.address, datasetCommitment=ds, secretCommitment=sec,
             recordsRoot=records)["beastId"]
    assert net.cb.pending_hatch_owner(bid) == owner.address and net.cb.total_hatched() == bid
    with raises_error("BeastNotFound", beastId=bid):
        net.cb.hatch_data(bid)
    with raises_error("BeastNotFound", beastId=bid):
        net.cb.epoch_seed(bid, 0)  # the ledger reads seedCore from Beast
    with raises_error("LedgerNotAuthorized", beastId=bid, caller=owner.address):
        net.cb.commit(owner, bid, make_word(0))
    with raises_error("BeastHatchNotPending", beastId=bid + 1):
        net.cb.finalize_hatch_tx(anyone, bid + 1)
    fin = net.cb.finalize_hatch_tx(anyone, bid)
    tail = records if net.spec_version == 2 else b""
    seed = keccak(bytes(net.raw.w3.eth.get_block(req.block_number)["hash"]) + bytes.fromhex(owner.address[2:])
                  + bid.to_bytes(32, "big") + ds + sec + tail)
    ev(fin, "BeastHatched", beastId=bid, owner=owner.address, seedCore=seed)
    assert net.cb.owner_of(bid) == owner.address and net.cb.pending_hatch_owner(bid) is None
    h = net.cb.hatch_data(bid)
    assert (h.seed_core, h.hatch_block, h.dataset_commitment, h.records_root) == (seed, req.block_number, ds, records)
    with raises_error("BeastHatchNotPending", beastId=bid):
        net.cb.finalize_hatch_tx(owner, bid)


def test_late_hatch_finalization_takes_a_later_block_hash(net) -> None:  # type: ignore[no-untyped-def]
    """Past the 256-block horizon the request's block hash is gone: the finalize still works and takes
    the hash of the newest block request + 256 j, never a value known at the request."""
    owner = net.a[1]
    req = net.cb.request_hatch_tx(owner)
    bid = req.event("HatchRequested").args["beastId"]
    net.mine(600 - (net.cb.block_number() - req.block_number))
    fin = net.cb.finalize_hatch_tx(owner, bid)
    assert fin.block_number == req.block_number + 601
    used = bytes(net.raw.w3.eth.get_block(req.block_number + 512)["hash"])
    assert net.cb.hatch_data(bid).seed_core == keccak(used + bytes.fromhex(owner.address[2:]) + bid.to_bytes(32, "big")
                                                      + ZERO + ZERO + (ZERO if net.spec_version == 2 else b""))


def _raw_send(net, account, contract, fn: str, args: list, nonce: int) -> bytes:  # type: ignore[no-untyped-def]
    """Sign and send without waiting (the test mines the block itself)."""
    w3 = net.raw.w3
    tx = {"to": contract.address, "data": contract.encode_abi(fn, args=args), "gas": 300_000, "nonce": nonce,
          "chainId": w3.eth.chain_id, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**9}
    return bytes(w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction))


def test_second_steps_refused_in_the_first_steps_block(net) -> None:  # type: ignore[no-untyped-def]
    """Abuse: a finalize in the request's own block, or a seal in the closing commit's block, would read
    a block hash that does not exist yet (0 in the EVM): both revert, and the first step stands."""
    owner, requester, anyone, other = net.a[1], net.a[3], net.a[6], net.a[7]  # one transaction each: eth-tester
    bid = net.cb.hatch(owner)                                                # queues no second one per sender
    net.commit_windows(owner, bid, 3)
    w3, tester = net.raw.w3, net.raw.tester
    nonces = [w3.eth.get_transaction_count(a.address) for a in (requester, anyone, owner, other)]
    tester.disable_auto_mine_transactions()
    try:
        txs = [_raw_send(net, requester, net.cb.beast, "hatch", [ZERO, ZERO, ZERO], nonces[0]),
               _raw_send(net, anyone, net.cb.beast, "finalizeHatch", [bid + 1], nonces[1]),
               _raw_send(net, owner, net.cb.ledger, "commit", [bid, make_word(3)], nonces[2]),
               _raw_send(net, other, net.cb.ledger, "sealEpochSeeds", [[bid], [1]], nonces[3])]
        tester.mine_blocks(1)
    finally:
        tester.enable_auto_mine_transactions()
    receipts = [w3.eth.get_transaction_receipt(h) for h in txs]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["status"] for r in receipts] == [1, 0, 1, 0]
    assert net.cb.pending_hatch_owner(bid + 1) == requester.address and net.cb.window_count(bid) == 4
    with raises_error("LedgerEpochSeedUnknown", beastId=bid, epoch=1):
        net.cb.epoch_seed(bid, 1)
    # One block later both second steps work, with the first steps' block hash.
    first = bytes(w3.eth.get_block(receipts[0]["blockNumber"])["hash"])
    assert net.cb.ensure_epoch_seed(anyone, bid, 1) == first
    net.cb.finalize_hatch_tx(anyone, bid + 1)
    assert net.cb.hatch_data(bid + 1).seed_core == keccak(first + bytes.fromhex(requester.address[2:])
                                                          + (bid + 1).to_bytes(32, "big") + ZERO + ZERO
                                                          + (ZERO if net.spec_version == 2 else b""))


def test_trainer_cannot_reroll_an_epoch_seed_by_having_its_closing_window_slashed(net) -> None:  # type: ignore[no-untyped-def]
    """Abuse: the trainer commits epoch 0's closing window 3, reads the seed its block gives epoch 1
    (its template: ``seed[31] mod 8``), dislikes it, and before anyone seals has its own sybil
    challenge window 3 and leaves the game unanswered. The slash voids window 3; re-committed in a
    later block it would bring a new seed: a re-roll for one window's escrow (the slash reward goes
    to the sybil, the bond comes back). The slash seals epoch 1 from the voided window's block
    first (CheckpointLedger 3.2.0), so the seed stays the one the trainer disliked."""
    owner, sybil = net.a[1], net.a[7]
    bid = net.cb.hatch(owner)
    closing = net.commit_windows(owner, bid, 4)[-1]
    disliked = bytes(net.raw.w3.eth.get_block(closing.block_number)["hash"])
    salt = (7).to_bytes(32, "big")
    net.cb.commit_challenge(sybil, bid, 3, salt)
    game = int(net.cb.challenge_tx(sybil, bid, 3, salt).event("GameOpened").args["gameId"])
    net.mine(net.cb.clock_blocks() + 1)  # the trainer does not defend
    end = net.cb.timeout(sybil, game)
    assert end.event("GameEnded").args["outcome"] == Outcome.CHALLENGER_WON and net.cb.window_count(bid) == 3
    ev(end, "EpochSeeded", beastId=bid, epoch=1, seed=disliked)
    net.cb.clear_voided(owner, bid, 10)
    net.mine(1)
    net.commit_windows(owner, bid, 1, start=3)  # window 3 again, in a block whose hash nobody knew
    assert net.cb.seal_epoch_seeds(sybil, [bid], [1]).all("EpochSeeded") == []
    assert net.cb.epoch_seed(bid, 1) == disliked, "the trainer re-rolled epoch 1's seed with a slash of its own window"
    assert net.cb.commit(owner, bid, make_word(4)).all("EpochSeeded") == []  # epoch 1 trains on that seed
