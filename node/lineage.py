"""Lineage you can check: what produced each checkpoint, and ``cb-node verify`` re-deriving the stored chain of states.

**Metadata.** Every window the node persists carries ``produced_by`` in its index row (JSON):

    node            the chainbeasts package version that trained it
    spec            the spec version of the state (kernel rules it was trained under)
    backend         "numpy" or "torch", and "batched" when kernel.batched trained it with other beasts
    dataset         Beast.hatchData's datasetCommitment (C_dataset, zero for public sources)
    records_root    R_dataset (spec v2 beasts with a dataset; absent otherwise)
    config          sha256 (hex) of the canonical JSON of the training configuration: backend, batched,
                    the beast's lr schedule (:func:`config_hash`); equal hashes = equally configured

**Verification.** :func:`verify_lineage` starts from genesis, re-derived from the hatch data and
checked against the stored genesis, or from any kept checkpoint (its blob must hash to the
index's h128, and that h128 must be the chain's word's). Then for every later window it takes the
committed word (the chain's, or the index's for a window not on chain yet), checks the index
holds the same word and the ledger's epoch seed, retrains the window with the word's mask and
lr_shift, and compares the result's word and h128 with both, and with the stored checkpoint when
kept. The first disagreement raises :class:`LineageError` (exit 1): it fails closed, nothing later
is trusted. Unreadable local data is a DataError (3), an unreachable chain a ChainError (4).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from kernel.host import ExitCode
from kernel.params import KernelParams
from kernel.payload import Payload, PayloadError
from kernel.replay import mismatched_fields
from kernel.state import KernelState, genesis
from kernel.train import train_window
from kernel.window_settings import settings_problem, window_epoch
from node.beast_meta import BeastMeta
from node.errors import ChainError, DataError, NodeError
from node.store import PERSISTED, SENT, BeastStore


class LineageError(NodeError):
    """Raised at the first window whose stored lineage disagrees with the chain or with its re-derivation."""

    exit_code = ExitCode.NO


class ChainView(Protocol):
    """What verification reads from the chain, in the node's window numbering (window N >= 1 = N-th commit)."""

    def window_count(self, beast_id: int) -> int: ...
    def word(self, beast_id: int, window: int) -> bytes: ...
    def epoch_seed(self, beast_id: int, epoch: int) -> bytes: ...
    def kernel_params(self) -> KernelParams: ...


