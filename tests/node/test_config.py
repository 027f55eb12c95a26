"""node.toml: every key's type and range rule, the defaults, path resolution, and the errors a bad file gets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from node.config import CONFIG_NAME, KEYS, NodeConfig, load_config, write_config
from node.errors import ConfigError
from node.service import DEFAULT_LIMITS


def write(tmp: Path, text: str) -> Path:
    (tmp / CONFIG_NAME).write_text(text)
    return tmp


def test_every_setting_has_exactly_one_rule() -> None:
    fields = [f.name for f in dataclasses.fields(NodeConfig) if f.name != "path"]
    assert [k.name for k in KEYS] == fields


def test_an_empty_file_gives_the_defaults_with_paths_beside_it(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    root = tmp_path.resolve()
    assert cfg == NodeConfig(path=root / CONFIG_NAME, keystore=root / "keystore.json", data_dir=root / "data")


def test_the_init_template_reads_back(tmp_path: Path) -> None:
    write_config(tmp_path, rpc="http://127.0.0.1:8545", deployments="dep/deployments.json", backend="torch",
                 grpc="0.0.0.0:7000")
    cfg = load_config(tmp_path / CONFIG_NAME)  # the file itself works as well as its folder
    root = tmp_path.resolve()
    assert (cfg.rpc, cfg.deployments, cfg.backend, cfg.grpc) == ("http://127.0.0.1:8545", root / "dep/deployments.json",
                                                                "torch", "0.0.0.0:7000")
    assert (cfg.confirmations, cfg.gas_margin, cfg.rpc_retries, cfg.auto_finalize, cfg.torch_threads) == (0, 1.25, 5, True, 1)
    assert cfg.rpc_limits() == DEFAULT_LIMITS  # the template spells out the service's defaults


def test_every_key_is_read(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'rpc = "https://rpc.example"\ndeployments = "/abs/dep.json"\n'
                                      'keystore = "~/ks.json"\nbeasts = [3, 1]\nbackend = "torch"\ngrpc = "[::1]:0"\n'
                                      'data_dir = "d"\nconfirmations = 64\ngas_margin = 5\nrpc_retries = 0\n'
                                      "auto_finalize = false\ntorch_threads = 256\n"
                                      "grpc_streams_per_client = 2\ngrpc_max_streams = 3\ngrpc_calls_per_client = 5\n"
                                      "grpc_max_calls = 6\ngrpc_stream_lifetime_s = 7.5\ngrpc_stream_idle_s = 8\n"))
    assert cfg.deployments == Path("/abs/dep.json") and cfg.keystore == Path("~/ks.json").expanduser()
    assert cfg.beasts == [3, 1] and cfg.data_dir == tmp_path.resolve() / "d" and cfg.grpc == "[::1]:0"
    assert cfg.gas_margin == 5.0 and isinstance(cfg.gas_margin, float)
    assert (cfg.confirmations, cfg.rpc_retries, cfg.auto_finalize, cfg.torch_threads) == (64, 0, False, 256)
    limits = cfg.rpc_limits()
    assert (limits.streams_per_client, limits.streams_total, limits.calls_per_client, limits.calls_total) == (2, 3, 5, 6)
    assert (limits.stream_lifetime_s, limits.stream_idle_s) == (7.5, 8.0)
    assert limits.max_request_bytes == DEFAULT_LIMITS.max_request_bytes  # not a node.toml setting


@pytest.mark.parametrize(("line", "message"), [
    ('rpc = "ftp://x"', "rpc must be an http(s) URL or \"embedded\", got 'ftp://x'"),
    ("rpc = 1", "rpc must be a string, got 1"),
    ('rpc = "http://x"', "rpc is a URL, so deployments (the contract addresses file) is required"),
    ("deployments = 7", "deployments must be a string, got 7"),
    ("keystore = []", "keystore must be a string, got []"),
    ("beasts = [0]", "beasts must be a list of beast ids >= 1, got [0]"),
    ("beasts = [true]", "beasts must be a list of beast ids >= 1, got [True]"),
    ("beasts = 3", "beasts must be a list, got 3"),
    ('backend = "cuda-magic"', "backend must be \"numpy\" or \"torch\", got 'cuda-magic'"),
    ('grpc = "nowhere"', "grpc must be HOST:PORT, got 'nowhere'"),
    ('grpc = "h:65536"', "grpc must be HOST:PORT, got 'h:65536'"),
    ('grpc = ":1"', "grpc must be HOST:PORT, got ':1'"),
    ("data_dir = false", "data_dir must be a string, got False"),
    ("confirmations = -1", "confirmations must be 0..64, got -1"),
    ("confirmations = 65", "confirmations must be 0..64, got 65"),
    ("confirmations = 1.0", "confirmations must be an integer, got 1.0"),
    ("confirmations = true", "confirmations must be an integer, got True"),
    ("gas_margin = 0.5", "gas_margin must be 1.0..5.0, got 0.5"),
    ("gas_margin = 6", "gas_margin must be 1.0..5.0, got 6"),
    ('gas_margin = "2"', "gas_margin must be a number, got '2'"),
    ("gas_margin = true", "gas_margin must be a number, got True"),
    ("rpc_retries = 21", "rpc_retries must be 0..20, got 21"),
    ("auto_finalize = 1", "auto_finalize must be a boolean, got 1"),
    ("torch_threads = -1", "torch_threads must be 0..256, got -1"),
    ("torch_threads = 257", "torch_threads must be 0..256, got 257"),
    ("grpc_streams_per_client = 0", "grpc_streams_per_client must be 1..256, got 0"),
    ("grpc_max_calls = 257", "grpc_max_calls must be 1..256, got 257"),
    ("grpc_stream_idle_s = 0.5", "grpc_stream_idle_s must be 1..86400 seconds, got 0.5"),
    ('grpc_stream_lifetime_s = "1h"', "grpc_stream_lifetime_s must be a number, got '1h'"),
    ("grpc_streams_per_client = 17", "grpc_streams_per_client (17) must be at most grpc_max_streams (16)"),
    ("grpc_max_calls = 4", "grpc_calls_per_client (8) must be at most grpc_max_calls (4)"),
    ("colour = 3", "unknown keys ['colour'] (known: "),
    ("rpc = [", "cannot read "),
])
def test_a_bad_key_is_a_config_error_naming_the_file_and_the_rule(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, line + "\n") / CONFIG_NAME
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(info.value).startswith(f"{path}: " if not message.startswith("cannot") else "cannot read")
    assert message in str(info.value)


def test_a_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="create one with `cb-node init DIR`"):
        load_config(tmp_path)
