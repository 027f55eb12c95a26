"""The node's gRPC checkpoint service (chainbeasts.v1.NodeService) plus grpc.health.v1 and reflection.

Every handler validates its request first and answers INVALID_ARGUMENT / NOT_FOUND with a
reason; a stored checkpoint whose bytes no longer hash to the indexed h128 is never served
(INTERNAL). Handlers only read the run directories, so the service runs beside the
training loop (SQLite WAL lets both work at once).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any, Final
from collections.abc import Callable, Iterator

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chainbeasts.rpc_guard import GuardedServer, RpcGuard, RpcLimits, guarded_server
from node.service_limits import DEFAULT_LIMITS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES  # noqa: F401 - the latter two re-exported
from chainbeasts.v1 import node_pb2, node_pb2_grpc
from kernel.errors import KernelError
from kernel.payload import Payload
from kernel.state import decode_state_blob
from node.errors import ConfigError, DataError, PrunedError
from node.store import COMMITTED, DISPUTED, FINALIZED, GENESIS, PERSISTED, SENT, BeastStore, WindowRow, beast_dir
from node.beast_run import build_source
from node.metrics import STEPS, MetricsBus, step_events
from node.step_digests import StepDigests

SERVICE_NAME: Final = "chainbeasts.v1.NodeService"
MAX_WINDOW: Final = 1 << 25  # the ledger holds at most 2^25 windows per beast
DEFAULT_LIST_LIMIT: Final = 1000
MAX_LIST_LIMIT: Final = 10000
_STATUS: Final = {
    GENESIS: node_pb2.CHECKPOINT_STATUS_GENESIS,
    PERSISTED: node_pb2.CHECKPOINT_STATUS_PERSISTED,
    SENT: node_pb2.CHECKPOINT_STATUS_SENT,
    COMMITTED: node_pb2.CHECKPOINT_STATUS_COMMITTED,
    FINALIZED: node_pb2.CHECKPOINT_STATUS_FINALIZED,
    DISPUTED: node_pb2.CHECKPOINT_STATUS_DISPUTED,
}
_KINDS: Final = {
    "step": node_pb2.METRIC_KIND_STEP,
    "window_trained": node_pb2.METRIC_KIND_WINDOW_TRAINED,
    "window_committed": node_pb2.METRIC_KIND_WINDOW_COMMITTED,
    "window_finalized": node_pb2.METRIC_KIND_WINDOW_FINALIZED,
}


class _Abort(Exception):
    """Internal: a request is answered with an error status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StoreDirectory:
    """Opens (and caches) the BeastStore of each beast under a data directory, read-only."""

    def __init__(self, data_dir: Path, shared: Callable[[int], BeastStore | None] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self._shared = shared
        self._open: dict[int, BeastStore] = {}
        self._lock = threading.Lock()

    def get(self, beast_id: int) -> BeastStore | None:
        """The store of ``beast_id`` or None when this node has no run directory for it."""
        if self._shared is not None:
            s = self._shared(beast_id)
            if s is not None:
                return s
        with self._lock:
            if beast_id in self._open:
                return self._open[beast_id]
            root = beast_dir(self.data_dir, beast_id)
            if not (root / "index.sqlite").exists():
                return None
            try:
                store = BeastStore(root, beast_id, readonly=True)
            except DataError:
                return None
            self._open[beast_id] = store
            return store

    def close(self) -> None:
        """Close the stores this directory opened."""
        with self._lock:
            for s in self._open.values():
                s.close()
            self._open.clear()


def _check_beast(beast_id: int) -> None:
    if beast_id == 0:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "beast_id must be >= 1 (Beast token ids start at 1)")


def _check_window(window: int, field: str = "window", minimum: int = 0) -> None:
    if window < minimum or window > MAX_WINDOW:
        raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"{field} must be in {minimum}..{MAX_WINDOW}, got {window}")


def _info(row: WindowRow, store: BeastStore) -> node_pb2.WindowInfo:
    return node_pb2.WindowInfo(
        window=row.window, global_step=row.global_step, h128=row.h128, energy_burn=row.energy_burn,
        active_mask=row.active_mask, lr_shift=row.lr_shift, flags=row.flags, word=row.word,
        status=_STATUS.get(row.status, node_pb2.CHECKPOINT_STATUS_UNSPECIFIED), commit_tx=row.tx_hash,
        loss_sum=row.loss_sum, epoch_seed=row.epoch_seed,
    )