class BindingsView:
    """A :class:`ChainView` over devnet.bindings.ChainBeasts (whose ledger indices count from 0); any failure
    of a call is a ChainError (exit 4), never a verdict."""

    def __init__(self, cb: Any) -> None:
        self.cb = cb

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - web3, devnet and socket errors alike: the chain did not answer
            raise ChainError(f"{what}: {exc}") from exc

    def window_count(self, beast_id: int) -> int:
        return int(self._call("CheckpointLedger.windowCount", lambda: self.cb.window_count(beast_id)))

    def word(self, beast_id: int, window: int) -> bytes:
        return bytes(self._call("CheckpointLedger.word", lambda: self.cb.word(beast_id, window - 1)))

    def epoch_seed(self, beast_id: int, epoch: int) -> bytes:
        return bytes(self._call("CheckpointLedger.epochSeed", lambda: self.cb.epoch_seed(beast_id, epoch)))

    def kernel_params(self) -> KernelParams:
        return self._call("SeasonRegistry.value", self.cb.kernel_params)  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def node_version() -> str:
    """The installed chainbeasts package version ("unknown" outside an installed tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chainbeasts")
    except PackageNotFoundError:
        return "unknown"


def config_hash(config: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON (sorted keys, no spaces) of a training configuration."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def produced_by(meta: BeastMeta, state: KernelState, backend: str, batched: bool, config: dict[str, Any]) -> dict[str, Any]:
    """The lineage metadata of a checkpoint ``state`` the node trained (module docstring)."""
    doc: dict[str, Any] = {"node": node_version(), "spec": int(getattr(state, "spec_version", 1)),
                           "backend": f"{backend}+batched" if batched else backend,
                           "dataset": "0x" + meta.hatch.dataset_commitment.hex(), "config": config_hash(config)}
    root = getattr(meta.hatch, "records_root", None)
    if root is not None and any(root):
        doc["records_root"] = "0x" + bytes(root).hex()
    return doc


def genesis_of(meta: BeastMeta, params: KernelParams) -> KernelState:
    """The genesis state of a beast from its hatch data alone (SPEC §6.4; v2: with R_dataset and the version)."""
    h = meta.hatch
    if "spec_version" in inspect.signature(genesis).parameters:  # spec v2 kernels
        root = getattr(h, "dataset_root", h.dataset_commitment)
        return genesis(h.seed_core, params, dataset_commitment=root, spec_version=h.spec_version)  # type: ignore[call-arg]
    return genesis(h.seed_core, params, dataset_commitment=h.dataset_commitment)


@dataclass
class LineageReport:
    """What :func:`verify_lineage` checked."""

    beast_id: int
    from_window: int
    to_window: int
    on_chain: int | None  # windows the ledger holds; None when the chain was not consulted
    retrained: int = 0
    kept_checked: int = 0  # stored checkpoint files compared with the re-derived state
    producers: dict[str, int] = field(default_factory=dict)  # "node x / spec y / backend" -> windows

    def to_json(self) -> dict[str, Any]:
        """The JSON view of ``cb-node verify --json``."""
        return {"beastId": self.beast_id, "fromWindow": self.from_window, "toWindow": self.to_window,
                "onChain": self.on_chain, "retrained": self.retrained, "keptChecked": self.kept_checked,
                "producers": self.producers, "ok": True}


def verify_lineage(
    store: BeastStore,
    meta: BeastMeta,
    source: Any,
    chain: ChainView | None,
    *,
    from_window: int = 0,
    backend: str = "numpy",
    progress: Callable[[int], None] | None = None,
) -> LineageReport:
    """Re-derive the stored lineage of a beast from ``from_window`` (module docstring); raises LineageError at
    the first disagreement. ``chain`` None compares with the local index only (the words it recorded)."""
    bid = store.beast_id
    latest = store.latest()
    if latest is None:
        raise DataError(f"beast {bid} has no stored windows")
    count = chain.window_count(bid) if chain is not None else None
    if count is not None and count > latest.window:
        raise LineageError(f"beast {bid}: the ledger holds {count} windows, this node only {latest.window}")
    if not 0 <= from_window <= latest.window:
        raise DataError(f"beast {bid}: --from-window must be 0..{latest.window}, got {from_window}")

    def word_of(w: int) -> bytes:
        row = store.get(w)
        if row is None:
            raise LineageError(f"beast {bid} window {w}: the index has no row for it")
        if count is None or w > count:
            if count is not None and row.status not in (PERSISTED, SENT):
                raise LineageError(f"beast {bid} window {w} is {row.status} locally, the ledger holds only {count}")
            return row.word
        chain_word = chain.word(bid, w)  # type: ignore[union-attr]
        if chain_word != row.word:
            raise LineageError(f"beast {bid} window {w}: the index holds word 0x{row.word.hex()}, "
                               f"the ledger 0x{chain_word.hex()}")
        return chain_word

    state = _start(store, meta, chain, from_window, word_of)
    report = LineageReport(bid, from_window, latest.window, count)
    for w in range(from_window + 1, latest.window + 1):
        word = word_of(w)
        row = store.get(w)
        assert row is not None  # word_of checked it
        try:
            committed = Payload.unpack(word)
        except PayloadError as exc:
            raise LineageError(f"beast {bid} window {w}: the committed word is malformed: {exc}") from None
        problem = settings_problem(state, committed.active_mask, committed.lr_shift)
        if problem is not None:
            raise LineageError(f"beast {bid} window {w}: {problem.reason}")
        seed = chain.epoch_seed(bid, window_epoch(state)) if chain is not None else row.epoch_seed
        if seed != row.epoch_seed:
            raise LineageError(f"beast {bid} window {w}: trained with epoch seed 0x{row.epoch_seed.hex()}, "
                               f"the ledger's is 0x{seed.hex()}")
        result = train_window(state, source, epoch_seed=seed, active_mask=committed.active_mask,
                              lr_shift=committed.lr_shift, backend=backend)
        fields = mismatched_fields(result.payload, committed)
        if fields:
            raise LineageError(f"beast {bid} window {w}: re-derived word differs in {', '.join(fields)} "
                               f"(re-derived 0x{result.payload.pack().hex()}, committed 0x{word.hex()})")
        if result.state.h128() != row.h128:
            raise LineageError(f"beast {bid} window {w}: re-derived h128 0x{result.state.h128().hex()}, "
                               f"the index says 0x{row.h128.hex()}")
        if _kept(store, row.file):
            kept = store.load_state(w)  # its blob hashes to the index's h128 (DataError otherwise)
            if kept.to_bytes() != result.state.to_bytes():
                raise LineageError(f"beast {bid} window {w}: the stored checkpoint differs from the re-derived state")
            report.kept_checked += 1
        by = store.produced_by(w)
        if by:
            if by.get("dataset") != "0x" + meta.hatch.dataset_commitment.hex():
                raise LineageError(f"beast {bid} window {w}: produced with dataset {by.get('dataset')}, the beast's "
                                   f"commitment is 0x{meta.hatch.dataset_commitment.hex()}")
            if by.get("spec") != int(getattr(result.state, "spec_version", 1)):
                raise LineageError(f"beast {bid} window {w}: recorded as spec {by.get('spec')}, re-derived under "
                                   f"spec {getattr(result.state, 'spec_version', 1)}")
            key = f"node {by.get('node')} / spec {by.get('spec')} / {by.get('backend')} / config {str(by.get('config'))[:12]}"
        else:
            key = "(no metadata: an older node)"
        report.producers[key] = report.producers.get(key, 0) + 1
        report.retrained += 1
        state = result.state
        if progress is not None:
            progress(w)
    return report


def _kept(store: BeastStore, name: str) -> bool:
    return bool(name) and (store.checkpoints / name).is_file()


def _start(store: BeastStore, meta: BeastMeta, chain: ChainView | None, from_window: int,
           word_of: Callable[[int], bytes]) -> KernelState:
    """The verified start state: genesis re-derived from the hatch data, or a kept checkpoint the chain agrees with."""
    bid = store.beast_id
    row = store.get(from_window)
    if row is None:
        raise LineageError(f"beast {bid} window {from_window}: the index has no row for it")
    if from_window == 0:
        params = chain.kernel_params() if chain is not None else store.load_state(0).params if _kept(store, row.file) \
            else None
        if params is None:
            raise DataError(f"beast {bid}: the genesis checkpoint is not kept and no chain gives the season's parameters")
        g = genesis_of(meta, params)
        if g.h128() != row.h128:
            raise LineageError(f"beast {bid}: genesis re-derived from the hatch data hashes to 0x{g.h128().hex()}, "
                               f"the index says 0x{row.h128.hex()}")
        return g
    if not _kept(store, row.file):
        raise DataError(f"beast {bid} window {from_window}: its checkpoint is not kept (pruned); start from "
                        "genesis or a kept window")
    state = store.load_state(from_window)
    word = word_of(from_window)
    if Payload.unpack(word).h128 != row.h128:
        raise LineageError(f"beast {bid} window {from_window}: the kept checkpoint hashes to 0x{row.h128.hex()}, "
                           f"the committed word says 0x{Payload.unpack(word).h128.hex()}")
    return state


__all__ = ["BindingsView", "ChainView", "LineageError", "LineageReport", "config_hash", "genesis_of", "node_version",
           "produced_by", "verify_lineage"]
