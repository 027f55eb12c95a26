"""EIP-2930 access lists for checkpoint commits.

Why: every window of a commit touches three storage slots nobody touched before in the
transaction: its own slot in the ledger, window k-1's slot (the order check) and the beast's
owner slot in Beast (the authorization). Cold, each access costs 2,100 gas; named in the
transaction's access list it costs 1,900 up front plus a 100-gas warm access. Listing an address
costs 2,400, and the ledger is already warm as the transaction's target, so the list only pays
from about eight windows per transaction on; :func:`commit_access_list` returns no list below
that break-even. Slots come from the storage layout in the committed artifacts, so a contract
change cannot silently desynchronise them; a wrong list would only cost gas, never correctness.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from eth_utils import keccak, to_checksum_address

from kernel.payload import WINDOW_STEPS
from devnet import artifacts

# EIP-2929/2930 prices (Berlin and later).
COLD_SLOAD = 2_100
WARM_ACCESS = 100
LIST_KEY = 1_900
LIST_ADDRESS = 2_400
COLD_ACCOUNT = 2_600

AccessList = list[dict[str, object]]


def window_index(word: bytes) -> int:
    """Window k that a checkpoint word commits: ((globalStep - 128) mod 2^32) / 128."""
    global_step = int.from_bytes(word[16:20], "big")
    return ((global_step - WINDOW_STEPS) % 2**32) // WINDOW_STEPS


@functools.lru_cache(maxsize=1 << 16)
def mapping_slot(key: int | str, slot: int) -> int:
    """Solidity's slot of ``mapping[key]`` for a mapping at ``slot`` (uint256 or address key); cached: a node
    commits for the same beasts every round, and each keccak through eth_utils costs about 0.4 ms of Python."""
    k = int(key, 16) if isinstance(key, str) else key
    return int.from_bytes(keccak(k.to_bytes(32, "big") + slot.to_bytes(32, "big")), "big")


def _key(slot: int) -> str:
    return "0x" + (slot % 2**256).to_bytes(32, "big").hex()


def commit_slots(sender: str, items: Sequence[tuple[int, bytes]]) -> tuple[list[int], list[int]]:
    """The ledger slots and Beast slots a commit of ``items`` = [(beast_id, word)] by ``sender`` reads.

    Ledger: each window's slot and window k-1's (k > 0) in the per-beast array ``_words``, and the
    sender's ``_deposits`` entry. Beast: each beast's ``_owners`` entry (a trainer's commit also
    reads ``_trainer``, not listed: the list is for the usual case of the owner committing).
    """
    ledger, beast = artifacts.load("CheckpointLedger"), artifacts.load("Beast")
    words_slot, owners_slot = ledger.slot("_words"), beast.slot("_owners")
    ledger_slots: list[int] = []
    beast_slots: list[int] = []
    for beast_id, word in items:
        k = window_index(word)
        base = mapping_slot(beast_id, words_slot)
        ledger_slots += [base + k] + ([base + k - 1] if k else [])
        beast_slots.append(mapping_slot(beast_id, owners_slot))
    ledger_slots.append(mapping_slot(sender, ledger.slot("_deposits")))
    return list(dict.fromkeys(ledger_slots)), list(dict.fromkeys(beast_slots))


def list_saving(ledger_slots: int, beast_slots: int) -> int:
    """Gas a list with these many slots saves (negative: it costs more than it saves)."""
    per_slot = COLD_SLOAD - (LIST_KEY + WARM_ACCESS)
    return per_slot * (ledger_slots + beast_slots) + (COLD_ACCOUNT - LIST_ADDRESS) - LIST_ADDRESS


def commit_access_list(ledger: str, beast: str, sender: str, items: Sequence[tuple[int, bytes]]) -> AccessList | None:
    """The access list for committing ``items`` from ``sender``, or None when it would not pay."""
    ledger_slots, beast_slots = commit_slots(sender, items)
    if list_saving(len(ledger_slots), len(beast_slots)) <= 0:
        return None
    return [
        {"address": to_checksum_address(ledger), "storageKeys": [_key(s) for s in ledger_slots]},
        {"address": to_checksum_address(beast), "storageKeys": [_key(s) for s in beast_slots]},
    ]