def _handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn _Abort / DataError into status codes; anything else is INTERNAL without a traceback leak."""

    def wrapped(self: NodeServicer, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except _Abort as exc:
            context.abort(exc.code, exc.message)
        except DataError as exc:
            context.abort(grpc.StatusCode.INTERNAL, f"stored data is unusable: {exc}")

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


class NodeServicer(node_pb2_grpc.NodeServiceServicer):
    """Serves checkpoint states, window lists, step digests and live metrics."""

    def __init__(self, stores: StoreDirectory, bus: MetricsBus | None = None) -> None:
        self.stores = stores
        self.bus = bus or MetricsBus()
        self._stopping = threading.Event()
        self._sources: dict[int, Any] = {}
        self.digests = StepDigests(self._source)

    def _source(self, store: BeastStore) -> Any:
        """The sample source of a beast (built from its beast.json once; private files are the node's own)."""
        src = self._sources.get(store.beast_id)
        if src is None:
            src = self._sources[store.beast_id] = build_source(store.read_meta(), self.stores.data_dir / "cache")
        return src

    def stop(self) -> None:
        """Make open WatchMetrics streams end."""
        self._stopping.set()
        self.bus.close()

    def _store(self, beast_id: int) -> BeastStore:
        _check_beast(beast_id)
        store = self.stores.get(beast_id)
        if store is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"this node does not train beast {beast_id}")
        return store

    def _row(self, store: BeastStore, beast_id: int, window: int) -> WindowRow:
        row = store.get(window)
        if row is None:
            latest = store.latest()
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"beast {beast_id} has no window {window} on this node "
                                                    f"(latest is {latest.window if latest else 'none'})")
        return row

    @_handler
    def GetState(self, request: node_pb2.GetStateRequest, context: grpc.ServicerContext) -> node_pb2.GetStateResponse:
        """The zstd state blob of a checkpoint, verified against its h128 before it is served."""
        _check_window(request.window)
        store = self._store(request.beast_id)
        row = self._row(store, request.beast_id, request.window)
        try:
            blob = store.read_blob(row)
        except PrunedError as exc:
            raise _Abort(grpc.StatusCode.NOT_FOUND, str(exc)) from exc
        try:
            state = decode_state_blob(blob)
        except KernelError as exc:
            raise _Abort(grpc.StatusCode.INTERNAL, f"checkpoint {row.file} is corrupt: {exc}") from exc
        if state.h128() != row.h128 or (row.word and Payload.unpack(row.word).h128 != row.h128):
            raise _Abort(grpc.StatusCode.INTERNAL, f"checkpoint {row.file} does not hash to its committed h128")
        return node_pb2.GetStateResponse(beast_id=request.beast_id, window=row.window, state_blob=blob, h128=row.h128,
                                         word=row.word, status=_STATUS.get(row.status, 0), commit_tx=row.tx_hash)

    @_handler
    def ListWindows(self, request: node_pb2.ListWindowsRequest,
                    context: grpc.ServicerContext) -> node_pb2.ListWindowsResponse:
        """Checkpoints from start_window on, oldest first, at most ``limit``."""
        _check_window(request.start_window, "start_window")
        if request.limit < 0 or request.limit > MAX_LIST_LIMIT:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"limit must be 0..{MAX_LIST_LIMIT}, got {request.limit}")
        store = self._store(request.beast_id)
        limit = request.limit or DEFAULT_LIST_LIMIT
        rows = store.rows(request.start_window, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return node_pb2.ListWindowsResponse(beast_id=request.beast_id, windows=[_info(r, store) for r in rows],
                                            next_window=rows[-1].window + 1 if more else -1)

    @_handler
    def GetStepDigests(self, request: node_pb2.GetStepDigestsRequest,
                       context: grpc.ServicerContext) -> node_pb2.GetStepDigestsResponse:
        """The 128 per-step digests and losses of window N >= 1."""
        if request.window == 0:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, "window 0 is genesis and has no steps; ask for window >= 1")
        _check_window(request.window, minimum=1)
        store = self._store(request.beast_id)
        self._row(store, request.beast_id, request.window)
        try:
            data = self.digests.get(store, request.window)  # stored, else re-derived from window N-1 (node.step_digests)
        except PrunedError as exc:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"beast {request.beast_id} window {request.window}: its step digests "
                                                    f"need the checkpoint before it: {exc}") from exc
        if data is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"beast {request.beast_id} has no window {request.window}")
        losses, digests = data
        return node_pb2.GetStepDigestsResponse(beast_id=request.beast_id, window=request.window, digests=digests,
                                               losses=losses)

    def WatchMetrics(self, request: node_pb2.WatchMetricsRequest,
                     context: grpc.ServicerContext) -> Iterator[node_pb2.MetricEvent]:
        """Stream metric events as they are published, until the client or the server goes away."""
        if any(b == 0 for b in request.beast_ids):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "beast_ids must all be >= 1")
        wanted = set(request.beast_ids)
        q = self.bus.subscribe(None if not request.windows_only else set(_KINDS) - {"step"})
        try:
            while context.is_active() and not self._stopping.is_set():
                try:
                    ev = q.get(timeout=0.25)
                except queue.Empty:
                    continue
                if ev is None:
                    return
                if wanted and ev.get("beast_id") not in wanted:
                    continue
                if ev.get("kind") == STEPS:  # one bus event per chunk of steps; the stream carries each step
                    if not request.windows_only:
                        yield from (_event(e) for e in step_events(ev))
                    continue
                if request.windows_only and ev.get("kind") == "step":
                    continue
                yield _event(ev)
        finally:
            self.bus.unsubscribe(q)


