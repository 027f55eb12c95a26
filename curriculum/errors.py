"""Exception types of the curriculum package.

Every error the package raises on purpose is a ``CurriculumError``; the subclasses say
which kind of input was refused. No message ever contains an owner secret.
"""

from __future__ import annotations


class CurriculumError(Exception):
    """Base class: raised when the curriculum package refuses its input."""


class DatasetFormatError(CurriculumError):
    """Raised when dataset bytes are not a well-formed dataset file (SPEC §10.2)."""


class DatasetTooLargeError(DatasetFormatError):
    """Raised when a dataset file exceeds ``max_bytes`` or declares too many records."""


class CommitmentMismatchError(CurriculumError):
    """Raised when keccak256 of a file or secret differs from the expected commitment.

    ``what`` names the committed object; ``expected`` and ``actual`` are the 32-byte
    commitments (public values: a commitment never reveals the secret behind it).
    """

    def __init__(self, what: str, expected: bytes, actual: bytes) -> None:
        self.what = what
        self.expected = expected
        self.actual = actual
        super().__init__(f"{what} commitment mismatch: expected 0x{expected.hex()}, got 0x{actual.hex()}")


class RowError(CurriculumError):
    """Raised when one row of an imported CSV or JSON-lines file is invalid.

    ``source`` is the file name, ``line`` the 1-based line number the row ends on.
    """

    def __init__(self, source: str, line: int, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        super().__init__(f"{source}:{line}: {reason}")


class SecretFileError(CurriculumError):
    """Raised when an owner-secret file is missing, unsafe (permissions, type) or malformed."""


class SamplingError(CurriculumError):
    """Raised when sample_index or a sample source gets arguments out of range."""


class OutputExistsError(CurriculumError):
    """Raised when an output file already exists and overwriting was not asked for."""


class RecordProofError(CurriculumError):
    """Raised when a records commitment or a record's Merkle path is malformed or does not prove the record.

    Messages name the index and the reason, never the record's bytes (private data).
    """
