"""Hostile gRPC clients on loopback, for the service-limit tests and bench/rpc_load.py.

* :class:`HeldStreams` opens streams (WatchMetrics, reflection) and holds them open, recording
  how each one that the server ends finished;
* :func:`expensive_request` is a ReplayWindow a client may legally send that costs seconds: it
  names its own commitments and carries a season-maximum dataset (131,072 records) whose
  ``variant``-th rotation defeats the validator's dataset cache.

Clients are told apart by peer IP: a server bound to ``localhost:0`` listens on 127.0.0.1 and
[::1], so hostile clients dial one and the legitimate client the other (:data:`HOSTILE`,
:data:`LEGIT`), all on loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import lru_cache

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from chainbeasts.v1 import node_pb2, node_pb2_grpc
from chainbeasts.v1 import validator_pb2 as pb
from curriculum.dataset import MAX_RECORDS, compress_payload, encode_payload_records, records_of
from curriculum.importers import read_csv
from kernel.board import RECORD_SIZE
from kernel.hashing import keccak256
from tests.validator.windows import EXAMPLE_CSV

HOSTILE = "127.0.0.1"
LEGIT = "[::1]"
EXPENSIVE_SECRET = keccak256(b"rpc load: a hostile client's own owner secret")

OpenStream = Callable[[grpc.Channel, threading.Event], grpc.Call]


def watch_metrics(channel: grpc.Channel, stop: threading.Event) -> grpc.Call:
    """A WatchMetrics stream of every beast; it stays open while the node trains nothing."""
    return node_pb2_grpc.NodeServiceStub(channel).WatchMetrics(node_pb2.WatchMetricsRequest())


def reflection_stream(channel: grpc.Channel, stop: threading.Event) -> grpc.Call:
    """A reflection stream that sends nothing until ``stop`` is set."""

    def requests() -> Iterator[reflection_pb2.ServerReflectionRequest]:
        stop.wait()
        return
        yield  # pragma: no cover - a generator that yields nothing

    return reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(requests())


class HeldStreams:
    """``n`` streams opened on ``channel`` and held until ``close()``; ``ended`` lists (code, details)."""

    def __init__(self, channel: grpc.Channel, open_stream: OpenStream, n: int) -> None:
        self._stop = threading.Event()
        self._cv = threading.Condition()
        self.ended: list[tuple[grpc.StatusCode, str]] = []
        self._calls = [open_stream(channel, self._stop) for _ in range(n)]
        self._threads = [threading.Thread(target=self._drain, args=(c,), daemon=True) for c in self._calls]
        for t in self._threads:
            t.start()

    def _drain(self, call: grpc.Call) -> None:
        try:
            for _ in call:  # type: ignore[attr-defined]
                pass
            outcome = (grpc.StatusCode.OK, "")
        except grpc.RpcError as exc:
            outcome = (exc.code(), exc.details() or "")  # type: ignore[attr-defined]
        with self._cv:
            self.ended.append(outcome)
            self._cv.notify_all()

    def wait_ended(self, count: int, timeout: float) -> bool:
        """Whether at least ``count`` streams ended within ``timeout`` seconds."""
        with self._cv:
            return self._cv.wait_for(lambda: len(self.ended) >= count, timeout)

    def close(self) -> None:
        self._stop.set()
        for c in self._calls:
            c.cancel()
        for t in self._threads:
            t.join(10)

    def __enter__(self) -> HeldStreams:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def eventually(predicate: Callable[[], bool], timeout: float) -> bool:
    """Whether ``predicate()`` becomes true within ``timeout`` seconds (polled: server counters have no event)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@lru_cache(maxsize=1)
def _example_records() -> bytes:
    return records_of(read_csv(EXAMPLE_CSV))


def big_dataset(variant: int, records: int = MAX_RECORDS) -> bytes:
    """A valid dataset file of ``records`` records; each ``variant`` starts at another board (another commitment)."""
    base = _example_records()
    n = len(base) // RECORD_SIZE
    start = (variant % n) * RECORD_SIZE
    rotated = base[start:] + base[:start]
    body = (rotated * (records // n + 1))[: records * RECORD_SIZE]
    return compress_payload(encode_payload_records(body))


def expensive_request(dataset: bytes, beast_id: int = 7) -> pb.ReplayWindowRequest:
    """Window 1 of a beast whose commitments the client chose to match ``dataset``: legal, and seconds of decoding."""
    return pb.ReplayWindowRequest(
        beast_id=beast_id, window=1, dataset=dataset, owner_secret=EXPENSIVE_SECRET,
        beast=pb.BeastCommitments(seed_core=keccak256(b"rpc load: hostile seed" + dataset[-8:]),
                                  dataset_commitment=keccak256(dataset), secret_commitment=keccak256(EXPENSIVE_SECRET)),
    )
