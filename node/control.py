"""The files `cb-node status`, `pause`, `resume` and `stop` read and write, and the status report.

The daemon (node.daemon) holds an exclusive lock on ``<data_dir>/node.pid`` while it runs, polls
``<data_dir>/control.json`` between windows and writes ``status.json`` after every round. These
commands need none of the daemon's training, chain or gRPC code, so they live apart from it:
`cb-node status` starts without importing torch, web3 or grpc (the chain is asked, through
devnet, only when node.toml names an RPC endpoint).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Final

from kernel.host import HostError, atomic_write, read_file
from node.config import NodeConfig
from node.errors import ConfigError
from node.hatch_journal import HatchJournal
from node.store import COMMITTED, DISPUTED, FINALIZED, GENESIS, PERSISTED, SENT, BeastStore, beast_dir, known_beasts

CONTROL: Final = "control.json"
PIDFILE: Final = "node.pid"
STATUS: Final = "status.json"
STATES: Final = ("running", "paused", "stopping")
_SMALL_FILE_BYTES: Final = 64 * 1024  # control.json, node.pid: a few bytes each
_STATUS_FILE_BYTES: Final = 16 << 20  # status.json: one small object per beast


# ---- control file -----------------------------------------------------------------------


def write_control(data_dir: Path, state: str) -> None:
    """Ask the daemon to run, pause or stop (it reads the file between windows)."""
    if state not in STATES:
        raise ConfigError(f"unknown control state {state!r}")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(data_dir / CONTROL, json.dumps({"state": state, "t": time.time()}).encode())


def read_control(data_dir: Path) -> str:
    """The requested state; "running" when no control file exists or it is unreadable."""
    try:
        state = json.loads(read_file(data_dir / CONTROL, limit=_SMALL_FILE_BYTES, what="control file")).get("state", "running")
    except (HostError, ValueError, AttributeError):
        return "running"
    return state if state in STATES else "running"


def _read_pid(data_dir: Path) -> int | None:
    try:
        return int(read_file(data_dir / PIDFILE, limit=_SMALL_FILE_BYTES, what="pid file").strip())
    except (HostError, ValueError):
        return None


def daemon_alive(data_dir: Path) -> int | None:
    """The pid of the daemon holding the lock on ``data_dir``, or None when none runs."""
    path = data_dir / PIDFILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never waits on a FIFO planted in the data dir
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(data_dir) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# ---- status ----------------------------------------------------------------------------------


def _chain_counts(cfg: NodeConfig, ids: list[int]) -> dict[int, int] | str:
    """Committed windows per beast on chain, or a string saying why the chain was not asked."""
    if cfg.rpc == "embedded":
        return "embedded chain (lives inside cb-node run)"
    try:
        import devnet

        cb = devnet.connect(cfg.deployments, rpc_url=cfg.rpc, timeout=5)  # type: ignore[arg-type]
        return {b: cb.window_count(b) for b in ids}
    except Exception as exc:  # noqa: BLE001 - status must work while the chain is down
        from chainbeasts.hints import is_unreachable, unreachable

        return unreachable(cfg.rpc, exc, "`rpc` in node.toml") if is_unreachable(exc) else f"chain unreachable: {exc}"


def status(cfg: NodeConfig, chain: bool = True) -> dict[str, Any]:
    """What the node has on disk, whether the daemon runs, and (when reachable) the chain's window counts."""
    pid = daemon_alive(cfg.data_dir)
    try:
        daemon = json.loads(read_file(cfg.data_dir / STATUS, limit=_STATUS_FILE_BYTES, what="status file"))
    except (HostError, ValueError):
        daemon = {}
    beasts = []
    for bid in known_beasts(cfg.data_dir):
        store = BeastStore(beast_dir(cfg.data_dir, bid), bid, readonly=True)
        try:
            rows = store.rows()
            counts = {s: 0 for s in (GENESIS, PERSISTED, SENT, COMMITTED, FINALIZED, DISPUTED)}
            for r in rows:
                counts[r.status] = counts.get(r.status, 0) + 1
            last = rows[-1] if rows else None
            beasts.append({"beastId": bid, "latestWindow": last.window if last else None,
                           "latestH128": "0x" + last.h128.hex() if last else None,
                           "latestStatus": last.status if last else None,
                           "lastLossSum": last.loss_sum if last else None, "windows": counts})
        finally:
            store.close()
    counts = _chain_counts(cfg, [b["beastId"] for b in beasts]) if chain and beasts else {}
    chain_note = counts if isinstance(counts, str) else ""
    for b in beasts:
        b["chainWindows"] = counts.get(b["beastId"]) if isinstance(counts, dict) else None
    return {"node": str(cfg.root), "dataDir": str(cfg.data_dir), "rpc": cfg.rpc, "chainNote": chain_note,
            "daemon": {"running": pid is not None, "pid": pid,
                       "state": (read_control(cfg.data_dir) if pid else "stopped"),
                       "grpcPort": daemon.get("grpcPort") if pid else None, "account": daemon.get("account"),
                       "rounds": daemon.get("rounds")},
            "beasts": beasts, "pendingHatches": [h.tx_hash for h in HatchJournal(cfg.data_dir).pending()],
            "games": _games(cfg.data_dir)}


