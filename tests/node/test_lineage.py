"""Lineage you can check (issue 16): what produced each checkpoint, and `cb-node verify` re-deriving the stored
lineage from genesis or a kept checkpoint, failing closed at the first disagreement with the chain.

Real embedded chain and node engine for the library checks; `cb-node run` and `cb-node verify` against a
`cb-devnet`-style chain over HTTP (tests/engines.py) for the command line. Every tamper is undone before the next.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.cli import main
from node.errors import DataError
from node.lineage import LineageError, config_hash, node_version, verify_lineage
from node.owner_controls import plan_spurt, request_spurt
from tests.node.conftest import Trained
from tests.node.test_cli import init_node
from tests.engines import fastest_engine

NO, DATA = 1, 3


@pytest.fixture(scope="module")
def spurted(trained: Trained) -> Trained:
    """The shared 3-window beast with a fourth window that spurts."""
    run = trained.run
    request_spurt(run.store, plan_spurt(run.beast_id, run.latest_state()))
    trained.engine.step([run])
    assert run.store.latest().window == 4 and run.store.latest().active_mask == 0b0111  # type: ignore[union-attr]
    return trained


@contextlib.contextmanager
def tampered(db: Path, column: str, window: int, value: object) -> Iterator[None]:
    """Set one column of one index row (a second connection, as any process could), then put it back."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        (old,) = con.execute(f"SELECT {column} FROM windows WHERE window = ?", (window,)).fetchone()
        con.execute(f"UPDATE windows SET {column} = ? WHERE window = ?", (value, window))
        try:
            yield
        finally:
            con.execute(f"UPDATE windows SET {column} = ? WHERE window = ?", (old, window))
    finally:
        con.close()


def verify(t: Trained, **kw: object):  # type: ignore[no-untyped-def]
    run = t.run
    return verify_lineage(run.store, run.meta, run.source, kw.pop("chain", t.ledger), **kw)  # type: ignore[arg-type]


def test_each_checkpoint_records_what_produced_it(spurted: Trained) -> None:
    store = spurted.run.store
    assert store.produced_by(0) == {}  # genesis is a pure function of the hatch data
    for w in range(1, 5):
        by = store.produced_by(w)
        assert by["node"] == node_version() != "unknown" and by["backend"] == "numpy"
        assert by["spec"] == store.load_state(w).spec_version == spurted.run.meta.hatch.spec_version
        assert by["dataset"] == "0x" + "00" * 32
        assert by["config"] == config_hash(spurted.engine.trainer.config(spurted.run.beast_id))
        assert len(by["config"]) == 64


def test_verify_from_genesis_and_from_a_kept_checkpoint(spurted: Trained) -> None:
    report = verify(spurted)
    assert (report.from_window, report.to_window, report.on_chain, report.retrained) == (0, 4, 4, 4)
    assert report.kept_checked == 4 and sum(report.producers.values()) == 4
    report = verify(spurted, from_window=3)
    assert report.retrained == 1
    assert verify(spurted, chain=None).on_chain is None  # the local index only


def test_verify_fails_closed_at_the_first_disagreement(spurted: Trained) -> None:
    store = spurted.run.store
    db = store.root / "index.sqlite"
    row2 = store.get(2)
    assert row2 is not None
    other = store.get(3).word.hex()  # type: ignore[union-attr]
    with tampered(db, "word", 2, other), pytest.raises(LineageError, match="window 2: the index holds word"):
        verify(spurted)
    with tampered(db, "epoch_seed", 1, "11" * 32), pytest.raises(LineageError, match="window 1: trained with epoch seed"):
        verify(spurted)
    with tampered(db, "h128", 0, "22" * 16), pytest.raises(LineageError, match="genesis re-derived from the hatch data hashes to"):
        verify(spurted)
    bad = json.dumps({**store.produced_by(3), "dataset": "0x" + "33" * 32})
    with tampered(db, "produced_by", 3, bad), pytest.raises(LineageError, match="window 3: produced with dataset"):
        verify(spurted)
    # A kept checkpoint file swapped for another window's: its hash no longer matches the index (data error).
    f2, f1 = store.checkpoints / row2.file, store.checkpoints / store.get(1).file  # type: ignore[union-attr]
    original = f2.read_bytes()
    f2.write_bytes(f1.read_bytes())
    try:
        with pytest.raises(DataError, match="window 2: checkpoint .* hashes to"):
            verify(spurted)
    finally:
        f2.write_bytes(original)
    with pytest.raises(DataError, match="from-window must be 0..4"):
        verify(spurted, from_window=9)
    assert verify(spurted).retrained == 4  # everything restored


def test_cb_node_verify_against_a_devnet_over_http(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from devnet.launch import launch

    with launch(fastest_engine(), port=0, run_dir=tmp_path / "chain", accounts=2) as net:
        pw_node, pw = init_node(tmp_path, "plain")  # an embedded node directory: verify needs --local there
        node = tmp_path / "n"
        assert main(["init", str(node), "--password-file", str(pw), "--grpc", "127.0.0.1:0", "--rpc", net.url,
                     "--deployments", str(tmp_path / "chain" / "deployments.json"), "--json"]) == 0
        assert main(["run", "--node-dir", str(node), "--password-file", str(pw), "--hatch", "1",
                     "--until-window", "3", "--quiet"]) == 0
        capsys.readouterr()
        assert main(["verify", "--node-dir", str(node), "--beast", "1"]) == 0
        out = capsys.readouterr().out
        assert "lineage verified from genesis" in out and "3 windows re-derived" in out and "3 windows on chain" in out
        assert main(["verify", "--node-dir", str(node), "--beast", "1", "--from-window", "2", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["ok"] and doc["retrained"] == 1 and doc["onChain"] == 3
        db = node / "data" / "beasts" / "1" / "index.sqlite"
        with tampered(db, "word", 1, "00" * 32):
            assert main(["verify", "--node-dir", str(node), "--beast", "1"]) == NO
            assert "window 1: the index holds word 0x" in capsys.readouterr().err
        assert main(["verify", "--node-dir", str(node), "--beast", "7"]) == 2
        # A node.toml with rpc = "embedded" over the same data: no chain to ask, unless --local says so.
        toml = pw_node / "node.toml"
        toml.write_text(toml.read_text().replace('data_dir = "data"', f'data_dir = "{node / "data"}"'))
        capsys.readouterr()
        assert main(["verify", "--node-dir", str(pw_node), "--beast", "1"]) == 2
        assert "--local" in capsys.readouterr().err
        assert main(["verify", "--node-dir", str(pw_node), "--beast", "1", "--local"]) == 0
        assert "the node's own index (chain not consulted)" in capsys.readouterr().out
