"""``cb-node run --dishonest``: a node that lies once is caught, slashed, rewound, and trains on honestly.

In process on the embedded devnet: the node's engine with node.guards (the defense, the rewinds,
the dishonest mode) exactly as the daemon drives them between rounds, and an honest challenger
(tests/node/game_helpers) whose truth is kernel.step replayed from the node's honest checkpoint.
A ``step`` liar defends its false states move by move and loses the one-step proof at step 77;
a ``word`` liar loses to proveWordLie. Either way the slash rewinds the lineage, the node sets
the false checkpoints aside, trains the window again honestly and commits it into the cleared
slot: the chain ends with exactly the honest lineage. Off a devnet the mode is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.bindings import WindowStatus
from kernel.sources import PublicSource
from kernel.state import genesis
from kernel.train import train_window, window_epoch
from node.defense import Defense
from node.dishonest import LIE_STEP, MARKER, DishonestMode, Lie, check_devnet
from node.embedded import ChainHandle, embedded_chain
from node.errors import ConfigError
from node.guards import Guards
from node.rewind import VOIDED_DIR
from node.trainer import Engine
from tests.node.conftest import make_engine
from tests.node.game_helpers import CHALLENGER_WON, OPEN, challenger_move, open_game, true_states

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chain() -> Iterator[ChainHandle]:
    c = embedded_chain()
    try:
        yield c
    finally:
        c.close()


def liar(chain: ChainHandle, data: Path, kind: str, window: int) -> tuple[Engine, Guards]:
    engine = make_engine(chain, data)
    run = engine.hatch()
    defense = Defense(data, engine.ledger, chain.bindings, {run.beast_id: run})
    return engine, Guards(engine, [run], defense, DishonestMode(Lie(kind, window), engine, print), print)


def round_(engine: Engine, guards: Guards) -> None:
    """One daemon round: the dishonest window first, then the honest round, then defense and rewinds."""
    engine.step(guards.before_round(guards.runs))
    guards.after_round()


def honest_words(chain: ChainHandle, bid: int, n: int) -> list[bytes]:
    """The words of windows 1..n of the honest lineage, replayed from genesis with the ledger's seeds."""
    cb = chain.bindings
    hd = cb.hatch_data(bid)
    state = genesis(hd.seed_core, cb.kernel_params(), spec_version=hd.spec_version)
    words = []
    for _ in range(n):
        ref = train_window(state, PublicSource(), epoch_seed=cb.epoch_seed(bid, window_epoch(state)))
        words.append(ref.payload.pack())
        state = ref.state
    return words


def test_a_step_liar_loses_the_bisection_is_rewound_and_trains_on_honestly(chain: ChainHandle, tmp_path: Path) -> None:
    cb = chain.bindings
    engine, guards = liar(chain, tmp_path / "data", "step", 2)
    run = guards.runs[0]
    bid, store = run.beast_id, run.store
    for _ in range(3):  # window 1; the false window 2 with window 3 on top of it; window 4
        round_(engine, guards)
    assert cb.window_count(bid) == 4
    assert store.produced_by(2)["dishonest"] == {"kind": "step", "window": 2, "step": LIE_STEP}
    assert (store.root / MARKER).exists()
    truth = true_states(run, 2)  # from checkpoint 1, which is honest
    honest = honest_words(chain, bid, 4)
    assert cb.word(bid, 0) == honest[0] and cb.word(bid, 1) != honest[1]  # window 2 (ledger index 1) lies

    gid = open_game(cb, chain.accounts[2], bid, 2)
    for _ in range(64):
        if cb.game_of(gid).outcome != OPEN:
            break
        if not challenger_move(cb, chain.accounts[2], gid, truth):
            assert guards.defense.poll().moves  # the liar defends its false states, move by move
    g = cb.game_of(gid)
    assert g.outcome == CHALLENGER_WON and (g.lo, g.hi) == (LIE_STEP - 1, LIE_STEP)
    assert cb.window_status(bid, 1) == WindowStatus.SLASHED and cb.window_count(bid) == 1

    assert guards.after_round() == 1  # the node sees its game lost and rewinds
    assert [r.window for r in store.rows()] == [0, 1] and not (store.root / "rewind.json").exists()
    aside = sorted(p.name[:9] for p in (store.checkpoints / VOIDED_DIR).iterdir())
    assert aside == ["w00000002", "w00000003", "w00000004"]
    assert cb.voided_range(bid)[0] == cb.voided_range(bid)[1]  # cleared on chain
    for _ in range(3):
        round_(engine, guards)  # trains window 2 again, honestly (one lie per beast), then 3 and 4
    assert cb.window_count(bid) == 4
    assert [cb.word(bid, i) for i in range(4)] == honest  # nothing lost, nothing committed twice
    assert [r.word for r in store.rows(1)] == honest and "dishonest" not in store.produced_by(2)
    assert [e["tip"] for e in store.events() if e["event"] == "rewound"] == [1]


