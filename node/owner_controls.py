"""Owner controls: a growth spurt asked for with ``cb-node spurt`` and the learning-rate schedule of node.toml.

Both only choose the settings of a window the node trains next (its activeMask and lrShift); the
kernel checks them against the start state exactly as a replay does (``kernel.window_settings``,
SPEC §7.1 step 1), so a setting the spec forbids is refused here, before anything is trained or spent.

**Growth spurt.** ``cb-node spurt --beast N`` writes ``<run dir>/spurt.json``
(``{"from_mask": M, "mask": M | 1 << slot}``, atomically) after showing the ENERGY the spurt window
burns. The trainer reads it before each window: while the beast's latest state still has mask
``from_mask``, the next window switches ``slot`` on. Once a stored state holds the new mask the
request is done and removed (a crash before the removal leaves a file that the next read sees
as done). A request whose ``from_mask`` no longer matches (the mask changed some other way) is
stale and removed with an event, never applied. One request per beast at a time: the spec allows
one new slot bit per window.

**Learning-rate schedule.** node.toml's ``[lr_schedule]`` table maps a beast id (or ``default``)
to ``[[from_window, lr_shift], ...]`` with strictly increasing windows >= 1 and lr_shift
0..MAX_LR_SHIFT (24). Window ``N`` (the ``N``-th commit) trains with the lr_shift of the last entry
whose ``from_window <= N``; before the first entry the beast keeps the lr_shift of its state.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from kernel.host import ExitCode, HostError, atomic_write, read_file
from kernel.params import MAX_LR_SHIFT
from kernel.state import KernelState
from kernel.window_settings import settings_problem
from node.errors import ConfigError, NodeError
from node.store import BeastStore

SPURT_NAME: Final = "spurt.json"
_SPURT_MAX_BYTES: Final = 4096
DEFAULT_KEY: Final = "default"
Schedule = tuple[tuple[int, int], ...]  # ((from_window, lr_shift), ...), windows strictly increasing


class OwnerControlError(NodeError):
    """Raised when an owner control is refused: the spec's rules forbid it, or it was not confirmed."""

    exit_code = ExitCode.NO


# ---- learning-rate schedule ----------------------------------------------------------------


