"""ChainBeasts committed private curriculum (SPEC §10).

Dataset files (header + 28-byte board records in one zstd frame) committed by
keccak256 of their bytes, owner secrets committed by keccak256, the private sampler
``sampleIdx = splitMix64(fold64(seed_core) ^ fold64(S_owner) ^ g) mod DATASET_LEN``,
importers from CSV / JSON lines, and the ``cb-curriculum`` CLI.
"""

from curriculum.dataset import MAX_DATASET_BYTES, MAX_RECORDS, Dataset, dataset_commitment, decode_dataset, encode_dataset
from curriculum.errors import (
    CommitmentMismatchError,
    CurriculumError,
    DatasetFormatError,
    DatasetTooLargeError,
    OutputExistsError,
    RowError,
    SamplingError,
    SecretFileError,
)
from curriculum.files import load_dataset, read_dataset_bytes, write_dataset
from curriculum.sampling import sample_index
from curriculum.secret import OwnerSecret, new_secret_file, read_owner_only, read_secret_file, secret_commitment
from curriculum.source import PrivateDatasetSource, load_private_source

__all__ = [
    "MAX_DATASET_BYTES",
    "MAX_RECORDS",
    "CommitmentMismatchError",
    "CurriculumError",
    "Dataset",
    "DatasetFormatError",
    "DatasetTooLargeError",
    "OutputExistsError",
    "OwnerSecret",
    "PrivateDatasetSource",
    "RowError",
    "SamplingError",
    "SecretFileError",
    "dataset_commitment",
    "decode_dataset",
    "encode_dataset",
    "load_dataset",
    "load_private_source",
    "new_secret_file",
    "read_dataset_bytes",
    "read_owner_only",
    "read_secret_file",
    "sample_index",
    "secret_commitment",
    "write_dataset",
]
