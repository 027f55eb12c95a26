"""A private beast's curriculum as the challenger holds it: the dataset file and owner secret, checked
against the beast's hatch commitments before anything is spent.

A file over the season's ``maxDatasetBytes`` is still loaded (up to the format's bound,
``curriculum.dataset.MAX_FILE_BYTES``): it is the file the beast committed to, and the game opens one
record of it at a time, so its windows are disputed as any other's (``Curriculum.note`` says so). A file
whose invalidity can be shown on chain (:mod:`curriculum.invalid`) is disputed with
``proveInvalidDataset`` (:func:`provable_fault`); one whose invalidity cannot is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devnet.bindings import HatchData
from kernel.hashing import keccak256
from kernel.state import ZERO32
from validator.dispute.errors import DataError, RefusedError, UsageError


@dataclass(frozen=True)
class Curriculum:
    """A private beast's dataset file bytes and owner secret, checked against its commitments."""

    dataset: bytes = field(repr=False)
    owner_secret: bytes = field(repr=False)
    note: str | None = None  # e.g. the file is over the season's maxDatasetBytes (public: sizes only)

    def __repr__(self) -> str:
        return f"Curriculum(dataset=0x{keccak256(self.dataset).hex()}, owner_secret=<redacted>)"


def load_curriculum(hatch: HatchData, beast_id: int, dataset_path: Path | None, secret_path: Path | None,
                    *, max_bytes: int) -> Curriculum | None:
    """Read and check the dataset and secret files against the beast's hatch commitments.

    ``max_bytes`` is the season's dataset limit (``WindowOnChain.max_dataset_bytes``): no copy of it here. A
    file over it (up to MAX_FILE_BYTES) is loaded with a ``note`` saying so (module docstring).

    Returns None for a public beast. Raises UsageError for missing flags, DataError for unreadable files and
    RefusedError when a file does not match its commitment (before anything is spent).
    """
    from curriculum import CurriculumError, read_dataset_bytes, read_secret_file
    from curriculum.dataset import MAX_FILE_BYTES

    if hatch.dataset_commitment == ZERO32:
        if dataset_path is not None or secret_path is not None:
            raise UsageError(f"beast {beast_id} has no private curriculum (C_dataset is zero); drop --dataset and --secret-file")
        return None
    if dataset_path is None or secret_path is None:
        raise UsageError(f"beast {beast_id} trains on a private dataset: give --dataset FILE and --secret-file FILE "
                         f"(C_dataset 0x{hatch.dataset_commitment.hex()})")
    try:
        data = read_dataset_bytes(dataset_path, max_bytes=max(max_bytes, MAX_FILE_BYTES))
    except CurriculumError as exc:
        raise DataError(str(exc)) from None
    got = keccak256(data)
    # Verify the dataset file is the one committed at hatch.
    if got != hatch.dataset_commitment:
        raise RefusedError(
            f"dataset file {dataset_path} hashes to 0x{got.hex()}, but beast {beast_id} committed C_dataset "
            f"0x{hatch.dataset_commitment.hex()}; the dispute game would reject it (nothing was sent)")
    try:
        secret = read_secret_file(secret_path)
    except CurriculumError as exc:
        raise DataError(str(exc)) from None
    # Verify keccak256(S_owner) is the committed secret commitment.
    if secret.commitment != hatch.secret_commitment:
        raise RefusedError(
            f"the owner secret in {secret_path} does not match beast {beast_id}'s secret commitment "
            f"0x{hatch.secret_commitment.hex()} (its commitment is 0x{secret.commitment.hex()}); nothing was sent")
    note = None
    if len(data) > max_bytes:
        note = (f"dataset file {dataset_path} is {len(data)} bytes, over the season's maxDatasetBytes ({max_bytes}); "
                "it is the committed file, and the game opens one record at a time: disputed anyway")
    return Curriculum(data, secret.reveal(), note)



def dataset_fault(cur: Curriculum | None, hatch: HatchData) -> str | None:
    """Why no replay of the committed dataset of ``cur`` exists (None when one does, or for a public beast):
    the file is not a valid dataset file, or (spec version 2) its records root R_dataset is not the
    hatch's recordsRoot.

    ``cur`` matched the hatch commitments C_dataset and keccak256(S_owner) (load_curriculum), so
    either fault is in what the owner committed to at hatch: SPEC §10.2 and §10.6 count it against
    the trainer.
    """
    from curriculum import CurriculumError, decode_dataset
    from curriculum.records import records_root

    if cur is None:
        return None
    try:
        dataset = decode_dataset(cur.dataset, max_bytes=len(cur.dataset))  # read under the format's bound (load_curriculum)
    except CurriculumError as exc:
        return f"the committed dataset is not a valid dataset file ({exc})"
    if hatch.spec_version >= 2:
        actual = records_root(dataset)
        if actual != hatch.records_root:
            return (f"the committed dataset's records root is 0x{actual.hex()}, not the hatch's recordsRoot "
                    f"0x{hatch.records_root.hex()} (the owner hatched the beast with commitments that disagree, SPEC §10.2)")
    return None


def provable_fault(cur: Curriculum | None, hatch: HatchData) -> Any:
    """The ``curriculum.invalid.InvalidDatasetProof`` of a committed dataset that is invalid in a way the
    chain can check (an invalid record or a bad length under the hatch's recordsRoot), or None (a valid
    dataset, a public beast, or an invalidity nobody can show on chain: see :func:`dataset_fault`)."""
    from curriculum.invalid import invalid_dataset_proof

    if cur is None or hatch.spec_version < 2 or dataset_fault(cur, hatch) is None:
        return None
    return invalid_dataset_proof(cur.dataset, hatch.records_root)


def source_of(cur: Curriculum | None, spec_version: int) -> Any:
    """The kernel's training-input source for a beast of ``spec_version`` with curriculum ``cur`` (public when None)."""
    from curriculum import PrivateDatasetSource, decode_dataset
    from kernel.sources import PublicSource

    if cur is None:
        return PublicSource()
    try:
        return PrivateDatasetSource(decode_dataset(cur.dataset, max_bytes=len(cur.dataset)), cur.owner_secret,
                                    spec_version=spec_version)
    except Exception as exc:  # noqa: BLE001 - CurriculumError / KernelError
        raise DataError(f"the committed dataset does not decode: {exc}") from None


__all__ = ["Curriculum", "dataset_fault", "load_curriculum", "provable_fault", "source_of"]
