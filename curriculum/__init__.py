"""ChainBeasts committed private curriculum (SPEC §10).

Dataset files (header + 28-byte board records in one zstd frame) committed by
keccak256 of their bytes and (spec_version 2) their records by the Merkle commitment
R_dataset with per-record proofs, owner secrets committed by keccak256, the private
sampler (v1: ``splitMix64(fold64(seed_core) ^ fold64(S_owner) ^ g) mod DATASET_LEN``;
v2: ``keccak256(sample_key || u32_be(g)) mod DATASET_LEN``), importers from CSV / JSON
lines, and the ``cb-curriculum`` CLI.
"""

from curriculum.dataset import MAX_DATASET_BYTES, MAX_RECORDS, Dataset, dataset_commitment, decode_dataset, encode_dataset
from curriculum.errors import (
    CommitmentMismatchError,
    CurriculumError,
    DatasetFormatError,
    DatasetTooLargeError,
    OutputExistsError,
    RecordProofError,
    RowError,
    SamplingError,
    SecretFileError,
)
from curriculum.files import load_dataset, read_dataset_bytes, write_dataset
from curriculum.records import RecordProof, merkle_path, merkle_root, record_proof, records_root, verify_path
from curriculum.sampling import SampleKey, sample_index, sample_index_v2, sample_indices_v2, sample_key_v2
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
    "RecordProof",
    "RecordProofError",
    "RowError",
    "SampleKey",
    "SamplingError",
    "SecretFileError",
    "dataset_commitment",
    "decode_dataset",
    "encode_dataset",
    "load_dataset",
    "load_private_source",
    "merkle_path",
    "merkle_root",
    "new_secret_file",
    "read_dataset_bytes",
    "read_owner_only",
    "read_secret_file",
    "record_proof",
    "records_root",
    "sample_index",
    "sample_index_v2",
    "sample_indices_v2",
    "sample_key_v2",
    "secret_commitment",
    "verify_path",
    "write_dataset",
]
