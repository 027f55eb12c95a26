"""One sync for a round of checkpoint files instead of two fsyncs per file.

:func:`write_replace` writes a file the way ``kernel.host.atomic_write`` does (temp file in the
same folder, every byte, ``os.replace``), but does not sync; :func:`sync_files` then makes a whole
set of such files durable at once: one ``syncfs(2)`` per filesystem they lie on (Linux; it writes
back and waits for every dirty page and the journal of that filesystem, so the files' data and
their names are on disk when it returns), else an fsync of every file and folder.

The caller records nothing that names these files until :func:`sync_files` returned (the
node's index rows come after it, :meth:`node.store.BeastStore.persist_many`). A crash before that
may leave a complete file, a partial one, or none under the final name; no index row names it, and
the node retrains that window and writes the same name again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Sequence
from pathlib import Path

from kernel.host import fsync_dir


def _load_syncfs():  # type: ignore[no-untyped-def]
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_SYNCFS = _load_syncfs()


def write_replace(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` through a temp file and ``os.replace``, without syncing (see module).

    The temp file is ``.NAME.tmp`` beside it (one writer per folder: the node's pid lock), created
    exclusively with ``mode``; one a crash left there is removed first (node.store sweeps them on open too).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except FileExistsError:
        os.unlink(tmp)
        fd = os.open(tmp, flags, mode)
    try:
        try:
            if mode != 0o600:  # os.open's mode passes through the umask; a stricter mode needs nothing more
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sync_files(paths: Sequence[Path]) -> int:
    """Make ``paths`` (and their directory entries) durable; returns the number of sync calls made."""
    if not paths:
        return 0
    if _SYNCFS is not None:
        devices: dict[int, Path] = {}
        for p in paths:
            devices.setdefault(os.stat(p.parent).st_dev, p.parent)
        ok = True
        for folder in devices.values():
            fd = os.open(folder, os.O_RDONLY)
            try:
                ok = _SYNCFS(fd) == 0 and ok
            finally:
                os.close(fd)
        if ok:
            return len(devices)
    for p in paths:  # no syncfs (or it failed): the portable way
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for folder in dict.fromkeys(p.parent for p in paths):
        fsync_dir(folder)
    return 2 * len(paths)


__all__ = ["sync_files", "write_replace"]
