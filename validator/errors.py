"""Exception types of the validator package.

Every error the validator raises on purpose is a ``ValidatorError``. Each subclass names
one kind of refusal; the CLI's exit code (the table every tool shares, kernel.host.ExitCode:
2 usage/configuration, 3 data, 4 chain or network) is an attribute here, and the gRPC status the
service answers with is mapped in :mod:`validator.grpc_status` (so the replay library never
imports grpc). No message ever contains an owner secret or dataset content.
"""

from __future__ import annotations

from typing import Any

from kernel.host import ExitCode


class ValidatorError(Exception):
    """Base class: raised when the validator refuses its input or cannot finish a replay."""

    exit_code: int = ExitCode.DATA

    def __init_subclass__(cls, exit_code: int | None = None, **kwargs: Any) -> None:
        """``class X(ValidatorError, exit_code=ExitCode.CHAIN)``: the CLI exit code of that kind of
        refusal; a subclass that names none keeps its parent's."""
        super().__init_subclass__(**kwargs)
        if exit_code is not None:
            cls.exit_code = exit_code


class InvalidInputError(ValidatorError, exit_code=ExitCode.USAGE):
    """Raised when an argument is malformed (wrong length, garbage bytes, out of range)."""


class StartStateError(InvalidInputError, exit_code=ExitCode.DATA):
    """Raised when the start state blob cannot be decoded (not zstd, truncated, bad fields)."""


class InputTooLargeError(InvalidInputError, exit_code=ExitCode.DATA):
    """Raised when a state blob or dataset exceeds the validator's size limits."""


class DatasetInvalidError(InvalidInputError, exit_code=ExitCode.DATA):
    """Raised when a private dataset matches the beast's C_dataset but is not a valid dataset file.

    The trainer committed to it at hatch, so no honest replay of its windows exists: SPEC §10.6
    counts it against the trainer, never for it.
    """


class RecordsRootMismatchError(DatasetInvalidError):
    """Raised when a spec version 2 beast's dataset file (matching C_dataset) has another records
    root R_dataset than the recordsRoot of its hatch data.

    The owner supplied both commitments at hatch, so the beast was hatched wrong and no honest
    replay of its windows exists: judged like an invalid dataset file (SPEC §10.2, §10.6).
    ``expected`` is the hatch's recordsRoot, ``actual`` the file's R_dataset (public values).
    """

    def __init__(self, message: str, expected: bytes, actual: bytes) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class StartStateMismatchError(ValidatorError):
    """Raised when the start state does not hash to the previous committed h128, or belongs
    to another beast or window than the one replayed.

    ``expected`` and ``actual`` are the 16-byte h128 values when the hash is what differs.
    """

    def __init__(self, message: str, expected: bytes | None = None, actual: bytes | None = None) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:  # keeps the attributes across process boundaries
        return (self.__class__, (str(self), self.expected, self.actual))


class CommitmentMismatchError(ValidatorError):
    """Raised when keccak256 of the dataset file or of S_owner differs from the beast's commitment.

    ``what`` is ``"dataset"`` or ``"owner secret"``; ``expected``/``actual`` are commitments
    (public values that never reveal the secret).
    """

    def __init__(self, what: str, expected: bytes, actual: bytes) -> None:
        self.what = what
        self.expected = expected
        self.actual = actual
        super().__init__(f"{what} does not match the beast's commitment: expected 0x{expected.hex()}, got 0x{actual.hex()}")

    def __reduce__(self) -> tuple[object, ...]:  # keeps the attributes across process boundaries
        return (self.__class__, (self.what, self.expected, self.actual))


class NodeNotAllowedError(ValidatorError, exit_code=ExitCode.USAGE):
    """Raised when a request names a trainer node the validator's operator has not allowed it to dial."""


class MissingInputError(ValidatorError, exit_code=ExitCode.USAGE):
    """Raised when something the replay needs was not supplied (private dataset, secret, chain context)."""


class NotFoundError(ValidatorError, exit_code=ExitCode.CHAIN):
    """Raised when a beast, window or checkpoint is unknown to the chain or the trainer node."""


class UpstreamError(ValidatorError, exit_code=ExitCode.CHAIN):
    """Raised when the chain RPC or the trainer node cannot be reached or answers with an error."""


class BusyError(ValidatorError, exit_code=ExitCode.CHAIN):
    """Raised when the service already runs and queues as many replays as it is configured for."""


class ReplayTimeoutError(ValidatorError, exit_code=ExitCode.CHAIN):
    """Raised when a replay does not finish within its deadline."""


class WorkerLostError(ValidatorError, exit_code=ExitCode.CHAIN):
    """Raised when the worker process running a replay died; the service restarts its pool."""


class ConfigError(ValidatorError, exit_code=ExitCode.USAGE):
    """Raised when the validator's own configuration (files, flags, deployments) is unusable."""


class ChainError(ValidatorError, exit_code=ExitCode.CHAIN):
    """Raised when a chain read or transaction fails (revert, bad receipt, missing contract)."""


__all__ = [
    "BusyError",
    "ChainError",
    "CommitmentMismatchError",
    "ConfigError",
    "DatasetInvalidError",
    "RecordsRootMismatchError",
    "InputTooLargeError",
    "InvalidInputError",
    "MissingInputError",
    "NodeNotAllowedError",
    "NotFoundError",
    "ReplayTimeoutError",
    "StartStateError",
    "StartStateMismatchError",
    "UpstreamError",
    "ValidatorError",
    "WorkerLostError",
]
