"""The trainer-node allowlist (``allowed_nodes`` / ``--allow-node``): the service dials only the nodes it is allowed to.

A real NodeService on 127.0.0.1 serves the public test beast's checkpoints; real
ValidatorServices with different allowlists fetch from it or refuse.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from chainbeasts.v1 import validator_pb2 as pb
from chainbeasts.v1 import validator_pb2_grpc as pbg
from node.service import NodeServer
from node.service import create_server as create_node_server
from node.store import BeastStore, beast_dir
from tests.validator.test_service import code_of, to_proto
from tests.validator.windows import Beast
from node.config import DEFAULT_GRPC
from validator.allowlist import DEFAULT_ALLOWED_NODES, DEFAULT_NODE_PORT, NodeAllowlist
from validator.cli import build_parser, main
from validator.errors import ConfigError, InvalidInputError, NodeNotAllowedError, NotFoundError, UpstreamError
from validator.grpc_status import status_of
from validator.node_client import NodeClient
from validator.service import ValidatorServer, create_server

Code = grpc.StatusCode
BEAST_ID = 1
FAR_NODE = "10.0.0.1:50051"  # never dialed: every test refuses it before any connection


@pytest.fixture(scope="module")
def node(pub: Beast, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real trainer node on 127.0.0.1 holding checkpoints 0..3 of the public beast; yields its port."""
    data_dir = tmp_path_factory.mktemp("node-data")
    store = BeastStore(beast_dir(data_dir, BEAST_ID), BEAST_ID)
    store.persist(pub.windows[0].start, None, epoch_seed=pub.windows[0].start.epoch_seed)
    for w in pub.windows:
        store.persist(w.result.state, w.payload, epoch_seed=w.result.state.epoch_seed, digests=w.digests)
    store.close()
    server: NodeServer
    server, port = create_node_server("127.0.0.1:0", data_dir)
    yield port
    server.stop(0)


def serve(allowed: list[str] | None) -> tuple[ValidatorServer, int]:
    return create_server("127.0.0.1:0", "numpy", max_concurrent=1, allowed_nodes=allowed)


def from_node(pub: Beast, address: str, window: int = 3) -> pb.ReplayWindowRequest:
    """Replay ``window`` with the start state and digests fetched from the node at ``address``."""
    msg = to_proto(pub.request(window, start_state=None, trainer_digests=None), beast_id=BEAST_ID)
    msg.node_address = address
    msg.fetch_digests = True
    return msg


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port nobody else uses; a test checks that no connection arrives."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.settimeout(0.2)
        yield s


def assert_never_dialed(s: socket.socket) -> None:
    with pytest.raises(TimeoutError):
        s.accept()


# -- the list ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "address", "allowed"),
    [
        (None, "127.0.0.1:50551", True),
        (None, "LocalHost:50551", True),
        (None, "[::1]:50551", True),
        (None, "[0:0:0:0:0:0:0:1]:50551", True),  # IPv6 literals compare canonically
        (None, "127.0.0.1:22", False),  # only the node's default port: no probing of local ports
        (None, "localhost:50552", False),
        (None, "[::1]:65535", False),
        (None, FAR_NODE, False),
        (None, "127.1:50551", False),  # no resolution, no guessing: only what is written
        (None, "localhost.:50551", False),
        (None, "unix:50551", False),  # gRPC would read this as a socket file
        (None, "not an address", False),
        (["node.example:50551"], "NODE.example:50551", True),
        (["node.example:50551"], "node.example:50552", False),
        (["node.example:50551"], "127.0.0.1:50551", False),  # entries replace the loopback default
        (["10.0.0.7:*"], "10.0.0.7:1", True),
        (["10.0.0.7:*"], "10.0.0.8:1", False),
        (["[FE80::1]:*"], "[fe80:0::1]:4", True),
        ([], "127.0.0.1:50551", False),
    ],
)
def test_allows(entries: list[str] | None, address: str, allowed: bool) -> None:
    assert NodeAllowlist(entries).allows(address) is allowed


def test_default_is_the_local_node_port_only() -> None:
    assert NodeAllowlist().entries == DEFAULT_ALLOWED_NODES == ("127.0.0.1:50551", "localhost:50551", "[::1]:50551")
    assert DEFAULT_GRPC.rpartition(":")[2] == str(DEFAULT_NODE_PORT)  # the port cb-node serves on unless node.toml says otherwise


@pytest.mark.parametrize(
    "entry",
    ["", "node.example", "node.example:", ":50551", "node.example:0", "node.example:65536", "node.example:5x",
     "node.example:²", "::1:*", "[not-ipv6]:*", "[1.2.3.4]:*", "two words:1", "unix:*", "dns:53", 50551],
)
def test_malformed_entries_are_config_errors(entry: object) -> None:
    with pytest.raises(ConfigError, match="allowed_nodes"):
        NodeAllowlist(["127.0.0.1:*", entry])  # type: ignore[list-item]


