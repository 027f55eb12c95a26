"""Local cache of decompressed, validated datasets, keyed by their commitment C_dataset.

The cache only saves decompression and record validation; it is never trusted blindly:
an entry names its commitment and carries keccak256 of its content, and an entry that
does not match is deleted and rebuilt from the dataset file. Entries hold private data,
so the folder is created 0700 and files 0600. Writing is best-effort: a cache that
cannot be written just means no caching.

Entry layout (not consensus-relevant): ``b"CBDC"`` | version u16 BE (1) | C_dataset (32) |
keccak256(content) (32) | content, where content is the decompressed dataset (SPEC §10.2).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Final

from curriculum.dataset import MAX_CONTENT_SIZE
from kernel.hashing import keccak256
from kernel.host import FileTooLargeError, HostError, atomic_write, read_file

ENV_CACHE_DIR: Final = "CHAINBEASTS_CACHE_DIR"
ENTRY_MAGIC: Final = b"CBDC\x00\x01"
_PREFIX_SIZE: Final = len(ENTRY_MAGIC) + 64

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$CHAINBEASTS_CACHE_DIR`` when set, else ``~/.cache/chainbeasts``."""
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env) if env else Path.home() / ".cache" / "chainbeasts"


class DatasetCache:
    """Decompressed datasets stored under ``<root>/datasets/<C_dataset hex>.cbdc``."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.folder = self.root / "datasets"

    def path_for(self, commitment: bytes) -> Path:
        """Where the entry for ``commitment`` lives."""
        return self.folder / f"{commitment.hex()}.cbdc"

    def get(self, commitment: bytes) -> bytes | None:
        """The cached content for ``commitment``, or None (a bad entry is deleted)."""
        path = self.path_for(commitment)
        try:  # kernel.host.read_file: a FIFO planted in the cache is refused, not waited on
            entry = read_file(path, limit=_PREFIX_SIZE + MAX_CONTENT_SIZE, what="dataset cache entry")
        except FileTooLargeError:
            entry = b""  # over the limit: corrupt, deleted below
        except HostError:
            return None
        content = entry[_PREFIX_SIZE:]
        if (
            entry[: len(ENTRY_MAGIC)] != ENTRY_MAGIC
            or entry[len(ENTRY_MAGIC) : len(ENTRY_MAGIC) + 32] != commitment
            or len(content) > MAX_CONTENT_SIZE
            or keccak256(content) != entry[len(ENTRY_MAGIC) + 32 : _PREFIX_SIZE]
        ):
            log.warning("discarding corrupt dataset cache entry %s", path)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return content

    def put(self, commitment: bytes, content: bytes) -> None:
        """Store ``content`` (a decompressed dataset) under ``commitment``; errors are logged."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self.path_for(commitment), ENTRY_MAGIC + commitment + keccak256(content) + content, overwrite=True)
        except OSError as exc:
            log.warning("cannot write dataset cache entry under %s: %s", self.folder, exc)
