"""``cb-validator replay --state-file`` against a real devnet (tests/engines.py): a state file that is not
exactly one zstd frame is refused, never replayed (issue 15 item 3, SPEC §6.3).

The honest file replays as MATCH (exit 0); the same file with bytes after the frame (garbage,
a second frame, a skippable frame) used to replay as MATCH too, because zstd's one-shot
decompressor ignores what follows the first frame.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from devnet.launch import RunningDevnet, launch
from kernel.state import encode_state_blob
from tests.e2e.helpers import BindingTrainer
from tests.engines import fastest_engine
from validator.cli import EXIT_DATA, EXIT_OK, main

SKIPPABLE = (0x184D2A50).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"skip"


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningDevnet, BindingTrainer, Path]]:
    """A devnet with one beast and two honest windows, and its deployments file."""
    run = tmp_path_factory.mktemp("devnet")
    net = launch(fastest_engine(), port=0, run_dir=run, accounts=3)
    try:
        trainer = BindingTrainer.hatch(net.chain, net.accounts[1])
        trainer.commit_next()
        trainer.commit_next()
        yield net, trainer, run / "deployments.json"
    finally:
        net.stop()


def _replay(deployments: Path, beast: int, state_file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["replay", "--beast", str(beast), "--window", "2", "--deployments", str(deployments),
                 "--state-file", str(state_file), "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def test_honest_state_file_matches(committed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    _, trainer, deployments = committed
    good = tmp_path / "w1.cbs.zst"
    good.write_bytes(encode_state_blob(trainer.states[1]))
    code, out, err = _replay(deployments, trainer.beast_id, good, capsys)
    assert code == EXIT_OK, err
    assert json.loads(out)["verdict"] == "match"


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(lambda blob: b"garbage", id="garbage"),
        pytest.param(lambda blob: blob, id="second-frame"),
        pytest.param(lambda blob: zstandard.ZstdCompressor().compress(b"x"), id="other-frame"),
        pytest.param(lambda blob: SKIPPABLE, id="skippable-frame"),
    ],
)
def test_bytes_after_the_frame_are_refused(committed, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra) -> None:  # type: ignore[no-untyped-def]
    _, trainer, deployments = committed
    blob = encode_state_blob(trainer.states[1])
    bad = tmp_path / "w1.cbs.zst"
    bad.write_bytes(blob + extra(blob))
    code, out, err = _replay(deployments, trainer.beast_id, bad, capsys)
    assert code == EXIT_DATA, (code, out)  # neither MATCH nor a divergence verdict: a data error (issue 15 item 7)
    assert out == "" and "exactly one zstd frame" in err and "trailing bytes" in err, err