def test_check_says_how_to_allow() -> None:
    with pytest.raises(NodeNotAllowedError) as info:
        NodeAllowlist().check(FAR_NODE)
    assert status_of(info.value) == Code.PERMISSION_DENIED and info.value.exit_code == 2
    assert FAR_NODE in str(info.value) and "allowed_nodes" in str(info.value) and "--allow-node" in str(info.value)
    with pytest.raises(InvalidInputError, match="host:port"):  # malformed stays INVALID_ARGUMENT
        NodeAllowlist().check("10.0.0.1")


# -- the service -----------------------------------------------------------------------------


def test_default_service_refuses_other_local_ports_without_dialing(node: int, pub: Beast, listener: socket.socket) -> None:
    srv, port = serve(None)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pbg.ValidatorServiceStub(ch)
            for address in (f"127.0.0.1:{node}", f"127.0.0.1:{listener.getsockname()[1]}", "localhost:22"):
                code, details = code_of(stub, from_node(pub, address))
                assert code == Code.PERMISSION_DENIED and f"--allow-node {address}" in details, (address, details)
            assert_never_dialed(listener)
            assert not srv.servicer.nodes._channels
    finally:
        srv.stop(0)


def test_operator_named_loopback_ports_are_fetched_from(node: int, pub: Beast) -> None:
    srv, port = serve(["127.0.0.1:*"])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pbg.ValidatorServiceStub(ch)
            for k in (2, 3):
                resp = stub.ReplayWindow(from_node(pub, f"127.0.0.1:{node}", k), timeout=30)
                assert resp.verdict == pb.VERDICT_MATCH and resp.start_h128 == pub.windows[k - 1].start.h128()
    finally:
        srv.stop(0)


def test_a_node_that_cannot_be_reached_is_not_kept_dialling(pub: Beast) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        gone = f"127.0.0.1:{s.getsockname()[1]}"
    client = NodeClient(timeout_s=5)
    try:
        with pytest.raises(UpstreamError, match="UNAVAILABLE"):
            client.get_state(gone, BEAST_ID, 1)
        assert gone not in client._channels  # closed and forgotten: no reconnect attempts in the background
    finally:
        client.close()


def test_a_reachable_node_keeps_its_channel(node: int) -> None:
    client = NodeClient(timeout_s=5)
    try:
        address = f"127.0.0.1:{node}"
        with pytest.raises(NotFoundError):  # the node answers: the channel works and stays
            client.get_state(address, BEAST_ID, 99)
        assert client.get_state(address, BEAST_ID, 1) and list(client._channels) == [address]
    finally:
        client.close()


def test_far_node_is_refused_before_anything_is_dialed(stub: pbg.ValidatorServiceStub, server: tuple[ValidatorServer, int],
                                                      pub: Beast) -> None:
    code, details = code_of(stub, from_node(pub, FAR_NODE))
    assert code == Code.PERMISSION_DENIED
    assert FAR_NODE in details and "--allow-node" in details and "allowed_nodes" in details
    assert not server[0].servicer.nodes._channels  # no channel was ever opened to it


def test_listed_node_only(node: int, pub: Beast, listener: socket.socket) -> None:
    srv, port = serve([f"127.0.0.1:{node}"])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pbg.ValidatorServiceStub(ch)
            assert stub.ReplayWindow(from_node(pub, f"127.0.0.1:{node}"), timeout=30).match
            other = f"127.0.0.1:{listener.getsockname()[1]}"
            for address in (other, f"localhost:{node}", FAR_NODE):  # another port, another spelling, another host
                code, details = code_of(stub, from_node(pub, address))
                assert code == Code.PERMISSION_DENIED and address in details, (address, details)
            assert_never_dialed(listener)
            assert list(srv.servicer.nodes._channels) == [f"127.0.0.1:{node}"]
            assert stub.GetValidatorInfo(pb.GetValidatorInfoRequest()).replays_failed == 3
    finally:
        srv.stop(0)


def test_any_port_entry(node: int, pub: Beast, listener: socket.socket) -> None:
    srv, port = serve(["127.0.0.1:*", "node.example:50551"])
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = pbg.ValidatorServiceStub(ch)
            assert stub.ReplayWindow(from_node(pub, f"127.0.0.1:{node}"), timeout=30).match
            assert code_of(stub, from_node(pub, f"[::1]:{listener.getsockname()[1]}"))[0] == Code.PERMISSION_DENIED
            assert_never_dialed(listener)
    finally:
        srv.stop(0)


def test_malformed_entry_stops_create_server() -> None:
    with pytest.raises(ConfigError, match="'10.0.0.1'"):
        create_server("127.0.0.1:0", "numpy", max_concurrent=1, allowed_nodes=["127.0.0.1:*", "10.0.0.1"])


# -- the CLI ---------------------------------------------------------------------------------


def test_allow_node_flag_is_repeatable() -> None:
    args = build_parser().parse_args(["serve", "--allow-node", "node.example:50551", "--allow-node", "[::1]:*"])
    assert args.allowed_nodes == ["node.example:50551", "[::1]:*"]
    assert build_parser().parse_args(["serve"]).allowed_nodes is None  # None: the default (local node port)


def test_malformed_allow_node_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # refused before the deployments file is read or anything is bound
    assert main(["serve", "--allow-node", "node.example", "--deployments", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "cb-validator: error: " in err and "'node.example'" in err and "host:*" in err
