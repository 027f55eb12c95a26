"""``cb-node run --dishonest KIND --from-window K``: a trainer that cheats once, for demos and end-to-end tests.

Devnet only: refused (ConfigError, before anything is signed) on any chain whose id is not a
local devnet's -- anvil's 31337 or py-evm's eth-tester id (the embedded chain and ``cb-devnet up
--engine pyevm``). It never runs by accident: only this option turns it on.

Kinds (the lie is in node window K, the ledger's index K-1, trained on an honest window K-1):

* ``step``: the window is trained honestly up to micro-step 77, whose post-state is altered (one
  weight off by one), and the remaining steps are trained on from that false state; the word
  commits the final false state faithfully (every field follows from it), so only a bisection
  finds the lie: it narrows to step 76 -> 77, and the one-step verifier slashes the window.
  Later windows build on the false state as an honest node would on a true one.
* ``word``: the state is the honest one (its h128 is true) but the word's flags say the loss did
  or did not drop when it did not or did (FLAG_LOSS_DROPPED flipped): ``proveWordLie`` with the
  final state's bytes slashes it at once.

The lie is recorded in the window's lineage metadata (``produced_by["dishonest"]``), so the node
defends it with the same false states it committed (node.defense replays them); and a marker
``dishonest.json`` in the run directory says it lied, so after the slash rewinds the lineage the
node trains window K again honestly (one lie per beast, never a second).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from kernel.host import atomic_write
from kernel.payload import FLAG_LOSS_DROPPED, WINDOW_STEPS, Payload
from kernel.state import KernelState
from kernel.step import WindowStart, micro_step
from kernel.train import train_window
from kernel.window_settings import window_epoch
from node.errors import ConfigError
from node.lineage import produced_by
from node.store import PERSISTED, SENT, Checkpoint, persist_round

if TYPE_CHECKING:
    from node.beast_run import BeastRun
    from node.trainer import Engine

KINDS: Final = ("step", "word")
LIE_STEP: Final = 77  # the micro-step whose post-state a ``step`` liar alters (1..128)
MARKER: Final = "dishonest.json"
# Chain ids of local devnets: anvil (cb-devnet up --engine anvil) and py-evm's eth-tester (the
# embedded chain, cb-devnet up --engine pyevm).
DEVNET_CHAIN_IDS: Final = frozenset({31337, 131277322940537})


@dataclass(frozen=True)
class Lie:
    """What a dishonest node does: ``kind`` in window ``window`` (node numbering, >= 1)."""

    kind: str
    window: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"--dishonest must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.window < 1:
            raise ConfigError(f"--from-window must be >= 1 (the window to lie in), got {self.window}")

    def to_json(self) -> dict[str, Any]:
        """The lineage metadata entry of the false window."""
        doc: dict[str, Any] = {"kind": self.kind, "window": self.window}
        if self.kind == "step":
            doc["step"] = LIE_STEP
        return doc


def check_devnet(chain_id: int, embedded: bool) -> None:
    """Refuse a dishonest run on anything but a local devnet."""
    if embedded or chain_id in DEVNET_CHAIN_IDS:
        return
    raise ConfigError(f"--dishonest is for local devnets only (chain id 31337 or the embedded py-evm chain); "
                      f"this chain's id is {chain_id}: refusing to commit false windows on it")


def corrupt(state: KernelState) -> KernelState:
    """The false state a ``step`` liar puts in place of a true step state: its first weight off by one."""
    w1 = np.array(state.w1, copy=True)
    flat = w1.reshape(-1)
    flat[0] = flat[0] + 1 if flat[0] < 32767 else flat[0] - 1  # weights are i16 values
    return replace(state, w1=w1)


def false_states(start: KernelState, source: Any, w: WindowStart, lie: dict[str, Any]) -> tuple[list[KernelState], list[int]]:
    """The 129 step states (and 128 losses) of a window trained with the recorded lie ``lie``
    (``produced_by["dishonest"]``): honest micro-steps with step ``lie["step"]``'s post-state altered."""
    at = int(lie.get("step", LIE_STEP))
    states, losses = [start], []
    for j in range(1, WINDOW_STEPS + 1):
        res = micro_step(states[-1], source, w)
        losses.append(int(res.trace.loss))
        states.append(corrupt(res.state) if j == at else res.state)
    return states, losses


