"""Exception types of the trainer node and the CLI exit code each one maps to.

The codes are the shared table of every tool (kernel.host.ExitCode): a configuration error is
a usage error (2), data 3, chain 4, interrupted 130. Messages never carry secrets (owner
secret, keystore password, private key): they name files, beasts, windows and transaction
hashes only.
"""

from __future__ import annotations

from kernel.host import ExitCode

EXIT_OK = ExitCode.OK
EXIT_CONFIG = ExitCode.USAGE
EXIT_DATA = ExitCode.DATA
EXIT_CHAIN = ExitCode.CHAIN
EXIT_INTERRUPTED = ExitCode.INTERRUPTED


class NodeError(Exception):
    """Base class: raised when the node cannot do what it was asked; carries an exit code."""

    exit_code: int = EXIT_DATA


class ConfigError(NodeError):
    """Raised when node.toml, the keystore, a password or a command-line option is unusable."""

    exit_code = EXIT_CONFIG


class ChainError(NodeError):
    """Raised when the chain cannot be reached or rejects a call or transaction."""

    exit_code = EXIT_CHAIN


class RpcUnavailableError(ChainError):
    """Raised when the RPC endpoint stays unreachable through every retry; the daemon waits it out."""


class TxRevertedError(ChainError):
    """Raised when a transaction was mined with status 0 or its estimate reverted; ``reason`` is decoded."""

    def __init__(self, message: str, reason: str = "", tx_hash: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.tx_hash = tx_hash


class TxDroppedError(ChainError):
    """Raised when a sent transaction vanished from the node and no receipt ever appeared."""


class DataError(NodeError):
    """Raised when local run data (checkpoints, index, datasets, secrets) is missing or inconsistent."""

    exit_code = EXIT_DATA


class PrunedError(DataError):
    """Raised when a checkpoint asked for was deleted by retention (node.retention); its index row remains."""


class ReconcileError(DataError):
    """Raised when the chain holds a checkpoint the local index does not know or disagrees with."""


class Interrupted(NodeError):
    """Raised when SIGINT/SIGTERM asked the node to stop before finishing."""

    exit_code = EXIT_INTERRUPTED
