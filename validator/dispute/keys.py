"""The challenger's signing account: a keystore with its password, or a 0600 private-key file.

Neither the key, nor the password, nor the file contents ever appear in a message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kernel import host
from validator.dispute.errors import UsageError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

PASSWORD_ENV: Final = "CB_DISPUTE_PASSWORD"


def load_account(
    *,
    keystore: Path | None = None,
    password_file: Path | None = None,
    password_env: str = PASSWORD_ENV,
    private_key_file: Path | None = None,
) -> LocalAccount:
    """The challenger's signing account from a keystore (password from a 0600 file or the
    environment) or from a 0600 private-key file (devnets); kernel.host does the reading (a FIFO
    is refused, not waited on). Raises UsageError."""
    if keystore is not None and private_key_file is not None:
        raise UsageError("give either --keystore or --private-key-file, not both")
    try:
        if private_key_file is not None:
            return host.account_from_key_file(private_key_file, "private key file")
        if keystore is None:
            raise UsageError("no key: give --keystore FILE (with --password-file or $" + password_env + ") or --private-key-file FILE")
        if password_file is not None:
            password = host.read_password_file(password_file, private=True)
        elif os.environ.get(password_env) is not None:
            password = os.environ[password_env]
        else:
            raise UsageError(f"keystore {keystore} needs a password: --password-file FILE or ${password_env}")
        return host.unlock_keystore(keystore, password)
    except host.HostError as exc:
        raise UsageError(str(exc)) from None


__all__ = ["PASSWORD_ENV", "load_account"]
