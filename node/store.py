"""The run directory of one beast: checkpoint files, the window index, event and metric logs.

Layout under ``<data_dir>/beasts/<beast_id>/``::

    beast.json            hatch data and where its dataset/secret files are (no secrets)
    checkpoints/          w00000007-<h128>.cbs.zst  one zstd state blob per window
    index.sqlite          windows: status persisted -> sent -> committed -> finalized
    logs/events.jsonl     one JSON object per event (hatched, persisted, sent, committed ...)
    metrics.jsonl         one JSON object per trained window (loss sum, timings)

Checkpoint files are written (temp file, rename) and made durable *before* the index row that
names them, so an index row always points at a complete file; a round's files are made durable
with one sync (node.durable, :func:`persist_round`). A round the node trains is made durable, files
and rows, with the sync of its ``sent`` records before its commit is broadcast (node.committing,
:func:`sync_windows`); a power loss before that is repaired at start (node.reconcile). The
index uses SQLite in WAL mode so ``cb-node status`` and the gRPC service can read while
the daemon writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from collections.abc import Iterator

from kernel.errors import KernelError
from kernel.host import FileReadError, atomic_write, read_file
from kernel.payload import Payload
from kernel.state import KernelState, decode_state_blob, encode_state_blob
from node.beast_meta import META_MAX_BYTES, META_NAME, BeastMeta
from node.crash import crash_point
from node.durable import sync_files, write_replace
from node.errors import DataError, PrunedError

DIR_MODE: Final = 0o700
FILE_MODE: Final = 0o600

# Status of a window in the local index, in the order a window moves through them.
PERSISTED: Final = "persisted"
SENT: Final = "sent"
COMMITTED: Final = "committed"
FINALIZED: Final = "finalized"
GENESIS: Final = "genesis"
DISPUTED: Final = "disputed"
STATUSES: Final = (GENESIS, PERSISTED, SENT, COMMITTED, FINALIZED, DISPUTED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    window       INTEGER PRIMARY KEY,
    global_step  INTEGER NOT NULL,
    h128         TEXT NOT NULL,
    word         TEXT NOT NULL,
    energy_burn  INTEGER NOT NULL,
    active_mask  INTEGER NOT NULL,
    lr_shift     INTEGER NOT NULL,
    flags        INTEGER NOT NULL,
    loss_sum     INTEGER NOT NULL,
    epoch_seed   TEXT NOT NULL,
    file         TEXT NOT NULL,
    status       TEXT NOT NULL,
    tx_hash      TEXT NOT NULL DEFAULT '',
    tx_nonce     INTEGER,
    raw_tx       TEXT NOT NULL DEFAULT '',
    block        INTEGER,
    losses       TEXT NOT NULL DEFAULT '[]',
    digests      BLOB,
    created_at   REAL NOT NULL,
    updated_at   REAL NOT NULL,
    produced_by  TEXT NOT NULL DEFAULT ''
);
"""
# Columns added after the first release, with their definitions: an older index gets them on open.
_ADDED_COLUMNS: Final = (("produced_by", "TEXT NOT NULL DEFAULT ''"),)


@dataclass(frozen=True)
class WindowRow:
    """One row of the window index."""

    window: int
    global_step: int
    h128: bytes
    word: bytes  # 32 bytes; empty for genesis
    energy_burn: int
    active_mask: int
    lr_shift: int
    flags: int
    loss_sum: int
    epoch_seed: bytes
    file: str
    status: str
    tx_hash: str
    tx_nonce: int | None
    raw_tx: str
    block: int | None

    @property
    def payload(self) -> Payload:
        """The committed word as a Payload (genesis has none: DataError)."""
        if not self.word:
            raise DataError("genesis has no checkpoint word")
        return Payload.unpack(self.word)

    def to_json(self) -> dict[str, Any]:
        """A JSON view for ``cb-node status --json`` and the demo."""
        return {
            "window": self.window,
            "globalStep": self.global_step,
            "h128": "0x" + self.h128.hex(),
            "word": "0x" + self.word.hex() if self.word else "",
            "energyBurn": self.energy_burn,
            "activeMask": self.active_mask,
            "lrShift": self.lr_shift,
            "flags": self.flags,
            "lossSum": self.loss_sum,
            "status": self.status,
            "txHash": self.tx_hash,
            "block": self.block,
        }


