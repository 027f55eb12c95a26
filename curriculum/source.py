"""PrivateDatasetSource: the kernel SampleSource of a beast with a private curriculum.

One class for both spec versions: ``spec_version=1`` samples by fold64/splitMix64 (SPEC §4.1),
``spec_version=2`` by the keccak sample key (SPEC §10.5) and also exposes the records
commitment R_dataset and the Merkle proof of the record any micro-step trained on, which
a node needs to defend a dispute. The default stays 1 so that existing v1 callers keep
training bit for bit as before; v2 callers pass ``spec_version=2``.
"""

from __future__ import annotations

import os

from curriculum.dataset import MAX_DATASET_BYTES, Dataset
from curriculum.errors import CurriculumError, SamplingError
from curriculum.files import check_commitment, load_dataset
from curriculum.hexutil import ZERO32
from curriculum.records import RecordProof, RecordsTree, record_proof, records_tree
from curriculum.sampling import SampleKey, index_from_key, sample_index_v2, sample_indices_v2, sample_key, sample_key_v2
from curriculum.secret import OwnerSecret, read_secret_file
from kernel.board import Board
from kernel.context import WINDOW_STEPS, WindowContext

SPEC_VERSIONS = (1, 2)


class PrivateDatasetSource:
    """Yields ``dataset[sampleIdx(g)]`` for the 128 micro-steps of a window.

    Holds the dataset, the owner secret and (v2) the sample key; none appears in ``repr``.
    """

    private = True

    def __init__(self, dataset: Dataset, secret: OwnerSecret | bytes, *, spec_version: int = 1) -> None:
        if spec_version not in SPEC_VERSIONS or isinstance(spec_version, bool):
            raise SamplingError(f"spec_version must be one of {SPEC_VERSIONS}, got {spec_version!r}")
        self.dataset = dataset
        self.spec_version = spec_version
        self._secret = secret if isinstance(secret, OwnerSecret) else OwnerSecret(secret)
        self._v2_key: tuple[bytes, SampleKey] | None = None  # (seed_core, key) of the last seed_core seen

    @property
    def dataset_commitment(self) -> bytes:
        """C_dataset of the loaded dataset file."""
        return self.dataset.commitment

    @property
    def secret_commitment(self) -> bytes:
        """keccak256(S_owner)."""
        return self._secret.commitment

    @property
    def records_tree(self) -> RecordsTree:
        """The Merkle tree over the dataset's records (computed once per dataset, cached)."""
        return records_tree(self.dataset)

    @property
    def records_root(self) -> bytes:
        """R_dataset of the dataset (SPEC §10.2): what a v2 state's dataset_root holds."""
        return self.records_tree.records_root

    def _key_v2(self, seed_core: bytes) -> SampleKey:
        if self._v2_key is None or self._v2_key[0] != seed_core:
            self._v2_key = (bytes(seed_core), sample_key_v2(seed_core, self._secret))
        return self._v2_key[1]

    def index(self, seed_core: bytes, global_step: int) -> int:
        """sampleIdx(g) of the beast with ``seed_core`` under this source's spec_version."""
        if self.spec_version == 2:
            return sample_index_v2(self._key_v2(seed_core), global_step, len(self.dataset))
        return index_from_key(sample_key(seed_core, self._secret), global_step, len(self.dataset))

    def indices(self, ctx: WindowContext) -> list[int]:
        """sampleIdx of micro-steps 0..127 of the window, in step order."""
        n = len(self.dataset)
        if self.spec_version == 2:
            return sample_indices_v2(self._key_v2(ctx.seed_core), ctx.first_step, WINDOW_STEPS, n)
        key = sample_key(ctx.seed_core, self._secret)
        return [index_from_key(key, ctx.step(j), n) for j in range(WINDOW_STEPS)]

    def window_boards(self, ctx: WindowContext) -> list[Board]:
        """The boards for micro-steps 0..WINDOW_STEPS-1 of the window."""
        return [self.dataset.board(i) for i in self.indices(ctx)]

    def board_at(self, seed_core: bytes, global_step: int) -> Board:
        """The board micro-step ``global_step`` trains on (one step, as the verifier re-executes it)."""
        return self.dataset.board(self.index(seed_core, global_step))

    def proof(self, seed_core: bytes, global_step: int) -> RecordProof:
        """The record micro-step ``global_step`` trained on, with its Merkle path (v2 only).

        ``proof.index == sampleIdx(g)``; ``proof.verify(self.records_root)`` holds. This is
        what a node posts (with S_owner) to defend a disputed private step.
        """
        if self.spec_version != 2:
            raise SamplingError("record proofs exist for spec_version 2 sources only")
        return record_proof(self.dataset, self.index(seed_core, global_step))

    def __repr__(self) -> str:
        return (
            f"PrivateDatasetSource(dataset=0x{self.dataset.commitment.hex()}, records={len(self.dataset)}, "
            f"spec_version={self.spec_version}, secret=<redacted>)"
        )


def load_private_source(
    dataset_path: str | os.PathLike[str],
    secret_path: str | os.PathLike[str],
    *,
    dataset_commitment: bytes | None = None,
    secret_commitment: bytes | None = None,
    records_root: bytes | None = None,
    spec_version: int = 1,
    cache_dir: str | os.PathLike[str] | None = None,
    max_bytes: int = MAX_DATASET_BYTES,
) -> PrivateDatasetSource:
    """Load dataset and secret, refusing (CurriculumError) any commitment mismatch before training.

    ``dataset_commitment`` / ``secret_commitment`` / ``records_root`` are the values from the
    beast's hatch data; pass them whenever they are known. The dataset commitment is checked
    on the file bytes before decompression; for spec_version 2 the records root R_dataset is
    computed from the checked file and must equal ``records_root`` (SPEC §10.2: a file whose
    two commitments disagree is refused). A spec_version 1 beast has no records root: a
    nonzero one is refused.
    """
    if secret_commitment == ZERO32:
        raise CurriculumError("secret commitment is 0x00..00; this beast has no private curriculum")
    if spec_version == 1 and records_root not in (None, ZERO32):
        raise CurriculumError("a spec_version 1 beast has no records root (it must be 0x00..00)")
    if spec_version == 2 and records_root == ZERO32:
        raise CurriculumError("records root is 0x00..00; this beast has no private curriculum")
    dataset = load_dataset(dataset_path, expected_commitment=dataset_commitment, max_bytes=max_bytes, cache_dir=cache_dir)
    secret = read_secret_file(secret_path)
    check_commitment("owner secret", secret_commitment, secret.commitment)
    source = PrivateDatasetSource(dataset, secret, spec_version=spec_version)
    if spec_version == 2:
        check_commitment("dataset records", records_root, source.records_root)
    return source
