"""Server-side limits shared by NodeService and ValidatorService: no client can starve a service.

Python's synchronous gRPC server runs every call, a held-open stream included, on one thread
of its pool for the call's whole life. Without limits 16 held streams (the node's pool) made
health checks wait until they timed out, and a full pool queued requests (and their bytes)
without bound. :class:`RpcGuard` is a server interceptor that sorts every method into one of
three lanes and counts what is in flight, per client (peer IP address) and in total:

``stream``  any request- or response-streaming method (WatchMetrics, reflection, health Watch);
``light``   cheap unary methods named by the service (health Check, GetValidatorInfo): their own
            capacity, so health answers however many streams and calls are held;
``call``    every other unary method (GetState, ReplayWindow, ...).

A call over its lane's per-client or total limit is refused at once with RESOURCE_EXHAUSTED
and a message naming the limit; nothing waits. :func:`guarded_server` builds the server with a
thread pool sized to the sum of the lanes plus headroom for refusals and sets gRPC's own
``maximum_concurrent_rpcs`` to the same number, so no call ever queues behind the pool (the
request bytes held at once are bounded by ``workers * max_request_bytes``). Streams live at
most ``stream_lifetime_s`` and may be idle (no message either way) at most ``stream_idle_s``;
a reaper thread ends older ones with RESOURCE_EXHAUSTED. Request bytes that do not decode as
the method's message are answered INVALID_ARGUMENT (gRPC's own answer is INTERNAL).

One server with lanes was chosen over a second health port: probes and clients keep using the
one address the operator publishes, and the reserved light lane gives the same guarantee.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import grpc
from grpc_health.v1 import health

from chainbeasts.rpc_limits import CALL, LANES, LIGHT, STREAM, GuardConfigError, RpcLimits

HEALTH_CHECK: Final = "/grpc.health.v1.Health/Check"


def client_of(context: grpc.ServicerContext) -> str:
    """The client a call is counted against: the peer's IP address without its port.

    A client opens as many connections (ports) as it likes, so limits key on the host; clients
    behind one NAT share a budget. ``ipv4:1.2.3.4:5`` -> ``1.2.3.4``, ``ipv6:[::1]:5`` -> ``[::1]``.
    """
    peer = context.peer() or "unknown"
    kind, _, rest = peer.partition(":")
    if kind in ("ipv4", "ipv6"):
        host, sep, port = rest.rpartition(":")
        return host if sep and port.isdigit() else rest
    return peer


class _Malformed:
    """Stands in for request bytes that do not decode as the method's message."""

    def __init__(self, what: str, error: str) -> None:
        self.what = what
        self.error = error

    def abort(self, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"request bytes are not a valid {self.what} message ({self.error})")