def _row(r: sqlite3.Row) -> WindowRow:
    return WindowRow(
        window=r["window"], global_step=r["global_step"], h128=bytes.fromhex(r["h128"]), word=bytes.fromhex(r["word"]),
        energy_burn=r["energy_burn"], active_mask=r["active_mask"], lr_shift=r["lr_shift"], flags=r["flags"],
        loss_sum=r["loss_sum"], epoch_seed=bytes.fromhex(r["epoch_seed"]), file=r["file"], status=r["status"],
        tx_hash=r["tx_hash"], tx_nonce=r["tx_nonce"], raw_tx=r["raw_tx"], block=r["block"],
    )


_COLS = ("window, global_step, h128, word, energy_burn, active_mask, lr_shift, flags, loss_sum, epoch_seed, file, "
         "status, tx_hash, tx_nonce, raw_tx, block")


class BeastStore:
    """Checkpoints, index and logs of one beast. Thread-safe (one connection, one lock)."""

    def __init__(self, root: Path, beast_id: int, *, readonly: bool = False) -> None:
        self.root = Path(root)
        self.beast_id = beast_id
        self.checkpoints = self.root / "checkpoints"
        self.logs = self.root / "logs"
        self._lock = threading.RLock()
        if readonly:
            if not (self.root / "index.sqlite").exists():
                raise DataError(f"no run directory for beast {beast_id} at {self.root}")
        else:
            for d in (self.root, self.checkpoints, self.logs):
                d.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            for tmp in self.checkpoints.glob(".*.tmp"):  # left by a crash inside atomic_write
                tmp.unlink(missing_ok=True)
        try:
            self._db = sqlite3.connect(self.root / "index.sqlite", timeout=30, check_same_thread=False,
                                       isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            if not readonly:
                self._db.executescript(_SCHEMA)
                have = {r["name"] for r in self._db.execute("PRAGMA table_info(windows)")}
                for name, decl in _ADDED_COLUMNS:
                    if name not in have:
                        self._db.execute(f"ALTER TABLE windows ADD COLUMN {name} {decl}")
            # The hot writes (a round's rows, sent, committed and finalized marks) are synced by the node
            # itself, many beasts at once (sync_indexes) or not at all (facts of the chain): NORMAL is the
            # connection's default; every other write runs under FULL (_full), as before.
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise DataError(f"cannot open the window index of beast {beast_id} under {self.root}: {exc}") from exc

    def close(self) -> None:
        """Close the index connection."""
        with self._lock:
            self._db.close()

    # ---- hatch metadata -------------------------------------------------------------

    def write_meta(self, meta: BeastMeta) -> None:
        """Write beast.json atomically (hatch data and file paths; never secrets)."""
        atomic_write(self.root / META_NAME, meta.encode())

    def read_meta(self) -> BeastMeta:
        """Read beast.json; a malformed file, or one of another beast, is a DataError."""
        path = self.root / META_NAME
        try:
            data = read_file(path, limit=META_MAX_BYTES, what=META_NAME)
        except FileReadError as exc:
            raise DataError(f"beast {self.beast_id}: {exc}") from exc
        meta = BeastMeta.decode(data, f"beast {self.beast_id}: {path}")
        if meta.beast_id != self.beast_id:
            raise DataError(f"beast {self.beast_id}: {path} describes beast {meta.beast_id}")
        return meta

    # ---- checkpoints ----------------------------------------------------------------

    def checkpoint_name(self, window: int, h128: bytes) -> str:
        """File name of a checkpoint: window number and h128."""
        return f"w{window:08d}-{h128.hex()}.cbs.zst"

    def persist(
        self,
        state: KernelState,
        payload: Payload | None,
        *,
        epoch_seed: bytes,
        losses: list[int] | None = None,
        digests: list[bytes] | None = None,
        produced_by: dict[str, Any] | None = None,
    ) -> WindowRow:
        """Write the state blob durably, then record the window as ``persisted`` (or genesis).

        ``produced_by`` is the checkpoint's lineage metadata (:mod:`node.lineage`), stored with the row.
        Idempotent for an identical state: a crash after the file but before the row is
        repaired by writing the row again. (:func:`persist_round` does this for many beasts at once.)
        """
        return persist_round([(self, Checkpoint(state, payload, epoch_seed, losses, digests, produced_by))])[0]

    def _write_file(self, item: Checkpoint, h128: bytes) -> Path:
        path = self.checkpoints / self.checkpoint_name(item.state.window, h128)
        write_replace(path, encode_state_blob(item.state), FILE_MODE)
        return path

    @property
    def wal_path(self) -> Path:
        """The index's write-ahead log: what :func:`sync_indexes` makes durable after relaxed writes."""
        return self.root / "index.sqlite-wal"

    def _insert_row(self, item: Checkpoint, h128: bytes) -> WindowRow:
        """Add the row without an fsync of its own (synchronous=NORMAL, the connection's default):
        :func:`persist_round` syncs the round's indexes at once."""
        return self._insert_row_locked(item, h128)

    @contextlib.contextmanager
    def _full(self) -> Iterator[None]:
        """Run the writes inside under ``synchronous=FULL`` (each transaction fsynced as it commits)."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                yield
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")

    def _insert_row_locked(self, item: Checkpoint, h: bytes) -> WindowRow:
        """One INSERT; the row is built from what was inserted (no read back). A row already there for
        the window (a crash after the row, before the round counted as persisted) is returned as it is
        when it names the same state, else a DataError."""
        state, p = item.state, item.payload
        window = state.window
        status = GENESIS if p is None else PERSISTED
        now = time.time()
        losses, digests = item.losses or [], item.digests or []
        word = p.pack() if p else b""
        row = WindowRow(window=window, global_step=state.global_step, h128=h, word=word,
                        energy_burn=p.energy_burn if p else 0, active_mask=state.active_mask, lr_shift=state.lr_shift,
                        flags=p.flags if p else 0, loss_sum=sum(losses), epoch_seed=item.epoch_seed,
                        file=self.checkpoint_name(window, h), status=status, tx_hash="", tx_nonce=None, raw_tx="",
                        block=None)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO windows (window, global_step, h128, word, energy_burn, active_mask, lr_shift, flags, "
                "loss_sum, epoch_seed, file, status, losses, digests, created_at, updated_at, produced_by) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(window) DO NOTHING",
                (window, row.global_step, h.hex(), word.hex(), row.energy_burn, row.active_mask, row.lr_shift,
                 row.flags, row.loss_sum, item.epoch_seed.hex(), row.file, status, json.dumps(losses),
                 b"".join(digests), now, now, json.dumps(item.produced_by, sort_keys=True) if item.produced_by else ""),
            )
            if cur.rowcount == 1:
                return row
            existing = self.get(window)
        if existing is None:  # pragma: no cover - the conflict was on this window's row
            raise DataError(f"beast {self.beast_id} window {window}: its index row vanished while persisting")
        if existing.h128 != h:
            raise DataError(f"beast {self.beast_id} window {window}: index holds h128 0x{existing.h128.hex()}, "
                            f"refusing to replace it with 0x{h.hex()}")
        return existing

    def load_state(self, window: int) -> KernelState:
        """Load and verify the state of ``window`` (its blob must hash to the indexed h128)."""
        row = self.get(window)
        if row is None:
            raise DataError(f"beast {self.beast_id} has no stored window {window}")
        blob = self.read_blob(row)
        try:
            state = decode_state_blob(blob)
        except KernelError as exc:
            raise DataError(f"beast {self.beast_id} window {window}: checkpoint {row.file} is corrupt: {exc}") from exc
        if state.h128() != row.h128:
            raise DataError(f"beast {self.beast_id} window {window}: checkpoint {row.file} hashes to "
                            f"0x{state.h128().hex()}, the index says 0x{row.h128.hex()}")
        return state

    def read_blob(self, row: WindowRow) -> bytes:
        """The raw zstd blob of a window's checkpoint file (PrunedError when retention deleted it)."""
        if not row.file:
            raise PrunedError(f"beast {self.beast_id} window {row.window}: its checkpoint was pruned (node.retention); "
                              "re-derive it from an earlier kept checkpoint (cb-node verify --from-window)")
        try:
            return (self.checkpoints / row.file).read_bytes()
        except OSError as exc:
            raise DataError(f"beast {self.beast_id} window {row.window}: cannot read checkpoint {row.file}: {exc}") from exc

    # ---- index ----------------------------------------------------------------------

    def get(self, window: int) -> WindowRow | None:
        """The index row of ``window``, or None."""
        with self._lock:
            r = self._db.execute(f"SELECT {_COLS} FROM windows WHERE window = ?", (window,)).fetchone()
        return _row(r) if r else None

    def rows(self, start: int = 0, limit: int = -1) -> list[WindowRow]:
        """Index rows from window ``start`` on, oldest first."""
        with self._lock:
            rs = self._db.execute(f"SELECT {_COLS} FROM windows WHERE window >= ? ORDER BY window LIMIT ?",
                                  (start, limit)).fetchall()
        return [_row(r) for r in rs]

    def latest(self) -> WindowRow | None:
        """The highest window in the index."""
        with self._lock:
            r = self._db.execute(f"SELECT {_COLS} FROM windows ORDER BY window DESC LIMIT 1").fetchone()
        return _row(r) if r else None

    def with_status(self, *statuses: str) -> list[WindowRow]:
        """Rows whose status is one of ``statuses``, oldest first."""
        q = ",".join("?" * len(statuses))
        with self._lock:
            rs = self._db.execute(f"SELECT {_COLS} FROM windows WHERE status IN ({q}) ORDER BY window",
                                  statuses).fetchall()
        return [_row(r) for r in rs]

    def step_data(self, window: int) -> tuple[list[int], list[bytes]] | None:
        """(losses, digests) of a window, or None when the window is unknown."""
        with self._lock:
            r = self._db.execute("SELECT losses, digests FROM windows WHERE window = ?", (window,)).fetchone()
        if r is None:
            return None
        raw = bytes(r["digests"] or b"")
        return json.loads(r["losses"]), [raw[i:i + 16] for i in range(0, len(raw), 16)]

    def produced_by(self, window: int) -> dict[str, Any]:
        """The lineage metadata recorded with ``window`` ({} when none was: genesis, an older node)."""
        with self._lock:
            try:
                r = self._db.execute("SELECT produced_by FROM windows WHERE window = ?", (window,)).fetchone()
            except sqlite3.OperationalError:  # an index from before the column, opened read-only
                return {}
        if r is None or not r["produced_by"]:
            return {}
        try:
            doc = json.loads(r["produced_by"])
        except ValueError:
            raise DataError(f"beast {self.beast_id} window {window}: its lineage metadata is not JSON") from None
        if not isinstance(doc, dict):
            raise DataError(f"beast {self.beast_id} window {window}: its lineage metadata is not an object")
        return doc

    def drop_after(self, window: int) -> list[WindowRow]:
        """Delete the index rows of every window after ``window`` in one durable transaction; returns them
        (node.rewind: a slash voided them; their files are set aside separately)."""
        with self._lock:
            gone = [_row(r) for r in self._db.execute(f"SELECT {_COLS} FROM windows WHERE window > ? ORDER BY window",
                                                      (window,)).fetchall()]
            if gone:
                with self._full():
                    self._db.execute("BEGIN IMMEDIATE")
                    try:
                        self._db.execute("DELETE FROM windows WHERE window > ?", (window,))
                    except BaseException:
                        self._db.execute("ROLLBACK")
                        raise
                    self._db.execute("COMMIT")
        return gone

    def mark_pruned(self, windows: list[int]) -> None:
        """Empty ``file`` on the rows of ``windows`` that are finalized, in one transaction (node.retention)."""
        with self._full():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for w in windows:
                    self._db.execute("UPDATE windows SET file = '', updated_at = ? WHERE window = ? AND status = ?",
                                     (time.time(), w, FINALIZED))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def mark_sent(self, window: int, tx_hash: str, nonce: int, raw_tx: str, *, durable: bool = True) -> None:
        """Record the signed commit transaction of ``window`` before it is broadcast. ``durable=False``
        skips its own fsync: the caller runs :func:`sync_indexes` before the broadcast (node.committing)."""
        self._update(window, durable=durable, status=SENT, tx_hash=tx_hash, tx_nonce=nonce, raw_tx=raw_tx)

    def mark_status(self, window: int, status: str, *, block: int | None = None, tx_hash: str | None = None) -> None:
        """Move ``window`` to ``status`` (committed, finalized, persisted again after a dropped tx ...)."""
        if status not in STATUSES:
            raise DataError(f"unknown window status {status!r}")
        fields: dict[str, Any] = {"status": status}
        if block is not None:
            fields["block"] = block
        if tx_hash is not None:
            fields["tx_hash"] = tx_hash
        if status in (COMMITTED, FINALIZED):
            fields["raw_tx"] = ""
        self._update(window, **fields)

    def _update(self, window: int, *, durable: bool = True, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        # committed/finalized marks are facts of the chain that reconcile re-reads on start
        # (node.reconcile): they need no fsync of their own (the next synced write carries them).
        # A process kill never loses them (WAL); power loss may, and the next start restores them.
        relaxed = not durable or fields.get("status") in (COMMITTED, FINALIZED)
        if relaxed:
            return self._update_locked(window, sets, fields)
        with self._full():
            return self._update_locked(window, sets, fields)

    def _update_locked(self, window: int, sets: str, fields: dict[str, Any]) -> None:
        with self._lock:
            cur = self._db.execute(f"UPDATE windows SET {sets}, updated_at = ? WHERE window = ?",
                                   (*fields.values(), time.time(), window))
            if cur.rowcount != 1:
                raise DataError(f"beast {self.beast_id} has no window {window} in its index")

    # ---- logs -----------------------------------------------------------------------

    def event(self, kind: str, **fields: Any) -> None:
        """Append one event to logs/events.jsonl (flushed; never secrets)."""
        self._append(self.logs / "events.jsonl", {"t": round(time.time(), 3), "beast": self.beast_id, "event": kind, **fields})

    def metric(self, **fields: Any) -> None:
        """Append one window metric to metrics.jsonl."""
        self._append(self.root / "metrics.jsonl", {"t": round(time.time(), 3), "beast": self.beast_id, **fields})

    def _append(self, path: Path, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, sort_keys=True) + "\n"
        with self._lock:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def events(self) -> Iterator[dict[str, Any]]:
        """The events logged so far (for tests and status)."""
        path = self.logs / "events.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    yield json.loads(line)


@dataclass(frozen=True)
class Checkpoint:
    """One window to persist: its state and word (None for genesis) and what its index row records."""

    state: KernelState
    payload: Payload | None
    epoch_seed: bytes
    losses: list[int] | None = None
    digests: list[bytes] | None = None
    produced_by: dict[str, Any] | None = None


def persist_round(items: list[tuple[BeastStore, Checkpoint]], *, durable: bool = True,
                  written: list[tuple[bytes, Path]] | None = None) -> list[WindowRow]:
    """Persist the checkpoints of one round, of any number of beasts: every state file is written
    (temp file, rename), then all are made durable with one sync (node.durable), then each index
    row is added and the rows are synced. An index row therefore always names a complete, durable file.

    ``durable=False`` (the training loop, node.training) leaves both syncs to the one that must come
    before anything leaves the node: :mod:`node.committing` syncs a batch's checkpoint files together
    with its ``sent`` records before the broadcast (:func:`sync_windows`). A process kill loses
    nothing either way (the files and committed SQLite transactions are in the page cache); a power
    loss before that sync may leave a ``persisted`` row naming a missing or partial file, which
    nothing outside the node has seen: :func:`node.reconcile.drop_lost` drops such rows when the
    node starts and the windows are trained again. Rows whose loss would lose more (a hatch's
    genesis, which the hatch journal forgets once it is written) keep the default.

    ``written``: what :func:`write_checkpoints` returned for ``items`` when their files were already
    written (node.training writes a round's files part by part while the next part trains).
    """
    if written is None:
        written = write_checkpoints(items)
    if durable:
        sync_files([path for _, path in written])
    crash_point("mid_persist")
    rows = [store._insert_row(item, h) for (store, item), (h, _) in zip(items, written, strict=True)]
    if durable:
        sync_indexes([store for store, _ in items])
    return rows


def write_checkpoints(items: list[tuple[BeastStore, Checkpoint]]) -> list[tuple[bytes, Path]]:
    """Write (temp file, rename; not synced) the checkpoint file of every item; returns each state's h128
    and file. No index row names these files before :func:`persist_round` adds the rows (after syncing
    the files, or with ``durable=False`` leaving that to the commit's sync before its broadcast). The work is
    mostly C calls that release the GIL (the hash, the compression, creating and writing the files), so
    another thread may do it while training goes on (node.training)."""
    hashes = [item.state.h128() for _, item in items]  # once per state: a keccak of its bytes
    return [(h, store._write_file(item, h)) for (store, item), h in zip(items, hashes, strict=True)]


def sync_indexes(stores: list[BeastStore], files: list[Path] | None = None) -> int:
    """Make the index rows written without their own fsync durable, for many beasts with one sync
    (node.durable: one syncfs per filesystem, else an fsync of each write-ahead log), with ``files``
    in the same sync. SQLite in WAL mode commits a transaction by appending its frames to the log;
    once the log is on disk the transaction survives power loss, exactly as with synchronous=FULL.
    A process kill never loses a committed transaction either way (the frames are in the page cache).
    Returns the sync calls made."""
    wals = [s.wal_path for s in stores if s.wal_path.exists()]
    return sync_files(list(dict.fromkeys(wals + (files or []))))


def sync_windows(items: list[tuple[BeastStore, WindowRow]]) -> int:
    """Make the windows of ``items`` durable with one sync (node.durable): their checkpoint files and
    their index rows, with whatever else their indexes recorded so far (a commit's ``sent`` records).
    :mod:`node.committing` calls it before every broadcast; a round trained with
    ``persist_round(durable=False)`` relies on it. Returns the sync calls made."""
    return sync_indexes([store for store, _ in items], [store.checkpoints / row.file for store, row in items if row.file])


def beast_dir(data_dir: Path, beast_id: int) -> Path:
    """The run directory of ``beast_id`` under ``data_dir``."""
    return Path(data_dir) / "beasts" / str(beast_id)


def known_beasts(data_dir: Path) -> list[int]:
    """Beast ids with a run directory under ``data_dir``, ascending."""
    root = Path(data_dir) / "beasts"
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "index.sqlite").exists())
