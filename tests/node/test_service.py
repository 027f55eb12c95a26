"""NodeService over real gRPC on 127.0.0.1: served states hash to the committed h128; bad requests get codes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chainbeasts.v1 import node_pb2, node_pb2_grpc
from kernel.payload import Payload
from kernel.sources import PublicSource
from kernel.state import decode_state_blob
from kernel.train import train_window
from node.service import NodeServer, StoreDirectory, create_server

from tests.node.conftest import Trained


@pytest.fixture(scope="module")
def served(trained: Trained) -> Iterator[tuple[Trained, NodeServer, node_pb2_grpc.NodeServiceStub, grpc.Channel]]:
    stores = StoreDirectory(trained.data_dir, shared=lambda b: trained.engine.runs[b].store if b in trained.engine.runs else None)
    server, port = create_server("127.0.0.1:0", stores=stores, bus=trained.engine.bus)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield trained, server, node_pb2_grpc.NodeServiceStub(channel), channel
    channel.close()
    server.stop(0.5)


def _code(fn, request) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=10)
    assert info.value.details()  # every error carries a reason
    return info.value.code()


def test_served_states_hash_to_committed_h128(served) -> None:  # type: ignore[no-untyped-def]
    t, _, stub, _ = served
    bid = t.run.beast_id
    count = t.ledger.window_count(bid)
    assert count == 3
    for w in range(0, count + 1):
        resp = stub.GetState(node_pb2.GetStateRequest(beast_id=bid, window=w), timeout=10)
        state = decode_state_blob(resp.state_blob)
        assert state.h128() == resp.h128 and state.window == w
        if w == 0:
            assert resp.status == node_pb2.CHECKPOINT_STATUS_GENESIS and resp.word == b""
        else:
            chain_word = t.ledger.word(bid, w)
            assert resp.word == chain_word and Payload.unpack(chain_word).h128 == state.h128()
            assert resp.status == node_pb2.CHECKPOINT_STATUS_COMMITTED and resp.commit_tx.startswith("0x")


def test_list_windows_pages(served) -> None:  # type: ignore[no-untyped-def]
    t, _, stub, _ = served
    bid = t.run.beast_id
    first = stub.ListWindows(node_pb2.ListWindowsRequest(beast_id=bid, start_window=0, limit=2), timeout=10)
    assert [w.window for w in first.windows] == [0, 1] and first.next_window == 2
    rest = stub.ListWindows(node_pb2.ListWindowsRequest(beast_id=bid, start_window=first.next_window), timeout=10)
    assert [w.window for w in rest.windows][:2] == [2, 3]
    assert rest.windows[0].global_step == 256 and len(rest.windows[0].epoch_seed) == 32


def test_step_digests_match_a_replay(served) -> None:  # type: ignore[no-untyped-def]
    t, _, stub, _ = served
    bid = t.run.beast_id
    start = decode_state_blob(stub.GetState(node_pb2.GetStateRequest(beast_id=bid, window=1), timeout=10).state_blob)
    seed = t.ledger.epoch_seed(bid, 0)
    ref = train_window(start, PublicSource(), epoch_seed=seed, want_digests=True)
    resp = stub.GetStepDigests(node_pb2.GetStepDigestsRequest(beast_id=bid, window=2), timeout=10)
    assert list(resp.digests) == ref.digests and list(resp.losses) == ref.losses and len(resp.digests) == 128


def test_bad_requests_get_codes(served) -> None:  # type: ignore[no-untyped-def]
    t, _, stub, _ = served
    bid = t.run.beast_id
    inv, nf = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
    assert _code(stub.GetState, node_pb2.GetStateRequest(beast_id=0, window=1)) == inv
    assert _code(stub.GetState, node_pb2.GetStateRequest(beast_id=bid, window=-1)) == inv
    assert _code(stub.GetState, node_pb2.GetStateRequest(beast_id=bid, window=1 << 40)) == inv
    assert _code(stub.GetState, node_pb2.GetStateRequest(beast_id=bid, window=999)) == nf
    assert _code(stub.GetState, node_pb2.GetStateRequest(beast_id=4242, window=1)) == nf
    assert _code(stub.ListWindows, node_pb2.ListWindowsRequest(beast_id=bid, limit=-1)) == inv
    assert _code(stub.ListWindows, node_pb2.ListWindowsRequest(beast_id=bid, limit=10**6)) == inv
    assert _code(stub.ListWindows, node_pb2.ListWindowsRequest(beast_id=bid, start_window=-5)) == inv
    assert _code(stub.ListWindows, node_pb2.ListWindowsRequest(beast_id=0)) == inv
    assert _code(stub.GetStepDigests, node_pb2.GetStepDigestsRequest(beast_id=bid, window=0)) == inv
    assert _code(stub.GetStepDigests, node_pb2.GetStepDigestsRequest(beast_id=bid, window=77)) == nf
    assert _code(stub.GetStepDigests, node_pb2.GetStepDigestsRequest(beast_id=99, window=1)) == nf
    # Malformed bytes on the wire: INVALID_ARGUMENT, as the validator answers them, and the server carries on.
    raw = served[3].unary_unary("/chainbeasts.v1.NodeService/GetState")
    with pytest.raises(grpc.RpcError) as info:
        raw(b"\xff\xff\xff", timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Still serving afterwards.
    assert stub.GetState(node_pb2.GetStateRequest(beast_id=bid, window=1), timeout=10).window == 1


def test_health_serving(served) -> None:  # type: ignore[no-untyped-def]
    _, _, _, channel = served
    h = health_pb2_grpc.HealthStub(channel)
    for name in ("", "chainbeasts.v1.NodeService"):
        assert h.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == \
            health_pb2.HealthCheckResponse.SERVING


def test_watch_metrics_streams_training(served) -> None:  # type: ignore[no-untyped-def]
    t, server, stub, _ = served
    bid = t.run.beast_id
    stream = stub.WatchMetrics(node_pb2.WatchMetricsRequest(beast_ids=[bid]), timeout=30)
    got: list[node_pb2.MetricEvent] = []
    subscribed = threading.Event()

    def consume() -> None:
        for ev in stream:
            if ev.kind == node_pb2.METRIC_KIND_UNSPECIFIED:  # our probe: the subscription is live
                subscribed.set()
                continue
            got.append(ev)
            if ev.kind == node_pb2.METRIC_KIND_WINDOW_COMMITTED:
                break

    th = threading.Thread(target=consume)
    th.start()
    # The server subscribes when it starts the call; publish a probe until the stream carries it back.
    deadline = time.monotonic() + 20
    while not subscribed.wait(0.05) and time.monotonic() < deadline:
        server.servicer.bus.publish({"kind": "probe", "beast_id": bid})
    assert subscribed.is_set(), "the WatchMetrics subscription never delivered a probe event"
    t.engine.step([t.run])
    th.join(timeout=20)
    stream.cancel()
    kinds = [e.kind for e in got]
    assert kinds.count(node_pb2.METRIC_KIND_STEP) == 128
    assert node_pb2.METRIC_KIND_WINDOW_TRAINED in kinds and kinds[-1] == node_pb2.METRIC_KIND_WINDOW_COMMITTED
    assert got[-1].window == 4 and got[-1].commit_tx.startswith("0x")
    # window events carry the window's ENERGY burn (the stored word's), step events none
    burn = t.run.store.get(4).energy_burn
    assert burn > 0 and {e.energy_burn for e in got if e.kind != node_pb2.METRIC_KIND_STEP} == {burn}
    assert {e.energy_burn for e in got if e.kind == node_pb2.METRIC_KIND_STEP} == {0}


def test_corrupt_checkpoint_is_never_served(served) -> None:  # type: ignore[no-untyped-def]
    t, _, stub, _ = served
    bid = t.run.beast_id
    row = t.run.store.get(1)
    path = t.run.store.checkpoints / row.file
    good = path.read_bytes()
    try:
        state = decode_state_blob(good)
        state.w1[0, 0] += 1
        from kernel.state import encode_state_blob
        path.write_bytes(encode_state_blob(state))
        assert _code(stub.GetState, node_pb2.GetStateRequest(beast_id=bid, window=1)) == grpc.StatusCode.INTERNAL
        path.write_bytes(b"not zstd")
        assert _code(stub.GetState, node_pb2.GetStateRequest(beast_id=bid, window=1)) == grpc.StatusCode.INTERNAL
    finally:
        path.write_bytes(good)
