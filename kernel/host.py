"""What every ChainBeasts tool needs from its host: files, keys, argparse types, exit codes, signals.

Not consensus code: nothing in the kernel's consensus path (anything feeding ``h128``) imports
this module. It lives in ``kernel`` only because every other package already depends on the
kernel, so this is the one place they can all share. It imports the standard library only;
eth-account is imported inside the key functions, so ``import kernel`` never pulls it in.

- **Atomic writes** (:func:`atomic_write`): a temp file in the target's folder, every byte
  written, fsync, then rename over the target (or hard-link, which refuses an existing name),
  then fsync the folder. A reader sees the old file or the new one, never a part; a failed
  write leaves nothing behind. Files are private (0600) unless asked otherwise.
- **Bounded reads** (:func:`read_file`; :func:`open_regular` for streaming readers): the file
  type is checked *before* anything is read, on a descriptor opened with ``O_NONBLOCK``, so a
  FIFO or a device is refused instead of hanging; at most ``limit + 1`` bytes are ever read. ``private=True`` adds the checks for a
  file holding a secret: no symbolic link, owned by us, no group/other permission bits.
- **Keys** (:func:`read_private_key`, :func:`account_from_key_file`, :func:`read_password_file`,
  :func:`unlock_keystore`): a key file is ``0x`` + 64 hex digits in a 0600 file; a keystore is an
  eth-account JSON keystore. No key, password or keystore content ever appears in a message.
- **Exit codes** (:class:`ExitCode`, :func:`exit_codes_epilog`): the one table every CLI uses.
- **argparse** (:func:`positive_int`, :class:`HelpFormatter`) and **signals**
  (:func:`sigterm_interrupts`: SIGTERM raises KeyboardInterrupt, as SIGINT does, so every tool
  ends the same way, exit 130); :func:`run_tool` is a tool's ``main`` around its work: the
  interrupt and each refused-input error become one stderr line and an exit code.
- **Crash injection** (:func:`crash_hook`): the crash-safety tests' kill switch, off unless the
  tool's environment variable names a point.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import stat
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final

if TYPE_CHECKING:  # pragma: no cover - typing only; eth-account is imported lazily
    from eth_account.signers.local import LocalAccount

PRIVATE_FILE_MODE: Final = 0o600
KEY_FILE_MAX_BYTES: Final = 200  # "0x" + 64 hex digits and some whitespace
PASSWORD_FILE_MAX_BYTES: Final = 4096
KEYSTORE_MAX_BYTES: Final = 1 << 20
_SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# ---------------------------------------------------------------------------------------
# Exit codes


class ExitCode(IntEnum):
    """The exit status of every ChainBeasts command-line tool."""

    OK = 0
    NO = 1  # a definite "no": mismatch, divergence, verification failed, refused before spending
    USAGE = 2  # argparse's own code for a bad command line; configuration errors share it
    DATA = 3
    CHAIN = 4
    INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process killed by Ctrl-C


EXIT_MEANINGS: Final[dict[ExitCode, str]] = {
    ExitCode.OK: "ok; for a check or a replay: the window matches its committed word",
    ExitCode.NO: "a definite no: mismatch, divergence found, verification failed, or refused before anything was spent",
    ExitCode.USAGE: "usage or configuration error (flags, config files, keystore, password, deployments file)",
    ExitCode.DATA: "data error (dataset, state, checkpoint or secret files unreadable or invalid; "
                   "local state disagrees with the chain)",
    ExitCode.CHAIN: "chain or network error (RPC, trainer node or validator unreachable, revert, dropped transaction)",
    ExitCode.INTERRUPTED: "interrupted (SIGINT/SIGTERM)",
}


def lazy_exports(package: str, table: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: import the module ``table`` names for an attribute
    on first use and cache it in ``namespace`` (the package's globals).

    Packages whose exports pull in web3 or grpc use it so that building a CLI parser stays light.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


def tool_modules() -> dict[str, str]:
    """Each console script of the chainbeasts distribution -> the module whose ``main()`` it runs.

    Read from the installed metadata ([project.scripts] in pyproject.toml), so tests and benches
    that run every tool cannot drift from the tools that exist.
    """
    from importlib.metadata import distribution

    scripts = [ep for ep in distribution("chainbeasts").entry_points if ep.group == "console_scripts"]
    return {ep.name: ep.value.split(":")[0] for ep in sorted(scripts, key=lambda ep: ep.name)}


def exit_codes_epilog() -> str:
    """The exit-code table as an argparse epilog (use with :class:`HelpFormatter`), wrapped at 80 columns."""
    lines = ["exit codes:"]
    for code, text in EXIT_MEANINGS.items():
        wrapped = textwrap.wrap(text, 80 - 7)
        lines.append(f"  {int(code):<4} {wrapped[0]}")
        lines.extend(" " * 7 + more for more in wrapped[1:])
    return "\n".join(lines) + "\n"


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that text with line breaks (the exit-code table, examples)
    is printed as written; one-line descriptions and help are still wrapped to the terminal."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text.strip("\n"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (decimal, or 0x/0o/0b prefixed)."""
    try:
        value = int(text)
    except ValueError:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# ---------------------------------------------------------------------------------------
