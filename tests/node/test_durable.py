"""One round's checkpoints and index rows of many beasts made durable with one sync each (node.store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kernel.params import KernelParams
from kernel.state import genesis
from node import durable
from node.store import BeastStore, Checkpoint, persist_round, sync_indexes


def test_a_round_of_rows_is_synced_once_and_readable_by_another_connection(tmp_path: Path) -> None:
    stores = [BeastStore(tmp_path / str(b), b) for b in (1, 2, 3)]
    params = KernelParams()
    items = [(s, Checkpoint(genesis(bytes([s.beast_id]) * 32, params), None, bytes(32))) for s in stores]
    rows = persist_round(items)
    assert [r.window for r in rows] == [0, 0, 0]
    for s in stores:
        other = sqlite3.connect(s.root / "index.sqlite")  # a second reader (status, the gRPC service)
        assert other.execute("SELECT count(*) FROM windows").fetchone()[0] == 1
        other.close()
        assert s._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: persist_round syncs the rows
    calls = sync_indexes(stores)
    assert calls == (1 if durable._SYNCFS is not None else 2 * len(stores))
    s = stores[0]
    s.mark_sent(0, "0x" + "ab" * 32, 7, "0x00", durable=False)
    assert s.get(0).status == "sent" and s._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    s.mark_status(0, "persisted", tx_hash="")  # a write the node does not sync itself: FULL for it, then NORMAL
    assert s.get(0).status == "persisted" and s._db.execute("PRAGMA synchronous").fetchone()[0] == 1
