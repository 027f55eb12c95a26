"""What `cb-node run` does around every round besides training: defend its windows, follow slashes, cheat on demand.

:class:`Guards` bundles :mod:`node.defense` (answer the bisection games on the node's windows),
:mod:`node.rewind` (take the lineage back when a slash cut it) and, only for
``--dishonest``, :mod:`node.dishonest`. The daemon calls :meth:`Guards.before_round` before each
round (the dishonest window goes first), :meth:`Guards.after_round` after it (one defense poll,
then every rewind it found) and :meth:`Guards.on_revert` when a commit reverted (a slash that
landed while the commit was in flight shows as a refused commit: rewind, then go on). All of it
runs on the daemon's thread between rounds, never beside the commit thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node import rewind
from node.beast_run import BeastRun
from node.defense import Defense
from node.dishonest import DishonestMode
from node.errors import TxRevertedError
from node.trainer import Engine


@dataclass
class Guards:
    """The defense, the rewinds and (devnet only) the dishonest mode of one `cb-node run`."""

    engine: Engine
    runs: list[BeastRun]
    defense: Defense
    dishonest: DishonestMode | None
    log: Callable[[str], None]

    def start(self) -> None:
        """On start, before reconcile: finish or begin every rewind, note a killed liar's false window."""
        for run in self.runs:
            rewind.resume(run, self.engine.ledger, self.log)
        if self.dishonest is not None:
            self.dishonest.recover(self.runs)

    def before_round(self, active: list[BeastRun]) -> list[BeastRun]:
        """The beasts the honest round trains (the dishonest mode may have trained or held some)."""
        if self.dishonest is None:
            return active
        hold = self.dishonest.before_round(active)
        return [r for r in active if r.beast_id not in hold]

    def after_round(self) -> int:
        """One defense poll, then the rewinds it found; returns the beasts rewound."""
        res = self.defense.poll()
        return self.rewind_if_cut({r.beast_id for r in self.runs} if res.rewound else set())

    def rewind_if_cut(self, beasts: set[int]) -> int:
        """Rewind every beast of ``beasts`` whose lineage a slash cut; returns how many were."""
        done = 0
        for run in self.runs:
            if run.beast_id not in beasts:
                continue
            tip = rewind.check(run, self.engine.ledger)
            if tip is not None:
                rewind.rewind(run, self.engine.ledger, tip, self.log)
                self._forget_seeds(run.beast_id)
                done += 1
        return done

    def on_revert(self, exc: TxRevertedError) -> bool:
        """A commit reverted: True when a slash explains it (the lineages are rewound now), else False."""
        if not exc.reason.startswith(("LedgerStepOutOfOrder", "LedgerSlot", "LedgerWindow")):
            return False
        return self.rewind_if_cut({r.beast_id for r in self.runs}) > 0

    def _forget_seeds(self, beast_id: int) -> None:
        """Drop the trainer's cached epoch seeds of a rewound beast (read again from the ledger)."""
        seeds = getattr(self.engine.trainer, "_seeds", None)
        if isinstance(seeds, dict):
            for key in [k for k in seeds if k[0] == beast_id]:
                del seeds[key]


__all__ = ["Guards"]
