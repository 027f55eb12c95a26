"""ValidatorService under hostile clients (issue 15 item 2), real gRPC on loopback.

Before the limits, 74 held-open reflection streams made every call, health included, return
RESOURCE_EXHAUSTED, and twenty ReplayWindow requests carrying self-committed 131,072-record
datasets (seconds of decoding each, one changed record defeating the cache) queued ahead of
normal replays. Hostile clients dial 127.0.0.1, the legitimate one [::1] (tests.rpc_hostile).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chainbeasts.rpc_guard import STREAM
from chainbeasts.v1 import validator_pb2 as pb
from chainbeasts.v1 import validator_pb2_grpc as pbg
from curriculum.dataset import MAX_CONTENT_SIZE, compress_payload
from tests.rpc_hostile import HOSTILE, LEGIT, HeldStreams, big_dataset, eventually, expensive_request, reflection_stream
from tests.validator.test_service import to_proto
from tests.validator.windows import Beast
from validator.admission import EXPENSIVE_RECORDS, declared_records
from validator.cli import main
from validator.service import DEFAULT_STREAMS_PER_CLIENT, ValidatorServer, create_server, default_limits

Code = grpc.StatusCode
WAIT_S = 30.0  # bounded waits for what the server must do promptly; never a timing assertion
EXPENSIVE = EXPENSIVE_RECORDS * 2  # over the threshold, still cheap enough for CI


@pytest.fixture
def validator() -> Iterator[tuple[ValidatorServer, int]]:
    srv, port = create_server("localhost:0", "numpy", max_concurrent=2)
    yield srv, port
    srv.stop(0)


def _answers(channel: grpc.Channel, pub: Beast) -> None:
    """Health SERVING, GetValidatorInfo and an honest replay MATCH, each within its deadline."""
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    stub = pbg.ValidatorServiceStub(channel)
    assert stub.GetValidatorInfo(pb.GetValidatorInfoRequest(), timeout=5).spec_version
    assert stub.ReplayWindow(to_proto(pub.request(2)), timeout=60).verdict == pb.VERDICT_MATCH


def test_held_reflection_streams_leave_every_call_answering(validator: tuple[ValidatorServer, int], pub: Beast) -> None:
    srv, port = validator
    n = 80  # more than the 74 that locked the validator out
    with grpc.insecure_channel(f"{HOSTILE}:{port}") as hostile, grpc.insecure_channel(f"{LEGIT}:{port}") as legit, \
            HeldStreams(hostile, reflection_stream, n) as held:
        assert held.wait_ended(n - DEFAULT_STREAMS_PER_CLIENT, WAIT_S)
        assert {code for code, _ in held.ended} == {Code.RESOURCE_EXHAUSTED}
        assert all(f"limit {DEFAULT_STREAMS_PER_CLIENT} per client" in details for _, details in held.ended)
        assert srv.guard.in_flight(STREAM) == DEFAULT_STREAMS_PER_CLIENT
        _answers(legit, pub)
        _answers(hostile, pub)


def test_stream_total_is_shared_by_clients(pub: Beast) -> None:
    srv, port = create_server("localhost:0", "numpy", max_concurrent=1,
                              limits=default_limits(1, 4, streams_per_client=2, streams_total=3))
    try:
        with grpc.insecure_channel(f"{HOSTILE}:{port}") as hostile, grpc.insecure_channel(f"{LEGIT}:{port}") as legit, \
                HeldStreams(hostile, reflection_stream, 2) as mine:
            assert eventually(lambda: srv.guard.in_flight(STREAM, HOSTILE) == 2, WAIT_S)
            with HeldStreams(legit, reflection_stream, 2) as theirs:
                assert theirs.wait_ended(1, WAIT_S) and mine.ended == []
                assert theirs.ended[0][0] == Code.RESOURCE_EXHAUSTED and "limit 3)" in theirs.ended[0][1]
                _answers(legit, pub)
    finally:
        srv.stop(0)


def test_expensive_replays_are_bounded_and_normal_replays_run(validator: tuple[ValidatorServer, int], pub: Beast) -> None:
    srv, port = validator
    datasets = [big_dataset(v, EXPENSIVE) for v in range(4)]  # four commitments: no cache hit between them
    assert all(declared_records(d) == EXPENSIVE for d in datasets)
    with grpc.insecure_channel(f"{HOSTILE}:{port}") as hostile, grpc.insecure_channel(f"{LEGIT}:{port}") as legit:
        stub = pbg.ValidatorServiceStub(hostile)

        def send(dataset: bytes) -> tuple[Code, str]:
            try:
                resp = stub.ReplayWindow(expensive_request(dataset), timeout=120)
                return Code.OK, pb.Verdict.Name(resp.verdict)
            except grpc.RpcError as exc:
                return exc.code(), exc.details() or ""  # type: ignore[return-value]

        with ThreadPoolExecutor(len(datasets)) as pool:
            outcomes = pool.map(send, datasets)
            _answers(legit, pub)  # while the hostile client's replays are in flight
            outcomes = list(outcomes)
    assert {code for code, _ in outcomes} <= {Code.OK, Code.RESOURCE_EXHAUSTED}, outcomes
    refused = [details for code, details in outcomes if code == Code.RESOURCE_EXHAUSTED]
    assert refused and all("expensive" in d and f"over {EXPENSIVE_RECORDS} records" in d for d in refused), outcomes
    assert (Code.OK, "VERDICT_COMPUTED") in outcomes  # one at a time is still served
    assert srv.servicer.expensive.peak == 1 and srv.servicer.expensive.in_flight == 0
    with grpc.insecure_channel(f"{LEGIT}:{port}") as ch:
        assert pbg.ValidatorServiceStub(ch).GetValidatorInfo(pb.GetValidatorInfoRequest()).replays_rejected_busy == len(refused)


def test_dataset_over_the_season_limit_is_refused_before_queueing(validator: tuple[ValidatorServer, int]) -> None:
    _, port = validator
    too_big = compress_payload(bytes(MAX_CONTENT_SIZE + 28))  # a few KiB that declare one record too many
    with grpc.insecure_channel(f"{HOSTILE}:{port}") as ch, pytest.raises(grpc.RpcError) as info:
        pbg.ValidatorServiceStub(ch).ReplayWindow(expensive_request(too_big), timeout=30)
    assert info.value.code() == Code.INVALID_ARGUMENT and "season limit" in (info.value.details() or "")


def test_calls_are_bounded_per_client(pub: Beast) -> None:
    srv, port = create_server("localhost:0", "numpy", max_concurrent=1, limits=default_limits(1, 64, calls_per_client=2))
    try:
        with grpc.insecure_channel(f"{HOSTILE}:{port}") as hostile, grpc.insecure_channel(f"{LEGIT}:{port}") as legit:
            stub = pbg.ValidatorServiceStub(hostile)

            def send(k: int) -> Code:
                try:
                    stub.ReplayWindow(to_proto(pub.request(1 + k % 3)), timeout=120)
                    return Code.OK
                except grpc.RpcError as exc:
                    return exc.code()  # type: ignore[no-any-return]

            with ThreadPoolExecutor(12) as pool:
                codes = list(pool.map(send, range(12)))
            assert set(codes) == {Code.OK, Code.RESOURCE_EXHAUSTED}, codes
            assert srv.guard.peak["call"] <= 2
            _answers(legit, pub)
    finally:
        srv.stop(0)


@pytest.mark.parametrize(("flags", "says"), [
    (["--calls-per-client", "0"], "at least 1"), (["--expensive-per-client", "0"], "at least 1"),
    (["--max-streams", "1", "--streams-per-client", "2"], "cb-validator: error: "), (["--stream-idle", "-1"], "cb-validator: error: "),
    (["--max-expensive", "1", "--expensive-per-client", "2"], "cb-validator: error: "),
])
def test_unworkable_serve_limits_exit_2(flags: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:  # refused before anything is bound: by argparse (SystemExit) or as a configuration error (returned)
        code = main(["serve", "--address", "127.0.0.1:0", *flags])
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    err = capsys.readouterr().err
    assert says in err and ("limit" in err or "expensive" in err or "at least 1" in err), err
