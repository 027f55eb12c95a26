"""The gRPC ValidatorService (proto/chainbeasts/v1/validator.proto) and ``create_server``.

Run it with ``cb-validator serve``; in code::

    server, port = create_server("127.0.0.1:0", "numpy")
    ...
    server.stop(grace=1.0)

Concurrency is bounded three times: at most ``max_concurrent`` replays run at once (a condition
variable guards the count, and replays run on an executor of that size), at most
``max_queued`` more wait for a slot, and anything beyond is refused with
RESOURCE_EXHAUSTED. Expensive replays (large private datasets, :mod:`validator.admission`) are
limited per client and in total before they queue. :mod:`chainbeasts.rpc_guard` bounds the
calls and streams of each client (peer IP) and in total, and keeps a lane for health checks
and GetValidatorInfo (:func:`default_limits`).
A request's ``node_address`` is dialed only when ``allowed_nodes`` allows it (a local node on
port 50551 by default, :mod:`validator.allowlist`); any other is refused with PERMISSION_DENIED.
Every replay has a deadline (the service's, or the caller's when earlier). Errors map to
the status codes documented in the proto (:mod:`validator.grpc_status`); unexpected
exceptions become INTERNAL and the service keeps serving. A private dataset may be as large
as ``max_dataset_bytes``, the season's ``maxDatasetBytes`` (``cb-validator serve`` reads it
from the chain); the message limit grows with it.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import multiprocessing
import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import BrokenExecutor
from dataclasses import dataclass
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from chainbeasts.rpc_guard import GuardConfigError, GuardedServer, RpcGuard, RpcLimits, client_of, guarded_server
from chainbeasts.v1 import validator_pb2, validator_pb2_grpc
from kernel import SPEC_VERSION
from kernel.errors import KernelError
from kernel.params import KernelParams
from kernel.payload import WINDOW_STEPS
from kernel.state import ZERO32
from validator.admission import DEFAULT_EXPENSIVE_PER_CLIENT, ExpensiveReplayGate, default_expensive_total
from validator.allowlist import NodeAllowlist
from validator.errors import (
    BusyError,
    ConfigError,
    InputTooLargeError,
    InvalidInputError,
    MissingInputError,
    ReplayTimeoutError,
    ValidatorError,
    WorkerLostError,
)
from validator.grpc_status import status_of
from validator.node_client import NodeClient
from validator.replay import (
    BACKENDS,
    INPUTS,
    MAX_DATASET_BYTES,
    MAX_STATE_BLOB_BYTES,
    BeastCommitments,
    ChainReader,
    ReplayReport,
    ReplayRequest,
    WindowClaim,
    backend_for,
    replay,
)

SERVICE_NAME: Final = validator_pb2.DESCRIPTOR.services_by_name["ValidatorService"].full_name
REQUEST_OVERHEAD_BYTES: Final = 64 * 1024  # everything in a request but the state blob and the dataset


def max_request_bytes(max_dataset_bytes: int = MAX_DATASET_BYTES) -> int:
    """The largest request message: a state blob and a dataset at their limits, plus the rest."""
    return MAX_STATE_BLOB_BYTES + max_dataset_bytes + REQUEST_OVERHEAD_BYTES


MAX_REQUEST_BYTES: Final = max_request_bytes()  # 655,360 under the default dataset limit
MAX_RESPONSE_BYTES: Final = 64 * 1024
DEFAULT_REPLAY_DEADLINE_S: Final = 30.0
DEFAULT_MAX_QUEUED: Final = 64
DEFAULT_CALLS_PER_CLIENT: Final = 16
DEFAULT_STREAMS_PER_CLIENT: Final = 2
DEFAULT_MAX_STREAMS: Final = 8
DEFAULT_STREAM_LIFETIME_S: Final = 600.0
DEFAULT_STREAM_IDLE_S: Final = 120.0
MAX_WINDOW: Final = (1 << 32) - 1
WORKERS: Final = ("thread", "process")

log = logging.getLogger("validator.service")


def default_concurrency() -> int:
    """Replays run at once by default: one per CPU core available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class ReplayLimiter:
    """At most ``max_running`` replays at once and ``max_queued`` waiting; counts what happened."""

    def __init__(self, max_running: int, max_queued: int) -> None:
        if max_running < 1 or max_queued < 0:
            raise ValueError("max_running must be >= 1 and max_queued >= 0")
        self.max_running = max_running
        self.max_queued = max_queued
        self._cv = threading.Condition()
        self.running = 0
        self.waiting = 0
        self.peak = 0
        self.rejected = 0

    def acquire(self, timeout_s: float) -> None:
        """Take a slot, waiting at most ``timeout_s``; BusyError when the queue is full."""
        with self._cv:
            if self.running >= self.max_running and self.waiting >= self.max_queued:
                self.rejected += 1
                raise BusyError(
                    f"validator busy: {self.running} replays running and {self.waiting} queued (limits "
                    f"{self.max_running}/{self.max_queued}); retry later"
                )
            self.waiting += 1
            try:
                ok = self._cv.wait_for(lambda: self.running < self.max_running, timeout=max(0.0, timeout_s))
            finally:
                self.waiting -= 1
            if not ok:
                raise ReplayTimeoutError(f"no replay slot became free within {timeout_s:.3f}s")
            self.running += 1
            self.peak = max(self.peak, self.running)

    def release(self) -> None:
        """Give a slot back."""
        with self._cv:
            self.running -= 1
            self._cv.notify()


