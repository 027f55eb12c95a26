"""cb-validator without a chain: help texts, usage errors, and ``serve`` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chainbeasts.v1 import validator_pb2 as pb
from chainbeasts.v1 import validator_pb2_grpc as pbg
from tests.validator.test_service import to_proto
from tests.validator.windows import Beast
from kernel.host import exit_codes_epilog
from validator.cli import build_parser, main
from validator.errors import ConfigError

SUBCOMMANDS = ("serve", "replay", "watch")
REMOVED = ("register", "withdraw", "status")  # validator staking and voting are gone (issue 13)


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "cb-validator"
    return [str(script)] if script.exists() else [sys.executable, "-m", "validator.cli"]


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help_for_every_subcommand(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([sub, "--help"])
    assert info.value.code == 0
    assert "usage: cb-validator " + sub in capsys.readouterr().out


def test_top_level_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(s in out for s in SUBCOMMANDS) and "Exit codes" in out and "divergence" in out.replace("diverges", "divergence")
    assert exit_codes_epilog() in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["replay", "--beast", "1"],
        ["replay", "--beast", "x", "--window", "1", "--deployments", "d.json"],
        ["replay", "--beast", "1", "--window", "2", "--deployments", "d.json", "--node", "a:1", "--state-file", "s"],
        ["serve", "--backend", "cuda"],
        ["watch", "--deployments", "d.json"],
        ["watch", "--deployments", "d.json", "--record", "r.json", "--private-beast", "1", "data"],
        ["watch", "--deployments", "d.json", "--record", "r.json", "--node", "127.0.0.1:50551"],
        *([sub, "--deployments", "d.json"] for sub in REMOVED),
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_config_errors_exit_2(tmp_path: Path) -> None:
    assert main(["replay", "--beast", "1", "--window", "0", "--deployments", "d.json"]) == 2
    assert main(["replay", "--beast", "1", "--window", "1", "--deployments", str(tmp_path / "missing.json")]) == 2
    secret = tmp_path / "secret.hex"
    secret.write_text("0x" + "ab" * 32)
    secret.chmod(0o600)
    watch = ["watch", "--deployments", str(tmp_path / "missing.json"), "--record", str(tmp_path / "r.json")]
    assert main([*watch, "--private-beast", "x", str(secret), str(secret)]) == 2  # not a beast id
    assert main([*watch, "--private-beast", "1", str(tmp_path / "none"), str(secret)]) == 2  # no dataset file
    assert main(["serve", "--address", "256.1.1.1:99999"]) == 2


def test_parser_builds() -> None:
    assert build_parser().prog == "cb-validator"


def test_serve_runs_answers_and_stops_on_sigterm(pub: Beast) -> None:
    proc = subprocess.Popen([*cli_command(), "serve", "--address", "127.0.0.1:0", "--max-concurrent", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert info["event"] == "serving" and info["backend"] == "numpy"
        assert info["allowedNodes"] == ["127.0.0.1:50551", "localhost:50551", "[::1]:50551"]  # no --allow-node: the local node
        assert info["limits"]["callsPerClient"] == 16 and info["limits"]["expensive"] == 1  # 1 slot: one expensive replay
        with grpc.insecure_channel(info["address"]) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            assert health.Check(health_pb2.HealthCheckRequest(service="chainbeasts.v1.ValidatorService"), timeout=10).status == 1
            resp = pbg.ValidatorServiceStub(ch).ReplayWindow(to_proto(pub.request(2)), timeout=30)
            assert resp.verdict == pb.VERDICT_MATCH
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err  # stopped by a signal: interrupted
        assert '"event": "stopped"' in out
        assert '"event": "replay"' in err  # one JSON log line per replay
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_game_record_is_atomic_private_and_bound_to_one_account(tmp_path: Path) -> None:
    from validator.watch_record import GameRecord

    path = tmp_path / "games.json"
    rec = GameRecord(path, "0xAbC", 7)
    rec.put_challenge(2, 5, word="0x" + "11" * 32, salt="0x" + "22" * 32, status="committed", commitBlock=40)
    rec.put_game(9, beast=2, index=5, side="challenger", status="playing")
    with pytest.raises(ConfigError, match="another watcher"):
        GameRecord(path, "0xabc", 7)  # one watcher per record
    rec.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["games.json", "games.json.lock"]  # no temp files left
    assert path.stat().st_mode & 0o777 == 0o600  # salts are private until revealed
    again = GameRecord(path, "0xabc", 7)
    assert again.challenge(2, 5)["commitBlock"] == 40 and list(again.games("playing")) == [9]
    assert [c["index"] for c in again.pending_challenges()] == [5]
    again.close()
    for account, chain_id in (("0xdef", 7), ("0xabc", 8)):
        with pytest.raises(ConfigError, match="belongs to"):
            GameRecord(path, account, chain_id)
    path.write_text(json.dumps({"version": 1, "validator": "0xabc", "chainId": 7, "disputes": {}}))
    with pytest.raises(ConfigError, match="version-2 record"):
        GameRecord(path, "0xabc", 7)  # an old vote record
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        GameRecord(path, "0xabc", 7)