def _event(ev: dict[str, Any]) -> node_pb2.MetricEvent:
    return node_pb2.MetricEvent(
        kind=_KINDS.get(ev.get("kind", ""), node_pb2.METRIC_KIND_UNSPECIFIED),
        beast_id=int(ev.get("beast_id", 0)), window=int(ev.get("window", 0)),
        global_step=int(ev.get("global_step", 0)), loss=int(ev.get("loss", 0)),
        step=int(ev.get("step", 0)), commit_tx=str(ev.get("commit_tx", "")),
        time_unix_ms=int(ev.get("time_unix_ms", 0)), energy_burn=int(ev.get("energy_burn", 0)))


class NodeServer(GuardedServer[NodeServicer]):
    """A running gRPC server with its servicer and health service; ``stop(grace)`` shuts it down cleanly."""

    def stop(self, grace: float = 2.0) -> None:
        """Report NOT_SERVING, end the metric streams, then stop with ``grace`` seconds for open calls."""
        self.health.enter_graceful_shutdown()
        self.servicer.stop()
        self.server.stop(grace).wait(grace + 1)
        self.guard.close()


def create_server(
    address: str,
    data_dir: Path | None = None,
    *,
    stores: StoreDirectory | None = None,
    bus: MetricsBus | None = None,
    limits: RpcLimits = DEFAULT_LIMITS,
) -> tuple[NodeServer, int]:
    """Start NodeService + grpc.health.v1 + reflection on ``address`` (host:port; port 0 picks one).

    ``limits`` bounds what clients may hold at once (:mod:`chainbeasts.rpc_guard`): streams
    (WatchMetrics, reflection) and calls per client IP and in total, stream lifetime and idle
    time; health Check has its own lane. Returns (server, bound port). Raises ConfigError when
    the address cannot be bound.
    """
    if stores is None:
        if data_dir is None:
            raise ConfigError("create_server needs a data_dir or a StoreDirectory")
        stores = StoreDirectory(data_dir)
    servicer = NodeServicer(stores, bus)
    guard = RpcGuard(SERVICE_NAME, limits)
    server = guarded_server(guard, thread_name_prefix="cb-node-grpc")
    node_pb2_grpc.add_NodeServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (node_pb2.DESCRIPTOR.services_by_name["NodeService"].full_name, health.SERVICE_NAME,
             reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        guard.close()
        raise ConfigError(f"cannot bind the gRPC address {address}: {exc}") from exc
    if port == 0:
        guard.close()
        raise ConfigError(f"cannot bind the gRPC address {address}")
    server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return NodeServer(server, servicer, health_servicer, guard), port