@dataclass
class Counters:
    ok: int = 0
    failed: int = 0


def _opt(b: bytes) -> bytes | None:
    return bytes(b) if b else None


class ValidatorServicer(validator_pb2_grpc.ValidatorServiceServicer):
    """Implements ValidatorService over :func:`validator.replay.replay`.

    Built by :func:`create_server`, the one home of the options' defaults and meanings; here every
    option is given (``chain`` None: requests must carry the beast's commitments; ``node_client``
    None: a new NodeClient; ``allowed_nodes`` None: NodeAllowlist's default, a local node).
    """

    def __init__(
        self,
        backend: str,
        *,
        max_concurrent: int,
        max_queued: int,
        replay_deadline_s: float,
        chain: ChainReader | None,
        node_client: NodeClient | None,
        inputs: str,
        workers: str,
        allowed_nodes: NodeAllowlist | Iterable[str] | None,
        max_dataset_bytes: int,
        expensive: ExpensiveReplayGate,
    ) -> None:
        if isinstance(max_dataset_bytes, bool) or not isinstance(max_dataset_bytes, int) or max_dataset_bytes < 1:
            raise ConfigError(f"max_dataset_bytes must be a positive number of bytes, got {max_dataset_bytes!r}")
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if inputs not in INPUTS:
            raise ConfigError(f"unknown inputs {inputs!r}; choose one of {', '.join(INPUTS)}")
        if workers not in WORKERS:
            raise ConfigError(f"unknown workers {workers!r}; choose one of {', '.join(WORKERS)}")
        self.allowed_nodes = allowed_nodes if isinstance(allowed_nodes, NodeAllowlist) else NodeAllowlist(allowed_nodes)
        self.max_dataset_bytes = max_dataset_bytes
        self.max_request_bytes = max_request_bytes(max_dataset_bytes)
        self.backend = backend
        self.inputs = inputs
        self.workers = workers
        self.limiter = ReplayLimiter(max_concurrent, max_queued)
        self.expensive = expensive
        self.replay_deadline_s = replay_deadline_s
        self.chain = chain
        self.nodes = node_client or NodeClient()
        self.counters = Counters()
        self._counter_lock = threading.Lock()
        self._executor_lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> cf.Executor:
        n = self.limiter.max_running
        if self.workers == "process":
            # spawn, not fork: the parent runs gRPC threads, which must not be forked
            return cf.ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))
        return cf.ThreadPoolExecutor(max_workers=n, thread_name_prefix="replay")

    def warm_up(self) -> None:
        """Load the backend in every worker before serving (imports torch once per worker)."""
        with self._executor_lock:
            executor = self._executor
        for f in [executor.submit(backend_for, self.backend) for _ in range(self.limiter.max_running)]:
            f.result()

    # -- helpers -------------------------------------------------------------------------

    def _remaining(self, context: grpc.ServicerContext, started: float) -> float:
        left = self.replay_deadline_s - (time.monotonic() - started)
        caller = context.time_remaining()
        return left if caller is None else min(left, caller)

    def _beast(self, request: validator_pb2.ReplayWindowRequest) -> BeastCommitments:
        if request.HasField("beast"):
            b = request.beast
            params = None
            if b.epoch_steps or b.base_cost or b.spurt_cost:
                try:
                    params = KernelParams.for_season(epoch_steps=b.epoch_steps, base_cost=b.base_cost, spurt_cost=b.spurt_cost)
                except KernelError as exc:
                    raise InvalidInputError(f"beast season constants are invalid: {exc}") from None
            # spec_version 0: a client written before version 2, whose beasts are all version 1.
            return BeastCommitments(bytes(b.seed_core), bytes(b.dataset_commitment) or ZERO32,
                                    bytes(b.secret_commitment) or ZERO32, params, spec_version=b.spec_version or 1,
                                    records_root=bytes(b.records_root) or ZERO32)
        if self.chain is None:
            raise MissingInputError("no hatch data: send `beast` (seed_core and commitments) or run the service with a chain")
        return self.chain.beast_commitments(request.beast_id)

    def _claim(self, request: validator_pb2.ReplayWindowRequest) -> WindowClaim:
        c = request.claim
        claim = WindowClaim(_opt(c.prev_h128), _opt(c.committed_word), _opt(c.epoch_seed))
        needs_prev = claim.prev_h128 is None and request.window > 1
        if self.chain is not None and (needs_prev or claim.committed_word is None or claim.epoch_seed is None):
            onchain = self.chain.window_claim(request.beast_id, request.window)
            claim = WindowClaim(
                claim.prev_h128 or onchain.prev_h128,
                claim.committed_word or onchain.committed_word,
                claim.epoch_seed or onchain.epoch_seed,
            )
        return claim

    def build_request(self, request: validator_pb2.ReplayWindowRequest, deadline_s: float) -> ReplayRequest:
        """Turn the proto request into a ReplayRequest, fetching from the node/chain as needed."""
        if not 1 <= request.window <= MAX_WINDOW:
            raise InvalidInputError(f"window must be 1..{MAX_WINDOW} (window 0 is genesis and is never committed), got {request.window}")
        if len(request.trainer_digests) > WINDOW_STEPS:
            raise InvalidInputError(f"trainer_digests holds {len(request.trainer_digests)} values; a window has {WINDOW_STEPS}")
        which = request.WhichOneof("start")
        if which == "node_address":
            self.allowed_nodes.check(request.node_address)  # before anything is read or dialed
            if request.beast_id < 1:
                raise InvalidInputError("beast_id must be >= 1 to fetch a state from a node")
        elif request.fetch_digests:
            raise InvalidInputError("fetch_digests needs node_address")
        if len(request.dataset) > self.max_dataset_bytes:  # refused before anything is fetched; replay checks it again
            raise InputTooLargeError(f"dataset is {len(request.dataset)} bytes, over the limit of {self.max_dataset_bytes}")
        beast = self._beast(request)
        claim = self._claim(request)
        start_state: bytes | None
        digests: list[bytes] | None = [bytes(d) for d in request.trainer_digests] or None
        if which == "start_state":
            start_state = bytes(request.start_state)
            if not start_state:
                raise InvalidInputError("start_state is set but empty")
        elif which == "node_address":
            start_state = self.nodes.get_state(request.node_address, request.beast_id, request.window - 1, deadline_s=deadline_s)
            if request.fetch_digests and digests is None:
                digests = self.nodes.get_step_digests(request.node_address, request.beast_id, request.window, deadline_s=deadline_s)
        else:
            start_state = None
        return ReplayRequest(
            beast=beast,
            window=request.window,
            start_state=start_state,
            prev_h128=claim.prev_h128,
            committed_word=claim.committed_word,
            epoch_seed=claim.epoch_seed,
            dataset=_opt(request.dataset),
            owner_secret=_opt(request.owner_secret),
            trainer_digests=digests,
        )

    def _replace_executor(self, broken: cf.Executor) -> None:
        """Swap a broken pool (a worker process died) for a fresh one."""
        with self._executor_lock:
            if self._executor is broken:
                self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)

    def run_replay(self, req: ReplayRequest, timeout_s: float) -> ReplayReport:
        """Run one replay under the limiter and the deadline."""
        started = time.monotonic()
        self.limiter.acquire(timeout_s)
        future: cf.Future[ReplayReport] | None = None
        try:
            for attempt in (1, 2):
                with self._executor_lock:
                    executor = self._executor
                try:
                    future = executor.submit(replay, req, backend=self.backend, inputs=self.inputs,  # type: ignore[arg-type]
                                             max_dataset_bytes=self.max_dataset_bytes)
                    break
                except BrokenExecutor:
                    self._replace_executor(executor)
                    if attempt == 2:
                        raise WorkerLostError("the replay workers cannot be started; retry later") from None
        finally:
            if future is None:
                self.limiter.release()
        assert future is not None
        # The slot is released when the replay really ends, even after a timeout.
        future.add_done_callback(lambda _f: self.limiter.release())
        try:
            return future.result(timeout=max(0.0, timeout_s - (time.monotonic() - started)))
        except cf.TimeoutError:
            raise ReplayTimeoutError(f"replay of window {req.window} did not finish within {timeout_s:.3f}s") from None
        except BrokenExecutor:
            # A worker process died (killed, out of memory): start a fresh pool for later requests.
            self._replace_executor(executor)
            raise WorkerLostError(f"the replay worker of window {req.window} died; the pool was restarted, retry") from None

    # -- rpcs ----------------------------------------------------------------------------

    def ReplayWindow(self, request: validator_pb2.ReplayWindowRequest, context: grpc.ServicerContext) -> validator_pb2.ReplayWindowResponse:
        started = time.monotonic()
        try:
            with self.expensive.admit(client_of(context), request.dataset):  # before anything is fetched or queued
                req = self.build_request(request, self._remaining(context, started))
                report = self.run_replay(req, self._remaining(context, started))
        except ValidatorError as exc:
            with self._counter_lock:
                self.counters.failed += 1
            code = status_of(exc)
            log.info(json.dumps({"event": "replay_refused", "beast": request.beast_id, "window": request.window,
                                 "code": code.name, "reason": str(exc)}))
            context.abort(code, str(exc))
        except Exception:
            with self._counter_lock:
                self.counters.failed += 1
            log.exception("replay of beast %d window %d failed unexpectedly", request.beast_id, request.window)
            context.abort(grpc.StatusCode.INTERNAL, "internal error while replaying; see the validator's log")
        with self._counter_lock:
            self.counters.ok += 1
        log.info(json.dumps({"event": "replay", "beast": request.beast_id, "window": request.window,
                             "verdict": report.verdict, "computed": report.computed.hex(),
                             "firstDivergentStep": report.first_divergent_step,
                             "ms": round(1000 * (time.monotonic() - started), 3)}))
        return response_of(request.beast_id, report)

    def GetValidatorInfo(self, request: validator_pb2.GetValidatorInfoRequest,
                         context: grpc.ServicerContext) -> validator_pb2.GetValidatorInfoResponse:
        lim = self.limiter
        return validator_pb2.GetValidatorInfoResponse(
            spec_version=SPEC_VERSION,
            backend=self.backend,
            max_concurrent_replays=lim.max_running,
            max_queued_replays=lim.max_queued,
            max_request_bytes=self.max_request_bytes,
            replay_deadline_ms=int(self.replay_deadline_s * 1000),
            chain_connected=self.chain is not None,
            replays_ok=self.counters.ok,
            replays_failed=self.counters.failed,
            replays_rejected_busy=lim.rejected + self.expensive.refused,  # queue full, or over the expensive-replay budget
            replays_running=lim.running,
            replays_running_peak=lim.peak,
            inputs=self.inputs,
            workers=self.workers,
        )

    def close(self) -> None:
        """Stop the replay executor (queued replays are cancelled) and close node channels."""
        with self._executor_lock:
            executor = self._executor
        executor.shutdown(wait=self.workers == "process", cancel_futures=True)
        self.nodes.close()