# Signals


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt in the main thread, as SIGINT does.

    A tool's ``main`` wraps its work in this and catches KeyboardInterrupt once, so both
    signals end it the same way (exit 130, no traceback). Outside the main thread (a test
    calling ``main`` from a worker) it does nothing. The previous handler is restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


Refusal = tuple[type[BaseException] | tuple[type[BaseException], ...], str, int]


def run_tool(prog: str, work: Callable[[], int], refusals: Sequence[Refusal]) -> int:
    """Run a tool's ``work`` (parse its arguments, run the command) and return its exit code.

    Inside :func:`sigterm_interrupts`. SIGINT/SIGTERM: ``PROG: interrupted`` on stderr, exit 130.
    ``refusals`` are ``(error types, label, exit code)``, tried in order: the first that matches
    an error prints ``PROG: LABEL: message`` (``PROG: message`` for an empty label) and returns
    its code. Any other exception propagates (a bug shows its traceback); SystemExit (argparse)
    passes through.
    """
    try:
        with sigterm_interrupts():
            return int(work())
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:
        for types, label, code in refusals:
            if isinstance(exc, types):
                print(f"{prog}: {label}: {exc}" if label else f"{prog}: {exc}", file=sys.stderr)
                return code
        raise


# ---------------------------------------------------------------------------------------
# Errors


class HostError(Exception):
    """Base class: raised when a file or key the tool was pointed at cannot be used.

    Callers re-raise it as their own package's error type (configuration or data error);
    the message names the file and the problem, never its content.
    """


class FileReadError(HostError):
    """Raised when a file cannot be opened or read (missing, permission denied, I/O error)."""


class FileMissingError(FileReadError):
    """Raised when there is no file at the path."""


class NotRegularFileError(FileReadError):
    """Raised when a path is a FIFO, device, socket or directory instead of a regular file."""


class FileTooLargeError(FileReadError):
    """Raised when a file is over the size limit of what it is supposed to hold."""


class UnsafeFileError(FileReadError):
    """Raised when a file that holds a secret is a symbolic link, another user's, or group/other accessible."""


class KeyLoadError(HostError):
    """Raised when a private key, password or keystore is malformed or does not decrypt."""


