"""Connecting to a running devnet (or any chain) from its deployments JSON file.

The file (written by ``cb-devnet up`` / ``cb-devnet deploy``)::

    {"version": 1, "engine": "pyevm" | "anvil" | "rpc", "rpcUrl": "http://127.0.0.1:8545",
     "chainId": 131277322940537, "deployBlock": 6,
     "contracts": {"Energy": "0x..", "Beast": "0x..", "SeasonRegistry": "0x..",
                   "CheckpointLedger": "0x..", "StepVerifier": "0x..", "BisectionGame": "0x.."},
     "deployer": "0x..",
     "accounts": [{"address": "0x..", "privateKey": "0x.."}, ...],   # dev chains only
     "artifactsSourceHash": "0x..",
     "season": {"timelockDelay": 10, "specVersion": 2, "gameClockBlocks": 64,
                "params": {"window_steps": 128, "base_cost": ..., ...}}}

``season`` holds the SeasonRegistry constants in force when the file was written, named as in
``devnet.season`` (so ``params`` can be fed back as a ``cb-devnet --season`` file), the kernel
spec version the deployment hatches (Beast.SPEC_VERSION) and the bisection game's clock
(BisectionGame.clockBlocks). Older files may lack them; readers must treat them as optional (the
chain is the authority either way: ``ChainBeasts.params()``, ``spec_version()``, ``clock_blocks()``).
A file of a deployment before the bisection game (with a ``DisputeGame``, without ``StepVerifier``
and ``BisectionGame``) is refused by :func:`connect` with a ConfigError naming what it lacks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.bindings import ChainBeasts
from devnet.errors import ChainError, ConfigError
from kernel.host import FileMissingError, FileReadError, atomic_write, read_file

DEPLOYMENTS_VERSION = 1
MAX_DEPLOYMENTS_BYTES = 16 << 20  # far above any real file (contract addresses, a few dev accounts)


def load_deployments(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and validate a deployments file; raises ConfigError when unusable (a FIFO is refused, not waited on)."""
    p = Path(path)
    try:
        data = json.loads(read_file(p, limit=MAX_DEPLOYMENTS_BYTES, what="deployments file"))
    except FileMissingError:
        raise ConfigError(f"deployments file not found: {p}") from None
    except FileReadError as exc:
        raise ConfigError(str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"deployments file {p} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != DEPLOYMENTS_VERSION or not isinstance(data.get("contracts"), dict):
        raise ConfigError(f"deployments file {p} is not a version-{DEPLOYMENTS_VERSION} deployments file")
    return data


def write_deployments(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write atomically (kernel.host.atomic_write: temp file, fsync, rename, fsync folder; mode 0600)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, (json.dumps(data, indent=2) + "\n").encode())


def dev_accounts(data: dict[str, Any]) -> list[LocalAccount]:
    """The funded development accounts listed in a deployments file (empty on real networks)."""
    return [Account.from_key(a["privateKey"]) for a in data.get("accounts", [])]


def connect(deployments: str | os.PathLike[str] | dict[str, Any], rpc_url: str | None = None, *, timeout: float = 30.0) -> ChainBeasts:
    """Bindings for the chain described by ``deployments`` (a path or parsed dict).

    ``rpc_url`` overrides the file's ``rpcUrl``. The returned object's ``accounts`` holds the
    file's dev accounts. Raises ConfigError for a bad file, ChainError when the RPC is
    unreachable or serves a different chain id.
    """
    data = deployments if isinstance(deployments, dict) else load_deployments(deployments)
    url = rpc_url or data.get("rpcUrl")
    if not url:
        raise ConfigError("no RPC URL: pass rpc_url or put rpcUrl in the deployments file")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    try:
        chain_id = int(w3.eth.chain_id)
    except Exception as exc:  # noqa: BLE001 - connection errors come in many types
        raise ChainError(f"cannot reach {url}: {exc}") from exc
    if "chainId" in data and int(data["chainId"]) != chain_id:
        raise ChainError(f"{url} serves chain id {chain_id}, the deployments file says {data['chainId']}")
    chain = ChainBeasts(w3, data["contracts"], deploy_block=int(data.get("deployBlock") or 0))
    chain.accounts = dev_accounts(data)
    return chain
