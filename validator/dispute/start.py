"""The start state of a window check (checkpoint K-1): from a file, a trainer node, or rebuilt from genesis.

Rebuilding replays windows ``1 .. K - 1`` with the masks and learning-rate shifts of their
committed words, checking every h128 against the chain. This needs nothing but public data
(and, for a private beast, the dataset and owner secret), so a challenger never depends on the
trainer. If an earlier window does not reproduce, the rebuild stops there and reports that
window: it is the one to dispute.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from devnet.bindings import ChainBeasts
from kernel import host
from kernel.errors import KernelError
from kernel.payload import Payload
from kernel.state import KernelState, encode_state_blob, genesis
from validator.dispute.connection import reader
from validator.dispute.curriculum import Curriculum, source_of
from validator.dispute.errors import ChainDataError, DataError, UsageError
from validator.dispute.window import WindowOnChain
from validator.errors import ValidatorError
from validator.replay import ReplayReport, ReplayRequest, replay

MAX_STATE_FILE_BYTES: Final = 320 * 1024


def run_replay(req: ReplayRequest, backend: str, max_dataset_bytes: int) -> ReplayReport:
    """The validator library's replay of ``req``; DataError when it refuses the inputs.

    A dataset over the season's limit ``max_dataset_bytes`` is replayed too: it is the file the beast
    committed to (load_curriculum read it under the format's bound and said it is over the season's),
    and a step proof opens one record of it whatever its size (SPEC §10.6 *Fault*)."""
    limit = max(max_dataset_bytes, len(req.dataset or b""))
    try:
        return replay(req, backend=backend, max_dataset_bytes=limit)
    except ValidatorError as exc:
        raise DataError(f"the replay refused its inputs: {exc}") from None


@dataclass(frozen=True)
class StartState:
    """Checkpoint K-1 as a blob, where it came from, and an earlier divergent window if the rebuild found one."""

    blob: bytes | None = field(repr=False)
    origin: str
    earlier_divergence: int | None = None  # window j < K whose committed word does not reproduce
    earlier_report: ReplayReport | None = None



def rebuild_start(chain: ChainBeasts, w: WindowOnChain, cur: Curriculum | None, backend: str = "numpy") -> StartState:
    """Replay windows 1..K-1 from genesis with their committed masks and lr shifts, checking each h128."""
    from kernel.replay import replay_window

    try:
        state: KernelState = genesis(w.hatch.seed_core, w.params, dataset_commitment=w.hatch.dataset_root,
                                     spec_version=w.hatch.spec_version)
    except KernelError as exc:
        raise ChainDataError(f"cannot build the genesis of beast {w.beast_id}: {exc}") from None
    if w.window == 1:
        return StartState(encode_state_blob(state), "genesis")
    source = source_of(cur, w.hatch.spec_version)
    rd = reader(chain)
    for j in range(1, w.window):
        word_j = rd.committed_word(w.beast_id, j)
        seed = rd.epoch_seed(w.beast_id, state.params.epoch_of_step(state.global_step))
        result = None
        # a malformed word or an illegal mask/lr_shift: the replay below reports why
        with contextlib.suppress(KernelError):
            result = replay_window(state, source, Payload.unpack(word_j), epoch_seed=seed, backend=backend)
        if result is None or result.payload.pack() != word_j:
            # Let the validator library say what differs (fields, reason).
            req = ReplayRequest(w.commitments, j, start_state=encode_state_blob(state), prev_h128=state.h128(),
                                committed_word=word_j, epoch_seed=seed, dataset=cur.dataset if cur else None,
                                owner_secret=cur.owner_secret if cur else None)
            report = run_replay(req, backend, w.max_dataset_bytes)
            return StartState(None, f"rebuilt from genesis up to window {j}", earlier_divergence=j, earlier_report=report)
        state = result.state
    return StartState(encode_state_blob(state), f"rebuilt from genesis ({w.window - 1} windows replayed)")


def fetch_start(chain: ChainBeasts, w: WindowOnChain, cur: Curriculum | None, *, state_file: Path | None = None,
                node: str | None = None, backend: str = "numpy", rebuild: bool = True) -> StartState:
    """Checkpoint K-1 from a file, a trainer node, or rebuilt from genesis (module docstring)."""
    if state_file is not None:
        try:  # kernel.host.read_file: a FIFO or device is refused, not waited on
            blob = host.read_file(state_file, limit=MAX_STATE_FILE_BYTES, what="state file")
        except host.HostError as exc:
            raise DataError(f"{exc}; not a checkpoint" if isinstance(exc, host.FileTooLargeError) else str(exc)) from None
        return StartState(blob, f"state file {state_file}")
    if node is not None:
        from validator.node_client import NodeClient

        client = NodeClient(timeout_s=10.0)
        try:
            blob = client.get_state(node, w.beast_id, w.window - 1)
        except ValidatorError as exc:
            if not rebuild:
                raise ChainDataError(f"cannot get checkpoint {w.window - 1} from the trainer node: {exc}") from None
            start = rebuild_start(chain, w, cur, backend)
            return StartState(start.blob, f"{start.origin}; trainer node {node} failed: {exc}",
                              start.earlier_divergence, start.earlier_report)
        finally:
            client.close()
        return StartState(blob, f"trainer node {node}")
    if not rebuild:
        raise UsageError("no start state: give --state-file or --node")
    return rebuild_start(chain, w, cur, backend)


__all__ = ["MAX_STATE_FILE_BYTES", "StartState", "fetch_start", "rebuild_start", "run_replay"]
