"""kernel.host: atomic writes, bounded reads (FIFOs refused, not waited on), keys, the exit-code table."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kernel import host
from kernel.host import (
    ExitCode,
    FileTooLargeError,
    KeyLoadError,
    NotRegularFileError,
    UnsafeFileError,
    atomic_write,
    exit_codes_epilog,
    positive_int,
    read_file,
)

KEY = "0x" + "4c" * 32


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def finishes(fn, timeout: float = 10.0) -> BaseException | object:
    """Run ``fn`` in a daemon thread; return its result or exception, or fail when it blocks."""
    out: list[object] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out.append(exc)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "blocked (a FIFO was opened for reading before its type was checked)"
    return out[0]


# ---- exit codes ---------------------------------------------------------------------------


def test_exit_code_table_is_the_agreed_one() -> None:
    assert [(c.name, int(c)) for c in ExitCode] == [("OK", 0), ("NO", 1), ("USAGE", 2), ("DATA", 3), ("CHAIN", 4),
                                                    ("INTERRUPTED", 130)]
    text = exit_codes_epilog()
    lines = text.splitlines()
    assert lines[0] == "exit codes:" and max(map(len, lines)) <= 80
    rows = [line.split(maxsplit=1) for line in lines[1:] if not line.startswith(" " * 7)]
    assert [int(code) for code, _ in rows] == [int(c) for c in ExitCode]
    flat = " ".join(" ".join(line.split()) for line in lines[1:])
    for code in ExitCode:
        assert host.EXIT_MEANINGS[code] in flat, code


def test_help_formatter_keeps_the_table_and_wraps_one_line_text() -> None:
    p = argparse.ArgumentParser(prog="x", description="word " * 60, epilog=exit_codes_epilog(), formatter_class=host.HelpFormatter)
    text = p.format_help()
    assert exit_codes_epilog().rstrip("\n") in text
    assert max(len(line) for line in text.splitlines() if line.startswith("word")) < 120


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("42", 42), ("0x10", 16), ("007", 7)])
def test_positive_int_accepts(text: str, value: int) -> None:
    assert positive_int(text) == value


@pytest.mark.parametrize("text", ["0", "-3", "x", "", "1.5", "0x"])
def test_positive_int_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(text)


# ---- atomic writes -----------------------------------------------------------------------


def test_atomic_write_replaces_private_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o600
    atomic_write(target, b"three", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert listing(tmp_path) == ["f.json"]


def test_atomic_write_without_overwrite_refuses_an_existing_name(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    atomic_write(target, b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write(target, b"second", overwrite=False)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "dangling", b"x", overwrite=False)
    assert target.read_bytes() == b"first" and listing(tmp_path) == ["dangling", "secret"]


def test_atomic_write_leaves_nothing_when_the_data_cannot_be_written(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        atomic_write(tmp_path / "f", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(IsADirectoryError):
        (tmp_path / "d").mkdir()
        atomic_write(tmp_path / "d", b"x")
    assert listing(tmp_path) == ["d"] and listing(tmp_path / "d") == []


# ---- bounded reads -----------------------------------------------------------------------


def test_read_file_reads_up_to_the_limit(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x" * 100)
    assert read_file(f, limit=100) == b"x" * 100
    with pytest.raises(FileTooLargeError, match="100 bytes, over the limit of 99"):
        read_file(f, limit=99, what="dataset")
    f.write_bytes(b"")
    assert read_file(f, limit=0) == b""


def test_read_file_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for private in (False, True):
        exc = finishes(lambda p=private: read_file(fifo, limit=10, what="state file", private=p))
        assert isinstance(exc, NotRegularFileError) and "state file" in str(exc) and "not a regular file" in str(exc)


def test_open_regular_streams_and_leaks_no_descriptor_on_refusal(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"line 1\nline 2\n")
    with host.open_regular(f, limit=100) as fh:
        assert fh.readline() == b"line 1\n"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    before = len(os.listdir("/proc/self/fd"))
    for path, error in ((fifo, NotRegularFileError), (tmp_path, NotRegularFileError), (f, FileTooLargeError)):
        exc = finishes(lambda p=path: host.open_regular(p, limit=5).__enter__())
        assert isinstance(exc, error), exc
    assert len(os.listdir("/proc/self/fd")) == before


def test_read_file_refuses_directories_devices_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFileError):
        read_file(tmp_path, limit=10)
    with pytest.raises(NotRegularFileError):
        read_file("/dev/zero", limit=10)
    with pytest.raises(host.FileMissingError, match="cannot open dataset .*No such file"):
        read_file(tmp_path / "missing", limit=10, what="dataset")


def test_read_file_private_refuses_links_and_loose_modes(tmp_path: Path) -> None:
    f = tmp_path / "key"
    f.write_text(KEY)
    f.chmod(0o640)
    with pytest.raises(UnsafeFileError, match="mode 0640"):
        read_file(f, limit=100, private=True)
    assert read_file(f, limit=100) == KEY.encode()  # not private: the mode does not matter
    f.chmod(0o600)
    (tmp_path / "link").symlink_to(f)
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        read_file(tmp_path / "link", limit=100, private=True)
    assert read_file(f, limit=100, private=True) == KEY.encode()


# ---- keys ----------------------------------------------------------------------------------


def test_private_key_file(tmp_path: Path) -> None:
    f = tmp_path / "key"
    f.write_text(KEY + "\n")
    f.chmod(0o600)
    assert host.read_private_key(f) == bytes.fromhex("4c" * 32)
    assert host.account_from_key_file(f).key == bytes.fromhex("4c" * 32)
    for bad in ("0x" + "4c" * 31, "0x" + "zz" * 32, "0x" + "00" * 32, "0x" + "ff" * 32, ""):
        f.write_text(bad)
        with pytest.raises(KeyLoadError) as info:
            host.read_private_key(f)
        assert bad[2:] not in str(info.value) or not bad[2:]


def test_password_file_and_keystore(tmp_path: Path) -> None:
    from eth_account import Account

    pw = tmp_path / "pw"
    pw.write_text("hunter2\nsecond line\n")
    assert host.read_password_file(pw) == "hunter2"
    pw.chmod(0o644)
    with pytest.raises(UnsafeFileError):
        host.read_password_file(pw, private=True)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(KeyLoadError, match="empty"):
        host.read_password_file(tmp_path / "empty")
    ks = tmp_path / "ks.json"
    ks.write_text(json.dumps(Account.encrypt(bytes.fromhex("4c" * 32), "hunter2", iterations=2)))
    assert host.unlock_keystore(ks, "hunter2").key == bytes.fromhex("4c" * 32)
    with pytest.raises(KeyLoadError, match="wrong password") as info:
        host.unlock_keystore(ks, "nope")
    assert "nope" not in str(info.value)
    ks.write_text("{")
    with pytest.raises(KeyLoadError, match="not JSON"):
        host.unlock_keystore(ks, "hunter2")
    ks.write_text("{}")
    with pytest.raises(KeyLoadError, match="not a valid keystore"):
        host.unlock_keystore(ks, "hunter2")


def test_importing_kernel_pulls_in_no_key_library_and_consensus_code_not_host() -> None:
    consensus = ("import sys, kernel.train, kernel.state, kernel.batched, kernel.payload, kernel.params\n"
                 "assert 'kernel.host' not in sys.modules, 'a consensus module imports kernel.host'\n")
    lazy = "import sys, kernel.host\nassert 'eth_account' not in sys.modules, 'kernel.host imports eth_account'\n"
    for code in (consensus, lazy):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr


def test_run_tool_maps_the_first_matching_refusal_and_lets_bugs_through(capsys: pytest.CaptureFixture[str]) -> None:
    def fails(exc: BaseException):  # type: ignore[no-untyped-def]
        def work() -> int:
            raise exc
        return work

    refusals = [(FileNotFoundError, "missing", 3), ((OSError, ValueError), "", 2)]
    assert host.run_tool("cb-x", lambda: 7, refusals) == 7
    assert host.run_tool("cb-x", fails(FileNotFoundError("no such file")), refusals) == 3  # first match wins over OSError
    assert capsys.readouterr().err == "cb-x: missing: no such file\n"
    assert host.run_tool("cb-x", fails(ValueError("bad value")), refusals) == 2
    assert capsys.readouterr().err == "cb-x: bad value\n"
    assert host.run_tool("cb-x", fails(KeyboardInterrupt()), refusals) == host.ExitCode.INTERRUPTED == 130
    assert capsys.readouterr().err == "cb-x: interrupted\n"
    with pytest.raises(ZeroDivisionError):
        host.run_tool("cb-x", fails(ZeroDivisionError("a bug")), refusals)
    with pytest.raises(SystemExit):
        host.run_tool("cb-x", fails(SystemExit(2)), refusals)
