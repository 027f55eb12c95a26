"""The committer stake (node.staking): `cb-node run` stakes what its commits need, and says so when it cannot.

Real embedded devnet and the node's engine for the policies; a real `cb-devnet up --engine pyevm`
process for the owner commands `cb-node stake` / `cb-node unstake` (text and --json).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli import main
from node.config import create_keystore, load_config, write_config
from node.embedded import embedded_chain
from node.errors import ConfigError
from node.staking import StakeInsufficientError, StakePolicy, parse_stake, stake_error
from node.store import COMMITTED, PERSISTED
from node.chain import ChainClient
from node.daemon import fund_on_devnet
from node.embedded import ChainHandle
from node.ledger import Ledger
from node.trainer import Engine
from tests.node.test_cli import init_node
from tests.node.test_rewind import devnet_with_long_period

ROOT = Path(__file__).resolve().parents[2]


def fresh_engine(chain: ChainHandle, data: Path) -> Engine:
    """An engine over a new account funded as `cb-node init` + `run` on a devnet funds one: ETH and ENERGY,
    nothing staked (the devnet's dev accounts come staked)."""
    from eth_account import Account

    acct = Account.create()
    fund_on_devnet(chain, acct.address)
    return Engine(data, Ledger(ChainClient(chain.w3, acct, decoder=chain.decoder), chain.contracts))


def test_auto_stakes_what_the_commits_need_and_a_fixed_amount_is_never_exceeded(tmp_path: Path) -> None:
    chain = embedded_chain()
    try:
        cb = chain.bindings
        engine = fresh_engine(chain, tmp_path / "auto")
        run = engine.hatch()
        engine.step([run])
        burn = run.store.get(1).energy_burn
        assert cb.stake_of(engine.ledger.client.address).staked == burn  # exactly one window's energyBurn
        engine.step([run])
        assert cb.stake_of(engine.ledger.client.address).staked == burn  # already enough: nothing more staked
        # The committer reads the stake only when a batch may not be covered; one that shrank behind its
        # back (an unstake from the owner's CLI, a slash) fails the preflight, which checks it again.
        engine.ledger.request_unstake(burn)
        assert cb.stake_of(engine.ledger.client.address).staked == 0
        engine.step([run])
        assert [r.status for r in run.store.rows(1)] == [COMMITTED] * 3
        assert cb.stake_of(engine.ledger.client.address).staked == burn  # topped up again, under auto

        short = fresh_engine(chain, tmp_path / "short")
        short.committer.stake = StakePolicy(burn - 1)
        run2 = short.hatch()
        with pytest.raises(StakeInsufficientError, match="node.toml's stake is .* raise `stake`"):
            short.step([run2])
        assert [r.status for r in run2.store.rows(1)] == [PERSISTED]  # nothing signed, the window waits
        assert cb.stake_of(short.ledger.client.address).staked == 0
        short.committer.stake = StakePolicy(3 * burn)  # the owner raised it: the node stakes up to it, no more
        assert short.commit_pending([run2]) == 1
        assert cb.stake_of(short.ledger.client.address).staked == 3 * burn
    finally:
        chain.close()


def test_stake_settings_and_the_ledgers_refusal_read_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_stake("auto").auto and parse_stake(" AUTO ").auto
    assert parse_stake("0.5").amount == 5 * 10**17 and parse_stake("250").amount == 250 * 10**18
    for bad in ("0", "-1", "ten", "1e-19", "inf"):
        with pytest.raises(ConfigError, match="stake must be"):
            parse_stake(bad)
    err = stake_error("LedgerStakeInsufficient(account=0xab, staked=0, needed=1)")
    assert isinstance(err, StakeInsufficientError) and "cb-node stake AMOUNT" in str(err)
    assert stake_error("LedgerStepOutOfOrder(1, 2, 3)") is None
    node, _ = init_node(tmp_path)
    toml = node / "node.toml"
    assert 'stake = "auto"' in toml.read_text() and load_config(node).stake_policy().auto
    toml.write_text(toml.read_text().replace('stake = "auto"', 'stake = "lots"'))
    capsys.readouterr()
    assert main(["status", "--node-dir", str(node)]) == 2
    assert 'stake must be "auto" or a positive amount of ENERGY' in capsys.readouterr().err


def test_cb_node_stake_and_unstake(tmp_path: Path) -> None:
    with devnet_with_long_period(tmp_path / "devnet", 2) as net:
        node = tmp_path / "node"
        node.mkdir()
        write_config(node, rpc=net.url, deployments=str(net.deployments), backend="numpy", grpc="127.0.0.1:0")
        create_keystore(node / "keystore.json", "stake-pw", bytes.fromhex(net.accounts[1]["privateKey"][2:]),
                        iterations=1024)
        pw = node / "password"
        pw.write_text("stake-pw\n")
        pw.chmod(0o600)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "node.cli", *args, "--node-dir", str(node), "--password-file",
                                   str(pw)], cwd=ROOT, capture_output=True, text=True, timeout=120)

        out = cli("stake", "--json")
        assert out.returncode == 0, out.stderr
        staked = int(json.loads(out.stdout)["staked"])  # a dev account comes staked (devnet funding)
        out = cli("stake", "2.5")
        assert out.returncode == 0 and "staked 2.5 ENERGY" in out.stdout, out.stderr
        out = cli("unstake", "1", "--json")
        doc = json.loads(out.stdout)
        assert int(doc["staked"]) == staked + 15 * 10**17 and doc["unbonding"] == str(10**18)
        assert doc["unlockBlock"] > doc["block"]
        out = cli("unstake", "--withdraw")
        assert out.returncode == 4 and "unlocks at block" in out.stderr
        out = cli("unstake", str(10**9))
        assert out.returncode == 4 and "is staked; cannot unstake 1,000,000,000 ENERGY" in out.stderr
        out = cli("unstake")
        assert out.returncode == 2 and "either AMOUNT" in out.stderr
        out = cli("stake", "0")
        assert out.returncode == 2 and "AMOUNT must be a positive amount" in out.stderr
        out = cli("stake")
        assert out.returncode == 0 and "unbonding 1 ENERGY (unlocks at block" in out.stdout
