"""Fixtures of the validator tests: trained beasts (session-wide) and a running ValidatorService."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from chainbeasts.v1 import validator_pb2_grpc
from kernel.hashing import keccak256
from tests.validator.windows import Beast, large_dataset, private_beast, public_beast
from validator.service import ValidatorServer, create_server


@pytest.fixture(scope="session")
def pub() -> Beast:
    """A public beast with 3 honest windows."""
    return public_beast()


@pytest.fixture(scope="session")
def priv() -> Beast:
    """A private beast with 2 honest windows."""
    return private_beast()


@pytest.fixture(scope="session")
def pub2() -> Beast:
    """A spec version 2 public beast with 2 honest windows."""
    return public_beast(keccak256(b"validator tests: v2 public beast"), n=2, spec_version=2)


@pytest.fixture(scope="session")
def priv2() -> Beast:
    """A spec version 2 private beast (committed to its records root) with 2 honest windows."""
    return private_beast(keccak256(b"validator tests: v2 private beast"), spec_version=2)


@pytest.fixture(scope="session")
def big() -> Beast:
    """A private beast with 1 honest window on a dataset file over 256 KiB (legal where maxDatasetBytes is 384 KiB)."""
    return private_beast(keccak256(b"validator tests: big dataset"), n=1, dataset=large_dataset())


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[ValidatorServer, int]]:
    """A ValidatorService on 127.0.0.1, numpy backend, 2 replays at once, 64 queued, any loopback node allowed."""
    srv, port = create_server("127.0.0.1:0", "numpy", max_concurrent=2, max_queued=64, allowed_nodes=["127.0.0.1:*"])
    yield srv, port
    srv.stop(0)


@pytest.fixture(scope="module")
def channel(server: tuple[ValidatorServer, int]) -> Iterator[grpc.Channel]:
    ch = grpc.insecure_channel(f"127.0.0.1:{server[1]}", options=[("grpc.max_send_message_length", 4 << 20)])
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def stub(channel: grpc.Channel) -> validator_pb2_grpc.ValidatorServiceStub:
    return validator_pb2_grpc.ValidatorServiceStub(channel)
