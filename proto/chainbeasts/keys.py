"""One way to name a signing key in every tool that signs (cb-node init, cb-validator, cb-dispute).

Three sources, the same flags everywhere:

- ``--key-file FILE``: ``0x`` + 64 hex digits in a file of mode 0600 (``--private-key-file`` is
  accepted as its old cb-dispute name);
- ``--keystore FILE`` with ``--password-file FILE`` (mode 0600) or the tool's password variable:
  an eth-account (V3 JSON) keystore;
- ``--dev-account N``: account N of the deployments file's dev accounts, which only a devnet
  lists (``--account`` is accepted as its old cb-validator name); refused on a real chain.

kernel.host reads the files (a FIFO is refused, not waited on; a secret file must be 0600 and
ours). No key, password or file content ever appears in a message. Standard library at import:
eth-account loads only when a key is loaded.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from eth_account.signers.local import LocalAccount


class KeyChoiceError(Exception):
    """Raised when the key options name no key, more than one, or one that cannot be used (a usage error, exit 2)."""


def key_help(password_env: str) -> str:
    """The help text of the key option group."""
    return (f"one of: --key-file FILE (0x + 64 hex digits, mode 0600); --keystore FILE with --password-file FILE "
            f"(mode 0600) or ${password_env}; --dev-account N (devnets only: account N of the deployments file). "
            "Secrets are never printed.")


def add_key_options(parser: argparse.ArgumentParser, *, password_env: str, title: str = "key",
                    password_option: bool = True) -> Any:
    """Add the shared key options to ``parser``; returns the argument group.

    ``password_option=False`` when the tool already has its own ``--password-file`` (cb-node init,
    whose new keystore is encrypted with that same password).
    """
    g = parser.add_argument_group(title, key_help(password_env))
    g.add_argument("--key-file", "--private-key-file", dest="key_file", type=Path, default=None, metavar="FILE",
                   help="file holding a raw private key (0x + 64 hex digits, mode 0600)")
    g.add_argument("--keystore", type=Path, default=None, metavar="FILE", help="eth-account (V3 JSON) keystore")
    if password_option:
        g.add_argument("--password-file", type=Path, default=None, metavar="FILE",
                       help=f"file whose first line is the keystore password (mode 0600; else ${password_env})")
    g.add_argument("--dev-account", "--account", dest="dev_account", type=int, default=None, metavar="N",
                   help="dev account N of the deployments file (devnets only)")
    return g


def chosen(args: argparse.Namespace) -> list[str]:
    """The key options given on the command line (by their flag names)."""
    names = (("key_file", "--key-file"), ("keystore", "--keystore"), ("dev_account", "--dev-account"))
    return [flag for attr, flag in names if getattr(args, attr, None) is not None]


def load_key(args: argparse.Namespace, *, password_env: str,
             dev_accounts: Callable[[], Sequence[LocalAccount]] | None = None,
             required: bool = True) -> LocalAccount | None:
    """The signing account the key options name; None when none is given and ``required`` is False.

    ``dev_accounts`` lists the deployments file's dev accounts (empty on a real chain); a tool
    without a chain passes None and --dev-account is refused. Raises KeyChoiceError.
    """
    from kernel import host

    given = chosen(args)
    if len(given) > 1:
        raise KeyChoiceError(f"give one key, not {' and '.join(given)}")
    if not given:
        if required:
            raise KeyChoiceError("no key: " + key_help(password_env))
        return None
    try:
        if args.key_file is not None:
            return host.account_from_key_file(args.key_file, "key file")
        if args.keystore is not None:
            pw_file = getattr(args, "password_file", None)
            if pw_file is not None:
                password = host.read_password_file(pw_file, private=True)
            elif os.environ.get(password_env):
                password = os.environ[password_env]
            else:
                raise KeyChoiceError(f"keystore {args.keystore} needs a password: --password-file FILE or ${password_env}")
            return host.unlock_keystore(args.keystore, password)
    except host.HostError as exc:
        raise KeyChoiceError(str(exc)) from None
    accounts = list(dev_accounts()) if dev_accounts is not None else []
    if not accounts:
        raise KeyChoiceError("--dev-account: the deployments file lists no dev accounts (only a devnet has them); "
                             "use --key-file or --keystore on a real chain")
    n = args.dev_account
    if not 0 <= n < len(accounts):
        raise KeyChoiceError(f"--dev-account {n}: the deployments file lists {len(accounts)} dev accounts (0..{len(accounts) - 1})")
    return accounts[n]


def deployments_dev_accounts(path: str | os.PathLike[str] | None) -> Callable[[], list[LocalAccount]]:
    """A ``dev_accounts`` callable reading the dev accounts of a deployments file (none without a file)."""

    def read() -> list[LocalAccount]:
        if path is None:
            return []
        from devnet.connect import dev_accounts, load_deployments

        try:
            return dev_accounts(load_deployments(path))
        except Exception as exc:  # noqa: BLE001 - devnet's ConfigError: an unreadable or malformed file
            raise KeyChoiceError(str(exc)) from None

    return read


__all__ = ["KeyChoiceError", "add_key_options", "chosen", "deployments_dev_accounts", "key_help", "load_key"]
