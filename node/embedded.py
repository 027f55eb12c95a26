"""The chain the node talks to: the embedded py-evm devnet (same process) or a JSON-RPC URL.

Both come from the devnet package (``devnet.start()`` / ``devnet.connect()``): the node
reuses its contract bindings, ABIs and error decoder, and signs its own transactions with
:class:`node.chain.ChainClient` so it can record each hash before broadcasting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from collections.abc import Callable

import devnet
from chainbeasts.hints import is_unreachable, unreachable
from devnet.errors import ErrorDecoder
from devnet.errors import LedgerError as DevnetError
from devnet.season import DEFAULT_SPEC_VERSION
from eth_account.signers.local import LocalAccount
from web3 import Web3

from node.errors import ChainError, ConfigError

ETH: Final = 10**18


@dataclass
class ChainHandle:
    """A connected chain with the ChainBeasts contracts bound, plus devnet helpers when embedded."""

    w3: Web3
    contracts: dict[str, Any]  # Energy, Beast, SeasonRegistry, CheckpointLedger, BisectionGame (web3 Contracts)
    decoder: ErrorDecoder
    embedded: bool
    accounts: list[LocalAccount] = field(default_factory=list)  # funded dev accounts (devnets only)
    mine: Callable[[int], Any] | None = None  # mine n blocks (devnets only)
    bindings: Any = None  # devnet.bindings.ChainBeasts
    close: Callable[[], None] = field(default=lambda: None)


def _handle(cb: Any, embedded: bool) -> ChainHandle:
    from devnet import artifacts

    game = cb.w3.eth.contract(address=cb.addresses["BisectionGame"], abi=artifacts.load("BisectionGame").abi)
    contracts = {"Energy": cb.energy, "Beast": cb.beast, "SeasonRegistry": cb.registry,
                 "CheckpointLedger": cb.ledger, "BisectionGame": game}
    return ChainHandle(cb.w3, contracts, cb.decoder, embedded, accounts=list(cb.accounts), bindings=cb)


def embedded_chain(accounts: int = 4, genesis_timestamp: int | None = None,
                   spec_version: int = DEFAULT_SPEC_VERSION) -> ChainHandle:
    """Start the embedded py-evm devnet (contracts deployed, ``accounts`` accounts funded and approved),
    a season hatching beasts of ``spec_version``; a future ``genesis_timestamp`` makes its block
    hashes repeat from run to run (devnet.start)."""
    try:
        net = devnet.start(accounts=accounts, genesis_timestamp=genesis_timestamp, spec_version=spec_version)
    except DevnetError as exc:
        raise ChainError(f"cannot start the embedded devnet: {exc}") from exc
    h = _handle(net.chain, embedded=True)
    h.accounts = list(net.accounts)
    h.mine = net.mine
    return h


def connect_rpc(url: str | None, deployments: Path) -> ChainHandle:
    """Connect to a JSON-RPC chain described by a deployments file (``cb-devnet up`` writes one)."""
    try:
        cb = devnet.connect(deployments, rpc_url=url)
    except devnet.ConfigError as exc:
        raise ConfigError(str(exc)) from exc
    except DevnetError as exc:
        if is_unreachable(exc):
            raise ChainError(unreachable(str(url or "the deployments file's rpcUrl"), exc, "`rpc` in node.toml")) from exc
        raise ChainError(str(exc)) from exc
    h = _handle(cb, embedded=False)
    h.mine = lambda n: _rpc_mine(cb.w3, n)
    return h


def mines_only_on_transactions(chain: ChainHandle) -> bool:
    """Whether the chain makes a block only when a transaction arrives (the embedded devnet, or an
    automining anvil / ``cb-devnet up``): there, waiting for blocks after a receipt waits forever."""
    if chain.embedded:
        return True
    try:
        resp = chain.w3.provider.make_request("anvil_getAutomine", [])  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a real chain may refuse or drop unknown methods
        return False
    return isinstance(resp, dict) and resp.get("result") is True


def _rpc_mine(w3: Web3, n: int) -> None:
    """Mine n blocks on a devnet RPC: anvil_mine, else evm_mine one at a time."""
    resp = w3.provider.make_request("anvil_mine", [hex(n)])  # type: ignore[arg-type]
    if isinstance(resp, dict) and "error" not in resp:
        return
    for _ in range(n):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
