"""What the chain says about one committed window before a challenge: its word, lineage, status and bond.

Committed data comes through the validator's reader (:func:`validator.dispute.connection.reader`);
the bond and whether the window can still be challenged are the bindings' rules (``ChainBeasts.challenge_bond``,
``devnet.bindings.challenge_opens``), which mirror the contracts.
"""

from __future__ import annotations

from dataclasses import dataclass

from devnet.bindings import ChainBeasts, HatchData, Param, WindowStatus, challenge_opens
from kernel.errors import KernelError
from kernel.params import KernelParams
from kernel.payload import Payload
from kernel.state import ZERO32, genesis
from validator.dispute.connection import chain_call, reader
from validator.dispute.errors import ChainDataError, UsageError
from validator.replay import BeastCommitments


@dataclass(frozen=True)
class WindowOnChain:
    """What the chain says about window ``window`` (K >= 1) of a beast, and what a challenge costs."""

    beast_id: int
    window: int  # K, the node's numbering
    hatch: HatchData
    word: bytes  # the committed word
    payload: Payload | None  # None when the committed word does not even parse
    prev_h128: bytes  # h128 of checkpoint K-1 (genesis h128 at K == 1)
    epoch_seed: bytes
    status: WindowStatus
    commit_block: int
    challenge_deadline: int  # last block (inclusive) in which challenge is accepted
    block: int  # the chain's latest block when read
    bond: int  # ENERGY wei a challenge posts
    params: KernelParams
    window_count: int
    max_dataset_bytes: int  # the season's limit on a dataset file

    @property
    def index(self) -> int:
        """The ledger's index of the window (K - 1)."""
        return self.window - 1

    @property
    def private(self) -> bool:
        return self.hatch.dataset_commitment != ZERO32

    @property
    def commitments(self) -> BeastCommitments:
        return BeastCommitments(self.hatch.seed_core, self.hatch.dataset_commitment, self.hatch.secret_commitment,
                                self.params, spec_version=self.hatch.spec_version, records_root=self.hatch.records_root)

    @property
    def challengeable(self) -> bool:
        """True when a challenge sent now lands inside the challenge period (the bindings' rule). The
        commitment goes first, so the challenge lands two blocks on at the earliest."""
        return challenge_opens(self.status, self.challenge_deadline, self.block + 2)

    def why_not_challengeable(self) -> str:
        if self.status not in (WindowStatus.COMMITTED, WindowStatus.CHALLENGED):
            return f"window {self.window} of beast {self.beast_id} is {self.status.name.lower()}, not committed"
        return (f"the challenge period of window {self.window} of beast {self.beast_id} ended at block "
                f"{self.challenge_deadline} (the chain is at block {self.block})")


def read_window(chain: ChainBeasts, beast_id: int, window: int) -> WindowOnChain:
    """Read hatch data, the committed word, the previous h128, the epoch seed and the bond."""
    if beast_id < 1:
        raise UsageError(f"beast id must be >= 1, got {beast_id}")
    if window < 1:
        raise UsageError(f"window must be >= 1 (window 0 is genesis and is never committed), got {window}")
    rd = reader(chain)
    hatch = rd.hatch(beast_id)
    count = chain_call("reading the window count", lambda: chain.window_count(beast_id))
    if window > count:  # a window a slash took off the lineage keeps its word until clearVoided: still readable
        try:
            rd.committed_word(beast_id, window)
        except ChainDataError:
            raise ChainDataError(f"window {window} of beast {beast_id} is not committed (the ledger holds windows "
                                 f"1..{count})") from None
    params = rd.season_params()
    word = rd.committed_word(beast_id, window)
    claim = rd.window_claim(beast_id, window)  # the previous h128 and the epoch seed
    try:
        payload: Payload | None = Payload.unpack(word)
    except KernelError:
        payload = None
    if claim.prev_h128 is None:
        try:
            prev = genesis(hatch.seed_core, params, dataset_commitment=hatch.dataset_root,
                           spec_version=hatch.spec_version).h128()
        except KernelError as exc:
            raise ChainDataError(f"cannot build the genesis of beast {beast_id}: {exc}") from None
    else:
        prev = claim.prev_h128
    idx = window - 1
    status = chain_call("reading the window status", lambda: chain.window_status(beast_id, idx))
    commit_block = chain_call("reading the commit block", lambda: chain.commit_block(beast_id, idx))
    deadline = chain_call("reading the challenge deadline", lambda: chain.challenge_deadline(beast_id, idx))
    bond = chain_call("reading the bond multiplier", lambda: chain.challenge_bond(word))
    block = chain_call("reading the block number", chain.block_number)
    max_bytes = chain_call("reading the dataset limit", lambda: chain.param(Param.MAX_DATASET_BYTES))
    return WindowOnChain(beast_id, window, hatch, word, payload, prev, claim.epoch_seed, status, commit_block, deadline,
                         block, bond, params, count, max_bytes)


__all__ = ["WindowOnChain", "read_window"]
