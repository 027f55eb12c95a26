"""Hypothesis state machine over BisectionGame (docs/PROTOCOL.md §10, invariants 1-5).

A trainer commits windows, some with one wrong micro-step; honest and dishonest challengers open
games; dishonest players (the lying trainer, the lying challenger) move at random, stall, or claim
random hashes; honest players answer every turn at once (as a watcher would). After every step:
ENERGY is conserved (the game holds exactly the bonds of open games, the ledger the escrow of live
windows, the supply fell by exactly the burned escrows). At the end every game is driven to its
end (stalling sides time out) and the honest side, where there is one, won every game.
The transition is the stand-in ToyStepVerifier (bisection_helpers) so that the machine's hundreds of
moves fit the CI budget; test_bisection_real.py plays the real StepVerifier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bisection_helpers import (
    BURN,
    CHALLENGED,
    CHALLENGER_WON,
    COMMITTED,
    DEFENDER_WON,
    OPEN,
    SLASHED,
    GameNet,
    Lineage,
    h16,
    start_game_net,
)

_NET: GameNet | None = None


def _net() -> GameNet:
    global _NET
    if _NET is None:
        _NET = start_game_net(accounts=10, clock=60, params={"challenge_period": 5000})
    return _NET


@dataclass
class Play:
    gid: int
    k: int
    honest_challenger: bool
    false_window: bool


class GameMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.gn = _net()
        self.snap = self.gn.raw.tester.take_snapshot()
        self.gn.cb.sender._nonces.clear()
        self.trainer, self.honest, self.liar = self.gn.a[1], self.gn.a[2], self.gn.a[3]
        self.rng = random.Random(0)
        self.plays: list[Play] = []
        self.false: list[bool] = []
        self.truth: list[list[bytes]] = []

    @initialize()
    def hatch(self) -> None:
        self.lin = Lineage(self.gn.cb.hatch(self.trainer))
        self.supply0 = int(self.gn.cb.energy.functions.totalSupply().call())

    # ------------------------------------------------------------------ rules

    @precondition(lambda self: len(self.false) < 5)
    @rule(lie=st.one_of(st.none(), st.integers(1, 128)))
    def commit(self, lie: int | None) -> None:
        self.lin.commit(self.gn, self.trainer, lie_at=lie, honest_view=self.truth)
        self.false.append(lie is not None)

    @precondition(lambda self: self.false and len(self.plays) < 3)
    @rule(data=st.data(), honest=st.booleans())
    def challenge(self, data: st.DataObject, honest: bool) -> None:
        k = data.draw(st.integers(0, len(self.false) - 1))
        if self.gn.status(self.lin.beast, k) not in (COMMITTED, CHALLENGED) or (honest and not self.false[k]):
            return  # an honest challenger challenges only a window its replay refutes
        gid = self.gn.challenge(self.honest if honest else self.liar, self.lin.beast, k)
        self.plays.append(Play(gid, k, honest, self.false[k]))
        self._honest_moves()

    @precondition(lambda self: self.plays)
    @rule(data=st.data(), kind=st.sampled_from(["own", "random", "stall"]))
    def dishonest_move(self, data: st.DataObject, kind: str) -> None:
        p = data.draw(st.sampled_from(self.plays))
        g = self.gn.game_of(p.gid)
        if g["outcome"] != OPEN or kind == "stall":
            self.gn.mine(self.rng.randint(1, 30))
        elif g["challengerToMove"] and not p.honest_challenger:
            self.gn.respond(self.liar, p.gid, data.draw(st.booleans()))
        elif not g["challengerToMove"] and p.false_window:
            self._defender_move(p, g, forged=(kind == "random"))
        self._try_timeouts()
        self._honest_moves()

    # ------------------------------------------------------------------ players

    def _defender_move(self, p: Play, g: dict, forged: bool) -> None:
        """The trainer's side: honest windows always honestly; a false one from its own states or forged hashes."""
        lo, hi = g["lo"], g["hi"]
        states = self.lin.windows[p.k]
        if hi - lo == 1:
            try:
                self.gn.prove_step(self.trainer, p.gid, states[lo])
            except Exception:  # noqa: BLE001 - a forged h_lo has no pre-state: the liar cannot prove
                self.gn.mine(1)
        else:
            h = h16(self.rng.randbytes(32)) if forged else h16(states[(lo + hi) // 2])
            self.gn.bisect(self.trainer, p.gid, h)

    def _honest_moves(self) -> None:
        """Every honest player whose turn it is moves at once, until no honest player is to move."""
        for p in self.plays:
            while True:
                g = self.gn.game_of(p.gid)
                if g["outcome"] != OPEN:
                    break
                lo, hi = g["lo"], g["hi"]
                if g["challengerToMove"] and p.honest_challenger:
                    truth = self.truth[p.k]
                    self.gn.respond(self.honest, p.gid, bytes(g["midHash"]) == h16(truth[(lo + hi) // 2]))
                elif not g["challengerToMove"] and not p.false_window:
                    self._defender_move(p, g, forged=False)
                elif not g["challengerToMove"] and hi - lo == 1 and p.honest_challenger:
                    self.gn.prove_step(self.honest, p.gid, self.truth[p.k][lo])
                else:
                    break

    def _try_timeouts(self) -> None:
        for p in self.plays:
            g = self.gn.game_of(p.gid)
            if g["outcome"] != OPEN:
                continue
            left = g["challengerClock"] if g["challengerToMove"] else g["defenderClock"]
            if self.gn.block() - g["lastMove"] > left:
                self.gn.timeout(self.gn.a[0], p.gid)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def energy_conserved(self) -> None:
        if not hasattr(self, "lin"):
            return
        held = 0
        for p in self.plays:
            g = self.gn.game_of(p.gid)
            if g["outcome"] == OPEN:
                held += g["bond"] * (2 if int(g["defender"], 16) else 1)
        assert self.gn.held_by_game() == held
        live = sum(BURN for k in range(len(self.false)) if self.gn.status(self.lin.beast, k) in (COMMITTED, CHALLENGED))
        assert self.gn.cb.balance_of(self.gn.cb.ledger.address) == live
        slashed = sum(1 for k in range(len(self.false)) if self.gn.status(self.lin.beast, k) == SLASHED)
        assert int(self.gn.cb.energy.functions.totalSupply().call()) == self.supply0 - slashed * BURN

    def teardown(self) -> None:
        try:
            if hasattr(self, "lin"):
                for _ in range(40):
                    if all(self.gn.game_of(p.gid)["outcome"] != OPEN for p in self.plays):
                        break
                    self.gn.mine(self.gn.clock + 1)
                    self._try_timeouts()
                    self._honest_moves()
                for p in self.plays:
                    g = self.gn.game_of(p.gid)
                    assert g["outcome"] != OPEN, "every game ends"
                    if p.honest_challenger and p.false_window:
                        assert g["outcome"] == CHALLENGER_WON, p
                    if not p.false_window:
                        assert g["outcome"] == DEFENDER_WON, p
                    if p.honest_challenger and not p.false_window:
                        raise AssertionError("an honest challenger never challenges an honest window")
                self.energy_conserved()
        finally:
            self.gn.raw.tester.revert_to_snapshot(self.snap)
            self.gn.cb.sender._nonces.clear()


GameMachine.TestCase.settings = settings(max_examples=6, stateful_step_count=8, deadline=None,
                                         suppress_health_check=list(HealthCheck))
TestBisectionGameMachine = pytest.mark.filterwarnings("ignore")(GameMachine.TestCase)
