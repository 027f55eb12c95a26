"""The challenger's signing account: a keystore with its password, or a 0600 private-key file.

Neither the key, nor the password, nor the file contents ever appear in a message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from eth_account import Account
from eth_account.signers.local import LocalAccount

from curriculum.errors import SecretFileError
from curriculum.secret import read_owner_only
from validator.dispute.errors import UsageError

PASSWORD_ENV: Final = "CB_DISPUTE_PASSWORD"


def _read_private_file(path: Path, what: str, max_bytes: int) -> bytes:
    """Bytes of a file only its owner may read (curriculum.secret.read_owner_only), as a UsageError."""
    try:
        return read_owner_only(path, what, max_bytes)
    except SecretFileError as exc:
        raise UsageError(str(exc)) from None


def load_account(
    *,
    keystore: Path | None = None,
    password_file: Path | None = None,
    password_env: str = PASSWORD_ENV,
    private_key_file: Path | None = None,
) -> LocalAccount:
    """The challenger's signing account from a keystore (password from a file or the
    environment) or from a 0600 private-key file (devnets). Raises UsageError."""
    if keystore is not None and private_key_file is not None:
        raise UsageError("give either --keystore or --private-key-file, not both")
    if private_key_file is not None:
        raw = _read_private_file(private_key_file, "private key file", 200).decode("ascii", "replace").strip()
        try:
            key = bytes.fromhex(raw.removeprefix("0x"))
        except ValueError:
            key = b""
        if len(key) != 32:
            raise UsageError(f"private key file {private_key_file} must hold 0x + 64 hex digits")
        try:
            return Account.from_key(key)
        except Exception:  # noqa: BLE001 - eth-keys raises several types for an invalid scalar
            raise UsageError(f"private key file {private_key_file} holds an invalid key") from None
    if keystore is None:
        raise UsageError("no key: give --keystore FILE (with --password-file or $" + password_env + ") or --private-key-file FILE")
    if password_file is not None:
        password = _read_private_file(password_file, "password file", 4096).decode("utf-8", "replace").rstrip("\r\n")
    elif os.environ.get(password_env) is not None:
        password = os.environ[password_env]
    else:
        raise UsageError(f"keystore {keystore} needs a password: --password-file FILE or ${password_env}")
    try:
        blob = Path(keystore).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read keystore {keystore}: {exc.strerror or exc}") from None
    try:
        key = Account.decrypt(blob, password)
    except ValueError as exc:
        msg = "wrong password" if "MAC" in str(exc) or "password" in str(exc).lower() else "not a valid keystore"
        raise UsageError(f"cannot decrypt keystore {keystore}: {msg}") from None
    except Exception:  # noqa: BLE001 - malformed JSON and missing fields raise many types
        raise UsageError(f"cannot decrypt keystore {keystore}: not a valid keystore") from None
    return Account.from_key(key)


__all__ = ["PASSWORD_ENV", "load_account"]
