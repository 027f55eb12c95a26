"""cb-node demo: its ledger must equal an independent numpy-reference replay from genesis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curriculum.secret import read_secret_file
from curriculum.source import load_private_source
from kernel.payload import Payload
from kernel.state import decode_state_blob, encode_state_blob, genesis
from kernel.train import train_window, window_epoch
from node.chain import ChainClient
from node.demo import run_demo
from node.embedded import embedded_chain
from node.ledger import Ledger
from validator.chain import LedgerChainReader
from validator.replay import ReplayRequest, replay

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("spec_version", [1, 2])
def test_demo_ledger_matches_reference_replay(tmp_path: Path, spec_version: int) -> None:
    """On a season of either spec version: hatch, train, commit and finalize, then an independent
    replay from genesis under the hatch's version, and the validator's replay of a committed window."""
    chain = embedded_chain(spec_version=spec_version)
    report = run_demo(windows=6, data_dir=tmp_path / "run", progress=False, chain=chain)
    bid = report["beastId"]
    # An outside observer: its own key, reading only the chain and the owner's files.
    ledger = Ledger(ChainClient(chain.w3, chain.accounts[2], decoder=chain.decoder), chain.contracts)
    hd = ledger.hatch_data(bid)
    assert "0x" + hd.dataset_commitment.hex() == report["datasetCommitment"] != "0x" + "00" * 32
    assert hd.spec_version == report["specVersion"] == spec_version
    # Version 1 hatches as before (no records root); version 2 commits to the file's R_dataset.
    assert report["recordsRoot"] == "0x" + hd.records_root.hex() and (hd.records_root == bytes(32)) == (spec_version == 1)
    source = load_private_source(tmp_path / "run" / "dataset.cbd.zst", tmp_path / "run" / "owner.secret",
                                 dataset_commitment=hd.dataset_commitment, secret_commitment=hd.secret_commitment,
                                 records_root=hd.records_root, spec_version=hd.spec_version)
    state = genesis(hd.seed_core, ledger.kernel_params(), dataset_commitment=hd.dataset_root,
                    spec_version=hd.spec_version)
    count = ledger.window_count(bid)
    assert count == 6 == len(report["windows"])
    states = [state]
    for w in range(1, count + 1):
        seed = ledger.epoch_seed(bid, window_epoch(state))
        res = train_window(state, source, epoch_seed=seed, backend="numpy")
        assert res.payload.pack() == ledger.word(bid, w), f"window {w} diverges from the reference replay"
        state = res.state
        states.append(state)
        assert report["windows"][w - 1]["word"] == res.payload.hex()
        assert report["windows"][w - 1]["status"] == "finalized"
    # The validator replays under the version it reads from the chain (genesis rebuilt at window 1).
    dataset = (tmp_path / "run" / "dataset.cbd.zst").read_bytes()
    owner_secret = read_secret_file(tmp_path / "run" / "owner.secret").reveal()
    reader = LedgerChainReader(chain.bindings)
    for w in (1, count):
        claim = reader.window_claim(bid, w)
        rep = replay(ReplayRequest(reader.beast_commitments(bid), w, start_state=None if w == 1 else encode_state_blob(states[w - 1]),
                                   prev_h128=claim.prev_h128, committed_word=claim.committed_word, epoch_seed=claim.epoch_seed,
                                   dataset=dataset, owner_secret=owner_secret))
        assert rep.match is True and rep.computed.pack() == ledger.word(bid, w)
    # The node's stored final checkpoint is that state.
    ckpt = sorted((tmp_path / "run" / "beasts" / str(bid) / "checkpoints").glob("w00000006-*.cbs.zst"))
    assert len(ckpt) == 1 and decode_state_blob(ckpt[0].read_bytes()).h128() == state.h128()
    assert Payload.from_hex(report["windows"][-1]["word"]).global_step == 6 * 128
    # Secrets stay in their 0600 file: not in logs, metrics, index, beast.json or the report.
    secret_file = tmp_path / "run" / "owner.secret"
    assert secret_file.stat().st_mode & 0o077 == 0
    secret_hex = secret_file.read_text().strip()[2:].encode()
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file() and path != secret_file:
            assert secret_hex not in path.read_bytes(), f"the owner secret leaked into {path}"
    assert secret_hex.decode() not in repr(report)
    run_dir = tmp_path / "run" / "beasts" / str(bid)
    events = [json.loads(line)["event"] for line in (run_dir / "logs" / "events.jsonl").read_text().splitlines()]
    assert events[0] == "hatched" and events.count("committed") == 6 and events.count("finalized") == 6
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 6
    f = report["figures"]
    assert 0.0 <= f["final"]["move_accuracy"] <= 1.0 and f["lossFirstWindow"] > 0
    # Commits lock ENERGY from the trainer's prepaid deposit: the cheap path (target: <= 65k gas).
    assert chain.w3.eth.get_transaction_receipt(report["windows"][-1]["tx"])["gasUsed"] <= 65_000
    assert ledger.ledger.functions.depositOf(report["trainer"]).call() > 0


def test_demo_cli_json_and_table(tmp_path: Path) -> None:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "node.cli", "demo", "--windows", "2", "--json",
                          "--data-dir", str(tmp_path / "j")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [r["window"] for r in report["windows"]] == [1, 2]
    assert "2/5" in out.stderr  # the progress bar goes to stderr
    out = subprocess.run([sys.executable, "-m", "node.cli", "demo", "--windows", "1", "--public",
                          "--data-dir", str(tmp_path / "t")], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "globalStep" in out.stdout and "move accuracy" in out.stdout and "finalized" in out.stdout
