"""cb-dispute's exception classes, each carrying its exit code, and the map from devnet errors to them."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1  # check: divergence found; open/claim: refused before spending anything
EXIT_USAGE: Final = 2
EXIT_CHAIN: Final = 3
EXIT_INTERRUPTED: Final = 130


class DisputeToolError(Exception):
    """Base class: raised when the dispute tool cannot do what it was asked; carries an exit code."""

    exit_code: int = EXIT_CHAIN


class UsageError(DisputeToolError):
    """Raised when a flag, file, keystore, password or deployments file is unusable."""

    exit_code = EXIT_USAGE


class RefusedError(DisputeToolError):
    """Raised when the tool refuses to act (nothing has been spent): a window that cannot be
    disputed, a dataset or secret that does not match the beast's commitments, a short
    balance, a missing confirmation, nothing to claim."""

    exit_code = EXIT_REFUSED


class ChainDataError(DisputeToolError):
    """Raised when the chain, a trainer node or a validator cannot be reached, a transaction
    reverts, or on-chain or local data is missing or inconsistent."""

    exit_code = EXIT_CHAIN


def tool_error(what: str, exc: Exception) -> DisputeToolError:
    """The dispute tool's error for a failed chain call described by ``what`` (the error map it gives
    ``devnet.errors.chain_call`` and ``validator.chain.LedgerChainReader``): ChainDataError."""
    from devnet.errors import ContractError

    if isinstance(exc, ContractError):
        return ChainDataError(f"{what}: the contract refused: {exc}")
    return ChainDataError(f"{what}: {exc}")

