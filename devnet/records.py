"""Contract records that need no web3: SeasonRegistry.Param ids and Beast.HatchData.

Apart from devnet.bindings (which re-exports both) so that code naming a season constant
(devnet.season, the cb-devnet parser) or reading a beast.json (node.beast_meta, `cb-node status`)
does not import web3 and eth-account.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Param(enum.IntEnum):
    """SeasonRegistry.Param (ids are append-only)."""

    WINDOW_STEPS = 0
    BASE_COST = 1
    SLAB_PARAMS = 2
    SPURT_COST = 3
    EPOCH_STEPS = 4
    CHALLENGE_PERIOD = 5
    BOND_MULTIPLIER = 6
    VALIDATOR_QUORUM = 7
    VOTING_PERIOD = 8
    MIN_VALIDATOR_STAKE = 9
    VALIDATOR_WITHDRAW_DELAY = 10
    MAX_DATASET_BYTES = 11
    WRONG_VOTE_SLASH_BPS = 12


@dataclass(frozen=True)
class HatchData:
    """Beast.HatchData: immutable data fixed at hatch."""

    seed_core: bytes
    dataset_commitment: bytes  # C_dataset = keccak256(dataset file); zero = public sources only
    secret_commitment: bytes
    spec_version: int  # the kernel spec version the beast trains and replays under
    hatch_block: int
    # R_dataset of the dataset file (spec version 2, docs/PROTOCOL.md §2); zero for a public beast and
    # for every version 1 beast. Last and defaulted: a beast.json written before it existed reads as zero.
    records_root: bytes = b"\x00" * 32

    @property
    def dataset_root(self) -> bytes:
        """What the beast's kernel states carry at offset 64: C_dataset under version 1, R_dataset under 2."""
        return self.dataset_commitment if self.spec_version == 1 else self.records_root

    @classmethod
    def from_abi(cls, value: Any) -> HatchData:
        """The struct ``Beast.hatchData`` returned (a tuple, or a dict keyed by field name)."""
        if isinstance(value, Mapping):
            value = (value["seedCore"], value["datasetCommitment"], value["secretCommitment"], value["specVersion"],
                     value["hatchBlock"], value["recordsRoot"])
        return cls(bytes(value[0]), bytes(value[1]), bytes(value[2]), int(value[3]), int(value[4]), bytes(value[5]))
