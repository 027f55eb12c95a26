"""PrivateDatasetSource: the kernel SampleSource of a beast with a private curriculum."""

from __future__ import annotations

import os

from curriculum.dataset import MAX_DATASET_BYTES, Dataset
from curriculum.files import check_commitment, load_dataset
from curriculum.errors import CurriculumError
from curriculum.hexutil import ZERO32
from curriculum.sampling import index_from_key, sample_key
from curriculum.secret import OwnerSecret, read_secret_file
from kernel.board import Board
from kernel.context import WINDOW_STEPS, WindowContext


class PrivateDatasetSource:
    """Yields ``dataset[sampleIdx(g)]`` for the 128 micro-steps of a window (SPEC §4.1).

    Holds the dataset and the owner secret; neither appears in ``repr``.
    """

    private = True

    def __init__(self, dataset: Dataset, secret: OwnerSecret | bytes) -> None:
        self.dataset = dataset
        self._secret = secret if isinstance(secret, OwnerSecret) else OwnerSecret(secret)

    @property
    def dataset_commitment(self) -> bytes:
        """C_dataset of the loaded dataset file."""
        return self.dataset.commitment

    @property
    def secret_commitment(self) -> bytes:
        """keccak256(S_owner)."""
        return self._secret.commitment

    def indices(self, ctx: WindowContext) -> list[int]:
        """sampleIdx of micro-steps 0..127 of the window, in step order."""
        key = sample_key(ctx.seed_core, self._secret)
        n = len(self.dataset)
        return [index_from_key(key, ctx.step(j), n) for j in range(WINDOW_STEPS)]

    def window_boards(self, ctx: WindowContext) -> list[Board]:
        """The boards for micro-steps 0..WINDOW_STEPS-1 of the window."""
        return [self.dataset.board(i) for i in self.indices(ctx)]

    def __repr__(self) -> str:
        return (
            f"PrivateDatasetSource(dataset=0x{self.dataset.commitment.hex()}, records={len(self.dataset)}, "
            f"secret=<redacted>)"
        )


def load_private_source(
    dataset_path: str | os.PathLike[str],
    secret_path: str | os.PathLike[str],
    *,
    dataset_commitment: bytes | None = None,
    secret_commitment: bytes | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    max_bytes: int = MAX_DATASET_BYTES,
) -> PrivateDatasetSource:
    """Load dataset and secret, refusing (CurriculumError) any commitment mismatch before training.

    ``dataset_commitment`` / ``secret_commitment`` are the values from the beast's hatch
    data; pass them whenever they are known. The dataset commitment is checked on the
    file bytes before decompression.
    """
    if secret_commitment == ZERO32:
        raise CurriculumError("secret commitment is 0x00..00; this beast has no private curriculum")
    dataset = load_dataset(dataset_path, expected_commitment=dataset_commitment, max_bytes=max_bytes, cache_dir=cache_dir)
    secret = read_secret_file(secret_path)
    check_commitment("owner secret", secret_commitment, secret.commitment)
    return PrivateDatasetSource(dataset, secret)
