"""Validator benchmark: window replay time, end-to-end ReplayWindow latency over gRPC, throughput.

    python bench/validator.py [--json] [--repeats R] [--duration S]

What runs (all real components, on 127.0.0.1):

* a py-evm devnet behind its HTTP JSON-RPC bridge (devnet.launch) with the contracts deployed;
  a trainer node (node.trainer.Engine) hatches a public and a private beast and commits 4
  windows each; the node's gRPC NodeService serves their checkpoints (this process);
* ``cb-validator serve --deployments ...`` as its own process (``--backend``, ``--inputs``,
  ``--workers``; one replay slot per core), reading the chain over JSON-RPC.

Figures (milliseconds unless named otherwise):

* ``replay_<backend>_<beast>[_fast]_ms``: validator.replay.replay of one window (start-state
  and commitment checks plus the 128 micro-steps), best and median of R runs; ``_fast`` draws
  and encodes the boards with the kernel's vectorized drop-in (``--inputs fast``);
* ``train_numpy_public_ms``: the baseline, kernel.train.train_window of the same window (what
  the trainer paid); ``replay_overhead_ratio`` = replay / train;
* ``e2e_*_ms``: one ReplayWindow call as a client sees it: ``inline`` sends the start state,
  hatch data and claim in the request; ``node_fetch`` makes the validator fetch the state from
  the node (GetState) and read hatch data, words and epoch seed from the chain;
  ``node_fetch_digests`` adds GetStepDigests; ``private`` sends a 256 KiB-class dataset too;
* ``throughput_c<N>_per_s``: completed node-fetch replays per second with N concurrent
  clients over ``--duration`` seconds (all must succeed).

The target is < 100 ms end to end per window on 2 cores. Every figure is measured after a
warm-up; the 1-minute load average at start is reported (these machines are shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
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

from bench.report import finish  # noqa: E402
from chainbeasts.v1 import validator_pb2 as pb  # noqa: E402
from chainbeasts.v1 import validator_pb2_grpc as pbg  # noqa: E402
from kernel.payload import Payload  # noqa: E402
from kernel.train import train_window  # noqa: E402
from validator.chain import LedgerChainReader  # noqa: E402
from validator.replay import BeastCommitments, ReplayRequest, replay  # noqa: E402
from validator.service import default_concurrency  # noqa: E402

WINDOWS = 4


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) milliseconds of ``repeats`` calls after one warm-up call."""
    fn()
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return min(runs), statistics.median(runs)


