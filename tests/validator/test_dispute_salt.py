"""``cb-dispute challenge`` killed between its transactions loses nothing: a rerun of the same command resumes.

A real chain (anvil where installed, else py-evm behind its JSON-RPC server: tests/engines.py; as another
process reaches it), a trainer that commits
a tampered window, and ``cb-dispute challenge`` run as a child process (forked from a process that
imported it once) that exits like SIGKILL (``os._exit(137)``, validator.crash) at a named point of the
challenge path. The rerun (the same argv, in
process) must then open the game with the commitment the child's salt made -- the same salt, the same
commitment block when it was mined, no second commitment, no second game -- and the salt must have
been in a mode-0600 record and nowhere in the child's output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.bindings import challenge_commitment
from devnet.launch import RunningDevnet
from tests.e2e.helpers import BindingTrainer, write_key_file
from validator import dispute_cli
from tests.validator.zygote import COMMIT_POINTS, REVEALED, Zygote, crash_devnet, zygote_of
from validator.crash import CRASH_POINTS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevnet]:
    yield from crash_devnet(tmp_path_factory)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    yield from zygote_of("validator.dispute_cli", [
        "validator.dispute.challenging", "validator.dispute.connection", "validator.dispute.record",
        "validator.dispute.steps", "validator.dispute.start", "validator.dispute.window", "validator.dispute.curriculum"])


# point -> (record status the child left, was the commitment mined, does a game exist before the rerun)
AFTER = {**COMMIT_POINTS, "reveal_mined": REVEALED}


def test_the_points_are_the_hooks_list() -> None:
    """Every listed point is called exactly once in the validator's code, and every call names a listed point."""
    import re

    calls = [m for f in sorted((ROOT / "validator").rglob("*.py")) if f.name != "crash.py"
             for m in re.findall(r'crash_point\("([a-z_]+)"\)', f.read_text())]
    assert sorted(calls) == sorted(CRASH_POINTS)
    assert set(AFTER) == set(CRASH_POINTS) - {"watch_reveal_mined"}  # (cb-validator watch's own: test_watch_crash.py)


@pytest.mark.parametrize("point", list(AFTER))
def test_a_challenge_killed_at_a_point_resumes_with_its_salt(point: str, zygote: Zygote, net: RunningDevnet,
                                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = net.chain
    me = net.accounts[2 + list(AFTER).index(point) % 4]
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next(tamper="h128")
    b = trainer.beast_id
    record = tmp_path / "challenges.json"
    argv = ["challenge", "--beast", str(b), "--window", "1", "--yes", "--no-play", "--json",
            "--deployments", str(tmp_path / "d.json"), "--private-key-file", str(write_key_file(tmp_path / "k", me)),
            "--record", str(record)]
    from devnet.connect import write_deployments

    write_deployments(tmp_path / "d.json", net.deployments)

    rc, output = zygote.run(argv, point, tmp_path / "child.log")
    assert rc == 137, output
    status, mined, opened = AFTER[point]
    doc: dict[str, Any] = json.loads(record.read_text())
    assert record.stat().st_mode & 0o777 == 0o600
    entry = doc["challenges"][f"{b}:0"]
    salt = entry["salt"]
    assert entry["status"] == status and entry["word"] == "0x" + trainer.words[0].hex()
    assert salt[2:] not in output  # never printed
    commitment = challenge_commitment(me, b, 0, bytes.fromhex(salt[2:]))
    at = chain.commitment_block(me.address, commitment)
    games = chain.games_of_window(b, 0)
    assert (at != 0 or opened) == mined and bool(games) == opened

    chain.mine(1)  # the chain moves on meanwhile
    code = dispute_cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)
    assert salt[2:] not in out + err
    after = json.loads(record.read_text())["challenges"][f"{b}:0"]
    assert after["salt"] == salt and after["status"] == "opened" and after["gameId"] == res["gameId"]
    assert chain.games_of_window(b, 0) == [res["gameId"]]  # one game: the child's, or the rerun's
    g = chain.game_of(res["gameId"])
    assert g.challenger == me.address
    if mined:  # the child's commitment opened the game: no second commitment was sent
        assert "commitChallenge" not in res["gas"]
        assert g.commitment_block == (at or entry["commitBlock"])  # (the reveal consumed it: the record has it)
        assert res["resumed"]
    else:  # nothing was mined: the rerun sent the commitment again, with the recorded salt
        assert "commitChallenge" in res["gas"] and "again, with its salt" in res["resumed"]
    if opened:
        assert res["txHash"] is None and "opened by an earlier run" in res["resumed"]
    else:
        assert res["txHash"] and chain.commitment_block(me.address, commitment) == 0  # the reveal consumed it

    if point != "commitment_recorded":
        return
    # a third run finds the game and sends nothing
    code = dispute_cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0 and json.loads(out)["gameId"] == res["gameId"] and json.loads(out)["gas"] == {}, err


def test_a_record_of_another_account_or_in_use_is_refused_before_anything_is_sent(
        net: RunningDevnet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from devnet.connect import write_deployments
    from validator.watch_record import GameRecord

    chain = net.chain
    me = net.accounts[5]
    write_deployments(tmp_path / "d.json", net.deployments)
    argv = ["challenge", "--beast", "1", "--window", "1", "--yes", "--no-play",  # (the record is opened first)
            "--deployments", str(tmp_path / "d.json"), "--private-key-file", str(write_key_file(tmp_path / "k", me))]
    before = chain.sender.w3.eth.get_transaction_count(me.address)
    theirs = GameRecord(tmp_path / "theirs.json", net.accounts[4].address, chain.chain_id())
    theirs.close()
    assert dispute_cli.main([*argv, "--record", str(tmp_path / "theirs.json")]) == 2
    assert "belongs to" in capsys.readouterr().err
    held = GameRecord(tmp_path / f"cb-dispute-{me.address}.json", me.address, chain.chain_id())  # the default path
    try:
        assert dispute_cli.main(argv) == 2
        assert "holds" in capsys.readouterr().err
    finally:
        held.close()
    assert chain.sender.w3.eth.get_transaction_count(me.address) == before  # nothing was sent
