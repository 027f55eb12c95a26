"""ValidatorService over real gRPC on 127.0.0.1: answers, status codes, limits, health, reflection, load."""

from __future__ import annotations

import os
import random
import signal
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from chainbeasts.v1 import validator_pb2 as pb
from chainbeasts.v1 import validator_pb2_grpc as pbg
from kernel import SPEC_VERSION
from kernel.hashing import keccak256
from kernel.payload import Payload
from kernel.state import ZERO32
from kernel.train import train_window
from tests.validator.windows import LIMIT_RAISED, Beast, SwitchingSource
from validator.replay import MAX_DATASET_BYTES, MAX_STATE_BLOB_BYTES, ReplayRequest
from validator.service import MAX_REQUEST_BYTES, SERVICE_NAME, ValidatorServer, create_server, default_limits, max_request_bytes

Code = grpc.StatusCode


@contextmanager
def serving(backend: str = "numpy", **options: Any) -> Iterator[tuple[ValidatorServer, pbg.ValidatorServiceStub]]:
    """A service of its own on a free port with ``options`` (create_server's), a stub on it; stopped after."""
    srv, port = create_server("127.0.0.1:0", backend, **options)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            yield srv, pbg.ValidatorServiceStub(ch)
    finally:
        srv.stop(0)


def to_proto(req: ReplayRequest, beast_id: int = 1, **extra: object) -> pb.ReplayWindowRequest:
    """The proto request carrying everything in ``req`` (no chain, no node)."""
    b = req.beast
    msg = pb.ReplayWindowRequest(
        beast_id=beast_id,
        window=req.window,
        dataset=req.dataset or b"",
        owner_secret=req.owner_secret or b"",
        beast=pb.BeastCommitments(
            seed_core=b.seed_core,
            dataset_commitment=b.dataset_commitment if b.dataset_commitment != ZERO32 else b"",
            secret_commitment=b.secret_commitment if b.secret_commitment != ZERO32 else b"",
            spec_version=b.spec_version,
            records_root=b.records_root if b.records_root != ZERO32 else b"",
        ),
        claim=pb.WindowClaim(
            prev_h128=req.prev_h128 or b"", committed_word=req.committed_word or b"", epoch_seed=req.epoch_seed or b""
        ),
        trainer_digests=list(req.trainer_digests or []),
    )
    if req.start_state is not None:
        msg.start_state = req.start_state
    for name, value in extra.items():
        setattr(msg, name, value)
    return msg


def call(stub: pbg.ValidatorServiceStub, msg: pb.ReplayWindowRequest, timeout: float = 30.0) -> pb.ReplayWindowResponse:
    return stub.ReplayWindow(msg, timeout=timeout)


def code_of(stub: pbg.ValidatorServiceStub, msg: pb.ReplayWindowRequest) -> tuple[Code, str]:
    with pytest.raises(grpc.RpcError) as info:
        call(stub, msg)
    return info.value.code(), info.value.details() or ""


# -- answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_honest_window_matches(stub: pbg.ValidatorServiceStub, pub: Beast, k: int) -> None:
    resp = call(stub, to_proto(pub.request(k)))
    assert resp.verdict == pb.VERDICT_MATCH and resp.match
    assert resp.computed_word == pub.windows[k - 1].word == resp.committed_word
    assert resp.first_divergent_step == -1 and not resp.mismatched_fields
    assert resp.start_h128 == pub.windows[k - 1].start.h128()
    assert resp.window == k and resp.beast_id == 1 and resp.backend == "numpy" and resp.replay_micros > 0


def test_private_window_matches(stub: pbg.ValidatorServiceStub, priv: Beast) -> None:
    assert call(stub, to_proto(priv.request(2))).match


