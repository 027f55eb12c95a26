"""Hatch transactions recorded before they are broadcast.

Why: a beast exists once its hatch transaction is mined, but the node only knows it once its run
directory is written. A node killed in between would leave a beast it never trains, and a user
who runs the hatch again would pay for a second one. So the signed hatch transaction (hash,
nonce, raw bytes) and the curriculum files it commits to are written to
``DATA_DIR/hatching/<tx hash>.json`` (atomically, mode 0600) *before* it is broadcast, and removed
once the run directory exists. On start the node finishes every hatch still recorded there
(:meth:`node.trainer.Engine.recover_hatches`): it rebroadcasts the same signed bytes if the chain
never saw them, waits for the receipt, and writes the run directory. The records hold file paths
and commitments, never the owner secret itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kernel.host import HostError, atomic_write, fsync_dir, read_file
from node.signed_tx import SignedTx
from node.errors import DataError

JOURNAL_DIR = "hatching"
MAX_RECORD_BYTES = 1 << 20  # one signed hatch transaction and two paths


@dataclass(frozen=True)
class PendingHatch:
    """One signed hatch transaction and what the run directory needs once it is mined."""

    tx_hash: str
    nonce: int
    raw: str
    gas: int
    dataset_commitment: str  # 0x-hex, 32 bytes
    secret_commitment: str
    dataset_path: str | None = None  # absolute paths of a private curriculum, else None
    secret_path: str | None = None

    @property
    def signed(self) -> SignedTx:
        return SignedTx(self.tx_hash, self.nonce, self.raw, self.gas)


class HatchJournal:
    """The ``hatching/`` folder of a node's data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / JOURNAL_DIR

    def record(self, hatch: PendingHatch) -> None:
        """Durably record ``hatch`` (call before broadcasting it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self._path(hatch.tx_hash), (json.dumps(asdict(hatch), indent=2, sort_keys=True) + "\n").encode())

    def pending(self) -> list[PendingHatch]:
        """Every recorded hatch, oldest nonce first; DataError names a record that cannot be read."""
        if not self.folder.is_dir():
            return []
        out = []
        for path in sorted(self.folder.glob("0x*.json")):
            try:
                raw = json.loads(read_file(path, limit=MAX_RECORD_BYTES, what="pending hatch record"))
                out.append(PendingHatch(**raw))
            except (HostError, ValueError, TypeError) as exc:
                raise DataError(f"cannot read the pending hatch record {path}: {exc} (move it away to skip it; "
                                "its transaction hash is the file name)") from exc
        return sorted(out, key=lambda h: h.nonce)

    def done(self, tx_hash: str) -> None:
        """Forget a hatch whose run directory exists (or that can never complete)."""
        try:
            os.unlink(self._path(tx_hash))
        except FileNotFoundError:
            return
        fsync_dir(self.folder)

    def _path(self, tx_hash: str) -> Path:
        return self.folder / f"{tx_hash}.json"
