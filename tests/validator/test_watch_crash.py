"""``cb-validator watch`` killed at any point of a challenge loses nothing: the next watcher on its record resumes.

A real chain in another process (anvil where installed, else py-evm behind its JSON-RPC server:
tests/engines.py), a trainer that commits a tampered window, and ``cb-validator watch`` run as a child
process (forked from a process that imported it once, tests/validator/zygote.py) that exits like SIGKILL
(``os._exit(137)``, validator.crash) at a named point of its first round: salt recorded, commitment
mined, commitment recorded, reveal mined. A second watcher process on the same record must then open
exactly one game, with the child's salt, sending the commitment again only when it was never mined,
and the salt must stay in the mode-0600 record and out of both processes' output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.bindings import challenge_commitment
from devnet.connect import write_deployments
from devnet.launch import RunningDevnet
from tests.e2e.helpers import BindingTrainer, write_key_file
from tests.validator.zygote import COMMIT_POINTS, REVEALED, Zygote, crash_devnet, zygote_of
from validator.crash import CRASH_POINTS


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevnet]:
    yield from crash_devnet(tmp_path_factory)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    yield from zygote_of("validator.cli", ["validator.watch", "validator.lineage", "validator.bisection",
                                           "validator.chain", "devnet.connect"])


# point -> (record status the child left, was the commitment mined, does a game exist before the rerun)
AFTER = {**COMMIT_POINTS, "watch_reveal_mined": REVEALED}


def test_the_watcher_passes_every_point_but_cb_dispute_s_reveal() -> None:
    assert set(AFTER) == set(CRASH_POINTS) - {"reveal_mined"}


def _events(output: str) -> list[dict[str, Any]]:
    """The JSON decision lines of a watcher's output, without their timestamps."""
    return [{k: v for k, v in json.loads(line).items() if k != "ts"} for line in output.splitlines()
            if line.startswith("{")]


@pytest.mark.parametrize("point", list(AFTER))
def test_a_watcher_killed_at_a_point_is_resumed_by_the_next(point: str, zygote: Zygote, net: RunningDevnet,
                                                            tmp_path: Path) -> None:
    chain = net.chain
    me = net.accounts[2 + list(AFTER).index(point)]
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next(tamper="h128")
    b = trainer.beast_id
    record = tmp_path / "games.json"
    write_deployments(tmp_path / "d.json", net.deployments)
    argv = ["watch", "--deployments", str(tmp_path / "d.json"), "--record", str(record), "--beast", str(b),
            "--private-key-file", str(write_key_file(tmp_path / "k", me)), "--poll", "0"]

    rc, output = zygote.run([*argv, "--once"], f"{point}:1", tmp_path / "child.log")
    assert rc == 137, output
    status, mined, opened = AFTER[point]
    assert record.stat().st_mode & 0o777 == 0o600
    entry = json.loads(record.read_text())["challenges"][f"{b}:0"]
    salt = entry["salt"]
    assert entry["status"] == status and entry["word"] == "0x" + trainer.words[0].hex()
    assert salt[2:] not in output
    commitment = challenge_commitment(me, b, 0, bytes.fromhex(salt[2:]))
    at = chain.commitment_block(me.address, commitment)  # 0 once the reveal consumed it
    assert (at != 0 or opened) == mined and bool(chain.games_of_window(b, 0)) == opened

    chain.mine(1)  # the chain moves on meanwhile
    rc, output = zygote.run([*argv, "--rounds", "3"], "never_reached:1", tmp_path / "rerun.log")
    assert rc == 0, output
    assert salt[2:] not in output
    events = _events(output)
    after = json.loads(record.read_text())["challenges"][f"{b}:0"]
    games = chain.games_of_window(b, 0)
    assert len(games) == 1, events  # one game: the child's, or the rerun's
    assert after["salt"] == salt and after["status"] == "opened" and after["gameId"] == games[0]
    g = chain.game_of(games[0])
    assert g.challenger == me.address
    sent = [e for e in events if e["event"] == "commit_challenge" and e.get("tx")]
    if mined:  # the child's commitment opened the game: no second commitment was sent
        assert sent == []
        if at:  # mined and not yet revealed when the child died: the game opened on that commitment
            assert g.commitment_block == at
    else:  # nothing was mined: the rerun sent it again, with the recorded salt
        assert len(sent) == 1 and sent[0]["resumed"] is True, events
    challenge = [e for e in events if e["event"] == "challenge"]
    if opened:
        assert challenge == [{"event": "challenge", "beast": b, "window": 1, "ledgerIndex": 0, "gameId": games[0],
                              "recovered": True}], events
    else:
        assert [c["gameId"] for c in challenge] == games and not challenge[0]["recovered"], events