def test_spec_version_2_windows_match_and_0_means_1(stub: pbg.ValidatorServiceStub, pub: Beast, pub2: Beast,
                                                    priv2: Beast) -> None:
    """The hatch data's spec_version and records_root travel in BeastCommitments; a request without
    them (a client written before version 2) is a version 1 beast's."""
    for beast in (pub2, priv2):
        resp = call(stub, to_proto(beast.request(2)))
        assert resp.match and resp.computed_word == beast.windows[1].word
    old = to_proto(pub.request(2))
    old.beast.ClearField("spec_version")
    assert call(stub, old).match
    wrong = to_proto(pub2.request(2))
    wrong.beast.spec_version = 1  # a version 2 start state replayed as a version 1 beast's
    code, details = code_of(stub, wrong)
    assert code == Code.FAILED_PRECONDITION and "spec version 2" in details
    bogus = to_proto(priv2.request(1))
    bogus.beast.records_root = keccak256(b"not the file's records")  # genesis rebuilt with it; the file disagrees
    bogus.claim.prev_h128 = b""  # window 1: the genesis of that hatch data
    code, details = code_of(stub, bogus)
    assert code == Code.INVALID_ARGUMENT and "recordsRoot" in details
    bad = to_proto(pub2.request(1))
    bad.beast.spec_version = 3
    code, details = code_of(stub, bad)
    assert code == Code.INVALID_ARGUMENT and "spec_version must be one of 1, 2" in details


