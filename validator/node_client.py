"""A small client of the trainer node's NodeService: fetch checkpoint states and step digests.

The validator trusts nothing the node sends: the state blob is checked against the chain's
h128 by :mod:`validator.replay`; the digests only help locate a divergence.

Channels are cached per address (at most 16) while they work; a call that fails for want of
a connection (UNAVAILABLE, DEADLINE_EXCEEDED) closes and forgets its channel, so an address
that was asked for once is not re-dialled in the background afterwards.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Final

import grpc

from validator.errors import InvalidInputError, NotFoundError, UpstreamError, ValidatorError
from validator.replay import DIGEST_BYTES, MAX_STATE_BLOB_BYTES

MAX_ADDRESS_LEN: Final = 255
NODE_MAX_RECEIVE_BYTES: Final = MAX_STATE_BLOB_BYTES + 64 * 1024
HOST_PATTERN: Final = r"(?:[A-Za-z0-9.\-_]+|\[[0-9A-Fa-f:.]+\])"  # a name, an IPv4 literal or a bracketed IPv6 literal
_ADDRESS_RE: Final = re.compile(rf"{HOST_PATTERN}:[0-9]{{1,5}}")
_CACHED_CHANNELS: Final = 16
# Codes after which a channel is dropped: the node is not there (or not answering); gRPC would keep reconnecting.
_EVICT_ON: Final = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def check_node_address(address: str) -> str:
    """Validate a ``host:port`` node address; raises InvalidInputError."""
    if not isinstance(address, str) or not address:
        raise InvalidInputError("node_address is empty; give host:port of a trainer node")
    if len(address) > MAX_ADDRESS_LEN:
        raise InvalidInputError(f"node_address is {len(address)} characters, over the limit of {MAX_ADDRESS_LEN}")
    if not _ADDRESS_RE.fullmatch(address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise InvalidInputError(f"node_address {address!r} is not host:port")
    return address


def _map_rpc_error(address: str, what: str, exc: grpc.RpcError) -> ValidatorError:
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    msg = f"trainer node {address}: {what}: {code.name if code else 'error'}: {details}"
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFoundError(msg)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidInputError(msg)
    return UpstreamError(msg)


class NodeClient:
    """Fetches checkpoint states and per-step digests from trainer nodes (channels are cached)."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._channels: OrderedDict[str, grpc.Channel] = OrderedDict()
        self._lock = threading.Lock()

    def _stub(self, address: str):  # -> node_pb2_grpc.NodeServiceStub
        from chainbeasts.v1 import node_pb2_grpc

        check_node_address(address)
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = grpc.insecure_channel(
                    address, options=[("grpc.max_receive_message_length", NODE_MAX_RECEIVE_BYTES)]
                )
                self._channels[address] = channel
                while len(self._channels) > _CACHED_CHANNELS:
                    _, old = self._channels.popitem(last=False)
                    old.close()
            else:
                self._channels.move_to_end(address)
        return node_pb2_grpc.NodeServiceStub(channel)

    def _forget(self, address: str, exc: grpc.RpcError) -> None:
        """Close and drop the cached channel of ``address`` when ``exc`` says the node could not be reached."""
        code = exc.code() if hasattr(exc, "code") else None
        if code not in _EVICT_ON:
            return
        with self._lock:
            channel = self._channels.pop(address, None)
        if channel is not None:
            channel.close()

    def _timeout(self, deadline_s: float | None) -> float:
        return self.timeout_s if deadline_s is None else max(0.001, min(self.timeout_s, deadline_s))

    def get_state(self, address: str, beast_id: int, window: int, *, deadline_s: float | None = None) -> bytes:
        """The zstd state blob of checkpoint ``window`` of ``beast_id`` (GetState)."""
        from chainbeasts.v1 import node_pb2

        stub = self._stub(address)
        try:
            resp = stub.GetState(node_pb2.GetStateRequest(beast_id=beast_id, window=window), timeout=self._timeout(deadline_s))
        except grpc.RpcError as exc:
            self._forget(address, exc)
            raise _map_rpc_error(address, f"GetState(beast {beast_id}, window {window})", exc) from None
        if not resp.state_blob:
            raise UpstreamError(f"trainer node {address}: GetState(beast {beast_id}, window {window}) returned no state blob")
        return bytes(resp.state_blob)

    def get_step_digests(self, address: str, beast_id: int, window: int, *, deadline_s: float | None = None) -> list[bytes]:
        """The trainer's 128 per-step digests of window ``window`` (GetStepDigests)."""
        from chainbeasts.v1 import node_pb2

        stub = self._stub(address)
        try:
            resp = stub.GetStepDigests(
                node_pb2.GetStepDigestsRequest(beast_id=beast_id, window=window), timeout=self._timeout(deadline_s)
            )
        except grpc.RpcError as exc:
            self._forget(address, exc)
            raise _map_rpc_error(address, f"GetStepDigests(beast {beast_id}, window {window})", exc) from None
        digests = [bytes(d) for d in resp.digests]
        if any(len(d) != DIGEST_BYTES for d in digests):
            raise UpstreamError(f"trainer node {address}: GetStepDigests returned digests that are not {DIGEST_BYTES} bytes")
        return digests

    def close(self) -> None:
        """Close every cached channel."""
        with self._lock:
            for ch in self._channels.values():
                ch.close()
            self._channels.clear()
