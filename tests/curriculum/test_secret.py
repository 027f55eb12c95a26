"""Owner secret: generation, file format, permissions, redaction."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from curriculum.errors import CurriculumError, OutputExistsError, SecretFileError
from curriculum.secret import OwnerSecret, new_secret_file, read_secret_file, secret_commitment, write_secret_file
from kernel.hashing import keccak256
from tests.curriculum.helpers import listing

VALUE = bytes(range(32))


def test_new_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "owner.secret"
    secret = new_secret_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes() == b"0x" + secret.reveal().hex().encode() + b"\n"
    assert read_secret_file(path) == secret
    assert secret.commitment == keccak256(secret.reveal()) == secret_commitment(secret.reveal())
    assert listing(tmp_path) == ["owner.secret"]


def test_secrets_differ(tmp_path: Path) -> None:
    assert new_secret_file(tmp_path / "a") != new_secret_file(tmp_path / "b")


def test_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "owner.secret"
    first = new_secret_file(path)
    with pytest.raises(OutputExistsError):
        new_secret_file(path)
    assert read_secret_file(path) == first and listing(tmp_path) == ["owner.secret"]


def test_repr_redacts() -> None:
    s = OwnerSecret(VALUE)
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert VALUE.hex() not in text and "redacted" in text


def test_bad_length() -> None:
    with pytest.raises(CurriculumError, match="32 bytes"):
        OwnerSecret(b"\x01" * 31)


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


GOOD = b"0x" + VALUE.hex().encode() + b"\n"


def test_accepts_without_newline_and_uppercase(tmp_path: Path) -> None:
    assert read_secret_file(_write(tmp_path / "s", GOOD[:-1])).reveal() == VALUE
    assert read_secret_file(_write(tmp_path / "u", b"0x" + VALUE.hex().upper().encode())).reveal() == VALUE


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o602, 0o610])
def test_refuses_group_or_other_access(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "s", GOOD, mode)
    with pytest.raises(SecretFileError, match=f"mode {mode:04o}: group/other may access it") as info:
        read_secret_file(path)
    assert VALUE.hex() not in str(info.value)


@pytest.mark.parametrize(
    "data",
    [GOOD + b"\n", GOOD[:-2], b"0X" + GOOD[2:], GOOD[:-1] + b" ", b"0x" + b"g" * 64 + b"\n", b""],
    ids=["long", "short", "prefix", "no-newline-end", "not-hex", "empty"],
)
def test_refuses_malformed(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(SecretFileError) as info:
        read_secret_file(_write(tmp_path / "s", data))
    assert VALUE.hex() not in str(info.value)


def test_refuses_missing_directory_symlink_fifo(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match="cannot open"):
        read_secret_file(tmp_path / "missing")
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(SecretFileError, match="not a regular file"):
        read_secret_file(tmp_path / "dir")
    real = _write(tmp_path / "real", GOOD)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(SecretFileError, match="symbolic link"):
        read_secret_file(tmp_path / "link")
    os.mkfifo(tmp_path / "fifo", 0o600)
    with pytest.raises(SecretFileError, match="not a regular file"):
        read_secret_file(tmp_path / "fifo")


def test_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "s", GOOD, 0o000)
    if not os.access(path, os.R_OK):  # a real EACCES (not running as root)
        with pytest.raises(SecretFileError, match="cannot open .*Permission denied"):
            read_secret_file(path)
    import curriculum.secret as secret_module

    def denied(*_args: object, **_kw: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(secret_module.os, "open", denied)
    with pytest.raises(SecretFileError, match="cannot open .*Permission denied"):
        read_secret_file(path)


def test_write_secret_file_atomic_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "s"
    with pytest.raises(OSError):
        write_secret_file(target, OwnerSecret(VALUE))
    assert listing(tmp_path) == []