def _lenient(method: str, deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` returning a _Malformed for undecodable bytes (gRPC would answer its exception INTERNAL)."""
    if deserializer is None:
        return None
    message_type = getattr(getattr(deserializer, "__self__", None), "DESCRIPTOR", None)
    what = message_type.full_name if message_type is not None else f"{method} request"

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # protobuf raises DecodeError (and, rarely, others) on garbage
            return _Malformed(what, type(exc).__name__)

    return parse


@dataclass(eq=False)
class _Ticket:
    """One admitted call; streams are watched by the reaper until released."""

    lane: str
    client: str
    method: str
    context: grpc.ServicerContext
    started: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    released: bool = False

    def touch(self) -> None:
        self.last_active = time.monotonic()


def _end_stream(context: grpc.ServicerContext, message: str) -> None:
    """End a stream from another thread with RESOURCE_EXHAUSTED (plain cancel when the runtime lacks it)."""
    try:
        from grpc._cython import cygrpc

        context._rpc_event.call.cancel(cygrpc.StatusCode.resource_exhausted, message)  # type: ignore[attr-defined]
    except Exception:  # another grpc runtime: the client then sees CANCELLED
        context.cancel()  # type: ignore[attr-defined]


class RpcGuard(grpc.ServerInterceptor):
    """Counts calls per lane and client, refuses the excess, ends streams past their time.

    ``light`` names the full method paths (``/pkg.Service/Method``) that go to the light lane;
    health Check always does. ``close()`` stops the reaper thread.
    """

    def __init__(self, service: str, limits: RpcLimits, light: Iterable[str] = ()) -> None:
        self.service = service
        self.limits = limits
        self.light = frozenset(light) | {HEALTH_CHECK}
        self._lock = threading.Lock()
        self._open: dict[str, dict[str, int]] = {lane: {} for lane in LANES}
        self._total: dict[str, int] = dict.fromkeys(LANES, 0)
        self._streams: set[_Ticket] = set()
        self.refused: dict[str, int] = dict.fromkeys(LANES, 0)
        self.peak: dict[str, int] = dict.fromkeys(LANES, 0)
        self.streams_ended = 0
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name=f"{service}-rpc-reaper", daemon=True)
        self._reaper.start()

    # -- counting ----------------------------------------------------------------------

    def in_flight(self, lane: str, client: str | None = None) -> int:
        """Calls of ``lane`` in flight (of ``client`` when given)."""
        with self._lock:
            return self._total[lane] if client is None else self._open[lane].get(client, 0)

    def _admit(self, lane: str, method: str, context: grpc.ServicerContext) -> _Ticket:
        """Count the call in, or abort it with RESOURCE_EXHAUSTED naming the limit it hit."""
        client = client_of(context)
        per, total = self.limits.per_client(lane), self.limits.total(lane)
        with self._lock:
            mine, everyone = self._open[lane].get(client, 0), self._total[lane]
            admitted = mine < per and everyone < total
            if admitted:
                self._open[lane][client] = mine + 1
                self._total[lane] = everyone + 1
                self.peak[lane] = max(self.peak[lane], everyone + 1)
                ticket = _Ticket(lane, client, method, context)
                if lane == STREAM:
                    self._streams.add(ticket)
            else:
                self.refused[lane] += 1
        if not admitted:
            reason = (f"client {client} already has {mine} {lane}s in flight (limit {per} per client)" if mine >= per
                      else f"the server has {everyone} {lane}s in flight (limit {total})")
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{self.service} refused {method}: {reason}; "
                                                              "finish or close some and retry later")
        return ticket

    def _release(self, ticket: _Ticket) -> None:
        with self._lock:
            if ticket.released:
                return
            ticket.released = True
            left = self._open[ticket.lane][ticket.client] - 1
            if left:
                self._open[ticket.lane][ticket.client] = left
            else:
                del self._open[ticket.lane][ticket.client]
            self._total[ticket.lane] -= 1
            self._streams.discard(ticket)

    # -- stream time limits ------------------------------------------------------------

    def _reap(self) -> None:
        tick = max(0.01, min(1.0, self.limits.stream_idle_s / 4, self.limits.stream_lifetime_s / 4))
        while not self._closed.wait(tick):
            now = time.monotonic()
            with self._lock:
                expired = [t for t in self._streams
                           if now - t.started > self.limits.stream_lifetime_s or now - t.last_active > self.limits.stream_idle_s]
            for t in expired:
                why = (f"lived {self.limits.stream_lifetime_s:g}s (the limit)" if now - t.started > self.limits.stream_lifetime_s
                       else f"was idle {self.limits.stream_idle_s:g}s (the limit)")
                _end_stream(t.context, f"{self.service} ended {t.method}: the stream {why}; open a new one")
                with self._lock:
                    self.streams_ended += 1
                self._release(t)

    def close(self) -> None:
        """Stop the reaper (the server is stopping)."""
        self._closed.set()

    # -- the interceptor ---------------------------------------------------------------

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        deser = _lenient(method, handler.request_deserializer)
        ser = handler.response_serializer
        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(self._streaming(method, handler.stream_stream, True), deser, ser)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(self._streaming(method, handler.unary_stream, False), deser, ser)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(self._client_stream(method, handler.stream_unary), deser, ser)
        lane = LIGHT if method in self.light else CALL
        return grpc.unary_unary_rpc_method_handler(self._unary(method, lane, handler.unary_unary), deser, ser)

    def _unary(self, method: str, lane: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            if isinstance(request, _Malformed):
                request.abort(context)
            ticket = self._admit(lane, method, context)
            try:
                return behavior(request, context)
            finally:
                self._release(ticket)

        return unary

    def _requests(self, requests: Iterator[Any], ticket: _Ticket) -> Iterator[Any]:
        for request in requests:
            if isinstance(request, _Malformed):
                request.abort(ticket.context)
            ticket.touch()
            yield request

    def _client_stream(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def client_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            ticket = self._admit(STREAM, method, context)
            context.add_callback(lambda: self._release(ticket))
            try:
                return behavior(self._requests(requests, ticket), context)
            finally:
                self._release(ticket)

        return client_stream

    def _streaming(self, method: str, behavior: Callable[..., Iterator[Any]], request_streaming: bool) -> Callable[..., Iterator[Any]]:
        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            if not request_streaming and isinstance(request, _Malformed):
                request.abort(context)
            ticket = self._admit(STREAM, method, context)
            context.add_callback(lambda: self._release(ticket))  # also when the client goes away mid-stream
            try:
                for response in behavior(self._requests(request, ticket) if request_streaming else request, context):
                    ticket.touch()
                    yield response
            finally:
                self._release(ticket)

        return streaming


def guarded_server(guard: RpcGuard, *, thread_name_prefix: str, options: Iterable[tuple[str, Any]] = ()) -> grpc.Server:
    """A grpc.Server whose pool never queues: ``limits.workers`` threads and as many concurrent RPCs.

    Message sizes come from the limits (``max_request_bytes``, ``max_response_bytes``).
    """
    limits = guard.limits
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix=thread_name_prefix),
        interceptors=[guard],
        maximum_concurrent_rpcs=limits.workers,
        options=[("grpc.max_receive_message_length", limits.max_request_bytes),
                 ("grpc.max_send_message_length", limits.max_response_bytes), *options],
    )


ServicerT = TypeVar("ServicerT")


class GuardedServer(Generic[ServicerT]):
    """A running service built on :func:`guarded_server`: the grpc.Server, its servicer, its health
    service and its guard. Each service's subclass says how it stops (the order differs)."""

    def __init__(self, server: grpc.Server, servicer: ServicerT, health_servicer: health.HealthServicer, guard: RpcGuard) -> None:
        self.server = server
        self.servicer = servicer
        self.health = health_servicer
        self.guard = guard


__all__ = ["CALL", "HEALTH_CHECK", "LIGHT", "STREAM", "GuardConfigError", "GuardedServer", "RpcGuard", "RpcLimits", "client_of",
           "guarded_server"]
