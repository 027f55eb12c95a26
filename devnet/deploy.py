"""Deploying the five contracts to any web3 connection and funding development accounts."""

from __future__ import annotations

from typing import Mapping, Sequence

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import artifacts
from devnet.bindings import ChainBeasts, Param
from devnet.errors import ChainError, ConfigError, ErrorDecoder
from devnet.tx import Sender

# Season constants of a devnet (time quantities in blocks). docs/PROTOCOL.md explains each.
DEFAULT_PARAMS: dict[str, int] = {
    "window_steps": 128,
    "base_cost": 10**15,
    "slab_params": 1136,  # kernel.params.KernelParams().slab_params
    "spurt_cost": 10**17,
    "epoch_steps": 512,
    "challenge_period": 20,
    "bond_multiplier": 2,
    "validator_quorum": 1,
    "voting_period": 20,
    "min_validator_stake": 100 * 10**18,
    "validator_withdraw_delay": 20,
    "max_dataset_bytes": 524_288,
}
DEFAULT_TIMELOCK_DELAY = 10  # blocks


def _initial(params: Mapping[str, int] | None) -> list[int]:
    merged = dict(DEFAULT_PARAMS)
    for k, v in (params or {}).items():
        if k not in merged:
            raise ConfigError(f"unknown season parameter {k!r} (known: {sorted(merged)})")
        merged[k] = int(v)
    return [merged[p.name.lower()] for p in Param]


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
) -> ChainBeasts:
    """Deploy Energy, Beast, SeasonRegistry, CheckpointLedger and DisputeGame; bind the game.

    ``deployer`` becomes ENERGY admin/minter and registry owner. Returns the bindings.
    """
    initial = _initial(params)
    decoder = ErrorDecoder([a.abi for a in artifacts.load_all().values()])
    sender = Sender(w3, decoder)
    energy = _create(sender, deployer, "Energy", ["address"], [deployer.address])
    beast = _create(sender, deployer, "Beast", [], [])
    registry = _create(sender, deployer, "SeasonRegistry", ["address", "uint64", "uint96[12]"], [deployer.address, timelock_delay, initial])
    ledger = _create(sender, deployer, "CheckpointLedger", ["address", "address", "address"], [energy, beast, registry])
    game = _create(sender, deployer, "DisputeGame", ["address"], [ledger])
    addresses = {"Energy": energy, "Beast": beast, "SeasonRegistry": registry, "CheckpointLedger": ledger, "DisputeGame": game}
    chain = ChainBeasts(w3, addresses)
    chain.sender = sender  # keep the nonce cache of the deployer
    chain._send(deployer, chain.ledger, "bindDisputeGame", [game], 100_000)
    return chain


def fund(chain: ChainBeasts, minter: LocalAccount, accounts: Sequence[LocalAccount], amount: int, *, approve: bool = True) -> None:
    """Mint ``amount`` ENERGY to each account and (optionally) approve ledger and game without limit."""
    for acct in accounts:
        if amount:
            chain.mint(minter, acct.address, amount)
        if approve:
            chain.ensure_approvals(acct)
