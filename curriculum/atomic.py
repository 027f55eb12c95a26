"""Atomic file writes: temp file in the target folder, fsync, then rename (or link).

Readers never see a partial file, and a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from curriculum.errors import OutputExistsError

FILE_MODE = 0o600  # everything this package writes is private to its owner


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically with permission ``mode``.

    With ``overwrite=False`` an existing ``path`` is never replaced: the finished temp file
    is hard-linked into place, which fails atomically when the name exists
    (OutputExistsError). Nothing is left behind on any error.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not overwrite and os.path.lexists(target):
        raise OutputExistsError(f"{target} already exists; refusing to overwrite it")
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise OutputExistsError(f"{target} already exists; refusing to overwrite it") from None
            tmp.unlink()
        _fsync_dir(folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
