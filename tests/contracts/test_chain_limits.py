"""The ledger's two hard limits, reached for real on anvil, and the storage layout clients rely on.

- ``LedgerClockOverflow``: commit blocks are stored as u32. Anvil starts its chain just below
  block 2^32 (``--number``), so the last block that fits and the first that does not are reached
  by mining a few blocks.
- ``LedgerLineageFull``: a beast holds at most 2^25 windows. Committing 2^25 windows is out of
  reach, so the slots the ledger reads are written with ``anvil_setStorageAt`` at the positions
  given by the storage layout in the committed artifact (the same layout the contract's own reads
  and writes use: the test commits real windows around the written ones and reads them back).
- The access list a client sends for a batch commit names exactly the slots the transaction
  touches: compared with anvil's own ``eth_createAccessList``.
"""

from __future__ import annotations

import re
from pathlib import Path
from collections.abc import Iterator

import pytest

from devnet import artifacts
from devnet.access_list import commit_access_list, commit_slots, mapping_slot, window_index
from devnet.anvil import find_anvil
from devnet.bindings import ChainBeasts
from devnet.errors import ConfigError
from devnet.launch import RunningDevnet, launch

from chain_helpers import make_word, raises_error

MAX_WINDOWS = 2**25
U32_MAX = 2**32 - 1


def _anvil() -> None:
    try:
        find_anvil()
    except ConfigError:
        pytest.skip("anvil binary missing: run `cd contracts && npm ci` (CI does)")


@pytest.fixture()
def anvil(tmp_path: Path) -> Iterator[RunningDevnet]:
    _anvil()
    with launch("anvil", port=0, run_dir=tmp_path, accounts=4) as run:
        yield run


def _rpc(cb: ChainBeasts, method: str, params: list[object]) -> object:
    resp = cb.w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in resp, resp
    return resp["result"]


def _set_slot(cb: ChainBeasts, slot: int, value: int) -> None:
    _rpc(cb, "anvil_setStorageAt", [cb.ledger.address, hex(slot), "0x" + value.to_bytes(32, "big").hex()])


def _stored(cb: ChainBeasts, address: str, slot: int) -> int:
    return int.from_bytes(cb.w3.eth.get_storage_at(address, slot), "big")  # type: ignore[arg-type]


def _window_count_probes(count: int) -> list[int]:
    """The window slots CheckpointLedger.windowCount reads for a beast with ``count`` windows."""
    probes: list[int] = [0]
    if count == 0:
        return probes
    lo, hi = 0, 1
    while hi < MAX_WINDOWS:
        probes.append(hi)
        if hi >= count:
            break
        lo, hi = hi, hi << 1
    hi = min(hi, MAX_WINDOWS)
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        probes.append(mid)
        lo, hi = (mid, hi) if mid < count else (lo, mid)
    return probes


def test_storage_slots_in_artifacts_match_the_chain_and_the_source(anvil: RunningDevnet) -> None:
    cb, owner = anvil.chain, anvil.accounts[1]
    beast = cb.hatch(owner)
    cb.commit(owner, beast, make_word(0))
    ledger, beast_art = artifacts.load("CheckpointLedger"), artifacts.load("Beast")
    # Beast reads OpenZeppelin's private _owners mapping by slot number in assembly.
    src = (Path(__file__).resolve().parents[2] / "contracts" / "src" / "Beast.sol").read_text()
    pinned = re.search(r"_OWNERS_SLOT = (\d+);", src)
    assert pinned and int(pinned.group(1)) == beast_art.slot("_owners")
    assert _stored(cb, cb.beast.address, mapping_slot(beast, beast_art.slot("_owners"))) == int(owner.address, 16)
    # Window k of a beast sits at keccak256(beastId . _words) + k; its globalStep bits hold the
    # commit block.
    stored = _stored(cb, cb.ledger.address, mapping_slot(beast, ledger.slot("_words")))
    assert stored >> 128 == int.from_bytes(make_word(0)[:16], "big")
    assert (stored >> 96) & U32_MAX == cb.commit_block(beast, 0)


