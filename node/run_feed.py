"""Feeds `cb-node run`'s live output (node.live) from the engine's metric bus and the beasts' stores,
and records held-out figures in each beast's metrics.jsonl every ``eval_every`` windows.

The daemon calls :meth:`RunFeed.drain` after every round, on its own thread, so nothing here
races the training; the bus queue only collects the committed windows of the round. The loss
change, ENERGY totals and the heads a window trained are read from the store, which is the
record (a dropped bus event loses a line, never a window).
"""

from __future__ import annotations

import queue
from typing import Any

from node.beast_run import BeastRun
from node.evaluation import DAEMON_BATTLES, DAEMON_HELDOUT_BOARDS, evaluate_window, window_heads
from node.live import LiveReporter, WindowLine, head_switch_note
from node.metrics import MetricsBus
from node.store import COMMITTED, DISPUTED, FINALIZED


class RunFeed:
    """Turns ``window_committed`` bus events into report lines and periodic evaluations."""

    def __init__(self, bus: MetricsBus, runs: dict[int, BeastRun], reporter: LiveReporter, eval_every: int = 0) -> None:
        self.bus = bus
        self.runs = runs
        self.reporter = reporter
        self.eval_every = eval_every
        self._q = bus.subscribe({"window_committed"})
        # ENERGY burned by the windows committed before this run started; each event adds its window.
        self._totals = {b: sum(r.energy_burn for r in run.store.with_status(COMMITTED, FINALIZED, DISPUTED))
                        for b, run in runs.items()}

    def close(self) -> None:
        """Stop listening to the bus."""
        self.bus.unsubscribe(self._q)

    def drain(self) -> None:
        """Report every window committed since the last call (and evaluate where due)."""
        while True:
            try:
                ev = self._q.get_nowait()
            except queue.Empty:
                return
            if ev is not None and ev.get("kind") == "window_committed":
                self._committed(ev)

    def _committed(self, ev: dict[str, Any]) -> None:
        run = self.runs.get(int(ev["beast_id"]))
        if run is None:
            return
        window = int(ev["window"])
        row = run.store.get(window)
        if row is None:
            return
        total = self._totals[run.beast_id] = self._totals.get(run.beast_id, 0) + row.energy_burn
        prev = run.store.get(window - 1) if window > 1 else None
        note = "" if prev is None else head_switch_note(window_heads(run.params, prev.global_step, prev.window),
                                                          window_heads(run.params, row.global_step, window))
        latency = ev.get("commit_latency_ms")
        self.reporter.window(WindowLine(
            beast_id=run.beast_id, window=window, loss=row.loss_sum, prev_loss=prev.loss_sum if prev else None,
            energy_burn=row.energy_burn, energy_total=total, tx=str(ev.get("commit_tx", "")),
            latency_s=None if latency is None else latency / 1000, heads_note=note))
        if self.eval_every and window % self.eval_every == 0:
            fig = evaluate_window(run.store, window, boards=DAEMON_HELDOUT_BOARDS, battles=DAEMON_BATTLES)
            run.store.metric(kind="eval", **{k: v for k, v in fig.items() if k != "beast_id"})
            self.reporter.figures(run.beast_id, window, fig)


__all__ = ["RunFeed"]
