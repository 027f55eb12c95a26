"""validator.grpc_status: every ValidatorError maps to the status validator.proto documents for it."""

from __future__ import annotations

import grpc

from validator import errors
from validator.grpc_status import status_of

Code = grpc.StatusCode

DOCUMENTED = {  # validator.proto, ReplayWindow's error table (and INTERNAL for the base class)
    "ValidatorError": Code.INTERNAL,
    "InvalidInputError": Code.INVALID_ARGUMENT,
    "StartStateError": Code.INVALID_ARGUMENT,
    "InputTooLargeError": Code.INVALID_ARGUMENT,
    "DatasetInvalidError": Code.INVALID_ARGUMENT,
    "RecordsRootMismatchError": Code.INVALID_ARGUMENT,
    "StartStateMismatchError": Code.FAILED_PRECONDITION,
    "CommitmentMismatchError": Code.FAILED_PRECONDITION,
    "MissingInputError": Code.FAILED_PRECONDITION,
    "ConfigError": Code.FAILED_PRECONDITION,
    "NodeNotAllowedError": Code.PERMISSION_DENIED,
    "NotFoundError": Code.NOT_FOUND,
    "UpstreamError": Code.UNAVAILABLE,
    "WorkerLostError": Code.UNAVAILABLE,
    "ChainError": Code.UNAVAILABLE,
    "BusyError": Code.RESOURCE_EXHAUSTED,
    "ReplayTimeoutError": Code.DEADLINE_EXCEEDED,
}


def test_every_error_class_has_its_documented_status() -> None:
    assert set(DOCUMENTED) == set(errors.__all__)
    for name, code in DOCUMENTED.items():
        cls = getattr(errors, name)
        assert status_of(cls.__new__(cls)) == code, name


def test_a_subclass_takes_its_base_class_status() -> None:
    class BeastGone(errors.NotFoundError):
        pass

    class Odd(errors.ValidatorError):
        pass

    assert status_of(BeastGone("beast 9")) == Code.NOT_FOUND
    assert status_of(Odd("?")) == Code.INTERNAL