_VERDICTS: Final = {
    "match": validator_pb2.VERDICT_MATCH,
    "diverged": validator_pb2.VERDICT_DIVERGED,
    "computed": validator_pb2.VERDICT_COMPUTED,
}


def response_of(beast_id: int, report: ReplayReport) -> validator_pb2.ReplayWindowResponse:
    """The proto response for a replay report."""
    return validator_pb2.ReplayWindowResponse(
        beast_id=beast_id,
        window=report.window,
        verdict=_VERDICTS[report.verdict],
        computed_word=report.computed.pack(),
        match=bool(report.match),
        first_divergent_step=-1 if report.first_divergent_step is None else report.first_divergent_step,
        mismatched_fields=list(report.mismatched_fields),
        committed_word=report.committed.pack() if report.committed else b"",
        start_h128=report.start_h128,
        reason=report.reason,
        backend=report.backend,
        replay_micros=int(report.replay_seconds * 1e6),
    )


class ValidatorServer(GuardedServer[ValidatorServicer]):
    """A running server: the grpc.Server, its port, and a ``stop`` that also marks health NOT_SERVING."""

    def stop(self, grace: float | None = 1.0) -> threading.Event:
        """Graceful stop: NOT_SERVING, let RPCs finish for ``grace`` seconds, close resources."""
        self.health.enter_graceful_shutdown()
        event = self.server.stop(grace)
        self.servicer.close()
        self.guard.close()
        return event

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self.server.wait_for_termination(timeout)