def test_divergence_with_first_step(stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    w = pub.windows[1]
    cheated = train_window(w.start, SwitchingSource(90), want_digests=True)
    resp = call(stub, to_proto(pub.request(2, committed_word=cheated.payload.pack(), trainer_digests=cheated.digests)))
    assert resp.verdict == pb.VERDICT_DIVERGED and not resp.match
    assert resp.first_divergent_step == 90
    assert resp.computed_word == w.word and "h128" in resp.mismatched_fields


def test_tampered_energy_diverges(stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    w = pub.windows[2]
    word = replace(w.payload, energy_burn=w.payload.energy_burn - 1).pack()
    resp = call(stub, to_proto(pub.request(3, committed_word=word)))
    assert resp.verdict == pb.VERDICT_DIVERGED and list(resp.mismatched_fields) == ["energy_burn"]


def test_compute_only(stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    resp = call(stub, to_proto(pub.request(2, committed_word=None)))
    assert resp.verdict == pb.VERDICT_COMPUTED and not resp.match and resp.committed_word == b""
    assert Payload.unpack(resp.computed_word) == pub.windows[1].payload


def test_torch_backend_fast_inputs_server(pub: Beast) -> None:
    with serving("torch", max_concurrent=1, inputs="fast") as (_, stub):
        resp = call(stub, to_proto(pub.request(2, trainer_digests=pub.windows[1].digests)))
        assert resp.match and resp.backend == "torch"
        assert stub.GetValidatorInfo(pb.GetValidatorInfoRequest()).inputs == "fast"


# -- errors ------------------------------------------------------------------------------


def _cases(pub: Beast, priv: Beast) -> list[tuple[str, pb.ReplayWindowRequest, Code, str]]:
    w2 = pub.windows[1]
    no_beast = to_proto(pub.request(2))
    no_beast.ClearField("beast")
    return [
        ("window 0", to_proto(pub.request(1, window=0)), Code.INVALID_ARGUMENT, "window"),
        ("window -5", to_proto(pub.request(1), window=-5), Code.INVALID_ARGUMENT, "window"),
        ("garbage blob", to_proto(pub.request(2, start_state=b"garbage")), Code.INVALID_ARGUMENT, "zstd"),
        ("empty blob", to_proto(pub.request(2), start_state=b""), Code.INVALID_ARGUMENT, "empty"),
        ("short word", to_proto(pub.request(2, committed_word=b"\x01" * 7)), Code.INVALID_ARGUMENT, "committed_word"),
        ("bad digest", to_proto(pub.request(2, trainer_digests=[b"\x01"])), Code.INVALID_ARGUMENT, "digest"),
        ("129 digests", to_proto(pub.request(2, trainer_digests=[b"\x01" * 16] * 129)), Code.INVALID_ARGUMENT, "128"),
        ("dataset to public", to_proto(pub.request(2, dataset=priv.dataset, owner_secret=priv.secret)), Code.INVALID_ARGUMENT, "private"),
        ("dataset 600 KB", to_proto(priv.request(1, dataset=bytes(600_000))), Code.INVALID_ARGUMENT, "limit"),
        ("fetch digests w/o node", to_proto(pub.request(2), fetch_digests=True), Code.INVALID_ARGUMENT, "node_address"),
        ("bad node address", to_proto(pub.request(2, start_state=None), node_address="not an address"), Code.INVALID_ARGUMENT, "host:port"),
        ("wrong start", to_proto(pub.request(3, start_state=w2.start_blob)), Code.FAILED_PRECONDITION, "hashes to"),
        ("wrong prev", to_proto(pub.request(2, prev_h128=b"\x03" * 16)), Code.FAILED_PRECONDITION, "hashes to"),
        ("missing start", to_proto(pub.request(2, start_state=None)), Code.FAILED_PRECONDITION, "start state"),
        ("missing prev", to_proto(pub.request(2, prev_h128=None)), Code.FAILED_PRECONDITION, "h128"),
        ("wrong dataset", to_proto(priv.request(1, dataset=(priv.dataset or b"") + b"x")), Code.FAILED_PRECONDITION, "dataset"),
        ("wrong secret", to_proto(priv.request(1, owner_secret=b"\x42" * 32)), Code.FAILED_PRECONDITION, "owner secret"),
        ("missing secret", to_proto(priv.request(1, owner_secret=None)), Code.FAILED_PRECONDITION, "secret"),
        ("no hatch data, no chain", no_beast, Code.FAILED_PRECONDITION, "chain"),
    ]


def test_bad_requests_get_clear_statuses(stub: pbg.ValidatorServiceStub, pub: Beast, priv: Beast) -> None:
    for name, msg, code, text in _cases(pub, priv):
        got, details = code_of(stub, msg)
        assert got == code, (name, got, details)
        assert text.lower() in details.lower(), (name, details)
        assert "\x42" * 32 not in details and (priv.secret or b"").hex() not in details


def test_short_seed_core_is_invalid_argument(stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    msg = to_proto(pub.request(2))
    msg.beast.seed_core = b"\x01" * 31
    assert code_of(stub, msg)[0] == Code.INVALID_ARGUMENT


def test_unreachable_node_is_unavailable(stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    msg = to_proto(pub.request(2, start_state=None), node_address=f"127.0.0.1:{port}")
    assert code_of(stub, msg)[0] == Code.UNAVAILABLE


def test_oversize_message_is_resource_exhausted(stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    msg = to_proto(pub.request(2), dataset=bytes(MAX_REQUEST_BYTES))
    assert code_of(stub, msg)[0] == Code.RESOURCE_EXHAUSTED


def test_largest_allowed_inputs_fit_the_message_limit(stub: pbg.ValidatorServiceStub, priv: Beast) -> None:
    # a 320 KiB state blob and a 256 KiB dataset pass the transport and reach the checks
    msg = to_proto(priv.request(2, start_state=b"\x28\xb5\x2f\xfd" + bytes(320 * 1024 - 4), dataset=bytes(MAX_DATASET_BYTES)))
    code, details = code_of(stub, msg)
    assert code == Code.INVALID_ARGUMENT and "state blob" in details


def test_the_season_dataset_limit_is_the_service_limit(stub: pbg.ValidatorServiceStub, big: Beast) -> None:
    # a season whose maxDatasetBytes is 384 KiB: a dataset over 256 KiB is legal on chain, and replays
    assert big.dataset is not None and MAX_DATASET_BYTES < len(big.dataset) <= LIMIT_RAISED
    code, details = code_of(stub, to_proto(big.request(1)))  # a service left at the default limit
    assert code == Code.INVALID_ARGUMENT and f"over the limit of {MAX_DATASET_BYTES}" in details
    with serving("numpy", max_concurrent=1, max_dataset_bytes=LIMIT_RAISED) as (_, season):
        info = season.GetValidatorInfo(pb.GetValidatorInfoRequest())
        assert info.max_request_bytes == max_request_bytes(LIMIT_RAISED) == MAX_STATE_BLOB_BYTES + LIMIT_RAISED + 64 * 1024
        resp = call(season, to_proto(big.request(1)))
        assert resp.verdict == pb.VERDICT_MATCH and resp.computed_word == big.windows[0].word
        # the message limit grew with it: a 320 KiB state blob and a 600 KiB dataset reach the checks
        msg = to_proto(big.request(1, start_state=b"\x28\xb5\x2f\xfd" + bytes(320 * 1024 - 4), dataset=bytes(LIMIT_RAISED)))
        assert msg.ByteSize() > MAX_REQUEST_BYTES
        code, details = code_of(season, msg)
        assert code == Code.INVALID_ARGUMENT and "state blob" in details
        code, _ = code_of(season, to_proto(big.request(1), dataset=bytes(LIMIT_RAISED + 1)))
        assert code == Code.INVALID_ARGUMENT


def test_hundreds_of_malformed_requests_then_a_good_one(channel: grpc.Channel, stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    rng = random.Random(6)
    raw = channel.unary_unary(f"/{SERVICE_NAME}/ReplayWindow", request_serializer=None, response_deserializer=None)
    good = to_proto(pub.request(2))
    codes: Counter[Code] = Counter()
    for i in range(300):
        kind = i % 3
        try:
            if kind == 0:  # bytes that are not a protobuf message at all
                raw(rng.randbytes(rng.randrange(1, 2000)), timeout=10)
            elif kind == 1:  # a valid message with random field contents
                msg = pb.ReplayWindowRequest(
                    beast_id=rng.randrange(1 << 64), window=rng.randrange(-3, 5),
                    start_state=rng.randbytes(rng.randrange(0, 3000)),
                    beast=pb.BeastCommitments(seed_core=rng.randbytes(rng.choice([0, 31, 32]))),
                    claim=pb.WindowClaim(prev_h128=rng.randbytes(rng.choice([0, 16])),
                                         committed_word=rng.randbytes(rng.choice([0, 32, 33]))),
                    trainer_digests=[rng.randbytes(16)] * rng.randrange(0, 3),
                )
                call(stub, msg)
            else:  # the good request with one byte of its serialization flipped
                data = bytearray(good.SerializeToString())
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
                raw(bytes(data), timeout=10)
            codes[Code.OK] += 1
        except grpc.RpcError as exc:
            codes[exc.code()] += 1
    assert set(codes) <= {Code.OK, Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION}, codes
    assert codes[Code.INVALID_ARGUMENT] > 150, codes
    resp = call(stub, good)
    assert resp.match


# -- health, reflection, info --------------------------------------------------------------


def test_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME):
        assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    resp = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in resp.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


def test_stop_marks_not_serving(pub: Beast) -> None:
    srv, port = create_server("127.0.0.1:0", "numpy", max_concurrent=1)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        assert health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status == health_pb2.HealthCheckResponse.SERVING
        srv.health.enter_graceful_shutdown()
        assert health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME)).status == health_pb2.HealthCheckResponse.NOT_SERVING
    srv.stop(0)


def test_info_reports_limits(stub: pbg.ValidatorServiceStub) -> None:
    info = stub.GetValidatorInfo(pb.GetValidatorInfoRequest())
    assert info.spec_version == SPEC_VERSION and info.backend == "numpy"  # the latest version it implements
    assert info.max_concurrent_replays == 2 and info.max_queued_replays == 64
    assert info.max_request_bytes == MAX_REQUEST_BYTES and not info.chain_connected


# -- load, busy, deadlines ---------------------------------------------------------------------


def test_32_concurrent_replays_all_complete_with_bounded_concurrency(pub: Beast) -> None:
    # one client sends all 32, so its per-client call budget (16 by default) is raised to 32
    with serving("numpy", max_concurrent=2, max_queued=40, limits=default_limits(2, 40, calls_per_client=32)) as (_, stub):
        msgs = [to_proto(pub.request(1 + i % 3), beast_id=i + 1) for i in range(32)]
        with ThreadPoolExecutor(32) as pool:
            resps = list(pool.map(lambda m: call(stub, m, timeout=60), msgs))
        assert [r.beast_id for r in resps] == list(range(1, 33))
        assert all(r.match for r in resps)
        info = stub.GetValidatorInfo(pb.GetValidatorInfoRequest())
        assert info.replays_ok == 32 and info.replays_rejected_busy == 0
        assert 1 <= info.replays_running_peak <= 2 and info.replays_running == 0


def test_excess_requests_are_resource_exhausted_and_none_is_lost(pub: Beast) -> None:
    with serving("numpy", max_concurrent=1, max_queued=1) as (_, stub):
        barrier = threading.Barrier(12)

        def one(i: int) -> Code:
            barrier.wait()
            try:
                call(stub, to_proto(pub.request(3)), timeout=60)
                return Code.OK
            except grpc.RpcError as exc:
                return exc.code()

        with ThreadPoolExecutor(12) as pool:
            codes = Counter(pool.map(one, range(12)))
        assert set(codes) <= {Code.OK, Code.RESOURCE_EXHAUSTED} and sum(codes.values()) == 12
        assert codes[Code.OK] >= 2 and codes[Code.RESOURCE_EXHAUSTED] >= 1, codes
        info = stub.GetValidatorInfo(pb.GetValidatorInfoRequest())
        # the limiter refuses what the queue cannot hold; gRPC's maximum_concurrent_rpcs (running + queued + 8)
        # refuses the rest before the handler runs
        assert 1 <= info.replays_rejected_busy <= codes[Code.RESOURCE_EXHAUSTED] and info.replays_ok == codes[Code.OK]
        assert call(stub, to_proto(pub.request(3))).match  # still serving


def test_replay_deadline(pub: Beast) -> None:
    with serving("numpy", max_concurrent=1, replay_deadline_s=0.002) as (_, stub):
        code, details = code_of(stub, to_proto(pub.request(3)))
        assert code == Code.DEADLINE_EXCEEDED and "within" in details


def test_caller_deadline(stub: pbg.ValidatorServiceStub, pub: Beast) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(stub, to_proto(pub.request(3)), timeout=0.003)
    assert info.value.code() == Code.DEADLINE_EXCEEDED
    assert call(stub, to_proto(pub.request(3))).match


def test_port_in_use_is_a_config_error() -> None:
    from validator.errors import ConfigError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match="cannot bind"):
            create_server(f"127.0.0.1:{port}", "numpy")


# -- process workers ---------------------------------------------------------------------------


def test_process_workers_replay_refuse_and_survive_a_killed_worker(pub: Beast, priv: Beast) -> None:
    with serving("numpy", max_concurrent=2, workers="process") as (srv, stub):
        assert stub.GetValidatorInfo(pb.GetValidatorInfoRequest()).workers == "process"
        assert call(stub, to_proto(priv.request(2))).match
        w = pub.windows[1]
        cheated = train_window(w.start, SwitchingSource(33), want_digests=True)
        resp = call(stub, to_proto(pub.request(2, committed_word=cheated.payload.pack(), trainer_digests=cheated.digests)))
        assert resp.verdict == pb.VERDICT_DIVERGED and resp.first_divergent_step == 33
        # errors raised in a worker process come back as the same statuses
        code, details = code_of(stub, to_proto(priv.request(1, owner_secret=b"\x42" * 32)))
        assert code == Code.FAILED_PRECONDITION and "owner secret" in details
        assert code_of(stub, to_proto(pub.request(3, start_state=w.start_blob)))[0] == Code.FAILED_PRECONDITION
        # a worker killed between requests: the pool is replaced, and service goes on
        pids = list(srv.servicer._executor._processes)  # type: ignore[attr-defined]
        os.kill(pids[0], signal.SIGKILL)
        codes = []
        for _ in range(3):
            try:
                codes.append(Code.OK if call(stub, to_proto(pub.request(3))).match else None)
            except grpc.RpcError as exc:
                codes.append(exc.code())
        assert codes[-1] == Code.OK and set(codes) <= {Code.OK, Code.UNAVAILABLE}, codes


def test_a_dataset_limit_below_one_byte_is_a_config_error() -> None:
    from validator.errors import ConfigError

    for bad in (0, -1, True):
        with pytest.raises(ConfigError, match="max_dataset_bytes"):
            create_server("127.0.0.1:0", "numpy", max_dataset_bytes=bad, warm_up=False)  # type: ignore[arg-type]
