"""The embedded devnet: py-evm in this process, contracts deployed, test accounts funded.

``start()`` takes about a second. Transactions use fixed gas limits where the cost is bounded,
so a commit costs one py-evm execution (no estimate); install coincurve for fast signatures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from web3 import Web3

from devnet.bindings import ChainBeasts
from devnet.deploy import DEFAULT_GAME_CLOCK_BLOCKS, DEFAULT_SPEC_VERSION, DEFAULT_TIMELOCK_DELAY, deploy, fund
from devnet.indexed_backend import IndexedBackend
from devnet.embedded_provider import embedded_web3

DEFAULT_ENERGY = 10**6 * 10**18  # ENERGY minted to each test account
# Committer stake of each dev account (of its DEFAULT_ENERGY): covers any one commitMany of a few
# thousand windows at the devnet season's costs, so tests and demos commit without a staking step.
DEFAULT_STAKE = 10**3 * 10**18


def default_stake(energy_per_account: int, approve: bool) -> int:
    """The stake :func:`start` and ``cb-devnet up`` give each dev account when not told: DEFAULT_STAKE when the
    accounts approve the ledger and hold that much, else none."""
    return DEFAULT_STAKE if approve and energy_per_account >= DEFAULT_STAKE else 0


@dataclass
class EmbeddedDevnet:
    """An in-process chain with the contracts deployed.

    ``accounts[0]`` is the deployer (ENERGY minter, registry owner); every account holds ETH and
    ``energy_per_account`` ENERGY, has approved the ledger and the bisection game, and has staked
    ``stake`` of its ENERGY as committer stake (:func:`start`).
    """

    w3: Web3
    chain: ChainBeasts
    accounts: list[LocalAccount]
    tester: EthereumTester
    deploy_block: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def deployer(self) -> LocalAccount:
        return self.accounts[0]

    def mine(self, blocks: int = 1) -> int:
        """Mine ``blocks`` empty blocks; returns the new block number."""
        if blocks > 0:
            self.tester.mine_blocks(blocks)
        return int(self.w3.eth.block_number)

    def deployments(self, rpc_url: str | None = None, engine: str = "pyevm") -> dict[str, Any]:
        """The deployments-file dict describing this chain."""
        return deployments_dict(self.chain, self.accounts, self.deploy_block, rpc_url=rpc_url, engine=engine)


def deployments_dict(chain: ChainBeasts, accounts: list[LocalAccount], deploy_block: int, *, rpc_url: str | None,
                     engine: str) -> dict[str, Any]:
    """Build the JSON-ready deployments description (see devnet.connect).

    ``season`` records the registry's constants in force when this is called and the spec version
    the deployment hatches (read from the chain).
    """
    from devnet import artifacts

    season = {"timelockDelay": chain.timelock_delay(), "specVersion": chain.spec_version(),
              "gameClockBlocks": chain.clock_blocks(), "params": chain.params()}
    return {
        "version": 1,
        "engine": engine,
        "rpcUrl": rpc_url,
        "chainId": chain.sender.chain_id,
        "deployBlock": deploy_block,
        "contracts": dict(chain.addresses),
        "deployer": accounts[0].address if accounts else None,
        "accounts": [{"address": a.address, "privateKey": "0x" + bytes(a.key).hex()} for a in accounts],
        "artifactsSourceHash": artifacts.load("CheckpointLedger").source_hash,
        "season": season,
    }


def start(
    *,
    accounts: int = 10,
    energy_per_account: int = DEFAULT_ENERGY,
    params: Mapping[str, int] | None = None,
    timelock_delay: int = DEFAULT_TIMELOCK_DELAY,
    approve: bool = True,
    spec_version: int = DEFAULT_SPEC_VERSION,
    genesis_timestamp: int | None = None,
    game_clock_blocks: int = DEFAULT_GAME_CLOCK_BLOCKS,
    stake: int | None = None,
) -> EmbeddedDevnet:
    """Start an in-process py-evm chain, deploy the contracts (hatching beasts of ``spec_version``;
    bisection games with ``game_clock_blocks`` per side) and fund ``accounts`` accounts.

    ``stake``: committer stake each account puts in the ledger (CheckpointLedger.stake) so that it
    can commit at once; default :data:`DEFAULT_STAKE` (1,000 ENERGY) when ``approve`` and
    ``energy_per_account`` allow it, else 0; pass 0 to test the unstaked path (commits are refused
    LedgerStakeInsufficient until ``chain.stake``). ``genesis_timestamp`` in the future makes the
    chain reproducible: py-evm stamps a block max(now, parent + 1), so every block hash (and each
    beast's seedCore) repeats from run to run (``cb-node demo --seed``)."""
    overrides = {"gas_limit": 60_000_000} | ({"timestamp": genesis_timestamp} if genesis_timestamp else {})
    genesis = PyEVMBackend.generate_genesis_params(overrides=overrides)
    state = PyEVMBackend.generate_genesis_state(num_accounts=accounts)
    if genesis_timestamp:
        from devnet.reproducible import ReproducibleBackend

        backend = ReproducibleBackend(genesis_parameters=genesis, genesis_state=state)
    else:
        backend = IndexedBackend(genesis_parameters=genesis, genesis_state=state)
    tester = EthereumTester(backend)
    w3 = embedded_web3(tester)
    keys = [Account.from_key(k.to_bytes()) for k in backend.account_keys][:accounts]
    chain = deploy(w3, keys[0], params=params, timelock_delay=timelock_delay, spec_version=spec_version,
                   game_clock_blocks=game_clock_blocks)
    fund(chain, keys[0], keys, energy_per_account, approve=approve,
         stake=default_stake(energy_per_account, approve) if stake is None else stake)
    chain.accounts = keys
    return EmbeddedDevnet(w3=w3, chain=chain, accounts=keys, tester=tester, deploy_block=int(w3.eth.block_number))