class DishonestMode:
    """Trains the one false window of each beast of a dishonest run (before the honest round trains it)."""

    def __init__(self, lie: Lie, engine: Engine, log: Any) -> None:
        self.lie = lie
        self.engine = engine
        self.log = log

    def _marker(self, run: BeastRun) -> dict[str, Any] | None:
        path = run.store.root / MARKER
        return json.loads(path.read_text()) if path.exists() else None

    def _mark(self, run: BeastRun) -> None:
        atomic_write(run.store.root / MARKER, json.dumps({**self.lie.to_json(), "lied": True}).encode())

    def recover(self, runs: list[BeastRun]) -> None:
        """A node killed after persisting the false window but before its marker: write the marker now."""
        for run in runs:
            row = run.store.get(self.lie.window)
            if self._marker(run) is None and row is not None and "dishonest" in run.store.produced_by(row.window):
                self._mark(run)

    def before_round(self, runs: list[BeastRun]) -> set[int]:
        """Train and persist the false window of every beast that reached it; returns the beasts the honest
        round must leave alone this time (their false window waits for its epoch seed)."""
        hold: set[int] = set()
        for run in runs:
            row = run.store.latest()
            if row is None or row.window != self.lie.window - 1 or self._marker(run) is not None:
                continue
            prev = run.store.get(row.window - 1) if row.window > 0 else None
            if row.status in (PERSISTED, SENT) and prev is not None and prev.status in (PERSISTED, SENT):
                hold.add(run.beast_id)  # two windows in flight already: wait like the honest plan does
                continue
            if not self._train_false(run):
                hold.add(run.beast_id)
        return hold

    def _train_false(self, run: BeastRun) -> bool:
        engine, start = self.engine, run.latest_state()
        epoch = window_epoch(start)
        seed = engine.ledger.sealed_epoch_seed(run.beast_id, epoch)
        if seed is None:
            row = run.store.latest()
            if row is not None and row.status in (PERSISTED, SENT):
                return False  # the closing commit is not mined yet
            seed = engine.ledger.seal_epoch_seeds([(run.beast_id, epoch)])[(run.beast_id, epoch)]
        mask, shift = engine.trainer.planner.settings(run.store, start)
        honest = train_window(start, run.source, epoch_seed=seed, active_mask=mask, lr_shift=shift)
        lie = self.lie.to_json()
        if self.lie.kind == "step":
            if start.spec_version < 2:
                raise ConfigError("--dishonest step lies in a micro-step: it needs a spec version 2 beast")
            states, losses = false_states(start, run.source, WindowStart(mask, shift, seed), lie)
            final = states[-1]
            payload = Payload(final.h128(), final.global_step, honest.payload.energy_burn, final.active_mask,
                              final.lr_shift, final.flags)
        else:
            final, losses = honest.state, honest.losses
            payload = replace(honest.payload, flags=honest.payload.flags ^ FLAG_LOSS_DROPPED)
        meta = produced_by(run.meta, final, engine.trainer.backend_name, False, engine.trainer.config(run.beast_id))
        persist_round([(run.store, Checkpoint(final, payload, seed, losses, None, {**meta, "dishonest": lie}))])
        self._mark(run)
        run.remember(final)
        run.store.event("dishonest", window=self.lie.window, lie=self.lie.kind)
        self.log(f"beast {run.beast_id}: DISHONEST window {self.lie.window} ({self.lie.kind} lie) persisted; "
                 "it is committed like any other")
        return True


__all__ = ["DEVNET_CHAIN_IDS", "KINDS", "LIE_STEP", "DishonestMode", "Lie", "check_devnet", "corrupt", "false_states"]
