"""NodeService under hostile clients (issue 15 item 1), real gRPC on loopback.

Before the limits, 16 held-open WatchMetrics or reflection streams took all 16 worker threads:
health checks and GetState waited until their deadline, and queued 4 MiB requests grew the
node's memory without bound. Hostile clients dial 127.0.0.1, the legitimate one [::1]
(tests.rpc_hostile); the server binds localhost, i.e. both.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chainbeasts.rpc_guard import CALL, STREAM, RpcLimits
from chainbeasts.v1 import node_pb2, node_pb2_grpc
from node.service import DEFAULT_LIMITS, MAX_REQUEST_BYTES, NodeServer, StoreDirectory, create_server
from tests.node.conftest import Trained
from tests.rpc_hostile import HOSTILE, LEGIT, HeldStreams, OpenStream, eventually, reflection_stream, watch_metrics

Code = grpc.StatusCode
WAIT_S = 30.0  # bounded waits for what the server must do promptly; never a timing assertion


def _serve(trained: Trained, limits: RpcLimits = DEFAULT_LIMITS) -> tuple[NodeServer, int]:
    stores = StoreDirectory(trained.data_dir, shared=lambda b: trained.engine.runs[b].store if b in trained.engine.runs else None)
    return create_server("localhost:0", stores=stores, bus=trained.engine.bus, limits=limits)


@pytest.fixture
def node(trained: Trained) -> Iterator[tuple[NodeServer, int]]:
    server, port = _serve(trained)
    yield server, port
    server.stop(0.5)


def _answers(channel: grpc.Channel, beast_id: int) -> None:
    """Health says SERVING and GetState serves a checkpoint, each within a few seconds."""
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    state = node_pb2_grpc.NodeServiceStub(channel).GetState(node_pb2.GetStateRequest(beast_id=beast_id, window=1), timeout=5)
    assert state.window == 1 and state.state_blob


@pytest.mark.parametrize("open_stream", [watch_metrics, reflection_stream], ids=["WatchMetrics", "reflection"])
def test_held_streams_leave_health_and_get_state_answering(node: tuple[NodeServer, int], trained: Trained,
                                                           open_stream: OpenStream) -> None:
    server, port = node
    per_client = DEFAULT_LIMITS.streams_per_client
    with grpc.insecure_channel(f"{HOSTILE}:{port}") as hostile, grpc.insecure_channel(f"{LEGIT}:{port}") as legit, \
            HeldStreams(hostile, open_stream, 20) as held:
        assert held.wait_ended(20 - per_client, WAIT_S)
        assert all(code == Code.RESOURCE_EXHAUSTED and f"limit {per_client} per client" in details for code, details in held.ended)
        assert server.guard.in_flight(STREAM, HOSTILE) == per_client
        _answers(legit, trained.run.beast_id)
        _answers(hostile, trained.run.beast_id)  # streams and calls have separate capacity, even for one client


def test_streams_are_bounded_in_total_across_clients(trained: Trained) -> None:
    server, port = _serve(trained, RpcLimits(streams_per_client=2, streams_total=3))
    try:
        with grpc.insecure_channel(f"{HOSTILE}:{port}") as hostile, grpc.insecure_channel(f"{LEGIT}:{port}") as legit, \
                HeldStreams(hostile, watch_metrics, 2) as mine:
            assert eventually(lambda: server.guard.in_flight(STREAM, HOSTILE) == 2, WAIT_S)
            with HeldStreams(legit, watch_metrics, 2) as theirs:
                assert theirs.wait_ended(1, WAIT_S)
                assert theirs.ended[0][0] == Code.RESOURCE_EXHAUSTED and "limit 3)" in theirs.ended[0][1]
                assert mine.ended == [] and server.guard.in_flight(STREAM) == 3
                _answers(legit, trained.run.beast_id)
    finally:
        server.stop(0.5)


@pytest.mark.parametrize(("limits", "why"), [(RpcLimits(stream_idle_s=0.3), "idle"),
                                             (RpcLimits(stream_lifetime_s=0.5, stream_idle_s=600), "lived")])
def test_streams_end_after_their_idle_time_and_lifetime(trained: Trained, limits: RpcLimits, why: str) -> None:
    server, port = _serve(trained, limits)
    try:
        with grpc.insecure_channel(f"{HOSTILE}:{port}") as ch, HeldStreams(ch, watch_metrics, 1) as held:
            assert held.wait_ended(1, WAIT_S)
            code, details = held.ended[0]
            assert code == Code.RESOURCE_EXHAUSTED and why in details and "open a new one" in details
            # the reaper counts and releases the stream after it ended it: the client may see the end first
            assert eventually(lambda: server.guard.in_flight(STREAM) == 0 and server.guard.streams_ended == 1, WAIT_S)
            _answers(ch, trained.run.beast_id)
    finally:
        server.stop(0.5)


def test_large_requests_are_refused_and_calls_are_bounded_per_client(node: tuple[NodeServer, int], trained: Trained) -> None:
    server, port = node
    with grpc.insecure_channel(f"{HOSTILE}:{port}", options=[("grpc.max_send_message_length", 8 << 20)]) as ch:
        raw = ch.unary_unary("/chainbeasts.v1.NodeService/GetState")
        with pytest.raises(grpc.RpcError) as info:  # a 4 MiB request is refused, not buffered
            raw(bytes(4 << 20), timeout=10)
        assert info.value.code() == Code.RESOURCE_EXHAUSTED
        # 120 requests just under the size limit at once (unknown fields pad a valid request)
        pad = node_pb2.GetStateRequest(beast_id=trained.run.beast_id, window=1).SerializeToString()
        pad += b"\xfa\x07" + _varint(MAX_REQUEST_BYTES - 64) + bytes(MAX_REQUEST_BYTES - 64)  # field 127, length-delimited

        def one(_: int) -> Code:
            try:
                raw(pad, timeout=30)
                return Code.OK
            except grpc.RpcError as exc:
                return exc.code()  # type: ignore[no-any-return]

        with ThreadPoolExecutor(120) as pool:
            codes = list(pool.map(one, range(120)))
        assert set(codes) <= {Code.OK, Code.RESOURCE_EXHAUSTED} and Code.OK in codes, codes
        assert server.guard.peak[CALL] <= DEFAULT_LIMITS.calls_per_client
        _answers(ch, trained.run.beast_id)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


@pytest.mark.parametrize(("method", "message_type"), [
    ("/chainbeasts.v1.NodeService/GetState", "chainbeasts.v1.GetStateRequest"),
    ("/chainbeasts.v1.NodeService/ListWindows", "chainbeasts.v1.ListWindowsRequest"),
    ("/grpc.health.v1.Health/Check", "grpc.health.v1.HealthCheckRequest"),
])
def test_undecodable_request_bytes_are_invalid_argument(node: tuple[NodeServer, int], trained: Trained, method: str,
                                                        message_type: str) -> None:
    _, port = node
    with grpc.insecure_channel(f"{HOSTILE}:{port}") as ch:
        with pytest.raises(grpc.RpcError) as info:
            ch.unary_unary(method)(b"\xff\xff\xff", timeout=10)
        assert info.value.code() == Code.INVALID_ARGUMENT
        assert f"request bytes are not a valid {message_type} message" in (info.value.details() or "")
        stream = ch.unary_stream("/chainbeasts.v1.NodeService/WatchMetrics")(b"\xff\xff\xff", timeout=10)
        with pytest.raises(grpc.RpcError) as info:
            next(stream)
        assert info.value.code() == Code.INVALID_ARGUMENT
        _answers(ch, trained.run.beast_id)
