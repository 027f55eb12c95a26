"""Deploying the five contracts to any web3 connection and funding development accounts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import artifacts
from devnet.bindings import ChainBeasts, Param
from devnet.errors import ChainError, ErrorDecoder
from devnet.season import (DEFAULT_PARAMS, DEFAULT_SPEC_VERSION, DEFAULT_TIMELOCK_DELAY, check_spec_version, check_timelock_delay,
                           initial_values)
from devnet.tx import Sender

__all__ = ["DEFAULT_PARAMS", "DEFAULT_SPEC_VERSION", "DEFAULT_TIMELOCK_DELAY", "deploy", "fund"]


def _create(sender: Sender, deployer: LocalAccount, name: str, types: Sequence[str], args: Sequence[object]) -> str:
    art = artifacts.load(name)
    data = bytes.fromhex(art.bytecode.removeprefix("0x")) + abi_encode(list(types), list(args))
    receipt = sender.send(deployer, None, data, gas=None)
    address = receipt.get("contractAddress")
    if not address:
        raise ChainError(f"deploying {name} produced no contract address")
    return Web3.to_checksum_address(address)


def deploy(
    w3: Web3,
    deployer: LocalAccount,
    *,
    params: Mapping[str, int] | None = None,
    timelock_delay: int = DEFAULT_TIMELOCK_DELAY,
    spec_version: int = DEFAULT_SPEC_VERSION,
) -> ChainBeasts:
    """Deploy Energy, Beast, SeasonRegistry, CheckpointLedger and DisputeGame; bind the game.

    ``deployer`` becomes ENERGY admin/minter and registry owner. ``params`` overrides
    ``DEFAULT_PARAMS`` (names as in devnet.season); ``spec_version`` is the kernel spec version of
    every beast the deployment hatches (Beast's constructor argument, fixed for the season). Every
    value, ``timelock_delay`` and ``spec_version`` are checked (ConfigError) before the first
    transaction. Returns the bindings.
    """
    initial = initial_values(params)
    timelock_delay = check_timelock_delay(timelock_delay)
    spec_version = check_spec_version(spec_version)
    decoder = ErrorDecoder([a.abi for a in artifacts.load_all().values()])
    sender = Sender(w3, decoder)
    energy = _create(sender, deployer, "Energy", ["address"], [deployer.address])
    beast = _create(sender, deployer, "Beast", ["uint16"], [spec_version])
    registry = _create(sender, deployer, "SeasonRegistry", ["address", "uint64", f"uint96[{len(Param)}]"],
                       [deployer.address, timelock_delay, initial])
    ledger = _create(sender, deployer, "CheckpointLedger", ["address", "address", "address"], [energy, beast, registry])
    game = _create(sender, deployer, "DisputeGame", ["address"], [ledger])
    addresses = {"Energy": energy, "Beast": beast, "SeasonRegistry": registry, "CheckpointLedger": ledger, "DisputeGame": game}
    chain = ChainBeasts(w3, addresses)
    chain.sender = sender  # keep the nonce cache of the deployer
    chain.bind_dispute_game(deployer)
    return chain


def fund(chain: ChainBeasts, minter: LocalAccount, accounts: Sequence[LocalAccount], amount: int, *, approve: bool = True) -> None:
    """Mint ``amount`` ENERGY to each account and (optionally) approve ledger and game without limit."""
    for acct in accounts:
        if amount:
            chain.mint(minter, acct.address, amount)
        if approve:
            chain.ensure_approvals(acct)
