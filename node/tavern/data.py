"""What the Tavern shows, read from a node directory: beasts, windows, curves, disputes, battles.

Read-only: the window indexes are opened with ``BeastStore(readonly=True)``, the logs are read
from their tails (``METRICS_TAIL_BYTES``), and nothing is ever written. Every answer is a small
JSON-ready dict with a bounded number of rows. Amounts of ENERGY travel as decimal strings of wei
(JSON numbers above 2^53 lose digits in a browser) next to a human text.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Final

from node.config import NodeConfig
from node.errors import DataError
from node.store import COMMITTED, DISPUTED, FINALIZED, STATUSES, BeastStore, beast_dir, known_beasts
from node.tavern.games import GameLog, game_rows

MAX_WINDOWS: Final = 1000  # rows per windows answer
MAX_CURVE_POINTS: Final = 2000  # points per curve (the newest ones)
METRICS_TAIL_BYTES: Final = 4 << 20  # of metrics.jsonl / events.jsonl read per answer
BATTLE_CACHE: Final = 32
CHAIN_REFRESH_S: Final = 5.0
EVAL_KEYS: Final = ("move_accuracy", "attack_mae", "block_accuracy", "block_recall", "win_rate_vs_untrained")


class TavernError(Exception):
    """Raised when a request names something the node does not have; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


def energy_text(wei: int) -> str:
    """``wei`` as every tool writes ENERGY (chainbeasts.units.format_energy: ``12.5 ENERGY``, ``<0.0001 ENERGY``)."""
    from chainbeasts.units import format_energy

    return format_energy(wei)