def test_a_word_liar_is_shown_false_by_its_own_final_state(chain: ChainHandle, tmp_path: Path) -> None:
    cb = chain.bindings
    engine, guards = liar(chain, tmp_path / "data", "word", 1)
    run = guards.runs[0]
    bid, store = run.beast_id, run.store
    round_(engine, guards)  # the false window 1, and window 2 on top of it
    assert cb.window_count(bid) == 2
    honest = honest_words(chain, bid, 2)
    assert cb.word(bid, 0)[:16] == honest[0][:16] and cb.word(bid, 0) != honest[0]  # true h128, false flags
    gid = open_game(cb, chain.accounts[2], bid, 1)
    cb.prove_word_lie(chain.accounts[2], gid, store.load_state(1).to_bytes())
    assert cb.game_of(gid).outcome == CHALLENGER_WON
    lo, hi = cb.voided_range(bid)
    cb.clear_voided(chain.accounts[3], bid, hi - lo)  # anyone may clear, before the node looks
    assert guards.after_round() == 1  # the LineageRewound log still tells the node why its windows are gone
    assert [r.window for r in store.rows()] == [0]
    for _ in range(2):
        round_(engine, guards)
    assert cb.window_count(bid) == 2 and [cb.word(bid, i) for i in range(2)] == honest


def test_dishonest_runs_only_on_a_local_devnet() -> None:
    check_devnet(31337, False)
    check_devnet(131277322940537, False)
    check_devnet(1, True)  # the embedded chain
    for chain_id in (1, 10, 8453, 11155111):
        with pytest.raises(ConfigError, match=f"local devnets only .* id is {chain_id}"):
            check_devnet(chain_id, False)
    with pytest.raises(ConfigError, match="must be one of step, word"):
        Lie("weights", 3)
    with pytest.raises(ConfigError, match="from-window must be >= 1"):
        Lie("step", 0)


def test_cb_node_run_refuses_dishonest_on_another_chain(tmp_path: Path) -> None:
    """A real anvil serving chain id 11155111 (a testnet's id): `cb-node run --dishonest` exits 2 before
    signing anything, naming the chain id."""
    from devnet.anvil import find_anvil, free_port
    from devnet.artifacts import CONTRACT_NAMES
    from node.config import create_keystore, write_config

    port = free_port()
    proc = subprocess.Popen([str(find_anvil()), "--port", str(port), "--chain-id", "11155111", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_rpc(url)
        dep = tmp_path / "deployments.json"
        dep.write_text(json.dumps({"version": 1, "rpcUrl": url, "chainId": 11155111,
                                   "contracts": {n: "0x" + f"{i + 1:040x}" for i, n in enumerate(CONTRACT_NAMES)}}))
        node = tmp_path / "node"
        node.mkdir()
        write_config(node, rpc=url, deployments=str(dep), backend="numpy", grpc="127.0.0.1:0")
        create_keystore(node / "keystore.json", "pw-dishonest", iterations=1024)
        pw = node / "password"
        pw.write_text("pw-dishonest\n")
        pw.chmod(0o600)
        out = subprocess.run([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file",
                              str(pw), "--dishonest", "step", "--from-window", "2"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        assert "local devnets only" in out.stderr and "11155111" in out.stderr
        half = subprocess.run([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file",
                               str(pw), "--dishonest", "word"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert half.returncode == 2 and "go together" in half.stderr
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_rpc(url: str) -> None:
    import time

    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(url))
    for _ in range(200):
        try:
            w3.eth.chain_id  # noqa: B018 - one round trip
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.05)
    raise AssertionError(f"anvil at {url} did not answer")