def test_batch_access_list_names_the_slots_the_commit_touches(anvil: RunningDevnet) -> None:
    cb, owner = anvil.chain, anvil.accounts[1]
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
    # Like geth, anvil leaves the transaction's target out of its list (its slots included).
    if cb.ledger.address.lower() in theirs:
        assert theirs[cb.ledger.address.lower()] == set(ledger_slots)
    # And the batch sent with our list costs less than the same batch without one.
    ours = commit_access_list(cb.ledger.address, cb.beast.address, owner.address, items)
    assert ours is not None
    with_list = cb.commit_many(owner, ids, [w for _, w in items]).gas_used
    # Our ledger slots are the ones the commit wrote and read: windows 1 and 0 of every beast and
    # the sender's deposit.
    for s in ledger_slots[:-1]:
        assert _stored(cb, cb.ledger.address, s) != 0
    assert _stored(cb, cb.ledger.address, ledger_slots[-1]) == cb.deposit_of(owner.address)
    assert len(ledger_slots) == 2 * len(ids) + 1
    plain = cb.commit_many(owner, ids, [make_word(2, tag=i) for i in ids], access_list=False).gas_used
    assert with_list < plain


def test_small_batches_go_without_an_access_list() -> None:
    items = [(7, make_word(3))]
    assert commit_access_list("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20, items) is None
    assert window_index(make_word(3)) == 3
    assert window_index(make_word(MAX_WINDOWS - 1)) == MAX_WINDOWS - 1  # globalStep wrapped to 0


def test_commit_block_past_u32_is_refused(tmp_path: Path) -> None:
    _anvil()
    with launch("anvil", port=0, run_dir=tmp_path, accounts=4, genesis_block=U32_MAX - 60) as run:
        cb, owner = run.chain, run.accounts[1]
        beast = cb.hatch(owner)
        cb.commit(owner, beast, make_word(0))
        cb.mine(U32_MAX - 1 - cb.block_number())
        # The next transaction runs in block 2^32 - 1, the last one a u32 holds.
        r = cb.commit(owner, beast, make_word(1))
        assert r.block_number == U32_MAX and cb.commit_block(beast, 1) == U32_MAX
        with raises_error("LedgerClockOverflow", blockNumber=2**32):
            cb.commit(owner, beast, make_word(2))
        with raises_error("LedgerClockOverflow"):
            cb.commit_many(owner, [beast], [make_word(2)])
        assert cb.window_count(beast) == 2


def test_lineage_ends_after_2_pow_25_windows(anvil: RunningDevnet) -> None:
    cb, owner = anvil.chain, anvil.accounts[1]
    beast = cb.hatch(owner)
    cb.commit(owner, beast, make_word(0))
    base = mapping_slot(beast, artifacts.load("CheckpointLedger").slot("_words"))
    filler = _stored(cb, cb.ledger.address, base)  # window 0 as stored: non-zero
    last = MAX_WINDOWS - 1
    # Windows 0 .. 2^25 - 2 "exist" where the ledger looks (window count probes and window k-1).
    for k in sorted(set(_window_count_probes(last)) | {last - 1}):
        if 0 < k < last:
            _set_slot(cb, base + k, filler)
    assert cb.window_count(beast) == last
    # The last window carries globalStep 128 * 2^25 mod 2^32 = 0 and is committed for real.
    word = make_word(last)
    assert int.from_bytes(word[16:20], "big") == 0
    cb.commit(owner, beast, word)
    assert cb.word(beast, last) == word
    assert cb.window_count(beast) == MAX_WINDOWS
    # The next word would be globalStep 128 again (window 0's): the lineage is full.
    with raises_error("LedgerLineageFull", beastId=beast):
        cb.commit(owner, beast, make_word(0))
    with raises_error("LedgerLineageFull", beastId=beast):
        cb.commit_many(owner, [beast], [make_word(MAX_WINDOWS)])
