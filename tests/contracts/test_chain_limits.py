"""The ledger's two hard limits, reached for real on anvil, and the storage layout clients rely on.

- ``LedgerClockOverflow``: commit blocks are stored as u31 (bit 127 of the slot is the role bit).
  Anvil starts its chain just below block 2^31 (``--number``), so the last block that fits and the
  first that does not are reached by mining a few blocks.
- ``LedgerLineageFull``: a beast holds at most 2^25 windows. Committing 2^25 windows is out of
  reach, so the slots the ledger reads are written with ``anvil_setStorageAt`` at the positions
  given by the storage layout in the committed artifact (the same layout the contract's own reads
  and writes use: the test commits real windows around the written ones and reads them back).
- The access list a client sends for a batch commit names exactly the slots the transaction
  touches: compared with anvil's own ``eth_createAccessList``.

The contracts are deployed on anvil by :meth:`ledger_chain.LedgerChain.deploy` (the committed
artifacts, the stub game bound), independent of devnet's deployment code.
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Iterator

import pytest

from web3 import HTTPProvider, Web3

from devnet import artifacts
from devnet.access_list import commit_access_list, commit_slots, mapping_slot, window_index
from devnet.anvil import AnvilProcess, dev_keys, find_anvil
from devnet.errors import ConfigError

from chain_helpers import make_word, raises_error
from ledger_chain import LedgerChain

MAX_WINDOWS = 2**25
U31_MAX = 2**31 - 1
STAKE = 10**21


def _anvil() -> None:
    try:
        find_anvil()
    except ConfigError:
        pytest.skip("anvil binary missing: run `cd contracts && npm ci` (CI does)")


def _on_anvil(tmp_path: Path, genesis_block: int | None = None) -> Iterator[LedgerChain]:
    _anvil()
    with AnvilProcess(tmp_path / "anvil", port=0, accounts=4, genesis_block=genesis_block) as proc:
        chain = LedgerChain.deploy(Web3(HTTPProvider(proc.url)), dev_keys(4))
        chain.stake(chain.accounts[1], STAKE)
        yield chain


@pytest.fixture()
def anvil(tmp_path: Path) -> Iterator[LedgerChain]:
    yield from _on_anvil(tmp_path)


def _rpc(cb: LedgerChain, method: str, params: list[object]) -> object:
    resp = cb.w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in resp, resp
    return resp["result"]


def _set_slot(cb: LedgerChain, slot: int, value: int) -> None:
    _rpc(cb, "anvil_setStorageAt", [cb.ledger.address, hex(slot), "0x" + value.to_bytes(32, "big").hex()])


def _stored(cb: LedgerChain, address: str, slot: int) -> int:
    return int.from_bytes(cb.w3.eth.get_storage_at(address, slot), "big")  # type: ignore[arg-type]


def _window_count_probes(count: int, cap: int = MAX_WINDOWS) -> list[int]:
    """The window slots CheckpointLedger.windowCount reads for a beast with ``count`` windows below
    ``cap`` (MAX_WINDOWS, or the low end of a pending voided range)."""
    probes: list[int] = [0]
    if count == 0:
        return probes
    lo, hi = 0, 1
    while hi < cap:
        probes.append(hi)
        if hi >= count:
            break
        lo, hi = hi, hi << 1
    hi = min(hi, cap)
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        probes.append(mid)
        lo, hi = (mid, hi) if mid < count else (lo, mid)
    return probes


def test_storage_slots_in_artifacts_match_the_chain_and_the_source(anvil: LedgerChain) -> None:
    cb, owner = anvil, anvil.accounts[1]
    beast = cb.hatch(owner)
    cb.commit(owner, beast, make_word(0))
    ledger, beast_art = artifacts.load("CheckpointLedger"), artifacts.load("Beast")
    # Beast reads OpenZeppelin's private _owners mapping by slot number in assembly.
    src = (Path(__file__).resolve().parents[2] / "contracts" / "src" / "Beast.sol").read_text()
    pinned = re.search(r"_OWNERS_SLOT = (\d+);", src)
    assert pinned and int(pinned.group(1)) == beast_art.slot("_owners")
    assert _stored(cb, cb.beast.address, mapping_slot(beast, beast_art.slot("_owners"))) == int(owner.address, 16)
    # Window k of a beast sits at keccak256(beastId . _words) + k; bits 96..126 hold the commit
    # block, bit 127 the role (0: the owner committed).
    stored = _stored(cb, cb.ledger.address, mapping_slot(beast, ledger.slot("_words")))
    assert stored >> 128 == int.from_bytes(make_word(0)[:16], "big")
    assert (stored >> 96) & U31_MAX == cb.call(cb.ledger, "commitBlockOf", beast, 0) and stored >> 127 & 1 == 0
    # The account slot: the deposit in the low half, the stake in the high half.
    cb.deposit(owner, 12345)
    assert _stored(cb, cb.ledger.address, mapping_slot(owner.address, ledger.slot("_deposits"))) == STAKE << 128 | 12345


def _commit_many(cb: LedgerChain, acct, ids: list[int], words: list[bytes], listed: bool) -> int:  # type: ignore[no-untyped-def]
    items = list(zip(ids, words, strict=True))
    al = commit_access_list(cb.ledger.address, cb.beast.address, acct.address, items) if listed else None
    data = bytes.fromhex(cb.ledger.encode_abi("commitMany", args=[ids, words]).removeprefix("0x"))
    return int(cb.sender.send(acct, cb.ledger.address, data, gas=3_000_000, access_list=al)["gasUsed"])


def test_batch_access_list_names_the_slots_the_commit_touches(anvil: LedgerChain) -> None:
    cb, owner = anvil, anvil.accounts[1]
    cb.deposit(owner, 10**21)
    ids = [cb.hatch(owner) for _ in range(12)]
    cb.commit_many(owner, ids, [make_word(0, tag=i) for i in ids])
    items = [(i, make_word(1, tag=i)) for i in ids]
    data = cb.ledger.encode_abi("commitMany", args=[ids, [w for _, w in items]])
    tx = {"from": owner.address, "to": cb.ledger.address, "data": data, "gas": hex(2_000_000)}
    result = _rpc(cb, "eth_createAccessList", [tx, "latest"])
    theirs = {e["address"].lower(): {int(k, 16) for k in e["storageKeys"]} for e in result["accessList"]}  # type: ignore[index]
    ledger_slots, beast_slots = commit_slots(owner.address, items)
    assert theirs[cb.beast.address.lower()] == set(beast_slots)
    if cb.ledger.address.lower() in theirs:
        assert theirs[cb.ledger.address.lower()] == set(ledger_slots)
    with_list = _commit_many(cb, owner, ids, [w for _, w in items], listed=True)
    for s in ledger_slots[:-1]:
        assert _stored(cb, cb.ledger.address, s) != 0
    assert _stored(cb, cb.ledger.address, ledger_slots[-1]) & (2**128 - 1) == cb.deposit_of(owner)
    assert len(ledger_slots) == 2 * len(ids) + 1
    plain = _commit_many(cb, owner, ids, [make_word(2, tag=i) for i in ids], listed=False)
    assert with_list < plain


def test_small_batches_go_without_an_access_list() -> None:
    items = [(7, make_word(3))]
    assert commit_access_list("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, items) is None
    assert window_index(make_word(3)) == 3
    assert window_index(make_word(MAX_WINDOWS - 1)) == MAX_WINDOWS - 1  # globalStep wrapped to 0


def test_commit_block_past_u31_is_refused(tmp_path: Path) -> None:
    for cb in _on_anvil(tmp_path, genesis_block=U31_MAX - 80):
        owner = cb.accounts[1]
        beast = cb.hatch(owner)
        cb.commit(owner, beast, make_word(0))
        cb.mine(U31_MAX - 1 - cb.block_number())
        # The next transaction runs in block 2^31 - 1, the last one 31 bits hold.
        r = cb.commit(owner, beast, make_word(1))
        assert r.block_number == U31_MAX and cb.call(cb.ledger, "commitBlockOf", beast, 1) == U31_MAX
        assert cb.committer_of(beast, 1) == (owner.address, U31_MAX, False)  # the role bit stays apart
        with raises_error("LedgerClockOverflow", blockNumber=2**31):
            cb.commit(owner, beast, make_word(2))
        with raises_error("LedgerClockOverflow"):
            cb.commit_many(owner, [beast], [make_word(2)])
        assert cb.count(beast) == 2


def test_lineage_ends_after_2_pow_25_windows(anvil: LedgerChain) -> None:
    cb, owner = anvil, anvil.accounts[1]
    beast = cb.hatch(owner)
    cb.commit(owner, beast, make_word(0))
    base = mapping_slot(beast, artifacts.load("CheckpointLedger").slot("_words"))
    filler = _stored(cb, cb.ledger.address, base)  # window 0 as stored: non-zero
    last = MAX_WINDOWS - 1
    for k in sorted(set(_window_count_probes(last)) | {last - 1}):
        if 0 < k < last:
            _set_slot(cb, base + k, filler)
    assert cb.count(beast) == last
    word = make_word(last)
    assert int.from_bytes(word[16:20], "big") == 0
    cb.commit(owner, beast, word)
    assert cb.word(beast, last) == word
    assert cb.count(beast) == MAX_WINDOWS
    with raises_error("LedgerLineageFull", beastId=beast):
        cb.commit(owner, beast, make_word(0))
    with raises_error("LedgerLineageFull", beastId=beast):
        cb.commit_many(owner, [beast], [make_word(MAX_WINDOWS)])
    # A slash of the last window rewinds to 2^25 - 1 windows; clearing it frees the slot again.
    cb.slash(cb.accounts[2], beast, last)
    for k in _window_count_probes(last, cap=last):  # the search now stops below the voided range
        if 0 < k < last:
            _set_slot(cb, base + k, filler)
    assert cb.count(beast) == last and cb.voided_range(beast) == (last, MAX_WINDOWS)
    cb.clear_voided(owner, beast, 5)
    assert cb.voided_range(beast) == (0, 0)
    cb.commit(owner, beast, make_word(last, tag=2))
    assert cb.count(beast) == MAX_WINDOWS
