"""Bringing up a devnet that other processes can reach: py-evm behind HTTP, or anvil."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.anvil import AnvilProcess, dev_keys
from devnet.bindings import ChainBeasts
from devnet.connect import write_deployments
from devnet.deploy import DEFAULT_GAME_CLOCK_BLOCKS, DEFAULT_SPEC_VERSION, DEFAULT_TIMELOCK_DELAY, deploy, fund
from devnet.embedded import DEFAULT_ENERGY, default_stake, deployments_dict, start
from devnet.errors import ConfigError
from devnet.server import RpcBridge, make_server, serve_in_thread


@dataclass
class RunningDevnet:
    """A devnet reachable at ``url``; ``stop()`` shuts it down."""

    engine: str
    url: str
    chain: ChainBeasts
    accounts: list[LocalAccount]
    deployments: dict[str, Any]
    _stop: Callable[[], None] = field(repr=False, default=lambda: None)

    def stop(self) -> None:
        self._stop()

    def __enter__(self) -> RunningDevnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch(
    engine: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8545,
    run_dir: str | os.PathLike[str] = "runs/devnet",
    deployments_path: str | os.PathLike[str] | None = None,
    accounts: int = 10,
    energy_per_account: int = DEFAULT_ENERGY,
    params: Mapping[str, int] | None = None,
    timelock_delay: int = DEFAULT_TIMELOCK_DELAY,
    genesis_block: int | None = None,
    spec_version: int = DEFAULT_SPEC_VERSION,
    game_clock_blocks: int = DEFAULT_GAME_CLOCK_BLOCKS,
    stake: int | None = None,
) -> RunningDevnet:
    """Start ``engine`` ("pyevm" or "anvil") on host:port (0 = free port), deploy (a season hatching
    beasts of ``spec_version``, games with ``game_clock_blocks`` per side), fund and stake the dev
    accounts (``stake`` as in devnet.embedded.start), and write the deployments file (default
    ``run_dir/deployments.json``). ``genesis_block`` (anvil only) numbers the first block."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    out = Path(deployments_path) if deployments_path else run / "deployments.json"
    if engine == "pyevm":
        if genesis_block is not None:
            raise ConfigError("genesis_block needs the anvil engine")
        net = start(accounts=accounts, energy_per_account=energy_per_account, params=params, timelock_delay=timelock_delay,
                    spec_version=spec_version, game_clock_blocks=game_clock_blocks, stake=stake)
        server = make_server(RpcBridge(net.w3, net.tester), host, port)
        url = f"http://{host}:{server.server_address[1]}"
        serve_in_thread(server)
        data = net.deployments(rpc_url=url, engine="pyevm")

        def stop() -> None:
            server.shutdown()
            server.server_close()

        write_deployments(out, data)
        return RunningDevnet("pyevm", url, net.chain, net.accounts, data, stop)
    if engine == "anvil":
        proc = AnvilProcess(run / "anvil", host=host, port=port, accounts=accounts, genesis_block=genesis_block).start()
        try:
            w3 = Web3(Web3.HTTPProvider(proc.url, request_kwargs={"timeout": 30}))
            keys = dev_keys(accounts)
            chain = deploy(w3, keys[0], params=params, timelock_delay=timelock_delay, spec_version=spec_version,
                           game_clock_blocks=game_clock_blocks)
            fund(chain, keys[0], keys, energy_per_account,
                 stake=default_stake(energy_per_account, True) if stake is None else stake)
            chain.accounts = keys
            data = deployments_dict(chain, keys, int(w3.eth.block_number), rpc_url=proc.url, engine="anvil")
            write_deployments(out, data)
        except BaseException:
            proc.stop()
            raise
        return RunningDevnet("anvil", proc.url, chain, keys, data, proc.stop)
    raise ConfigError(f"unknown engine {engine!r} (pyevm or anvil)")
