"""What `cb-node run` prints while it trains: a line per committed window, held-out figures, a bar.

Three modes, chosen by the command line:

- ``human`` (default): one line per committed window on stdout (beast, window, loss and its
  change, ENERGY burned and in total, transaction, commit latency), a line of held-out figures
  each time the node evaluates a beast, and, when ``--until-window`` gives an end and stderr is a
  terminal, a progress bar with rate and ETA on stderr (redrawn in place, cleared before each line);
- ``json``: the same records as one JSON object per line on stdout (integers in wei, no bar);
- ``quiet``: nothing but errors.

A closed stdout (``cb-node run | head``) only ends the lines there (stderr keeps its messages)
instead of stopping the node: the windows are the record, the lines only show them. Only formatting lives here; the daemon
(node.daemon) feeds it from the metric bus and the beasts' stores.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from chainbeasts.units import format_energy

MODES = ("human", "json", "quiet")
HEAD_NAMES = ("move", "attack", "block")  # bit i of a heads mask (kernel.heads: HEAD_MOVE=1, ATTACK=2, BLOCK=4)


def head_names(heads: int) -> list[str]:
    """The names of the loss heads in a heads mask, in bit order."""
    return [name for i, name in enumerate(HEAD_NAMES) if heads >> i & 1]


def head_switch_note(before: int, after: int) -> str:
    """Why the loss jumps when a window trains a head the previous window did not ("" when none switched on).

    The window loss is the sum over the heads being trained; a head that switches on adds its
    own (still large) loss to the sum, so the figure rises although nothing got worse.
    """
    new = head_names(after & ~before)
    if not new:
        return ""
    which = " and ".join(new)
    return (f"{which} head{'s' if len(new) > 1 else ''} switched on: the window loss now includes "
            f"{'their losses' if len(new) > 1 else 'its loss'}, so the sum jumps; not a regression")


def format_duration(seconds: float) -> str:
    """``1:02:03`` / ``2:03`` style duration."""
    s = max(0, int(round(seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass(frozen=True)
class WindowLine:
    """One committed window as the run output shows it."""

    beast_id: int
    window: int
    loss: int  # Q8 loss sum of the window's 128 steps
    prev_loss: int | None  # the previous window's, None for window 1
    energy_burn: int  # wei
    energy_total: int  # wei burned by this beast's committed windows so far, this one included
    tx: str
    latency_s: float | None  # broadcast to receipt
    heads_note: str = ""

    def human(self) -> str:
        """``beast 1  window 3  loss 41,234 (-1,203)  burned 0.52 ENERGY (total 1.56 ENERGY)  tx 0xab…  commit 0.41 s``."""
        change = "" if self.prev_loss is None else f" ({self.loss - self.prev_loss:+,})"
        latency = "" if self.latency_s is None else f"  commit {self.latency_s:.2f} s"
        tx = self.tx[:10] + "…" + self.tx[-4:] if len(self.tx) > 16 else self.tx
        line = (f"beast {self.beast_id}  window {self.window}  loss {self.loss:,}{change}  burned "
                f"{format_energy(self.energy_burn)} (total {format_energy(self.energy_total)})  tx {tx}{latency}")
        return line + (f"\n  note: {self.heads_note}" if self.heads_note else "")

    def record(self) -> dict[str, Any]:
        """The JSON record (wei as integers, the full transaction hash)."""
        return {"event": "window_committed", "beastId": self.beast_id, "window": self.window, "loss": self.loss,
                "lossChange": None if self.prev_loss is None else self.loss - self.prev_loss,
                "energyBurnWei": self.energy_burn, "energyTotalWei": self.energy_total, "tx": self.tx,
                "commitLatencyS": None if self.latency_s is None else round(self.latency_s, 3),
                "note": self.heads_note or None}


def format_figures(beast_id: int, window: int, fig: dict[str, Any]) -> str:
    """One line of held-out figures (node.evaluation's record)."""
    return (f"beast {beast_id}  window {window}  held-out: move accuracy {fig['move_accuracy']:.3f}  "
            f"attack error {fig['attack_mae']:.2f}  block recall {fig['block_recall']:.2f}  "
            f"won {fig['win_rate_vs_untrained']:.0%} of {fig['battles']} battles vs untrained")


class LiveReporter:
    """Prints the run's records in one of MODES; owns the progress bar."""

    def __init__(self, mode: str = "human", *, total: int = 0, out: TextIO | None = None, err: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.clock = clock
        self.total = total  # windows to commit before --until-window is reached; 0: no end, no bar
        self.done = 0
        self.started = clock()
        self._bar_shown = False
        self._closed: list[TextIO] = []  # streams whose reader went away
        self.bar = False
        self.set_total(total)

    def set_total(self, total: int) -> None:
        """Windows left to commit before the run ends (``--until-window``); starts the clock of the rate/ETA."""
        self.total, self.done, self.started = total, 0, self.clock()
        self.bar = self.mode == "human" and total > 0 and _isatty(self.err)

    def log(self, message: str) -> None:
        """A progress message on stderr (``cb-node: ...``); none when quiet."""
        if self.mode == "quiet":
            return
        self._clear_bar()
        self._write(self.err, f"cb-node: {message}")
        self._draw_bar()

    def window(self, line: WindowLine) -> None:
        """A committed window."""
        self.done += 1
        self._emit(line.human(), line.record())

    def figures(self, beast_id: int, window: int, fig: dict[str, Any]) -> None:
        """Held-out figures of a beast's checkpoint."""
        self._emit(format_figures(beast_id, window, fig), {"event": "eval", **fig})

    def finish(self) -> None:
        """Leave the terminal clean (the bar's line is ended)."""
        if self._bar_shown:
            self._draw_bar()
            self._write(self.err, "")
            self._bar_shown = False

    def bar_text(self) -> str:
        """``[#####.........] 5/12 windows  0.8/s  ETA 0:09``."""
        width = 24
        filled = width * min(self.done, self.total) // max(self.total, 1)
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = format_duration((self.total - self.done) / rate) if rate > 0 and self.done < self.total else "--:--"
        if self.done >= self.total:
            eta = "done"
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} windows  {rate:.2f}/s  ETA {eta}"

    # ---- output ------------------------------------------------------------------------

    def _emit(self, text: str, record: dict[str, Any]) -> None:
        if self.mode == "quiet":
            return
        self._clear_bar()
        self._write(self.out, json.dumps(record) if self.mode == "json" else text)
        self._draw_bar()

    def _write(self, stream: TextIO, text: str) -> None:
        if stream in self._closed:
            return
        try:
            stream.write(text + "\n")
            stream.flush()
        except BrokenPipeError:  # `cb-node run | head`: keep training, stop printing there
            self._closed.append(stream)
            if stream is self.err:
                self.bar = False
            _silence(stream)

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._raw("\r\x1b[K")
            self._bar_shown = False

    def _draw_bar(self) -> None:
        if self.bar and self.mode == "human":
            self._raw("\r" + self.bar_text())
            self._bar_shown = True

    def _raw(self, text: str) -> None:
        try:
            self.err.write(text)
            self.err.flush()
        except BrokenPipeError:
            self.bar = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _silence(stream: TextIO) -> None:
    """Point a stream whose reader went away at /dev/null, so the interpreter's final flush is quiet."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


__all__ = ["HEAD_NAMES", "MODES", "LiveReporter", "WindowLine", "format_duration", "format_figures", "head_names",
           "head_switch_note"]
