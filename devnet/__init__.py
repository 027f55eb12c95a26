"""ChainBeasts devnet: typed bindings to the contracts, an embedded py-evm chain and the cb-devnet CLI.

Quick start::

    import devnet
    net = devnet.start()                     # in-process py-evm, contracts deployed, accounts funded
    cb = net.chain                           # devnet.bindings.ChainBeasts
    owner = net.accounts[1]
    beast_id = cb.hatch(owner)
    cb.commit(owner, beast_id, word)         # 32-byte checkpoint word (kernel.payload.Payload.pack());
                                             # dev accounts are staked (devnet.start(stake=...))
    cb.commit_challenge(net.accounts[2], beast_id, 0, salt)   # a bisection game, in two blocks
    game_id = cb.challenge(net.accounts[2], beast_id, 0, salt)

Elsewhere (another process)::

    cb = devnet.connect("runs/devnet/deployments.json")   # or connect(path, rpc_url=...)
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from kernel.host import lazy_exports

# Name -> module that defines it. Loaded on first use (PEP 562) so that ``import devnet.errors``
# or ``devnet.records`` (the cb-devnet parser, cb-node's commands) does not import web3 and py-evm.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("ChainBeasts", "Committer", "GameInfo", "HatchData", "Outcome", "Pot", "Reason", "StakeInfo", "TxResult",
                     "VoidedRange", "WindowStatus"), "devnet.bindings"),
    "connect": "devnet.connect", "load_deployments": "devnet.connect",
    "DEFAULT_PARAMS": "devnet.deploy", "deploy": "devnet.deploy",
    "EmbeddedDevnet": "devnet.embedded", "start": "devnet.embedded",
    **dict.fromkeys(("ArtifactError", "BeastError", "ChainError", "ConfigError", "ContractError", "EventDecodeError",
                     "GameError", "LedgerError", "LedgerRevert", "RegistryError", "TokenError", "TransactionReverted"),
                    "devnet.errors"),
}

if TYPE_CHECKING:
    from devnet.bindings import (ChainBeasts, Committer, GameInfo, HatchData, Outcome, Pot, Reason, StakeInfo, TxResult,
                                 VoidedRange, WindowStatus)
    from devnet.connect import connect, load_deployments
    from devnet.deploy import DEFAULT_PARAMS, deploy
    from devnet.embedded import EmbeddedDevnet, start
    from devnet.errors import (
        ArtifactError,
        BeastError,
        ChainError,
        ConfigError,
        ContractError,
        EventDecodeError,
        GameError,
        LedgerError,
        LedgerRevert,
        RegistryError,
        TokenError,
        TransactionReverted,
    )


__getattr__ = lazy_exports(__name__, _LAZY, globals())  # imports the defining module on first use


class _Package(types.ModuleType):
    """``devnet.connect`` and ``devnet.deploy`` name functions, though modules of those names exist.

    Importing a submodule sets the package attribute of its name to the module; when the
    functions were imported eagerly here they were bound afterwards and won. Loaded lazily, the
    submodule may be imported first, so that binding is skipped and the function stays the attribute.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("connect", "deploy") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "ArtifactError",
    "BeastError",
    "ChainBeasts",
    "ChainError",
    "Committer",
    "ConfigError",
    "ContractError",
    "DEFAULT_PARAMS",
    "EmbeddedDevnet",
    "EventDecodeError",
    "GameError",
    "GameInfo",
    "HatchData",
    "LedgerError",
    "LedgerRevert",
    "Outcome",
    "Pot",
    "Reason",
    "RegistryError",
    "StakeInfo",
    "TokenError",
    "TransactionReverted",
    "TxResult",
    "VoidedRange",
    "WindowStatus",
    "connect",
    "deploy",
    "load_deployments",
    "start",
]