class World:
    """Devnet (py-evm over HTTP) + trainer node + node gRPC service + ``cb-validator serve`` process."""

    def __init__(self, tmp: Path, backend: str = "numpy", inputs: str = "spec", workers: str = "thread") -> None:
        from curriculum import read_secret_file
        from devnet.launch import launch
        from node.chain import ChainClient
        from node.demo import prepare_curriculum
        from node.embedded import connect_rpc
        from node.ledger import Ledger
        from node.service import create_server as node_server
        from node.trainer import Engine

        self.net = launch("pyevm", port=0, run_dir=tmp / "devnet")
        deployments = tmp / "devnet" / "deployments.json"
        handle = connect_rpc(None, deployments)
        self.engine = Engine(tmp / "node", Ledger(ChainClient(handle.w3, handle.accounts[1], decoder=handle.decoder),
                                                 handle.contracts))
        (tmp / "curriculum").mkdir(mode=0o700)
        dataset_path, secret_path = prepare_curriculum(tmp / "curriculum")
        self.public = self.engine.hatch(None, None)
        self.private = self.engine.hatch(dataset_path, secret_path)
        for _ in range(WINDOWS):
            self.engine.step([self.public, self.private])
        self.dataset = dataset_path.read_bytes()
        self.secret = read_secret_file(secret_path).reveal()
        self.node, nport = node_server("127.0.0.1:0", tmp / "node")
        self.node_address = f"127.0.0.1:{nport}"
        self.reader = LedgerChainReader(self.net.chain)
        script = Path(sys.executable).parent / "cb-validator"
        cmd = [str(script)] if script.exists() else [sys.executable, "-m", "validator.cli"]
        self.proc = subprocess.Popen(
            [*cmd, "serve", "--address", "127.0.0.1:0", "--deployments", str(deployments), "--backend", backend,
             "--inputs", inputs, "--workers", workers, "--max-queued", "64", "--allow-node", self.node_address],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self.proc.stdout is not None
        self.serving = json.loads(self.proc.stdout.readline())
        self.channel = grpc.insecure_channel(self.serving["address"])
        self.stub = pbg.ValidatorServiceStub(self.channel)

    def request(self, run: Any, window: int) -> ReplayRequest:
        """A library ReplayRequest for ``window`` of a node-trained beast (state from the node's store)."""
        from kernel.state import encode_state_blob

        beast = self.reader.beast_commitments(run.beast_id)
        claim = self.reader.window_claim(run.beast_id, window)
        private = beast.private
        return ReplayRequest(beast=beast, window=window, start_state=encode_state_blob(run.store.load_state(window - 1)),
                             prev_h128=claim.prev_h128, committed_word=claim.committed_word, epoch_seed=claim.epoch_seed,
                             dataset=self.dataset if private else None, owner_secret=self.secret if private else None)

    def close(self) -> None:
        self.channel.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.node.stop(0)
        self.net.stop()


def inline_proto(req: ReplayRequest, beast_id: int) -> pb.ReplayWindowRequest:
    b: BeastCommitments = req.beast
    p = b.params
    assert p is not None
    return pb.ReplayWindowRequest(
        beast_id=beast_id, window=req.window, start_state=req.start_state or b"",
        beast=pb.BeastCommitments(seed_core=b.seed_core, dataset_commitment=b.dataset_commitment,
                                  secret_commitment=b.secret_commitment, epoch_steps=p.epoch_steps,
                                  base_cost=p.base_cost, spurt_cost=p.spurt_cost, spec_version=b.spec_version,
                                  records_root=b.records_root),
        claim=pb.WindowClaim(prev_h128=req.prev_h128 or b"", committed_word=req.committed_word or b"",
                             epoch_seed=req.epoch_seed or b""),
        dataset=req.dataset or b"", owner_secret=req.owner_secret or b"",
    )


def measure(world: World, repeats: int, duration: float) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    k = WINDOWS  # the last window: a start state well past genesis (epoch 0 closes at window 4)
    pub_req = world.request(world.public, k)
    priv_req = world.request(world.private, k)
    for inputs in ("spec", "fast"):
        for backend in ("numpy", "torch"):
            for name, req in (("public", pub_req), ("private", priv_req)):
                report = replay(req, backend=backend, inputs=inputs)  # type: ignore[arg-type]
                assert report.match, (backend, name, report.to_json())
                best, med = timed(lambda req=req, backend=backend, inputs=inputs: replay(req, backend=backend, inputs=inputs), repeats)  # type: ignore[arg-type]
                tag = f"replay_{backend}_{name}" + ("" if inputs == "spec" else "_fast")
                out[f"{tag}_best_ms"] = best
                out[f"{tag}_median_ms"] = med
    start = world.public.store.load_state(k - 1)
    seed = pub_req.epoch_seed
    best, med = timed(lambda: train_window(start, world.public.source, epoch_seed=seed), repeats)
    out["train_numpy_public_best_ms"], out["train_numpy_public_median_ms"] = best, med
    out["replay_overhead_ratio"] = out["replay_numpy_public_median_ms"] / med

    stub = world.stub
    cases = {
        "e2e_inline_public": inline_proto(pub_req, world.public.beast_id),
        "e2e_inline_private": inline_proto(priv_req, world.private.beast_id),
        "e2e_node_fetch_public": pb.ReplayWindowRequest(beast_id=world.public.beast_id, window=k, node_address=world.node_address),
        "e2e_node_fetch_digests_public": pb.ReplayWindowRequest(beast_id=world.public.beast_id, window=k,
                                                                node_address=world.node_address, fetch_digests=True),
        "e2e_node_fetch_private": pb.ReplayWindowRequest(beast_id=world.private.beast_id, window=k, node_address=world.node_address,
                                                         dataset=world.dataset, owner_secret=world.secret),
    }
    for name, msg in cases.items():
        resp = stub.ReplayWindow(msg, timeout=30)
        assert resp.match, (name, resp)
        best, med = timed(lambda msg=msg: stub.ReplayWindow(msg, timeout=30), repeats)
        out[f"{name}_best_ms"], out[f"{name}_median_ms"] = best, med

    def client_loop(msg: pb.ReplayWindowRequest, stop: threading.Event) -> int:
        n = 0
        while not stop.is_set():
            assert stub.ReplayWindow(msg, timeout=60).match
            n += 1
        return n

    for clients in (1, 4, 16):
        msgs = [pb.ReplayWindowRequest(beast_id=world.public.beast_id, window=1 + i % k, node_address=world.node_address)
                for i in range(clients)]
        stop = threading.Event()
        with ThreadPoolExecutor(clients) as pool:
            t = time.perf_counter()
            futures = [pool.submit(client_loop, m, stop) for m in msgs]
            time.sleep(duration)
            stop.set()
            done = sum(f.result() for f in futures)
            elapsed = time.perf_counter() - t
        out[f"throughput_c{clients}_per_s"] = done / elapsed
    info = stub.GetValidatorInfo(pb.GetValidatorInfoRequest())
    out["replay_slots"] = info.max_concurrent_replays
    out["replays_failed"] = info.replays_failed
    out["replays_rejected_busy"] = info.replays_rejected_busy
    _ = Payload  # word layout reference for readers
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per latency figure (20)")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per throughput figure (4)")
    ap.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="the service's backend (numpy)")
    ap.add_argument("--inputs", choices=("spec", "fast"), default="spec", help="the service's board inputs (spec)")
    ap.add_argument("--workers", choices=("thread", "process"), default="thread", help="the service's replay workers (thread)")
    args = ap.parse_args(argv)
    import numpy as np
    import torch

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cb-bench-validator-") as tmp:
        world = World(Path(tmp), args.backend, args.inputs, args.workers)
        try:
            figures = measure(world, args.repeats, args.duration)
        finally:
            world.close()
    machine = {"cpus": os.cpu_count(), "replay_slots_default": default_concurrency(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__, "numpy": np.__version__, "grpc": grpc.__version__,
               "python": platform.python_version(), "loadavg_1m_at_start": round(load, 2)}
    service = {"backend": args.backend, "inputs": args.inputs, "workers": args.workers}
    finish(figures, t0, as_json=args.json, width=(42, 10), machine=machine, service=service)


if __name__ == "__main__":
    main()
