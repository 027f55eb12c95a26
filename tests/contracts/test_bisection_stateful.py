"""Hypothesis state machine over BisectionGame 2.x and the ledger's slash and rewind (PROTOCOL §10).

A trainer commits windows, some with one wrong micro-step; an honest challenger (it replays every
window and challenges only the ones its replay refutes) and a lying challenger open games; the
lying trainer defends its false windows from its own states, with forged hashes or not at all; the
liar answers at random; honest players answer every turn at once (as a watcher would). A slash
rewinds the lineage: the trainer clears the voided windows and trains on from the window before.
After every step ENERGY is accounted for: what the ledger and the game hold is exactly what they
owe (stakes, unbonding stakes, deposits, the escrow of every window not burned yet, the bonds of
open games, the rewards held for windows). At the end every game is driven to its end (stalling
sides time out) and: every game ended; the honest side, where there is one, won; each held reward
goes to the winning game with the earliest commitment (ties: lowest id); then the game holds nothing.
The transition is the stand-in ToyStepVerifier (bisection_helpers) so that the machine's hundreds
of moves fit the CI budget; test_bisection_real.py plays the real StepVerifier.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as _hypothesis_event
from hypothesis.errors import InvalidArgument
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from devnet.errors import ContractError
from bisection_helpers import (
    BURN,
    CHALLENGED,
    CHALLENGER_WON,
    COMMITTED,
    DEFENDER_WON,
    OPEN,
    VOIDED,
    GameNet,
    Lineage,
    h16,
    start_game_net,
)

_NET: GameNet | None = None


def event(what: str) -> None:
    """hypothesis.event, a no-op when the machine runs a scripted scenario outside hypothesis."""
    with contextlib.suppress(InvalidArgument):
        _hypothesis_event(what)


def _net() -> GameNet:
    global _NET
    if _NET is None:
        _NET = start_game_net(accounts=10, clock=60, params={"challenge_period": 5000})
    return _NET


def held_is_owed(gn: GameNet, beasts: list[int], gids: list[int]) -> None:
    """ENERGY held by the ledger and the game == deposits + stakes + unbonding + escrows of windows
    not burned (Committed, Challenged, Voided) + bonds of open games + rewards held."""
    owed = 0
    for acct in gn.a:
        staked, unbonding, _ = gn.cb.stake_of(acct.address)
        owed += staked + unbonding + int(gn.cb.ledger.functions.depositOf(acct.address).call())
    for beast in beasts:
        _, to = gn.cb.ledger.functions.voidedRange(beast).call()
        top = max(int(to), int(gn.cb.ledger.functions.windowCount(beast).call())) + 2
        for k in range(top):
            if gn.status(beast, k) in (COMMITTED, CHALLENGED, VOIDED):
                owed += (gn.cb.stored_of(beast, k) >> 32) & (2**64 - 1)
    pots = set()
    for gid in gids:
        g = gn.game_of(gid)
        if g["outcome"] == OPEN:
            owed += g["bond"]
        pots.add((g["beastId"], g["index"], g["stored"]))
    owed += sum(gn.pot_of(*p)["reward"] for p in pots)
    held = gn.cb.balance_of(gn.cb.ledger.address) + gn.held_by_game()
    assert held == owed, f"held {held} != owed {owed}"


@dataclass
class Play:
    gid: int
    k: int
    honest_challenger: bool
    false_window: bool
    states: list[bytes]  # the trainer's claimed states of that window
    truth: list[bytes]  # the true states from the window's committed start


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

    # ------------------------------------------------------------------ rules

    @rule(lie=st.one_of(st.none(), st.sampled_from([1, 64, 128]), st.integers(1, 128)))
    def commit(self, lie: int | None) -> None:
        """The trainer clears what a slash voided (it must, to commit window k again) and trains on."""
        beast = self.lin.beast
        if self._sync_rewind():
            frm, to = self.gn.cb.ledger.functions.voidedRange(beast).call()
            if to > frm:
                self.gn.cb.send(self.trainer, self.gn.cb.ledger, "clearVoided", [beast, 64], 3_000_000)
        if len(self.false) >= 5:
            return
        self.lin.commit(self.gn, self.trainer, lie_at=lie, honest_view=self.truth)
        self.false.append(lie is not None)

    def _live(self, false_only: bool) -> list[int]:
        self._sync_rewind()
        return [k for k, f in enumerate(self.false) if (f or not false_only)
                and self.gn.status(self.lin.beast, k) in (COMMITTED, CHALLENGED)]

    @precondition(lambda self: self.false and len(self.plays) < 6)
    @rule(data=st.data(), honest=st.booleans())
    def challenge(self, data: st.DataObject, honest: bool) -> None:
        """The honest challenger challenges a live window its replay refutes; the liar any live one."""
        live = self._live(false_only=honest)
        if not live:
            self.gn.mine(1)
            return
        k = data.draw(st.sampled_from(live))
        gid = self.gn.challenge(self.honest if honest else self.liar, self.lin.beast, k)
        self.plays.append(Play(gid, k, honest, self.false[k], self.lin.windows[k], self.truth[k]))
        self._honest_moves()

    @precondition(lambda self: self.plays)
    @rule(data=st.data(), kind=st.sampled_from(["own", "random", "stall"]))
    def dishonest_move(self, data: st.DataObject, kind: str) -> None:
        p = data.draw(st.sampled_from(self.plays))
        # Other rules mine blocks too (commits, seals, clears): a side whose clock ran out meanwhile can
        # no longer move (GameClockExpired), so the games that are due end first.
        self._try_timeouts()
        g = self.gn.game_of(p.gid)
        if g["outcome"] != OPEN or kind == "stall":
            self.gn.mine(self.rng.randint(1, self.gn.clock + 10))  # sometimes past a clock: timeouts
        elif g["challengerToMove"] and not p.honest_challenger:
            if g["hi"] - g["lo"] > 1:
                self.gn.respond(self.liar, p.gid, data.draw(st.booleans()))
            else:  # the liar proves the pre-state it was shown when it has one (it rarely does)
                pre = next((s for s in p.states if h16(s) == bytes(g["loHash"])), None)
                if pre is not None:
                    self.gn.prove_step(self.liar, p.gid, pre)
                else:
                    self.gn.mine(self.rng.randint(1, 30))
        elif not g["challengerToMove"] and p.false_window:
            self._defender_move(p, g, forged=(kind == "random"))
        self._try_timeouts()
        self._honest_moves()

    @precondition(lambda self: self.plays)
    @rule(data=st.data(), move=st.sampled_from(["bisect", "respond", "proveStep", "proveWordLie", "timeout", "claim"]))
    def stranger_move(self, data: st.DataObject, move: str) -> None:
        """A third account (or a player out of turn) tries any move on any game: refused with the
        game's own error, except a timeout that is due (anyone may end such a game)."""
        p = data.draw(st.sampled_from(self.plays))
        who = data.draw(st.sampled_from([self.gn.a[4], self.trainer, self.honest, self.liar]))
        g = self.gn.game_of(p.gid)
        junk = h16(self.rng.randbytes(8))
        calls = {
            "bisect": lambda: self.gn.bisect(who, p.gid, junk),
            "respond": lambda: self.gn.respond(who, p.gid, bool(self.rng.getrandbits(1))),
            "proveStep": lambda: self.gn.prove_step(who, p.gid, self.rng.randbytes(32)),
            "proveWordLie": lambda: self.gn.prove_word_lie(who, p.gid, self.rng.randbytes(32)),
            "timeout": lambda: self.gn.timeout(who, p.gid),
            "claim": lambda: self.gn.claim_reward(who, g["beastId"], g["index"], g["stored"]),
        }
        mover = g["challenger"] if g["challengerToMove"] else g["defender"]
        honest_turn = (g["challengerToMove"] and p.honest_challenger) or (not g["challengerToMove"] and not p.false_window)
        if move in ("bisect", "respond") and who.address == mover and honest_turn:
            return  # that would be the honest player's own move: not a stranger's
        try:
            calls[move]()
        except ContractError as exc:
            assert exc.name.startswith("Game"), exc
            return
        # Only these can succeed: a due timeout, a claim of a settled reward, a liar's or a
        # cheater's own move (random, as a dishonest player may make).
        assert move in ("timeout", "claim") or who.address == mover, (move, who.address, g)
        self._honest_moves()

    # ------------------------------------------------------------------ players

    def _sync_rewind(self) -> bool:
        """Forget the windows a slash voided (the trainer trains on from the window before)."""
        count = int(self.gn.cb.ledger.functions.windowCount(self.lin.beast).call())
        if count < len(self.false):
            event("a slash rewound the lineage")
            self.lin.rewind(count)
            del self.false[count:]
            del self.truth[count:]
            return True
        frm, to = self.gn.cb.ledger.functions.voidedRange(self.lin.beast).call()
        return to > frm

    def _defender_move(self, p: Play, g: dict, forged: bool) -> None:
        """The trainer's side of a false window: its own states, or forged hashes."""
        lo, hi = g["lo"], g["hi"]
        h = h16(self.rng.randbytes(32)) if forged else h16(p.states[(lo + hi) // 2])
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
                    if hi - lo == 1:
                        self.gn.prove_step(self.honest, p.gid, p.truth[lo])
                    else:
                        self.gn.respond(self.honest, p.gid, bytes(g["midHash"]) == h16(p.truth[(lo + hi) // 2]))
                elif not g["challengerToMove"] and not p.false_window:
                    self.gn.bisect(self.trainer, p.gid, h16(p.states[(lo + hi) // 2]))
                else:
                    break

    def _try_timeouts(self) -> None:
        for p in self.plays:
            g = self.gn.game_of(p.gid)
            if g["outcome"] != OPEN:
                continue
            left = g["challengerClock"] if g["challengerToMove"] else g["defenderClock"]
            # The game's rule (timeout allowed, a move refused) reads the block the transaction lands
            # in: the next one on this automining chain.
            if self.gn.block() + 1 - g["lastMove"] > left:
                self.gn.timeout(self.gn.a[0], p.gid)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def energy_conserved(self) -> None:
        if hasattr(self, "lin"):
            held_is_owed(self.gn, [self.lin.beast], [p.gid for p in self.plays])

    def teardown(self) -> None:
        try:
            if hasattr(self, "lin"):
                for _ in range(40):
                    if all(self.gn.game_of(p.gid)["outcome"] != OPEN for p in self.plays):
                        break
                    self.gn.mine(self.gn.clock + 1)
                    self._try_timeouts()
                    self._honest_moves()
                games = {p.gid: self.gn.game_of(p.gid) for p in self.plays}
                for g in games.values():
                    event(f"game ended {('open', 'DefenderWon', 'ChallengerWon')[g['outcome']]}")
                for p in self.plays:
                    g = games[p.gid]
                    assert g["outcome"] != OPEN, "every game ends"
                    if p.honest_challenger:
                        assert p.false_window, "an honest challenger never challenges an honest window"
                        assert g["outcome"] == CHALLENGER_WON, p
                    if not p.false_window:
                        assert g["outcome"] == DEFENDER_WON, p
                self.energy_conserved()
                self._claims(games)
                assert self.gn.held_by_game() == 0
                self.energy_conserved()
        finally:
            self.gn.raw.tester.revert_to_snapshot(self.snap)
            self.gn.cb.sender._nonces.clear()

    def _claims(self, games: dict[int, dict]) -> None:
        """Each held reward goes to the challenger of the winning game with the earliest commitment."""
        by_pot: dict[tuple[int, int, int], list[int]] = {}
        for gid, g in games.items():
            by_pot.setdefault((g["beastId"], g["index"], g["stored"]), []).append(gid)
        for key, gids in by_pot.items():
            pot = self.gn.pot_of(*key)
            if pot["reward"] == 0:
                continue
            winners = [gid for gid in gids if games[gid]["outcome"] == CHALLENGER_WON]
            best = min(winners, key=lambda gid: (games[gid]["commitmentBlock"], gid))
            assert pot["bestGame"] == best and pot["reward"] <= BURN
            payee = games[best]["challenger"]
            before = self.gn.cb.balance_of(payee)
            event("a reward was claimed")
            self.gn.claim_reward(self.gn.a[0], *key)
            assert self.gn.cb.balance_of(payee) == before + pot["reward"]


class _Draw:
    """A fixed st.data() stand-in for the scripted scenario."""

    def __init__(self, value: object) -> None:
        self.value = value

    def draw(self, _strategy: object) -> object:
        return self.value


def test_scripted_slash_rewind_and_recommit() -> None:
    """The machine's rules and checks on a path random runs reach rarely within their budget: a
    false window slashed by timeout, the lineage rewound, the voided window cleared and committed
    again, a new game on it; every invariant after each step and the teardown's checks at the end."""
    m = GameMachine()
    m.hatch()
    for lie in (None, 5, None):
        m.commit(lie)
        m.energy_conserved()
    m.challenge(_Draw(1), True)
    for _ in range(3):
        m.dishonest_move(_Draw(m.plays[0]), "stall")  # the cheater stays away
        m.energy_conserved()
    assert m.gn.game_of(m.plays[0].gid)["outcome"] == CHALLENGER_WON
    m.commit(None)  # clears the voided windows 1..2 and commits window 1 again
    assert len(m.false) == 2 and m.gn.cb.ledger.functions.voidedRange(m.lin.beast).call() == [0, 0]
    m.energy_conserved()
    m.challenge(_Draw(1), False)
    m.energy_conserved()
    m.teardown()


GameMachine.TestCase.settings = settings(max_examples=4, stateful_step_count=15, deadline=None,
                                         suppress_health_check=list(HealthCheck))
TestBisectionGameMachine = pytest.mark.filterwarnings("ignore")(GameMachine.TestCase)
