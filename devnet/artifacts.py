"""Loading the committed contract artifacts (contracts/build/<Name>.json).

The directory is ``$CB_ARTIFACTS`` when set, else ``contracts/build`` of the source checkout
this package lives in, else the copy installed with a wheel (package ``chainbeasts.contracts``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from devnet.errors import ArtifactError

CONTRACT_NAMES: tuple[str, ...] = ("Energy", "Beast", "SeasonRegistry", "CheckpointLedger", "StepVerifier", "BisectionGame")
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Artifact:
    """ABI and bytecode of one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str
    source_hash: str
    storage: dict[str, int]  # state variable -> storage slot (inherited ones included)

    def slot(self, label: str) -> int:
        """Storage slot of state variable ``label``; ArtifactError when the contract has none."""
        try:
            return self.storage[label]
        except KeyError:
            raise ArtifactError(f"{self.name} has no state variable {label!r} in its artifact") from None


def build_dir() -> Path:
    """Where the artifacts are read from: ``$CB_ARTIFACTS``, else the source checkout's
    ``contracts/build``, else the copy a wheel installs as the package ``chainbeasts.contracts``."""
    env = os.environ.get("CB_ARTIFACTS")
    if env:
        return Path(env)
    checkout = REPO_ROOT / "contracts" / "build"
    if checkout.is_dir():
        return checkout
    try:
        import chainbeasts.contracts as shipped
    except ImportError:
        return checkout  # neither: load() names the checkout path in its error
    return Path(next(iter(shipped.__path__)))


@cache
def load(name: str) -> Artifact:
    """The artifact of contract ``name``; raises ArtifactError when missing or malformed."""
    path = build_dir() / f"{name}.json"
    try:
        raw = json.loads(path.read_text())
        return Artifact(
            name=name,
            abi=raw["abi"],
            bytecode=raw["bytecode"],
            deployed_bytecode=raw["deployedBytecode"],
            compiler_version=raw["compiler"]["version"],
            source_hash=raw["sourceHash"],
            storage={str(v["label"]): int(v["slot"]) for v in raw["storage"]},
        )
    except FileNotFoundError as exc:
        raise ArtifactError(f"missing artifact {path} (run `cd contracts && npm ci && node compile.js`)") from exc
    except (ValueError, KeyError) as exc:
        raise ArtifactError(f"malformed artifact {path}: {exc}") from exc


def load_all() -> dict[str, Artifact]:
    """Every artifact by contract name."""
    return {n: load(n) for n in CONTRACT_NAMES}