def parse_lr_schedule(value: Any, where: str) -> dict[str, Schedule]:
    """node.toml's ``lr_schedule`` table, checked: keys are beast ids or "default", values lists of
    [from_window, lr_shift] pairs; any violation is a ConfigError naming the key and the rule."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: lr_schedule must be a table, got {value!r}")
    out: dict[str, Schedule] = {}
    for key, entries in value.items():
        if key != DEFAULT_KEY and not (key.isdigit() and int(key) >= 1 and str(int(key)) == key):
            raise ConfigError(f"{where}: lr_schedule keys must be beast ids >= 1 or \"default\", got {key!r}")
        name = f"lr_schedule.{key}"
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{where}: {name} must be a non-empty list of [from_window, lr_shift] pairs")
        pairs: list[tuple[int, int]] = []
        for e in entries:
            if (not isinstance(e, list) or len(e) != 2
                    or any(isinstance(x, bool) or not isinstance(x, int) for x in e)):
                raise ConfigError(f"{where}: {name} entries must be [from_window, lr_shift] integer pairs, got {e!r}")
            w, k = e
            if w < 1:
                raise ConfigError(f"{where}: {name}: from_window must be >= 1 (windows count from 1), got {w}")
            if not 0 <= k <= MAX_LR_SHIFT:
                raise ConfigError(f"{where}: {name}: lr_shift must be 0..{MAX_LR_SHIFT} (SPEC §7.1), got {k} "
                                  f"for window {w}")
            if pairs and w <= pairs[-1][0]:
                raise ConfigError(f"{where}: {name}: windows must increase strictly, got {w} after {pairs[-1][0]}")
            pairs.append((w, k))
        out[key] = tuple(pairs)
    return out


def schedule_of(schedules: dict[str, Schedule], beast_id: int) -> Schedule:
    """The schedule that applies to ``beast_id``: its own, else the default, else none."""
    return schedules.get(str(beast_id), schedules.get(DEFAULT_KEY, ()))


def scheduled_lr_shift(schedule: Schedule, window: int) -> int | None:
    """The lr_shift of window ``window`` (>= 1) under ``schedule``; None before its first entry."""
    shift = None
    for w, k in schedule:
        if w > window:
            break
        shift = k
    return shift


# ---- growth spurt -------------------------------------------------------------------------


@dataclass(frozen=True)
class SpurtPlan:
    """What ``cb-node spurt`` asks for and what it costs (ENERGY in wei, as the word's energyBurn)."""

    beast_id: int
    after_window: int  # the latest stored window; the spurt is the window trained after it
    from_mask: int
    mask: int
    slot: int
    burn_now: int  # energyBurn of a window at the current mask
    burn_spurt: int  # energyBurn of the spurt window (128 steps at the new mask + spurt_cost)
    burn_after: int  # energyBurn of each later window at the new mask

    def to_json(self) -> dict[str, Any]:
        """The JSON view of ``cb-node spurt --json``."""
        return {"beastId": self.beast_id, "afterWindow": self.after_window, "fromMask": self.from_mask,
                "mask": self.mask, "slot": self.slot, "energyBurnNow": str(self.burn_now),
                "energyBurnSpurt": str(self.burn_spurt), "energyBurnAfter": str(self.burn_after)}

    def describe(self) -> str:
        """The lines shown before the confirmation."""
        return (f"beast {self.beast_id}: growth spurt switches on slot {self.slot} "
                f"(activeMask 0x{self.from_mask:x} -> 0x{self.mask:x}) in the next window it trains "
                f"after window {self.after_window}\n"
                f"  that window burns {format_energy(self.burn_spurt)} "
                f"(a window burns {format_energy(self.burn_now)} now)\n"
                f"  every later window burns {format_energy(self.burn_after)}; slots never switch off again")


def format_energy(wei: int) -> str:
    """ENERGY for people: the wei amount as a decimal with its unit (exact, no float)."""
    text = format(Decimal(wei) / Decimal(10**18), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} ENERGY"


def plan_spurt(beast_id: int, state: KernelState, slot: int | None = None) -> SpurtPlan:
    """The spurt after ``state`` switching on ``slot`` (default: the lowest dormant slot); refused
    (OwnerControlError) when the spec forbids it: no dormant slot, or a slot that is on or does not exist."""
    p = state.params
    dormant = [s for s in range(p.n_slots) if not state.active_mask >> s & 1]
    if not dormant:
        raise OwnerControlError(f"beast {beast_id}: every slot is already on (activeMask 0x{state.active_mask:x}, "
                                f"{p.n_slots} slots); there is nothing to switch on")
    if slot is None:
        slot = dormant[0]
    elif not 0 <= slot < p.n_slots:
        raise OwnerControlError(f"beast {beast_id}: slot {slot} does not exist (slots 0..{p.n_slots - 1})")
    elif slot not in dormant:
        raise OwnerControlError(f"beast {beast_id}: slot {slot} is already on (activeMask 0x{state.active_mask:x}); "
                                f"dormant slots: {', '.join(map(str, dormant))}")
    mask = state.active_mask | 1 << slot
    return SpurtPlan(beast_id, state.window, state.active_mask, mask, slot,
                     p.window_energy_burn(state.active_mask, False), p.window_energy_burn(mask, True),
                     p.window_energy_burn(mask, False))


def read_spurt(store: BeastStore) -> tuple[int, int] | None:
    """The pending request (from_mask, mask) of a beast, or None. A file that is not a request (unreadable,
    not JSON, masks that are not one slot apart) is an OwnerControlError naming it: never guessed at."""
    path = store.root / SPURT_NAME
    try:
        os.lstat(path)  # the usual case, asked for every beast every round: no request (one syscall, no exception chain)
    except FileNotFoundError:
        return None
    except OSError:
        pass  # read_file below names the problem
    try:
        doc = json.loads(read_file(path, limit=_SPURT_MAX_BYTES, what=SPURT_NAME))
    except HostError:
        if path.exists() or path.is_symlink():
            raise OwnerControlError(f"beast {store.beast_id}: cannot read {path}; remove it to cancel the spurt") from None
        return None
    except ValueError:
        raise OwnerControlError(f"beast {store.beast_id}: {path} is not JSON; remove it to cancel the spurt") from None
    try:
        from_mask, mask = doc["from_mask"], doc["mask"]
        ok = all(isinstance(m, int) and not isinstance(m, bool) and 0 < m < 256 for m in (from_mask, mask))
        ok = ok and mask & from_mask == from_mask and bin(mask ^ from_mask).count("1") == 1
    except (TypeError, KeyError):
        ok = False
    if not ok:
        raise OwnerControlError(f"beast {store.beast_id}: {path} is not a spurt request; remove it to cancel the spurt")
    return from_mask, mask


def request_spurt(store: BeastStore, plan: SpurtPlan) -> None:
    """Record the spurt for the trainer (atomic, 0600); refused when one is already pending."""
    pending = read_spurt(store)
    if pending is not None and pending[0] == plan.from_mask:
        raise OwnerControlError(f"beast {plan.beast_id} already has a growth spurt pending (activeMask "
                                f"0x{pending[0]:x} -> 0x{pending[1]:x}); the spec allows one new slot per window. "
                                "Cancel it with `cb-node spurt --cancel` or wait until it is trained")
    atomic_write(store.root / SPURT_NAME, json.dumps({"from_mask": plan.from_mask, "mask": plan.mask}).encode())
    store.event("spurt_requested", from_mask=plan.from_mask, mask=plan.mask, after_window=plan.after_window,
                energy_burn=str(plan.burn_spurt))


def cancel_spurt(store: BeastStore) -> bool:
    """Remove a pending request; True when there was one."""
    path = store.root / SPURT_NAME
    if not (path.exists() or path.is_symlink()):
        return False
    path.unlink()
    store.event("spurt_cancelled")
    return True


def spurt_mask(store: BeastStore, state: KernelState) -> int | None:
    """The mask of the next window after ``state`` when a spurt is pending for it, else None.

    A request the state already carries is done and removed; one whose start mask is no longer
    the state's is stale and removed with an event (never applied to a different mask).
    """
    try:
        pending = read_spurt(store)
    except OwnerControlError as exc:
        store.event("spurt_ignored", reason=str(exc))
        return None
    if pending is None:
        return None
    from_mask, mask = pending
    if state.active_mask == from_mask:
        return mask
    done = state.active_mask & mask == mask
    (store.root / SPURT_NAME).unlink(missing_ok=True)
    if not done:
        store.event("spurt_stale", from_mask=from_mask, mask=mask, state_mask=state.active_mask)
    return None


def spurt_done(store: BeastStore, before: KernelState, after: KernelState) -> None:
    """After a window is persisted: remove the request it carried out and log the spurt."""
    if after.active_mask != before.active_mask:
        (store.root / SPURT_NAME).unlink(missing_ok=True)
        store.event("spurt", window=after.window, from_mask=before.active_mask, mask=after.active_mask)


# ---- both, per window -----------------------------------------------------------------------


class WindowPlanner:
    """The owner's settings of the next window of a beast: its mask (spurt) and lr_shift (schedule)."""

    def __init__(self, schedules: dict[str, Schedule] | None = None) -> None:
        self.schedules = schedules or {}

    def settings(self, store: BeastStore, state: KernelState) -> tuple[int, int]:
        """(active_mask, lr_shift) of the window after ``state``."""
        mask = spurt_mask(store, state)
        if mask is not None:
            problem = settings_problem(state, mask, state.lr_shift)
            if problem is not None:  # a hand-made spurt.json naming a slot the beast lacks: never trained
                store.event("spurt_ignored", reason=problem.detail)
                (store.root / SPURT_NAME).unlink(missing_ok=True)
                mask = None
        shift = scheduled_lr_shift(schedule_of(self.schedules, store.beast_id), state.window + 1)
        return (state.active_mask if mask is None else mask), (state.lr_shift if shift is None else shift)

    def schedule(self, beast_id: int) -> Schedule:
        """The schedule that applies to ``beast_id``."""
        return schedule_of(self.schedules, beast_id)


def confirm(question: str, *, assume_yes: bool) -> None:
    """Ask ``question`` on the terminal; refused (OwnerControlError) on anything but y/yes, or without a terminal."""
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise OwnerControlError("not confirmed: no terminal to ask on; pass --yes to confirm from a script")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise OwnerControlError("not confirmed; nothing was changed")


def spurt_path(store_root: Path) -> Path:
    """Where a beast's pending spurt request lies."""
    return Path(store_root) / SPURT_NAME


__all__ = ["DEFAULT_KEY", "SPURT_NAME", "OwnerControlError", "Schedule", "SpurtPlan", "WindowPlanner", "cancel_spurt",
           "confirm", "format_energy", "parse_lr_schedule", "plan_spurt", "read_spurt", "request_spurt",
           "schedule_of", "scheduled_lr_shift", "spurt_done", "spurt_mask", "spurt_path"]
