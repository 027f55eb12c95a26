"""Owner controls as a user runs them: `cb-node spurt` against a running `cb-node run` on the embedded
devnet, and a node.toml learning-rate schedule; the refusals the spec's rules demand (issue 16).

Real node process, real embedded chain inside it, real files; the windows' settings are read back
from the node's index, whose words the ledger accepted.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from kernel.payload import FLAG_GROWTH_SPURT
from kernel.state import genesis
from node.cli import main
from node.errors import EXIT_CONFIG
from node.owner_controls import (
    SPURT_NAME,
    OwnerControlError,
    format_energy,
    parse_lr_schedule,
    plan_spurt,
    scheduled_lr_shift,
)
from node.store import COMMITTED, FINALIZED, BeastStore, beast_dir
from tests.node.test_cli import cli, init_node, start_daemon, wait_daemon_status

NO = 1  # kernel.host.ExitCode.NO: refused before anything was spent


def rows(node: Path, beast: int = 1) -> list:  # type: ignore[type-arg]
    store = BeastStore(beast_dir(node / "data", beast), beast, readonly=True)
    try:
        return store.rows(1)
    finally:
        store.close()


def test_spurt_and_lr_schedule_on_a_running_node(tmp_path: Path) -> None:
    node, pw = init_node(tmp_path)
    toml = node / "node.toml"
    toml.write_text(toml.read_text() + "\n[lr_schedule]\ndefault = [[1, 6], [3, 9]]\n")
    proc = start_daemon(node, pw, tmp_path / "ready.json")
    try:
        assert main(["pause", "--node-dir", str(node)]) == 0
        wait_daemon_status(node, lambda doc: doc["state"] == "paused")
        before = rows(node)
        start_mask = before[-1].active_mask
        assert start_mask == 0b0011
        # Without a terminal and without --yes: refused, nothing recorded.
        r = cli("spurt", "--node-dir", str(node), "--beast", "1")
        assert r.returncode == NO and "pass --yes" in r.stderr, r.stderr
        assert not (beast_dir(node / "data", 1) / SPURT_NAME).exists()
        # Slots that are on or do not exist are refused with the rule.
        r = cli("spurt", "--node-dir", str(node), "--beast", "1", "--slot", "1", "--yes")
        assert r.returncode == NO and "slot 1 is already on" in r.stderr
        r = cli("spurt", "--node-dir", str(node), "--beast", "1", "--slot", "4", "--yes")
        assert r.returncode == NO and "slot 4 does not exist" in r.stderr
        r = cli("spurt", "--node-dir", str(node), "--beast", "9", "--yes")
        assert r.returncode == EXIT_CONFIG and "no beast 9" in r.stderr
        # The cost is shown, then the request recorded.
        shown = cli("spurt", "--node-dir", str(node), "--beast", "1", "--yes")
        assert shown.returncode == 0, shown.stderr
        assert "switches on slot 2" in shown.stdout and "the running node trains it next" in shown.stdout
        r = cli("spurt", "--node-dir", str(node), "--beast", "1", "--yes", "--json")
        assert r.returncode == NO and "already has a growth spurt pending" in r.stderr  # one new slot per window
        plan = plan_spurt(1, _state(node, before[-1].window))
        assert plan.mask == 0b0111 and f"that window burns {format_energy(plan.burn_spurt)}" in shown.stdout
        assert main(["resume", "--node-dir", str(node)]) == 0
        wait_daemon_status(node, lambda doc: _committed_after(node, before[-1].window + 3))
        assert main(["stop", "--node-dir", str(node), "--timeout", "60"]) == 0
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    trained = rows(node)
    spurt_window = before[-1].window + 1
    for row in trained:
        assert row.lr_shift == (6 if row.window < 3 else 9), row  # the schedule, window by window
        if row.window < spurt_window:
            assert row.active_mask == 0b0011 and not row.flags & FLAG_GROWTH_SPURT
        elif row.window == spurt_window:  # exactly one window spurts, and burns what was shown
            assert row.active_mask == 0b0111 and row.flags & FLAG_GROWTH_SPURT and row.energy_burn == plan.burn_spurt
        else:
            assert row.active_mask == 0b0111 and not row.flags & FLAG_GROWTH_SPURT
            assert row.energy_burn == plan.burn_after
    assert all(r.status in (COMMITTED, FINALIZED) for r in trained)  # the ledger took every word
    assert not (beast_dir(node / "data", 1) / SPURT_NAME).exists()
    events = [json.loads(line)["event"] for line in
              (beast_dir(node / "data", 1) / "logs" / "events.jsonl").read_text().splitlines()]
    assert events.count("spurt") == 1 and "spurt_requested" in events


def _state(node: Path, window: int):  # type: ignore[no-untyped-def]
    store = BeastStore(beast_dir(node / "data", 1), 1, readonly=True)
    try:
        return store.load_state(window)
    finally:
        store.close()


def _committed_after(node: Path, window: int) -> bool:
    return any(r.window >= window and r.status in (COMMITTED, FINALIZED) for r in rows(node))


def test_the_confirmation_is_asked_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """On a terminal anything but y/yes refuses; y records the request. (A node dir with a stored genesis.)"""
    node, _ = init_node(tmp_path)
    store = BeastStore(beast_dir(node / "data", 3), 3)
    store.persist(genesis(bytes(range(32))), None, epoch_seed=bytes(32))
    store.close()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["spurt", "--node-dir", str(node), "--beast", "3"]) == NO
    assert "not confirmed" in capsys.readouterr().err
    assert not (beast_dir(node / "data", 3) / SPURT_NAME).exists()
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["spurt", "--node-dir", str(node), "--beast", "3", "--slot", "3"]) == 0
    doc = json.loads((beast_dir(node / "data", 3) / SPURT_NAME).read_text())
    assert doc == {"from_mask": 0b0011, "mask": 0b1011}
    assert main(["spurt", "--node-dir", str(node), "--beast", "3", "--cancel"]) == 0
    assert not (beast_dir(node / "data", 3) / SPURT_NAME).exists()


def test_a_beast_with_every_slot_on_cannot_spurt() -> None:
    g = genesis(bytes(32))
    with pytest.raises(OwnerControlError, match="every slot is already on"):
        plan_spurt(1, dataclasses.replace(g, active_mask=g.params.all_slots()))
    plan = plan_spurt(1, g)
    assert plan.burn_spurt == plan.burn_after + g.params.spurt_cost and plan.burn_after > plan.burn_now


@pytest.mark.parametrize(("line", "message"), [
    ("default = [[1, 25]]", "lr_shift must be 0..24"),
    ("default = [[1, -1]]", "lr_shift must be 0..24"),
    ("7 = [[0, 6]]", "from_window must be >= 1"),
    ("7 = [[5, 6], [5, 7]]", "windows must increase strictly"),
    ("7 = [[5, 6], [2, 7]]", "windows must increase strictly"),
    ("0 = [[1, 6]]", "beast ids >= 1"),
    ("x = [[1, 6]]", "beast ids >= 1"),
    ("7 = []", "non-empty list"),
    ("7 = [[1, true]]", "integer pairs"),
    ("7 = [[1, 6, 2]]", "integer pairs"),
    ("7 = 6", "non-empty list"),
])
def test_bad_lr_schedules_are_refused_by_every_command(tmp_path: Path, line: str, message: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    node, _ = init_node(tmp_path)
    toml = node / "node.toml"
    toml.write_text(toml.read_text() + f"\n[lr_schedule]\n{line}\n")
    capsys.readouterr()
    assert main(["status", "--node-dir", str(node)]) == EXIT_CONFIG
    assert message in capsys.readouterr().err


def test_schedule_lookup() -> None:
    s = parse_lr_schedule({"default": [[1, 6]], "7": [[3, 8], [10, 0]]}, "node.toml")
    assert scheduled_lr_shift(s["7"], 2) is None and scheduled_lr_shift(s["7"], 3) == 8
    assert scheduled_lr_shift(s["7"], 9) == 8 and scheduled_lr_shift(s["7"], 10) == 0
    assert scheduled_lr_shift(s["7"], 10**6) == 0 and scheduled_lr_shift(s["default"], 1) == 6
