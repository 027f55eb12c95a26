"""Load test of NodeService and ValidatorService under hostile clients (issue 15 items 1, 2).

    python bench/rpc_load.py [--json] [--service node|validator|both] [--samples N] [--duration S]

Bounded in count and time, on loopback only. Each server runs in its own process (this script
with ``--child``) bound to ``localhost:0``, i.e. 127.0.0.1 and [::1]: the hostile clients dial
127.0.0.1 and the legitimate client [::1], so a server that counts per client IP tells them
apart. The script uses only ``create_server(address, ...)`` and gRPC clients, so the same file
measures the code before the limits (run it from an older checkout) and after.

Phases and figures (latency in milliseconds, median and max of ``--samples`` calls):

* ``idle`` (the named baseline): the legitimate request on an idle server;
* ``attack``: the same request while hostile clients hold streams open and send expensive or
  large requests. A legitimate call that fails (deadline, refusal) is counted in ``failed``
  with its status code.

NodeService: legitimate GetState(window 1) and health Check (5 s deadline each); hostile: 20
WatchMetrics and 20 reflection streams held open, then 40 concurrent 4 MiB GetState requests;
``server_rss_mb`` before and after. ValidatorService (2 replay slots, numpy): legitimate
ReplayWindow of a public window sent inline and health Check (60 s deadline); hostile: 80
reflection streams held open and 4 threads sending ReplayWindow requests that name their own
commitments and carry a 131,072-record dataset (a new rotation each time, so no cache hit),
retrying 10 times a second when refused. The attack phase ends after ``--samples`` legitimate
calls or ``--duration`` seconds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from chainbeasts.v1 import node_pb2, node_pb2_grpc  # noqa: E402
from chainbeasts.v1 import validator_pb2 as pb  # noqa: E402
from chainbeasts.v1 import validator_pb2_grpc as pbg  # noqa: E402
from tests.rpc_hostile import HOSTILE, LEGIT, HeldStreams, big_dataset, expensive_request, reflection_stream, watch_metrics  # noqa: E402

BEAST_ID = 1


# -- the servers (child processes) ---------------------------------------------------------


def child(service: str, data_dir: str) -> None:
    """Serve ``service`` on localhost:0, print {"port": P}, run until stdin closes."""
    if service == "node":
        from node.service import create_server as node_server

        server, port = node_server("localhost:0", Path(data_dir))
    else:
        from validator.service import create_server as validator_server

        server, port = validator_server("localhost:0", "numpy", max_concurrent=2)
    print(json.dumps({"port": port}), flush=True)
    sys.stdin.read()
    server.stop(0)


class Child:
    def __init__(self, service: str, data_dir: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", service, str(data_dir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(json.loads(self.proc.stdout.readline())["port"])

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- measuring -------------------------------------------------------------------------------


class Figure:
    """Latencies of one kind of call (milliseconds) and its failures by status code."""

    def __init__(self) -> None:
        self.ms: list[float] = []
        self.failed: dict[str, int] = {}

    def time(self, fn: Callable[[], object]) -> None:
        t = time.perf_counter()
        try:
            fn()
            self.ms.append((time.perf_counter() - t) * 1000)
        except grpc.RpcError as exc:
            name = exc.code().name  # type: ignore[attr-defined]
            self.failed[name] = self.failed.get(name, 0) + 1

    def summary(self) -> dict[str, Any]:
        ms = self.ms
        return {"ok": len(ms), "failed": self.failed, "median_ms": round(statistics.median(ms), 1) if ms else None,
                "max_ms": round(max(ms), 1) if ms else None}


def figures(calls: dict[str, Callable[[], object]], samples: int, until: float | None = None) -> dict[str, Any]:
    """``samples`` rounds of the named calls, in turn (fewer rounds when ``until`` passes)."""
    out = {name: Figure() for name in calls}
    for _ in range(samples):
        if until is not None and time.monotonic() > until:
            break
        for name, fn in calls.items():
            out[name].time(fn)
    return {name: f.summary() for name, f in out.items()}


def health_call(channel: grpc.Channel, timeout: float) -> Callable[[], object]:
    stub = health_pb2_grpc.HealthStub(channel)
    return lambda: stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout)


def node_data(tmp: Path) -> Path:
    from node.store import BeastStore, beast_dir
    from tests.validator.windows import public_beast

    beast = public_beast(n=2)
    store = BeastStore(beast_dir(tmp, BEAST_ID), BEAST_ID)
    store.persist(beast.windows[0].start, None, epoch_seed=beast.windows[0].start.epoch_seed)
    for w in beast.windows:
        store.persist(w.result.state, w.payload, epoch_seed=w.result.state.epoch_seed, digests=w.digests)
    store.close()
    return tmp


def bench_node(tmp: Path, samples: int, duration: float) -> dict[str, Any]:
    server = Child("node", node_data(tmp))
    out: dict[str, Any] = {}
    try:
        with grpc.insecure_channel(f"{LEGIT}:{server.port}") as legit, \
                grpc.insecure_channel(f"{HOSTILE}:{server.port}", options=[("grpc.max_send_message_length", 8 << 20)]) as hostile:
            stub = node_pb2_grpc.NodeServiceStub(legit)

            def get_state() -> object:
                return stub.GetState(node_pb2.GetStateRequest(beast_id=BEAST_ID, window=1), timeout=5)

            calls = {"GetState": get_state, "health": health_call(legit, 5)}
            out["idle"] = figures(calls, samples)
            rss_before = server.rss_mb()
            until = time.monotonic() + duration
            with HeldStreams(hostile, watch_metrics, 20) as watches, HeldStreams(hostile, reflection_stream, 20) as refl:
                watches.wait_ended(16, 2.0)
                refl.wait_ended(20, 2.0)
                raw = hostile.unary_unary("/chainbeasts.v1.NodeService/GetState")
                big = bytes(4 << 20)
                flood = [raw.future(big, timeout=20) for _ in range(40)]
                attack = figures(calls, samples, until)
                codes: dict[str, int] = {}
                for f in flood:
                    try:
                        f.result()
                        name = "OK"
                    except grpc.RpcError as exc:
                        name = exc.code().name  # type: ignore[attr-defined]
                    codes[name] = codes.get(name, 0) + 1
                attack["hostile"] = {"streams_refused": len(watches.ended) + len(refl.ended), "streams_opened": 40,
                                     "large_requests": codes}
                attack["server_rss_mb"] = {"before": rss_before, "after": server.rss_mb()}
            out["attack"] = attack
    finally:
        server.close()
    return out


def bench_validator(samples: int, duration: float) -> dict[str, Any]:
    from tests.validator.windows import public_beast

    beast = public_beast(n=2)
    w = beast.windows[1]
    legit_msg = pb.ReplayWindowRequest(
        beast_id=BEAST_ID, window=2, start_state=w.start_blob, beast=pb.BeastCommitments(seed_core=beast.commitments.seed_core),
        claim=pb.WindowClaim(prev_h128=w.prev_h128, committed_word=w.word, epoch_seed=w.result.state.epoch_seed))
    variants = itertools.count()  # a new commitment for every expensive request: never a cache hit
    server = Child("validator", Path("."))
    out: dict[str, Any] = {}
    try:
        with grpc.insecure_channel(f"{LEGIT}:{server.port}") as legit, grpc.insecure_channel(f"{HOSTILE}:{server.port}") as hostile:
            stub = pbg.ValidatorServiceStub(legit)

            def replay() -> object:
                resp = stub.ReplayWindow(legit_msg, timeout=60)
                assert resp.verdict == pb.VERDICT_MATCH
                return resp

            calls = {"ReplayWindow": replay, "health": health_call(legit, 60)}
            out["idle"] = figures(calls, samples)
            stop = threading.Event()
            counts: dict[str, int] = {}
            lock = threading.Lock()
            hostile_stub = pbg.ValidatorServiceStub(hostile)

            def attacker() -> None:
                while not stop.is_set():
                    with lock:
                        dataset = big_dataset(next(variants))
                    try:
                        hostile_stub.ReplayWindow(expensive_request(dataset), timeout=120)
                        name = "OK"
                    except grpc.RpcError as exc:
                        name = exc.code().name  # type: ignore[attr-defined]
                    with lock:
                        counts[name] = counts.get(name, 0) + 1
                    if name != "OK":
                        stop.wait(0.1)

            with HeldStreams(hostile, reflection_stream, 80) as refl:
                refl.wait_ended(78, 2.0)
                until = time.monotonic() + duration
                streams = figures(calls, samples, until)
                streams["hostile"] = {"streams_opened": 80, "streams_refused": len(refl.ended)}
            out["streams"] = streams
            with ThreadPoolExecutor(4) as pool:
                for _ in range(4):
                    pool.submit(attacker)
                time.sleep(1.0)  # let the expensive requests arrive first
                until = time.monotonic() + duration
                expensive = figures(calls, samples, until)
                stop.set()
            expensive["hostile"] = {"expensive_requests": counts}
            out["expensive"] = expensive
    finally:
        server.close()
    return out


def table(results: dict[str, Any]) -> str:
    lines = [f"{'service':<10} {'phase':<9} {'request':<13} {'ok':>4} {'failed':<28} {'median ms':>10} {'max ms':>10}"]
    for service, phases in results.items():
        if not isinstance(phases, dict):
            continue
        for phase, rows in phases.items():
            for request, row in rows.items():
                if isinstance(row, dict) and "ok" in row:
                    lines.append(f"{service:<10} {phase:<9} {request:<13} {row['ok']:>4} {json.dumps(row['failed']):<28} "
                                 f"{row['median_ms']!s:>10} {row['max_ms']!s:>10}")
                elif phase != "idle":
                    lines.append(f"{service:<10} {phase:<9} {request}: {json.dumps(row)}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--service", choices=("node", "validator", "both"), default="both")
    parser.add_argument("--samples", type=int, default=10, help="legitimate calls per figure (10)")
    parser.add_argument("--duration", type=float, default=90.0, help="longest attack phase per service, seconds (90)")
    parser.add_argument("--child", nargs=2, metavar=("SERVICE", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    results: dict[str, Any] = {"cpus": len(os.sched_getaffinity(0)), "loadavg_1m": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        if args.service in ("node", "both"):
            results["node"] = bench_node(Path(tmp), args.samples, args.duration)
        if args.service in ("validator", "both"):
            results["validator"] = bench_validator(args.samples, args.duration)
    print(json.dumps(results, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
