"""What a stored checkpoint has learned: held-out figures of one window (`cb-node eval`, and the
daemon every ``eval_every`` windows).

The figures come from kernel.evaluate (public held-out boards no training window samples, and
seeded battles against the beast's own genesis state, i.e. its untrained self). They are reported,
never hashed, and need no chain: only the beast's run directory. Which loss heads the window
trained is part of the record, because the window loss is a sum over the trained heads: it jumps
when a head switches on (kernel.heads.heads_for_epoch: attack from epoch 3, block from epoch 6)
although the beast got no worse.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from kernel.payload import WINDOW_STEPS
from kernel.params import KernelParams
from node.errors import DataError
from node.live import head_names
from node.store import BeastStore

HELDOUT_BOARDS: Final = 1000  # cb-node eval's default, as cb-kernel eval
BATTLES: Final = 100
DAEMON_HELDOUT_BOARDS: Final = 256  # the daemon's periodic figures: cheaper, same boards' prefix
DAEMON_BATTLES: Final = 20


@functools.lru_cache(maxsize=4)
def _boards(n: int) -> list[Any]:
    from kernel.evaluate import heldout_boards

    return heldout_boards(n)


def window_heads(params: KernelParams, global_step: int, window: int) -> int:
    """The heads mask of window ``window``, whose checkpoint is at ``global_step`` (0 for genesis)."""
    if window == 0:
        return 0
    from kernel.heads import heads_for_epoch

    first = (global_step - WINDOW_STEPS) & 0xFFFFFFFF  # global step of the window's first micro-step
    return heads_for_epoch(params.epoch_of_step(first))


def evaluate_window(store: BeastStore, window: int | None = None, *, boards: int = HELDOUT_BOARDS,
                    battles: int = BATTLES) -> dict[str, Any]:
    """Held-out figures of ``window``'s stored checkpoint (default: the latest stored window).

    Raises DataError when the beast has no such window (or its checkpoint fails its hash check).
    """
    from kernel.evaluate import figures, win_rate

    if window is None:
        latest = store.latest()
        if latest is None:
            raise DataError(f"beast {store.beast_id} has no stored windows")
        window = latest.window
    if window < 0:
        raise DataError(f"window must be >= 0, got {window}")
    row = store.get(window)
    if row is None:
        latest = store.latest()
        raise DataError(f"beast {store.beast_id} has no stored window {window} "
                        f"(latest: {latest.window if latest else 'none'})")
    state = store.load_state(window)
    untrained = store.load_state(0)
    fig = figures(state, _boards(boards))
    heads = window_heads(state.params, state.global_step, window)
    return {
        "beast_id": store.beast_id, "window": window, "global_step": state.global_step, "h128": "0x" + row.h128.hex(),
        "status": row.status, "loss_sum": row.loss_sum if window else None,
        "move_accuracy": round(fig.move_accuracy, 4), "attack_mae": round(fig.attack_mae, 4),
        "block_accuracy": round(fig.block_accuracy, 4), "block_recall": round(fig.block_recall, 4),
        "win_rate_vs_untrained": round(win_rate(state, untrained, battles), 4),
        "heldout_boards": boards, "battles": battles, "heads": head_names(heads),
    }


HEADS_EXPLAINED: Final = (
    "The window loss is the sum of the trained heads' losses: epochs 0-2 train the move head only, "
    "epochs 3-5 add attack power, epoch 6 on adds block. When a head switches on, its loss joins the sum, "
    "so the loss jumps although the beast got no worse; compare losses between windows that train the same heads.")


def format_evaluation(fig: dict[str, Any]) -> str:
    """`cb-node eval`'s human output."""
    won = f"{fig['win_rate_vs_untrained']:.0%}"
    lines = [
        f"beast {fig['beast_id']} window {fig['window']} (global step {fig['global_step']}, {fig['status']}, "
        f"h128 {fig['h128']})",
        f"  heads trained       {', '.join(fig['heads']) or 'none (genesis)'}",
        f"  window loss (Q8)    {fig['loss_sum'] if fig['loss_sum'] is not None else '-'}",
        f"  move accuracy       {fig['move_accuracy']:.3f}   (vs. A* labels, {fig['heldout_boards']} held-out boards; chance 0.25)",
        f"  attack error        {fig['attack_mae']:.3f}   (mean |power - label|, 0..15)",
        f"  block recall        {fig['block_recall']:.3f}   (share of the rare 'block' boards flagged; "
        f"accuracy {fig['block_accuracy']:.3f})",
        f"  battles won         {won}   (of {fig['battles']} seeded battles against its untrained self)",
        "",
        "note: " + HEADS_EXPLAINED,
    ]
    return "\n".join(lines)


__all__ = ["BATTLES", "DAEMON_BATTLES", "DAEMON_HELDOUT_BOARDS", "HEADS_EXPLAINED", "HELDOUT_BOARDS",
           "evaluate_window", "format_evaluation", "window_heads"]