# ---------------------------------------------------------------------------------------
# Atomic writes


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename or unlink inside it survives a power loss.

    File systems that cannot fsync a directory (EINVAL, ENOTSUP) are tolerated; other
    errors propagate.
    """
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True, mode: int = PRIVATE_FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically with permission ``mode`` (default 0600).

    Order: temp file ``.NAME.*.tmp`` in the same folder, write every byte, fsync, then
    ``os.replace`` onto ``path`` (``overwrite=True``) or ``os.link`` to it, which fails
    atomically with FileExistsError when the name exists (``overwrite=False``), then fsync
    the folder. Nothing is left behind on any error.
    """
    target = Path(path)
    folder = target.parent
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, "file exists", str(target))
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp_name, target)
        else:
            os.link(tmp_name, target)
            os.unlink(tmp_name)
        fsync_dir(folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


# ---------------------------------------------------------------------------------------
# Bounded reads


@contextlib.contextmanager
def open_regular(path: str | os.PathLike[str], *, limit: int, what: str = "file", private: bool = False) -> Iterator[BinaryIO]:
    """The regular file at ``path`` opened for binary reading, its type and size checked first.

    The file is opened with ``O_NONBLOCK`` (so opening a FIFO does not wait for a writer) and
    its type is checked on that descriptor before any read: FIFOs, devices, sockets and
    directories raise NotRegularFileError, a file of more than ``limit`` bytes FileTooLargeError.
    With ``private=True`` (a secret: owner secret, private key, password) symbolic links, files
    owned by another user and files with any group/other permission bit raise UnsafeFileError.
    ``what`` names the file in messages ("dataset", "key file"); the content never appears in
    one. For a streaming reader; it must still stop at ``limit`` bytes itself (a file can grow).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (os.O_NOFOLLOW if private else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if private and exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{what} {path} is a symbolic link; give the real path") from None
        kind = FileMissingError if exc.errno == errno.ENOENT else FileReadError
        raise kind(f"cannot open {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(f"{what} {path} is not a regular file")
        if private:
            if st.st_mode & 0o077:
                raise UnsafeFileError(f"{what} {path} has mode {stat.S_IMODE(st.st_mode):04o}: "
                                      "group/other may access it; run chmod 600")
            if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
                raise UnsafeFileError(f"{what} {path} is owned by another user (uid {st.st_uid})")
        if st.st_size > limit:
            raise FileTooLargeError(f"{what} {path} is {st.st_size} bytes, over the limit of {limit} bytes")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        yield f


def read_file(path: str | os.PathLike[str], *, limit: int, what: str = "file", private: bool = False) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them (checks as :func:`open_regular`).

    At most ``limit + 1`` bytes are read, so a file that grew after the check is refused too
    (FileTooLargeError). A FIFO, device or directory is refused before anything is read.
    """
    with open_regular(path, limit=limit, what=what, private=private) as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise FileReadError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FileTooLargeError(f"{what} {path} is over the limit of {limit} bytes")
    return data


# ---------------------------------------------------------------------------------------
# Keys and passwords


def parse_private_key(text: str, what: str = "private key") -> bytes:
    """32 key bytes from ``0x`` + 64 hex digits (surrounding whitespace ignored); KeyLoadError
    when malformed or not a valid secp256k1 scalar. The text never appears in the message."""
    t = text.strip()
    t = t[2:] if t[:2] in ("0x", "0X") else t
    try:
        key = bytes.fromhex(t) if len(t) == 64 else b""
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyLoadError(f"{what} must hold 0x + 64 hex digits")
    if not 0 < int.from_bytes(key, "big") < _SECP256K1_N:
        raise KeyLoadError(f"{what} holds an invalid key (not a secp256k1 scalar)")
    return key


def read_private_key(path: str | os.PathLike[str], what: str = "key file") -> bytes:
    """The 32-byte private key in a 0600 key file (``0x`` + 64 hex digits); HostError otherwise."""
    raw = read_file(path, limit=KEY_FILE_MAX_BYTES, what=what, private=True)
    return parse_private_key(raw.decode("ascii", "replace"), f"{what} {path}")


def account_from_key_file(path: str | os.PathLike[str], what: str = "key file") -> LocalAccount:
    """The eth-account signer of the key in a 0600 key file; HostError otherwise."""
    from eth_account import Account  # lazy: importing kernel must not import eth-account

    return Account.from_key(read_private_key(path, what))


def read_password_file(path: str | os.PathLike[str], *, private: bool = False) -> str:
    """The first line of a password file (without its line break); KeyLoadError when it is empty.

    ``private=True`` requires the file to be the caller's own and mode 0600 (as :func:`read_file`).
    """
    raw = read_file(path, limit=PASSWORD_FILE_MAX_BYTES, what="password file", private=private)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyLoadError(f"password file {path} is not UTF-8 text") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise KeyLoadError(f"password file {path} is empty")
    return password


def unlock_keystore(path: str | os.PathLike[str], password: str) -> LocalAccount:
    """Decrypt the eth-account JSON keystore at ``path``; KeyLoadError (or a FileReadError) when
    it cannot be read, is malformed, or the password is wrong."""
    import json

    from eth_account import Account  # lazy: importing kernel must not import eth-account

    raw = read_file(path, limit=KEYSTORE_MAX_BYTES, what="keystore")
    try:
        keystore = json.loads(raw)
    except ValueError:
        raise KeyLoadError(f"keystore {path} is not JSON") from None
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        msg = str(exc)
        if "MAC" in msg or "password" in msg.lower():
            raise KeyLoadError(f"cannot decrypt keystore {path}: wrong password") from None
        raise KeyLoadError(f"cannot decrypt keystore {path}: not a valid keystore") from None
    except Exception as exc:  # noqa: BLE001 - malformed keystore structures raise many types
        raise KeyLoadError(f"cannot decrypt keystore {path}: not a valid keystore ({type(exc).__name__})") from None
    return Account.from_key(key)


# ---------------------------------------------------------------------------------------
# Crash injection (tests only: off unless the tool's environment variable is set)


def crash_hook(env: str) -> Callable[[str], None]:
    """A ``crash_point(name)`` for one tool: ``<env>=point:n`` exits the n-th time ``point`` is reached.

    The exit is ``os._exit(137)`` -- no cleanup, no flush, exactly like SIGKILL -- so a crash-safety
    test can kill a real child process at a named place and check what a restart finds. Each tool
    has its own variable and list of points (node.crash, validator.crash); this is their one hook.
    """
    counts: dict[str, int] = {}

    def crash_point(name: str) -> None:
        spec = os.environ.get(env)
        if not spec:
            return
        point, _, count = spec.partition(":")
        if point != name:
            return
        counts[name] = counts.get(name, 0) + 1
        if counts[name] >= int(count or 1):
            os._exit(137)

    return crash_point


__all__ = [
    "EXIT_MEANINGS",
    "ExitCode",
    "FileMissingError",
    "FileReadError",
    "FileTooLargeError",
    "HelpFormatter",
    "HostError",
    "KeyLoadError",
    "NotRegularFileError",
    "PRIVATE_FILE_MODE",
    "UnsafeFileError",
    "account_from_key_file",
    "crash_hook",
    "atomic_write",
    "exit_codes_epilog",
    "fsync_dir",
    "open_regular",
    "parse_private_key",
    "positive_int",
    "run_tool",
    "read_file",
    "read_password_file",
    "read_private_key",
    "sigterm_interrupts",
    "unlock_keystore",
]
