"""cb-dispute's exception classes, each carrying its exit code, and the map from devnet errors to them."""

from __future__ import annotations

from typing import Final

from kernel.host import ExitCode

# The table every tool shares (kernel.host.ExitCode), named for what cb-dispute reports.
EXIT_OK: Final = ExitCode.OK
EXIT_REFUSED: Final = ExitCode.NO  # check: divergence found; open/claim: refused before spending anything
EXIT_USAGE: Final = ExitCode.USAGE
EXIT_DATA: Final = ExitCode.DATA
EXIT_CHAIN: Final = ExitCode.CHAIN
EXIT_INTERRUPTED: Final = ExitCode.INTERRUPTED


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
    reverts, or the chain lacks what was asked for (a window, a dispute)."""

    exit_code = EXIT_CHAIN


class DataError(DisputeToolError):
    """Raised when a dataset, secret or state file cannot be read or used, or a replay refuses its inputs."""

    exit_code = EXIT_DATA


def tool_error(what: str, exc: Exception) -> DisputeToolError:
    """The dispute tool's error for a failed chain call described by ``what`` (the error map it gives
    ``devnet.errors.chain_call`` and ``validator.chain.LedgerChainReader``): ChainDataError."""
    from devnet.errors import ContractError

    if getattr(exc, "name", None) in ("BeastNotFound", "ERC721NonexistentToken"):
        from validator.chain import BEAST_MISSING_HINT

        return ChainDataError(f"{what}: {exc} ({BEAST_MISSING_HINT})")
    if isinstance(exc, ContractError):
        return ChainDataError(f"{what}: the contract refused: {exc}")
    return ChainDataError(f"{what}: {exc}")

