"""ChainBeasts devnet: typed bindings to the contracts, an embedded py-evm chain and the cb-devnet CLI.

Quick start::

    import devnet
    net = devnet.start()                     # in-process py-evm, contracts deployed, accounts funded
    cb = net.chain                           # devnet.bindings.ChainBeasts
    owner = net.accounts[1]
    beast_id = cb.hatch(owner)
    cb.commit(owner, beast_id, word)         # 32-byte checkpoint word (kernel.payload.Payload.pack())

Elsewhere (another process)::

    cb = devnet.connect("runs/devnet/deployments.json")   # or connect(path, rpc_url=...)
"""

from devnet.bindings import ChainBeasts, DisputeInfo, HatchData, Outcome, TxResult, ValidatorInfo, WindowStatus
from devnet.connect import connect, load_deployments
from devnet.deploy import DEFAULT_PARAMS, deploy
from devnet.embedded import EmbeddedDevnet, start
from devnet.errors import (
    ArtifactError,
    BeastError,
    ChainError,
    ConfigError,
    ContractError,
    DisputeError,
    LedgerError,
    LedgerRevert,
    RegistryError,
    TokenError,
    TransactionReverted,
)

__all__ = [
    "ArtifactError",
    "BeastError",
    "ChainBeasts",
    "ChainError",
    "ConfigError",
    "ContractError",
    "DEFAULT_PARAMS",
    "DisputeError",
    "DisputeInfo",
    "EmbeddedDevnet",
    "HatchData",
    "LedgerError",
    "LedgerRevert",
    "Outcome",
    "RegistryError",
    "TokenError",
    "TransactionReverted",
    "TxResult",
    "ValidatorInfo",
    "WindowStatus",
    "connect",
    "deploy",
    "load_deployments",
    "start",
]
