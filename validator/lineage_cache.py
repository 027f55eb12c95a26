"""The watcher's verified lineage tips on disk, so a restarted watcher does not replay every beast from genesis.

Without it a watcher started again re-verified every committed window of every beast (one window's
replay costs what training it cost), hours for long-lived beasts. Beside the game record
(``RECORD.lineages/``, folder 0700) one file per beast holds the state of its verified tip: the
checkpoint after the last window whose word the watcher found honest (or genesis), as the state
blob of SPEC §6.3, written atomically (kernel.host.atomic_write, mode 0600) whenever the tip moves.
The window count the tip stands at is the state's own ``window`` field.

A cached tip is only a starting point, never trusted beyond what the chain confirms:
:meth:`validator.lineage.Lineage.follow` goes back to genesis as soon as the chain's word below the
tip does not carry the tip's h128 (a rewind, another word, another chain behind the same record
name) -- the same rule the watcher applies between two rounds in memory. A file that does not decode,
or holds another beast's state (seed core, dataset commitment or spec version not the beast's
genesis'), is ignored and the lineage starts at genesis. So is every file of a beast the record
still has a challenge or game of ours on below the cached tip: playing it needs the start state of
that window, which only a replay from genesis rebuilds.
"""

from __future__ import annotations

import os
from pathlib import Path

from kernel.errors import KernelError
from kernel.host import atomic_write
from kernel.state import KernelState, decode_state_blob, encode_state_blob


class LineageCache:
    """One state file per beast in ``<record>.lineages/`` (module docstring)."""

    def __init__(self, record_path: str | os.PathLike[str]) -> None:
        record = Path(record_path)
        self.folder = record.with_name(record.name + ".lineages")
        self._saved: dict[int, bytes] = {}  # beast -> h128 of the tip last written (or read)

    def path(self, beast: int) -> Path:
        return self.folder / f"beast-{beast}.cbs.zst"

    def load(self, beast: int, genesis: KernelState) -> tuple[KernelState | None, str | None]:
        """(the cached tip of ``beast``, None) or (None, why it is not used; None when there is no file)."""
        try:
            blob = self.path(beast).read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"unreadable: {exc.strerror or exc}"
        try:
            state = decode_state_blob(blob)
        except (KernelError, ValueError) as exc:
            return None, f"not a state blob: {exc}"
        mine = (genesis.seed_core, genesis.dataset_commitment, genesis.spec_version, genesis.params)
        if (state.seed_core, state.dataset_commitment, state.spec_version, state.params) != mine:
            return None, "another beast's state (seed core, dataset, spec version or parameters differ)"
        if state.step != 0:
            return None, "a mid-window state, not a checkpoint"
        self._saved[beast] = state.h128()
        return state, None

    def save(self, beast: int, tip: KernelState) -> None:
        """Write ``tip`` as the beast's verified tip unless that tip is already the one on disk."""
        h = tip.h128()
        if self._saved.get(beast) == h:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.path(beast), encode_state_blob(tip))
        self._saved[beast] = h


__all__ = ["LineageCache"]
