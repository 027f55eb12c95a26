"""The watcher's verified lineage tips on disk, so a restarted watcher does not replay every beast from genesis.

Without it a watcher started again re-verified every committed window of every beast (one window's
replay costs what training it cost), hours for long-lived beasts. Beside the game record
(``RECORD.lineages/``, folder 0700) one JSON file per beast holds its verified tip: the checkpoint
after the last window whose word the watcher found honest (or genesis), as the state blob of SPEC
§6.3 in hex, and the block that window was committed in, written atomically (kernel.host.atomic_write,
mode 0600) whenever the tip moves. The window count the tip stands at is the state's own ``window``.

A cached tip is only a starting point, never trusted beyond what the chain confirms:
:meth:`validator.lineage.Lineage.follow` goes back to genesis as soon as the chain's word below the
tip is not the one committed in that block (a rewind, another chain behind the same record name) --
the same rule the watcher applies between two rounds in memory. A file that does not decode,
or holds another beast's state (seed core, dataset commitment or spec version not the beast's
genesis'), is ignored and the lineage starts at genesis. So is every file of a beast the record
still has a challenge or game of ours on below the cached tip: playing it needs the start state of
that window, which only a replay from genesis rebuilds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kernel.errors import KernelError
from kernel.host import atomic_write
from kernel.state import KernelState, decode_state_blob, encode_state_blob

VERSION = 1  # of a tip file


class LineageCache:
    """One state file per beast in ``<record>.lineages/`` (module docstring)."""

    def __init__(self, record_path: str | os.PathLike[str]) -> None:
        record = Path(record_path)
        self.folder = record.with_name(record.name + ".lineages")
        self._saved: dict[int, tuple[int, int | None]] = {}  # beast -> (window, block) of the tip last written

    def path(self, beast: int) -> Path:
        return self.folder / f"beast-{beast}.json"

    def load(self, beast: int, genesis: KernelState) -> tuple[KernelState | None, int | None, str | None]:
        """(the cached tip of ``beast``, its window's commit block, None), or (None, None, why it is not used;
        None when there is no file)."""
        try:
            raw = self.path(beast).read_bytes()
        except FileNotFoundError:
            return None, None, None
        except OSError as exc:
            return None, None, f"unreadable: {exc.strerror or exc}"
        try:
            doc = json.loads(raw)
            if doc.get("version") != VERSION or doc.get("beast") != beast:
                return None, None, f"not this watcher's tip of beast {beast} (version {doc.get('version')!r})"
            block = doc["tipBlock"]
            if block is not None and (not isinstance(block, int) or block < 0):
                return None, None, f"a bad tipBlock {block!r}"
            state = decode_state_blob(bytes.fromhex(doc["state"]))
        except (KernelError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return None, None, f"not a lineage tip: {type(exc).__name__}: {exc}"
        mine = (genesis.seed_core, genesis.dataset_commitment, genesis.spec_version, genesis.params)
        if (state.seed_core, state.dataset_commitment, state.spec_version, state.params) != mine:
            return None, None, "another beast's state (seed core, dataset, spec version or parameters differ)"
        if state.step != 0 or (block is None) != (state.window == 0):
            return None, None, "not a checkpoint with its commit block"
        self._saved[beast] = (state.window, block)
        return state, block, None

    def save(self, beast: int, tip: KernelState, tip_block: int | None) -> None:
        """Write ``tip`` (its window committed in ``tip_block``; None at genesis) as the beast's verified tip,
        unless it is the one on disk."""
        key = (tip.window, tip_block)
        if self._saved.get(beast) == key:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        doc = {"version": VERSION, "beast": beast, "window": tip.window, "tipBlock": tip_block,
               "state": encode_state_blob(tip).hex()}
        atomic_write(self.path(beast), json.dumps(doc).encode())
        self._saved[beast] = key


__all__ = ["LineageCache"]
