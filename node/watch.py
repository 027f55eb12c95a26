"""``cb-node watch``: follow a running node through its WatchMetrics gRPC stream.

The node publishes a step event for each micro-step of a window as it is trained, then one event
when the window is trained (persisted), committed and finalized (node.metrics). Human output
prints each window event on one line (a commit with the ENERGY the window burned, in tokens via
chainbeasts.units; ``--json``: ``energyBurnWei``, integer wei) and, while a window trains, a step line every ``step_every``
steps; ``--json`` prints every event as one JSON object per line. The address is ``--grpc``, else
the port the running daemon wrote into its status file, else node.toml's ``grpc``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Final, TextIO

from chainbeasts.units import format_energy
from node.errors import ChainError, ConfigError

KIND_NAMES: Final = {1: "step", 2: "window_trained", 3: "window_committed", 4: "window_finalized"}
STEP_EVERY: Final = 16  # human output: a step line every this many micro-steps (the last step always)


def event_record(ev: Any) -> dict[str, Any]:
    """A MetricEvent as a plain dict (the ``--json`` line)."""
    rec: dict[str, Any] = {"kind": KIND_NAMES.get(int(ev.kind), "unknown"), "beastId": int(ev.beast_id),
                           "window": int(ev.window), "globalStep": int(ev.global_step), "loss": int(ev.loss),
                           "timeUnixMs": int(ev.time_unix_ms)}
    if rec["kind"] == "step":
        rec["step"] = int(ev.step)
    elif ev.energy_burn:  # window kinds; 0 from a node that predates the field: left out, not shown as free
        rec["energyBurnWei"] = int(ev.energy_burn)
    if ev.commit_tx:
        rec["tx"] = ev.commit_tx
    return rec


def format_event(rec: dict[str, Any], step_every: int = STEP_EVERY) -> str | None:
    """The human line of an event record, or None for a step line that is skipped."""
    clock = time.strftime("%H:%M:%S", time.localtime(rec["timeUnixMs"] / 1000)) if rec["timeUnixMs"] else "--:--:--"
    head = f"{clock}  beast {rec['beastId']}  window {rec['window']}"
    kind = rec["kind"]
    if kind == "step":
        step = rec["step"] + 1
        if step % step_every and step != 128:
            return None
        return f"{head}  training step {step:>3}/128  loss {rec['loss']:,}"
    if kind == "window_trained":
        return f"{head}  trained    loss {rec['loss']:,}  (global step {rec['globalStep']})"
    if kind == "window_committed":
        energy = f"  burned {format_energy(rec['energyBurnWei'])}" if "energyBurnWei" in rec else ""
        return f"{head}  committed{energy}  tx {rec.get('tx', '')}"
    if kind == "window_finalized":
        return f"{head}  finalized"
    return f"{head}  {kind}"


def resolve_address(grpc_opt: str | None, node_dir: Any) -> str:
    """``--grpc``, else 127.0.0.1:<the running daemon's port>, else node.toml's grpc address."""
    if grpc_opt:
        return grpc_opt
    from node.config import load_config
    from node.control import status

    cfg = load_config(node_dir)
    doc = status(cfg, chain=False)
    port = doc["daemon"].get("grpcPort")
    if doc["daemon"]["running"] and port:
        host = cfg.grpc.rpartition(":")[0]
        return f"{'127.0.0.1' if host in ('0.0.0.0', '[::]') else host}:{port}"
    if cfg.grpc.endswith(":0"):
        raise ConfigError(f"no cb-node is running on {cfg.data_dir} and node.toml's grpc port is 0 (any); "
                          "pass --grpc HOST:PORT")
    return cfg.grpc


def stream(address: str, beasts: Iterable[int], windows_only: bool, timeout_s: float = 10.0) -> Iterator[Any]:
    """The node's MetricEvents; ChainError (exit 4) when the node cannot be reached or ends the stream with an error."""
    import grpc

    from chainbeasts.v1 import node_pb2, node_pb2_grpc

    channel = grpc.insecure_channel(address)
    try:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            raise ChainError(f"no cb-node answers at {address} (is `cb-node run` up? check `grpc` in node.toml "
                             "or pass --grpc HOST:PORT)") from None
        stub = node_pb2_grpc.NodeServiceStub(channel)
        call = stub.WatchMetrics(node_pb2.WatchMetricsRequest(beast_ids=list(beasts), windows_only=windows_only))
        try:
            yield from call
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.CANCELLED:
                return
            if code == grpc.StatusCode.UNAVAILABLE:
                raise ChainError(f"cb-node at {address} went away (it stopped, or the connection broke)") from None
            raise ChainError(f"cb-node at {address}: {code.name if code else 'error'}: "
                             f"{exc.details() if hasattr(exc, 'details') else exc}") from None
        finally:
            call.cancel()
    finally:
        channel.close()


def watch(address: str, beasts: list[int], *, as_json: bool, windows_only: bool, count: int = 0,
          step_every: int = STEP_EVERY, out: TextIO | None = None) -> int:
    """Print events until the node ends the stream, or ``count`` windows were committed (0: no limit)."""
    out = out or sys.stdout
    committed = 0
    for ev in stream(address, beasts, windows_only):
        rec = event_record(ev)
        line = json.dumps(rec) if as_json else format_event(rec, step_every)
        if line is not None:
            out.write(line + "\n")
            out.flush()
        if rec["kind"] == "window_committed":
            committed += 1
            if count and committed >= count:
                return 0
    print("cb-node watch: the node ended the stream (it stopped, or the stream reached its lifetime)", file=sys.stderr)
    return 0


__all__ = ["KIND_NAMES", "STEP_EVERY", "event_record", "format_event", "resolve_address", "stream", "watch"]