def _games(data_dir: Path) -> list[dict[str, Any]]:
    """The bisection games on the node's windows, from node.defense's record (defense.json; [] when none)."""
    try:
        doc = json.loads(read_file(data_dir / "defense.json", limit=_STATUS_FILE_BYTES, what="defense record"))
        return [{"gameId": int(k), "beastId": v["beast_id"], "window": v["index"] + 1, "state": v["state"],
                 "moves": v["moves"]} for k, v in sorted(doc["games"].items(), key=lambda kv: int(kv[0]))]
    except (HostError, ValueError, KeyError, TypeError, AttributeError):
        return []


def format_status(doc: dict[str, Any]) -> str:
    """Human-readable `cb-node status`."""
    d = doc["daemon"]
    daemon = f"running (pid {d['pid']}, {d['state']}, grpc port {d['grpcPort']})" if d["running"] else "not running"
    head = f"node {doc['node']}  rpc {doc['rpc']}\ndaemon: {daemon}"
    lines = [head, "", f"{'beast':>6}  {'latest':>6}  {'status':<10}  {'committed':>9}  {'finalized':>9}  "
                       f"{'pending':>7}  {'on chain':>8}  {'last loss':>9}  h128"]
    for b in doc["beasts"]:
        w = b["windows"]
        on_chain = "?" if b.get("chainWindows") is None else str(b["chainWindows"])
        lines.append(f"{b['beastId']:>6}  {b['latestWindow']:>6}  {b['latestStatus']:<10}  {w['committed']:>9}  "
                     f"{w['finalized']:>9}  {w['persisted'] + w['sent']:>7}  {on_chain:>8}  {b['lastLossSum']:>9}  "
                     f"{b['latestH128']}")
    if doc.get("chainNote"):
        lines.append(f"  ({doc['chainNote']})")
    if not doc["beasts"]:
        lines.append("  (no beasts yet: `cb-node hatch` or `cb-node run --hatch N`)")
    for tx in doc.get("pendingHatches", []):
        lines.append(f"  interrupted hatch {tx}: finished by the next `cb-node run` or `cb-node hatch`")
    for g in doc.get("games", []):
        lines.append(f"  game {g['gameId']} on beast {g['beastId']} window {g['window']}: {g['state']} "
                     f"({g['moves']} moves by this node)")
    return "\n".join(lines)


def wait_stopped(data_dir: Path, timeout: float) -> bool:
    """Wait until no daemon holds the lock on ``data_dir``; True when it stopped in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if daemon_alive(data_dir) is None:
            return True
        time.sleep(0.1)
    return daemon_alive(data_dir) is None


__all__ = ["CONTROL", "PIDFILE", "STATES", "STATUS", "daemon_alive", "format_status", "read_control", "status",
           "wait_stopped", "write_control"]
