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
from validator.cli import build_parser, main, parse_energy
from validator.errors import ConfigError

SUBCOMMANDS = ("serve", "replay", "register", "withdraw", "status", "watch")


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
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_config_errors_exit_2(tmp_path: Path) -> None:
    assert main(["replay", "--beast", "1", "--window", "0", "--deployments", "d.json"]) == 2
    assert main(["replay", "--beast", "1", "--window", "1", "--deployments", str(tmp_path / "missing.json")]) == 2
    assert main(["register", "--stake", "-3", "--deployments", str(tmp_path / "missing.json"), "--account", "0"]) == 2
    assert main(["serve", "--address", "256.1.1.1:99999"]) == 2


@pytest.mark.parametrize(("text", "wei"), [("100", 100 * 10**18), ("0.5", 5 * 10**17), ("1e-18", 1)])
def test_parse_energy(text: str, wei: int) -> None:
    assert parse_energy(text) == wei


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1e-19", "nan"])
def test_parse_energy_refuses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_energy(text)


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


def test_vote_record_is_atomic_and_bound_to_one_validator(tmp_path: Path) -> None:
    from validator.watch import VoteRecord

    path = tmp_path / "votes.json"
    rec = VoteRecord(path, "0xAbC", 7)
    rec.put(3, status="voted", word="0x" + "11" * 32, tx="0x01")
    rec.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["votes.json", "votes.json.lock"]  # no temp files left
    again = VoteRecord(path, "0xabc", 7)
    assert again.voted() == [3]
    again.close()
    for validator, chain_id in (("0xdef", 7), ("0xabc", 8)):
        with pytest.raises(ConfigError, match="belongs to"):
            VoteRecord(path, validator, chain_id)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        VoteRecord(path, "0xabc", 7)