def default_limits(replay_slots: int, max_queued: int, **overrides: float) -> RpcLimits:
    """The service's RpcLimits for ``replay_slots`` running and ``max_queued`` waiting replays.

    Calls in total: every slot and queue place plus 8, so the replay limiter (not the guard)
    answers a full queue; per client: 16 calls, 2 streams (reflection, health Watch), 8 streams
    in total. ``overrides`` replace single fields (``calls_per_client=32``).
    """
    calls_total = replay_slots + max_queued + 8
    values: dict[str, float] = dict(
        streams_per_client=DEFAULT_STREAMS_PER_CLIENT, streams_total=DEFAULT_MAX_STREAMS,
        calls_per_client=min(DEFAULT_CALLS_PER_CLIENT, calls_total), calls_total=calls_total,
        light_per_client=4, light_total=8, stream_lifetime_s=DEFAULT_STREAM_LIFETIME_S, stream_idle_s=DEFAULT_STREAM_IDLE_S,
        max_request_bytes=MAX_REQUEST_BYTES, max_response_bytes=MAX_RESPONSE_BYTES,
    )
    values.update(overrides)
    try:
        return RpcLimits(**values)  # type: ignore[arg-type]
    except GuardConfigError as exc:
        raise ConfigError(str(exc)) from None