def _tail_lines(path: Path, limit: int = METRICS_TAIL_BYTES) -> list[dict[str, Any]]:
    """The JSON objects of the last ``limit`` bytes of a JSONL file (a cut first line is dropped)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            raw = f.read(limit)
    except OSError:
        return []
    lines = raw.split(b"\n")
    if size > limit:
        lines = lines[1:]
    out = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


class TavernData:
    """Answers of the Tavern's JSON endpoints for one node directory."""

    def __init__(self, cfg: NodeConfig, *, chain: bool = True) -> None:
        self.cfg = cfg
        self.data_dir = Path(cfg.data_dir)
        self._stores: dict[int, BeastStore] = {}
        self._lock = threading.Lock()
        self._battles: OrderedDict[tuple[int, int, int], dict[str, Any]] = OrderedDict()
        self._battle_lock = threading.Lock()
        self._chain_enabled = chain and cfg.rpc != "embedded"
        self._chain_disputes: dict[str, Any] = {"note": "not asked yet", "games": []}
        self._games = GameLog()  # the game's events read so far (node.tavern.games)
        self._chain_lock = threading.Lock()
        self._chain_checked = 0.0

    def close(self) -> None:
        with self._lock:
            for s in self._stores.values():
                s.close()
            self._stores.clear()

    def store(self, beast_id: int) -> BeastStore:
        """The read-only store of ``beast_id``; TavernError 404 when this node holds no such beast."""
        with self._lock:
            if beast_id in self._stores:
                return self._stores[beast_id]
            if beast_id not in known_beasts(self.data_dir):
                raise TavernError(f"this node holds no beast {beast_id}")
            try:
                s = BeastStore(beast_dir(self.data_dir, beast_id), beast_id, readonly=True)
            except DataError as exc:
                raise TavernError(str(exc)) from None
            self._stores[beast_id] = s
            return s

    # ---- overview ---------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """The node, its daemon and one summary per beast."""
        from node.control import status

        doc = status(self.cfg, chain=False)
        beasts = []
        for b in doc["beasts"]:
            rows = self.store(b["beastId"]).rows()
            spent = sum(r.energy_burn for r in rows if r.status in (COMMITTED, FINALIZED, DISPUTED))
            beasts.append({**b, "energySpentWei": str(spent), "energySpent": energy_text(spent),
                           "lossSum": rows[-1].loss_sum if rows else None})
        total = sum(int(b["energySpentWei"]) for b in beasts)
        return {"node": doc["node"], "rpc": doc["rpc"], "daemon": doc["daemon"], "beasts": beasts,
                "energySpentWei": str(total), "energySpent": energy_text(total), "time": round(time.time(), 3)}

    # ---- windows and curves ----------------------------------------------------------

    def windows(self, beast_id: int, start: int = 0, limit: int = 200) -> dict[str, Any]:
        """Index rows from ``start`` (at most ``limit`` <= MAX_WINDOWS), each with status, h128 and ENERGY."""
        if not 0 <= start < 2**32:
            raise TavernError(f"start must be 0..2^32-1, got {start}", 400)
        if not 1 <= limit <= MAX_WINDOWS:
            raise TavernError(f"limit must be 1..{MAX_WINDOWS}, got {limit}", 400)
        rows = self.store(beast_id).rows(start, limit)
        out = []
        for r in rows:
            j = r.to_json()
            j["energyBurn"] = str(r.energy_burn)
            j["energy"] = energy_text(r.energy_burn)
            out.append(j)
        return {"beastId": beast_id, "start": start, "windows": out, "statuses": list(STATUSES)}

    def curves(self, beast_id: int) -> dict[str, Any]:
        """Loss per window (the index) and held-out figures (metrics.jsonl lines of kind "eval")."""
        store = self.store(beast_id)
        rows = [r for r in store.rows() if r.window > 0][-MAX_CURVE_POINTS:]
        loss = [{"window": r.window, "lossSum": r.loss_sum, "status": r.status} for r in rows]
        evals = []
        for m in _tail_lines(store.root / "metrics.jsonl"):
            if m.get("kind") == "eval" and isinstance(m.get("window"), int):
                evals.append({"window": m["window"], **{k: m[k] for k in EVAL_KEYS if isinstance(m.get(k), (int, float))}})
        return {"beastId": beast_id, "loss": loss, "eval": evals[-MAX_CURVE_POINTS:]}

    # ---- disputes ---------------------------------------------------------------------

    def disputes(self) -> dict[str, Any]:
        """Disputed windows this node recorded, and (RPC nodes) the chain's bisection games on its beasts."""
        local = []
        for bid in known_beasts(self.data_dir):
            store = self.store(bid)
            events = {e.get("window"): e for e in _tail_lines(store.logs / "events.jsonl") if e.get("event") == "disputed"}
            for r in store.with_status(DISPUTED):
                e = events.get(r.window, {})
                local.append({"beastId": bid, "window": r.window, "h128": "0x" + r.h128.hex(),
                              "chainStatus": e.get("chain_status"), "since": e.get("t")})
        return {"local": local, "chain": self.chain_disputes()}

    def chain_disputes(self) -> dict[str, Any]:
        """The bisection games on this node's beasts (node.tavern.games; refreshed at most every CHAIN_REFRESH_S)."""
        if not self._chain_enabled:
            return {"note": "embedded chain: only this node's own records", "games": []}
        with self._chain_lock:  # one reader of the chain at a time (the server answers on threads)
            now = time.monotonic()
            if now - self._chain_checked < CHAIN_REFRESH_S:
                return self._chain_disputes
            self._chain_checked = now
            try:
                import devnet

                cb = devnet.connect(self.cfg.deployments, rpc_url=self.cfg.rpc, timeout=5)  # type: ignore[arg-type]
                head = cb.block_number()
                self._games.read(cb, known_beasts(self.data_dir), head)
                self._chain_disputes = {"note": "", "block": head, "games": game_rows(cb, self._games, head, energy_text)}
            except Exception as exc:  # noqa: BLE001 - the dashboard keeps working while the chain is down
                self._chain_disputes = {"note": f"chain unreachable: {exc}", "games": []}
            return self._chain_disputes

    # ---- battles ----------------------------------------------------------------------

    def battle(self, beast_id: int, window: int | None, index: int) -> dict[str, Any]:
        """Battle ``index`` of ``window``'s checkpoint (default the latest) against the beast's genesis state."""
        from node.tavern.battle import MAX_BATTLE_INDEX, battle_turns

        if not 0 <= index <= MAX_BATTLE_INDEX:
            raise TavernError(f"battle must be 0..{MAX_BATTLE_INDEX}, got {index}", 400)
        store = self.store(beast_id)
        if window is None:
            latest = store.latest()
            if latest is None:
                raise TavernError(f"beast {beast_id} has no stored windows")
            window = latest.window
        if not 0 <= window < 2**32:
            raise TavernError(f"window must be 0..2^32-1, got {window}", 400)
        key = (beast_id, window, index)
        with self._battle_lock:  # one battle computed at a time: bounded CPU whatever the request rate
            if key in self._battles:
                self._battles.move_to_end(key)
                return self._battles[key]
            row = store.get(window)
            if row is None:
                raise TavernError(f"beast {beast_id} has no stored window {window}")
            try:
                trained, untrained = store.load_state(window), store.load_state(0)
            except DataError as exc:
                raise TavernError(str(exc), 500) from None
            doc = {"beastId": beast_id, "window": window, "h128": "0x" + row.h128.hex(),
                   **battle_turns(trained, untrained, index)}
            self._battles[key] = doc
            while len(self._battles) > BATTLE_CACHE:
                self._battles.popitem(last=False)
            return doc


__all__ = ["MAX_WINDOWS", "TavernData", "TavernError", "energy_text"]
