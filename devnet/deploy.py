"""Deploying the contracts to any web3 connection and funding (and staking) development accounts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import artifacts
from devnet.bindings import ChainBeasts, Param
from devnet.errors import ChainError, ConfigError, ErrorDecoder
from devnet.season import (DEFAULT_GAME_CLOCK_BLOCKS, DEFAULT_PARAMS, DEFAULT_SPEC_VERSION, DEFAULT_TIMELOCK_DELAY,
                           MAX_GAME_CLOCK_BLOCKS, MIN_GAME_CLOCK_BLOCKS, check_game_clock, check_spec_version,
                           check_timelock_delay, initial_values)
from devnet.tx import Sender

__all__ = ["DEFAULT_GAME_CLOCK_BLOCKS", "DEFAULT_PARAMS", "DEFAULT_SPEC_VERSION", "DEFAULT_TIMELOCK_DELAY", "MAX_GAME_CLOCK_BLOCKS",
           "MIN_GAME_CLOCK_BLOCKS", "check_game_clock", "deploy", "fund"]



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
    game_clock_blocks: int = DEFAULT_GAME_CLOCK_BLOCKS,
) -> ChainBeasts:
    """Deploy Energy, Beast, SeasonRegistry, CheckpointLedger, StepVerifier and BisectionGame; bind the game.

    ``deployer`` becomes ENERGY admin/minter and registry owner. ``params`` overrides
    ``DEFAULT_PARAMS`` (names as in devnet.season); ``spec_version`` is the kernel spec version of
    every beast the deployment hatches (Beast's constructor argument, fixed for the season);
    ``game_clock_blocks`` is each side's clock in a bisection game (BisectionGame's constructor
    argument). Every value is checked (ConfigError) before the first transaction. The game is
    bound to the ledger in the deployment itself (``bindBisectionGame``: once, by the deployer),
    so nobody can bind another game before it. Returns the bindings.
    """
    initial = initial_values(params)
    timelock_delay = check_timelock_delay(timelock_delay)
    spec_version = check_spec_version(spec_version)
    game_clock_blocks = check_game_clock(game_clock_blocks)
    decoder = ErrorDecoder([a.abi for a in artifacts.load_all().values()])
    sender = Sender(w3, decoder)
    energy = _create(sender, deployer, "Energy", ["address"], [deployer.address])
    beast = _create(sender, deployer, "Beast", ["uint16"], [spec_version])
    registry = _create(sender, deployer, "SeasonRegistry", ["address", "uint64", f"uint96[{len(Param)}]"],
                       [deployer.address, timelock_delay, initial])
    ledger = _create(sender, deployer, "CheckpointLedger", ["address", "address", "address"], [energy, beast, registry])
    verifier = _create(sender, deployer, "StepVerifier", [], [])
    game = _create(sender, deployer, "BisectionGame", ["address", "address", "uint32"], [ledger, verifier, game_clock_blocks])
    addresses = {"Energy": energy, "Beast": beast, "SeasonRegistry": registry, "CheckpointLedger": ledger,
                 "StepVerifier": verifier, "BisectionGame": game}
    chain = ChainBeasts(w3, addresses)
    chain.sender = sender  # keep the nonce cache of the deployer
    chain.bind_bisection_game(deployer)
    return chain


def fund(chain: ChainBeasts, minter: LocalAccount, accounts: Sequence[LocalAccount], amount: int, *, approve: bool = True,
         stake: int = 0) -> None:
    """Mint ``amount`` ENERGY to each account, (optionally) approve ledger and game without limit, and
    stake ``stake`` of it as committer stake (CheckpointLedger.stake; needs ``approve``).

    Every commit needs the committer's stake to cover the call's energyBurn; a dev account staked
    here commits at once (a real node stakes explicitly, cb-node does).
    """
    if stake and not approve:
        raise ConfigError("staking needs the ledger's allowance: fund(..., approve=True)")
    if amount and stake > amount:
        raise ConfigError(f"cannot stake {stake} of the {amount} ENERGY minted per account")
    for acct in accounts:
        if amount:
            chain.mint(minter, acct.address, amount)
        if approve:
            chain.ensure_approvals(acct)
        if stake:
            chain.stake(acct, stake)