def create_server(
    address: str = "127.0.0.1:0",
    backend: str = "numpy",
    *,
    max_concurrent: int | None = None,
    max_queued: int = DEFAULT_MAX_QUEUED,
    replay_deadline_s: float = DEFAULT_REPLAY_DEADLINE_S,
    chain: ChainReader | None = None,
    node_client: NodeClient | None = None,
    warm_up: bool = True,
    inputs: str = "spec",
    workers: str = "thread",
    allowed_nodes: NodeAllowlist | Iterable[str] | None = None,
    max_dataset_bytes: int = MAX_DATASET_BYTES,
    limits: RpcLimits | None = None,
    max_expensive: int | None = None,
    expensive_per_client: int = DEFAULT_EXPENSIVE_PER_CLIENT,
) -> tuple[ValidatorServer, int]:
    """Build and start a ValidatorService on ``address`` (port 0 picks a free port).

    Returns ``(server, port)``. ``warm_up`` loads the backend before serving so the first
    replay does not pay for importing torch. ``allowed_nodes`` lists the trainer nodes a
    request's ``node_address`` may name (:mod:`validator.allowlist`).
    ``max_dataset_bytes`` is the season's dataset limit (SeasonRegistry ``maxDatasetBytes``);
    the request message limit is sized for it (:func:`max_request_bytes`). ``limits`` bounds
    calls and streams per client and in total (None: :func:`default_limits`; its
    ``max_request_bytes`` is always the one sized for the dataset limit);
    ``max_expensive`` / ``expensive_per_client`` bound expensive replays
    (:mod:`validator.admission`; None: half the replay slots).
    """
    slots = max_concurrent or default_concurrency()
    gate = ExpensiveReplayGate(max_expensive or max(expensive_per_client, default_expensive_total(slots)), expensive_per_client)
    limits = limits or default_limits(slots, max_queued)
    servicer = ValidatorServicer(
        backend, max_concurrent=slots, max_queued=max_queued, replay_deadline_s=replay_deadline_s,
        chain=chain, node_client=node_client, inputs=inputs, workers=workers, allowed_nodes=allowed_nodes,
        max_dataset_bytes=max_dataset_bytes, expensive=gate,
    )
    if warm_up:
        servicer.warm_up()
    limits = dataclasses.replace(limits, max_request_bytes=servicer.max_request_bytes)
    guard = RpcGuard(SERVICE_NAME, limits, light=(f"/{SERVICE_NAME}/GetValidatorInfo",))
    server = guarded_server(guard, thread_name_prefix="grpc", options=[("grpc.so_reuseport", 0)])
    validator_pb2_grpc.add_ValidatorServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        port, reason = 0, str(exc)
    else:
        reason = "the port is taken or the address is invalid"
    if port == 0:
        servicer.close()
        guard.close()
        raise ConfigError(f"cannot bind {address}: {reason}")
    server.start()
    for name in (SERVICE_NAME, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return ValidatorServer(server, servicer, health_servicer, guard), port


__all__ = [
    "MAX_REQUEST_BYTES",
    "max_request_bytes",
    "SERVICE_NAME",
    "ReplayLimiter",
    "ValidatorServer",
    "ValidatorServicer",
    "create_server",
    "default_limits",
    "response_of",
]
