"""The gRPC status code ValidatorService answers each ValidatorError with (validator.proto's error table).

This mapping lives on the gRPC side so that the replay library and the error types
(:mod:`validator.replay`, :mod:`validator.errors`) never import grpc. A class not in the
table takes the code of its nearest listed base class; ValidatorError itself is INTERNAL.
"""

from __future__ import annotations

from typing import Final

import grpc

from validator.errors import (
    BusyError,
    ChainError,
    CommitmentMismatchError,
    ConfigError,
    InvalidInputError,
    MissingInputError,
    NodeNotAllowedError,
    NotFoundError,
    ReplayTimeoutError,
    StartStateMismatchError,
    UpstreamError,
    ValidatorError,
    WorkerLostError,
)

STATUS_OF_ERROR: Final[dict[type[ValidatorError], grpc.StatusCode]] = {
    ValidatorError: grpc.StatusCode.INTERNAL,
    InvalidInputError: grpc.StatusCode.INVALID_ARGUMENT,  # and StartStateError, InputTooLargeError, DatasetInvalidError
    StartStateMismatchError: grpc.StatusCode.FAILED_PRECONDITION,
    CommitmentMismatchError: grpc.StatusCode.FAILED_PRECONDITION,
    MissingInputError: grpc.StatusCode.FAILED_PRECONDITION,
    ConfigError: grpc.StatusCode.FAILED_PRECONDITION,
    NodeNotAllowedError: grpc.StatusCode.PERMISSION_DENIED,
    NotFoundError: grpc.StatusCode.NOT_FOUND,
    UpstreamError: grpc.StatusCode.UNAVAILABLE,
    WorkerLostError: grpc.StatusCode.UNAVAILABLE,
    ChainError: grpc.StatusCode.UNAVAILABLE,
    BusyError: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ReplayTimeoutError: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_of(exc: ValidatorError) -> grpc.StatusCode:
    """The status code of ``exc``: its class's entry, else its nearest base class's."""
    for cls in type(exc).__mro__:
        code = STATUS_OF_ERROR.get(cls)  # type: ignore[call-overload]
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


__all__ = ["STATUS_OF_ERROR", "status_of"]
