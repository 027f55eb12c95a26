"""One beast the node trains: its run directory, its ``beast.json`` and its sample source.

:func:`open_run` reads a run directory the node already has (hatched here, or adopted and
written by :mod:`node.hatching`). A missing genesis row is written again from the hatch data
(genesis is a pure function of it), so a node killed between ``beast.json`` and genesis
recovers on the next open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curriculum.errors import CurriculumError
from kernel.params import KernelParams
from kernel.sources import PublicSource
from kernel.state import KernelState, genesis
from node.beast_meta import BeastMeta
from node.errors import DataError
from node.store import BeastStore


@dataclass
class BeastRun:
    """One beast the node trains: its store, hatch data, sample source and kernel parameters."""

    beast_id: int
    store: BeastStore
    meta: BeastMeta
    source: Any
    params: KernelParams
    _state: KernelState | None = field(default=None, repr=False)

    @property
    def seed_core(self) -> bytes:
        """The beast's seed core (Beast.hatchData)."""
        return self.meta.hatch.seed_core

    @property
    def dataset_commitment(self) -> bytes:
        """The commitment of its private dataset (zero for public sources)."""
        return self.meta.hatch.dataset_commitment

    def latest_state(self) -> KernelState:
        """The newest stored state (cached in memory after the first load)."""
        row = self.store.latest()
        if row is None:
            raise DataError(f"beast {self.beast_id} has no genesis checkpoint in {self.store.root}")
        if self._state is None or self._state.window != row.window:
            self._state = self.store.load_state(row.window)
        return self._state

    def forget(self) -> None:
        """Drop the state kept in memory (node.reconcile dropped windows: read the latest one again)."""
        self._state = None

    def remember(self, state: KernelState) -> None:
        """Keep ``state`` (just persisted) as the cached latest state."""
        self._state = state


def write_genesis(store: BeastStore, meta: BeastMeta, params: KernelParams) -> KernelState | None:
    """Persist the genesis state when the index has none; returns it, or None when it was there."""
    if store.get(0) is not None:
        return None
    g = genesis(meta.hatch.seed_core, params, dataset_commitment=meta.hatch.dataset_root,
                spec_version=meta.hatch.spec_version)
    store.persist(g, None, epoch_seed=meta.hatch.seed_core)
    return g


def open_run(store: BeastStore, params: KernelParams, cache_dir: Path) -> BeastRun:
    """The run of the beast whose run directory ``store`` is (beast.json must exist)."""
    meta = store.read_meta()
    run = BeastRun(store.beast_id, store, meta, build_source(meta, cache_dir), params)
    write_genesis(store, meta, params)
    return run


def build_source(meta: BeastMeta, cache_dir: Path) -> Any:
    """The sample source the beast trains on: public boards, or its private curriculum, built for
    the beast's spec version (a version 2 file must also match the hatch's recordsRoot)."""
    if not meta.is_private:
        return PublicSource()
    if meta.dataset_path is None or meta.secret_path is None:
        missing = "dataset_path" if meta.dataset_path is None else "secret_path"
        raise DataError(f"beast {meta.beast_id}: beast.json lacks {missing}")
    from curriculum.source import load_private_source

    try:
        return load_private_source(meta.dataset_path, meta.secret_path, dataset_commitment=meta.hatch.dataset_commitment,
                                   secret_commitment=meta.hatch.secret_commitment, cache_dir=cache_dir,
                                   spec_version=meta.hatch.spec_version, records_root=meta.hatch.records_root)
    except CurriculumError as exc:
        raise DataError(f"beast {meta.beast_id}: private curriculum unusable: {exc}") from exc


__all__ = ["BeastRun", "build_source", "open_run", "write_genesis"]
