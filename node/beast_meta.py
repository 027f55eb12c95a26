"""``beast.json``: the hatch data of one beast and where its private curriculum files are.

One typed record, :class:`BeastMeta`, with one encoder and one decoder; the hatch, the
adoption of a beast hatched elsewhere and every reader go through it. The file holds no
secret: the dataset and secret paths name 0600 files that stay where the owner keeps them.

File format (JSON object, keys sorted, two-space indent, one trailing newline)::

    beast_id            int >= 1, equal to the run directory's beast id
    seed_core           "0x" + 64 hex digits  \\
    dataset_commitment  "0x" + 64 hex digits   } Beast.hatchData, as the chain fixed them
    secret_commitment   "0x" + 64 hex digits   }
    spec_version        int >= 0               }  (the version the beast trains and replays under)
    hatch_block         int >= 0               }
    records_root        "0x" + 64 hex digits  /   R_dataset; only when not zero (a version 2 private beast)
    owner, hatch_tx     strings, only when this node hatched the beast
    dataset_path, secret_path   strings, only for a private curriculum hatched here
    adopted             true, only when the beast was hatched elsewhere (``authorizeTrainer``)
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Final

from devnet.records import HatchData
from kernel.state import ZERO32
from node.errors import DataError

META_NAME: Final = "beast.json"
META_MAX_BYTES: Final = 64 * 1024  # hatch data and two paths take well under 1 KiB
_BYTES32: Final = ("seed_core", "dataset_commitment", "secret_commitment")
_INTS: Final = ("beast_id", "spec_version", "hatch_block")
_OPTIONAL_STRINGS: Final = ("owner", "hatch_tx", "dataset_path", "secret_path")
_RECORDS_ROOT: Final = "records_root"  # optional: absent = zero (every version 1 beast, files written before it)


@dataclass(frozen=True)
class BeastMeta:
    """The contents of one ``beast.json``."""

    beast_id: int
    hatch: HatchData  # Beast.hatchData, as the chain fixed it
    owner: str | None = None  # the account that hatched it, when this node did
    hatch_tx: str | None = None  # the hatch transaction, when this node hatched it
    dataset_path: str | None = None  # private curriculum files (absolute paths), when hatched here
    secret_path: str | None = None
    adopted: bool = False  # hatched elsewhere; this node's key is an authorized trainer

    @property
    def is_private(self) -> bool:
        """Whether the beast trains on a private dataset (its commitment is not zero)."""
        return self.hatch.dataset_commitment != ZERO32

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the file (bytes as 0x-hex; absent optional fields left out)."""
        doc: dict[str, Any] = {"beast_id": self.beast_id}
        doc.update({k: "0x" + v.hex() if isinstance(v, bytes) else v for k, v in asdict(self.hatch).items()})
        if self.hatch.records_root == ZERO32:
            del doc[_RECORDS_ROOT]  # a version 1 beast's file stays as it always was
        doc.update({k: getattr(self, k) for k in _OPTIONAL_STRINGS if getattr(self, k) is not None})
        if self.adopted:
            doc["adopted"] = True
        return doc

    def encode(self) -> bytes:
        """The file's bytes."""
        return (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def decode(cls, data: bytes, where: str) -> BeastMeta:
        """Parse a file's bytes; anything malformed is a DataError naming ``where`` and the bad field."""
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise DataError(f"{where} is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise DataError(f"{where} must hold a JSON object, got {type(doc).__name__}")
        known = {*_BYTES32, *_INTS, *_OPTIONAL_STRINGS, _RECORDS_ROOT, "adopted"}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise DataError(f"{where}: unknown keys {unknown}")
        missing = [k for k in (*_INTS, *_BYTES32) if k not in doc]
        if missing:
            raise DataError(f"{where} lacks {', '.join(missing)}")
        ints = {k: _uint(doc, k, where) for k in _INTS}
        beast_id = ints.pop("beast_id")
        if beast_id < 1:
            raise DataError(f"{where}: beast_id must be >= 1, got {beast_id}")
        records_root = _bytes32(doc, _RECORDS_ROOT, where) if _RECORDS_ROOT in doc else ZERO32
        hatch = HatchData(**{k: _bytes32(doc, k, where) for k in _BYTES32}, **ints, records_root=records_root)
        fields: dict[str, Any] = {}
        for k in _OPTIONAL_STRINGS:
            if k in doc and not isinstance(doc[k], str):
                raise DataError(f"{where}: {k} must be a string, got {doc[k]!r}")
            fields[k] = doc.get(k)
        adopted = doc.get("adopted", False)
        if not isinstance(adopted, bool):
            raise DataError(f"{where}: adopted must be true or false, got {adopted!r}")
        return cls(beast_id, hatch, **fields, adopted=adopted)


def _uint(doc: dict[str, Any], key: str, where: str) -> int:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"{where}: {key} must be an integer >= 0, got {value!r}")
    return value


def _bytes32(doc: dict[str, Any], key: str, where: str) -> bytes:
    value = doc[key]
    if isinstance(value, str) and len(value) == 66 and value.startswith("0x"):
        with contextlib.suppress(ValueError):
            raw = bytes.fromhex(value[2:])
            if len(raw) == 32:
                return raw
    raise DataError(f"{where}: {key} must be 0x and 64 hex digits, got {value!r}")


__all__ = ["META_MAX_BYTES", "META_NAME", "BeastMeta"]
