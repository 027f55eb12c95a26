"""Hypothesis state machine: proveInvalidDataset among the other moves, on the real StepVerifier (issue 14).

test_bisection_stateful.py's machine runs on the stand-in verifier, whose record checks revert, so
it never draws ``proveInvalidDataset``. This one runs the real StepVerifier (its ``recordProven`` and
``recordValid`` are the ones every step proof uses) and draws the move at any point of any game, by
anyone, with any of these proofs: the true one (the bad record and its path, or the bad length), a
valid record with its true path, the bad record under a wrong path, another dataset's opening, a
length the hatch did not commit. Beasts are private on a valid dataset, on one with a bad record, on
a length of 0 or over MAX_RECORDS, on the largest valid length, or public. Games also move
(bisect with made-up hashes, respond at random), stall and time out, and slashed lineages rewind.

Checked at every step: a proof succeeds exactly when the game is open, the caller is its
challenger, the challenger's clock (on its turn) has not run out, the beast's committed dataset is
truly invalid and the proof shows it (else it reverts with the error the contract's order of checks
gives); every game that ended ChallengerWon with Reason InvalidDataset (read from the chain's
GameEnded logs) is such a success -- never on a valid dataset, never on a game that had ended, never
won by anyone but the challenger; a game ends once and keeps its outcome; a success on a window live
in the game's slot slashes it (later windows voided, the lineage rewound, the committer's stake down
by the reward min(energyBurn, stake)), a success on a window slashed or voided already slashes
nothing, and the bond goes back to the challenger. At the end every game ends, ENERGY held by the
ledger and the game is exactly what they owe (test_bisection_stateful.held_is_owed), each held
reward goes to the earliest-committed winner, and then the game holds nothing.
test_scripted_proofs_refusals_and_second_wins walks the rarer paths on purpose.

A valid dataset's step cannot be proven here (the stand-in states are not kernel states), so games
on it end by timeout only: that keeps the machine cheap and changes nothing for the proof.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bisection_helpers import (
    BURN,
    CHALLENGED,
    CHALLENGER_WON,
    COMMITTED,
    OPEN,
    SLASHED,
    VOIDED,
    GameNet,
    Lineage,
    board_record,
    invalid_record,
    start_game_net,
)
from curriculum.records import records_tree, root_from_path
from devnet.bindings import Reason
from devnet.errors import ContractError
from kernel.board import decode_record
from kernel.errors import BoardError
from test_bisection_stateful import event, held_is_owed

MAX_RECORDS = 131072
ZERO32 = bytes(32)


VALID = [board_record(i) for i in range(4)]
BAD = invalid_record(VALID[2])  # self hp 0


@dataclass(frozen=True)
class Proof:
    """The arguments of proveInvalidDataset after the game id."""

    n: int
    root: bytes
    index: int
    record: bytes
    path: tuple[bytes, ...]

    def args(self) -> list[Any]:
        return [self.n, self.root, self.index, self.record, list(self.path)]


@dataclass(frozen=True)
class Dataset:
    """A committed dataset: its records root, whether it is invalid, and the proofs a challenger may try."""

    name: str
    records_root: bytes
    invalid: bool
    proofs: dict[str, Proof] = field(default_factory=dict)  # kind -> proof; "true" only when invalid

    def __repr__(self) -> str:
        return f"<dataset {self.name}>"


def valid_record(record: bytes) -> bool:
    """The kernel's codec (SPEC §2.3) says whether ``record`` is a valid board record: the model's oracle."""
    try:
        decode_record(record)
    except BoardError:
        return False
    return True


def _tree_dataset(name: str, records: list[bytes]) -> Dataset:
    tree = records_tree(records)
    n = len(records)
    bad = [i for i, r in enumerate(records) if not valid_record(r)]
    good = next((i for i, r in enumerate(records) if valid_record(r)), None)
    proofs: dict[str, Proof] = {}
    if bad:
        i = bad[0]
        proofs["true"] = Proof(n, tree.merkle_root, i, BAD, tuple(tree.path(i)))
        wrong = list(tree.path(i)) or [keccak(b"a made-up sibling")]
        wrong[0] = keccak(b"not the sibling")
        proofs["wrong_path"] = Proof(n, tree.merkle_root, i, BAD, tuple(wrong))
    if good is not None:
        proofs["valid_record"] = Proof(n, tree.merkle_root, good, records[good], tuple(tree.path(good)))
    proofs["wrong_length"] = Proof(n + 1, tree.merkle_root, 0, records[0], tuple(tree.path(0)))
    return Dataset(name, tree.records_root, bool(bad), proofs)


def _length_dataset(name: str, n: int) -> Dataset:
    """A records root committing to length ``n`` (0 or over MAX_RECORDS: invalid; MAX_RECORDS: a valid length)."""
    root = keccak(b"whatever the trainer built " + name.encode())
    invalid = n == 0 or n > MAX_RECORDS
    proofs = {"true" if invalid else "unproven": Proof(n, root, 0, BAD, ())}
    proofs["wrong_length"] = Proof(n + 7, root, 0, BAD, ())
    return Dataset(name, keccak(n.to_bytes(4, "big") + root), invalid, proofs)


DATASETS = [
    _tree_dataset("valid", VALID),
    _tree_dataset("bad-last", [VALID[0], VALID[1], BAD]),
    _tree_dataset("bad-only", [BAD]),
    _tree_dataset("bad-first", [BAD, VALID[0], VALID[1], VALID[3]]),
    _length_dataset("len-0", 0),
    _length_dataset("len-over-max", MAX_RECORDS + 1),
    _length_dataset("len-max", MAX_RECORDS),
    Dataset("public", ZERO32, False),
]


def foreign(d: Dataset) -> Proof:
    """Another dataset's true opening: a proof that does not open ``d``'s recordsRoot."""
    other = DATASETS[1] if d is not DATASETS[1] else DATASETS[2]
    return other.proofs["true"]

_NET: GameNet | None = None


class _Draw:
    """A st.data() stand-in for rules called directly: draws ``values`` in order (None: the first choice)."""

    def __init__(self, *values: object) -> None:
        self.values = list(values)

    def draw(self, strategy: Any) -> Any:
        value = self.values.pop(0) if self.values else None
        return strategy.elements[0] if value is None else value


def _net() -> GameNet:
    global _NET
    if _NET is None:
        _NET = start_game_net(accounts=5, clock=40, params={"challenge_period": 5000}, verifier="StepVerifier")
    return _NET


@dataclass
class Play:
    gid: int
    beast: int
    k: int
    challenger: Any
    dataset: Dataset


class DatasetGameMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.gn = _net()
        self.snap = self.gn.raw.tester.take_snapshot()
        self.gn.cb.sender._nonces.clear()
        self.start_block = self.gn.block() + 1
        self.trainer, self.challengers, self.stranger = self.gn.a[1], [self.gn.a[2], self.gn.a[3]], self.gn.a[4]
        self.rng = random.Random(0)
        self.lineages: dict[int, Lineage] = {}
        self.datasets: dict[int, Dataset] = {}
        self.plays: list[Play] = []
        self.ended: dict[int, int] = {}  # game -> outcome once it ended
        self.proven: set[int] = set()  # games the model says a proveInvalidDataset ended
        self.seen = self.gn.block()  # the last block whose GameEnded logs were read

    # ------------------------------------------------------------------ rules

    @initialize(d=st.sampled_from(DATASETS + [d for d in DATASETS if d.invalid]), who=st.integers(0, 1))
    def first_game(self, d: Dataset, who: int) -> None:
        """A beast on ``d`` with its first window challenged: every example has a game to prove in from step 1."""
        self.hatch(d)
        self.challenge(_Draw(), who)

    @precondition(lambda self: len(self.lineages) < 3)
    @rule(d=st.sampled_from(DATASETS))
    def hatch(self, d: Dataset) -> None:
        beast = (self.gn.cb.hatch(self.trainer) if d.records_root == ZERO32 else
                 self.gn.cb.hatch(self.trainer, keccak(b"dataset " + d.name.encode()), keccak(b"secret"), d.records_root))
        self.lineages[beast] = Lineage(beast)
        self.datasets[beast] = d
        self.lineages[beast].commit(self.gn, self.trainer)

    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        """The trainer clears what a slash voided and commits the next window of a beast."""
        beast = data.draw(st.sampled_from(sorted(self.lineages)))
        lin = self.lineages[beast]
        self._sync_rewind(beast)
        frm, to = self.gn.cb.ledger.functions.voidedRange(beast).call()
        if to > frm:
            self.gn.cb.send(self.trainer, self.gn.cb.ledger, "clearVoided", [beast, 64], 3_000_000)
        if len(lin.windows) < 3:
            lin.commit(self.gn, self.trainer)

    @precondition(lambda self: len(self.plays) < 6)
    @rule(data=st.data(), who=st.integers(0, 1))
    def challenge(self, data: st.DataObject, who: int) -> None:
        beast = data.draw(st.sampled_from(sorted(self.lineages)))
        self._sync_rewind(beast)
        live = [k for k in range(len(self.lineages[beast].windows))
                if self.gn.status(beast, k) in (COMMITTED, CHALLENGED)]
        if not live:
            return
        k = data.draw(st.sampled_from(live))
        gid = self.gn.challenge(self.challengers[who], beast, k)
        self.plays.append(Play(gid, beast, k, self.challengers[who], self.datasets[beast]))

    @precondition(lambda self: self.plays)
    @rule(data=st.data())
    def prove_as_a_watcher(self, data: st.DataObject) -> None:
        """A game's challenger shows its dataset invalid with the true proof (what cb-validator watch sends)."""
        self.prove_invalid_dataset(data, "challenger", "true")

    @precondition(lambda self: self.plays)
    @rule(data=st.data(), caller=st.sampled_from(["challenger", "other_challenger", "defender", "stranger"]),
          kind=st.sampled_from(["true", "valid_record", "wrong_path", "wrong_length", "foreign", "unproven"]))
    def prove_invalid_dataset(self, data: st.DataObject, caller: str, kind: str) -> None:
        """Anyone tries the move on any game with any proof: it wins exactly when the model says so."""
        p = data.draw(st.sampled_from(self.plays))
        d = p.dataset
        proof = foreign(d) if kind == "foreign" else d.proofs.get(kind) or next(iter(d.proofs.values()), foreign(d))
        who = {"challenger": p.challenger, "defender": self.trainer, "stranger": self.stranger,
               "other_challenger": next(c for c in self.challengers if c is not p.challenger)}[caller]
        g = self._game(p)
        expect = self._expected(p, g, who, proof)
        staked0 = self.gn.cb.stake_of(self.trainer.address)[0]
        bal0 = self.gn.cb.balance_of(p.challenger.address)
        count0 = int(self.gn.cb.ledger.functions.windowCount(p.beast).call())
        # the ledger slashes a window on its first loss while it is live in the game's slot (endGame)
        slash = self.gn.cb.stored_of(p.beast, p.k) == g["stored"] and self.gn.status(p.beast, p.k) == CHALLENGED
        try:
            r = self.gn._send(who, self.gn.game, "proveInvalidDataset", [p.gid, *proof.args()], 2_000_000,
                              "proveInvalidDataset")
        except ContractError as exc:
            assert expect is not None and exc.name == expect, (exc.name, expect, kind, caller, d.name)
            event(f"proveInvalidDataset refused: {exc.name}")
            return
        assert expect is None, (expect, kind, caller, d.name)
        event(f"proveInvalidDataset won ({d.name}, {'slash' if slash else 'no second slash'})")
        assert d.invalid and who is p.challenger and proof == d.proofs["true"]
        self.proven.add(p.gid)
        ended = r.named("GameEnded")[0]
        assert (ended["outcome"], ended["reason"], ended["winner"]) == (CHALLENGER_WON, Reason.INVALID_DATASET,
                                                                          p.challenger.address)
        assert self.gn.game_of(p.gid)["outcome"] == CHALLENGER_WON
        # bookkeeping: the bond back to the challenger; the window's first loss slashes it and holds the reward
        assert self.gn.cb.balance_of(p.challenger.address) == bal0 + g["bond"]
        held = r.named("RewardHeld")
        if slash:
            reward = held[0]["amount"] if held else 0
            assert reward == min(BURN, staked0) and self.gn.cb.stake_of(self.trainer.address)[0] == staked0 - reward
            assert self.gn.status(p.beast, p.k) == SLASHED
            assert int(self.gn.cb.ledger.functions.windowCount(p.beast).call()) == p.k  # rewound to the window before
            assert all(self.gn.status(p.beast, j) == VOIDED for j in range(p.k + 1, count0))
        else:  # slashed already by another game, or voided by an earlier window's slash: no second slash
            assert not held and self.gn.cb.stake_of(self.trainer.address)[0] == staked0

    @precondition(lambda self: self.plays)
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        """Whoever is to move: the defender bisects with a made-up hash, the challenger responds at random."""
        p = data.draw(st.sampled_from(self.plays))
        g = self._game(p)
        if g["outcome"] != OPEN or g["hi"] - g["lo"] <= 1:
            return
        try:
            if g["challengerToMove"]:
                self.gn.respond(p.challenger, p.gid, data.draw(st.booleans()))
            else:
                self.gn.bisect(self.trainer, p.gid, keccak(self.rng.randbytes(8))[:16])
        except ContractError as exc:
            assert exc.name == "GameClockExpired", exc

    @rule(n=st.sampled_from([1, 3, 45]))
    def wait(self, n: int) -> None:
        """Blocks pass; a due timeout is called by a third party."""
        self.gn.mine(n)
        self._try_timeouts()

    # ------------------------------------------------------------------ the model

    def _expected(self, p: Play, g: dict[str, Any], who: Any, proof: Proof) -> str | None:
        """The error proveInvalidDataset must revert with (None: it must succeed), in the contract's order."""
        d = p.dataset
        if g["outcome"] != OPEN:
            return "GameOver"
        if who is not p.challenger:
            return "GameNotYourMove"
        if g["challengerToMove"] and self.gn.block() + 1 - g["lastMove"] > g["challengerClock"]:
            return "GameClockExpired"
        if d.records_root == ZERO32:
            return "GameDatasetPublic"
        if keccak(proof.n.to_bytes(4, "big") + proof.root) != d.records_root:
            return "GameDatasetRootMismatch"
        if proof.n == 0 or proof.n > MAX_RECORDS:
            return None
        if proof.index >= proof.n or root_from_path(proof.record, proof.index, list(proof.path)) != proof.root:
            return "GameRecordNotProven"
        return "GameRecordValid" if valid_record(proof.record) else None

    def _game(self, p: Play) -> dict[str, Any]:
        """The game's record; its outcome is the one its GameEnded log said (open when there was none)."""
        g = self.gn.game_of(p.gid)
        assert g["outcome"] == self.ended.get(p.gid, OPEN), f"game {p.gid}: outcome {g['outcome']} without its log"
        return g

    def _sync_rewind(self, beast: int) -> None:
        count = int(self.gn.cb.ledger.functions.windowCount(beast).call())
        if count < len(self.lineages[beast].windows):
            self.lineages[beast].rewind(count)

    def _try_timeouts(self) -> bool:
        """A third party ends every game whose side to move ran out of its clock; whether any ended."""
        ended = False
        for p in self.plays:
            if p.gid in self.ended:
                continue
            g = self._game(p)
            left = g["challengerClock"] if g["challengerToMove"] else g["defenderClock"]
            if self.gn.block() + 1 - g["lastMove"] > left:
                self.gn.timeout(self.gn.a[0], p.gid)
                ended = True
        return ended

    # ------------------------------------------------------------------ invariants

    @invariant()
    def outcomes_hold(self) -> None:
        """Every game ends once (one GameEnded, read from the chain's logs since the last step) and keeps
        that outcome; every InvalidDataset end is one the model allowed, won by the game's challenger."""
        by_gid = {p.gid: p for p in self.plays}
        head = self.gn.block()
        logs = self.gn.raw.w3.eth.get_logs({"address": self.gn.game.address, "fromBlock": self.seen + 1,
                                            "toBlock": head}) if head > self.seen else []
        self.seen = head
        for e in (dict(ev["args"]) for ev in map(self._decode_ended, logs) if ev is not None):
            gid = e["gameId"]
            assert gid not in self.ended, f"game {gid} ended twice"
            self.ended[gid] = e["outcome"]
            if e["reason"] == Reason.INVALID_DATASET:
                p = by_gid[gid]
                assert p.dataset.invalid and gid in self.proven and e["outcome"] == CHALLENGER_WON
                assert e["winner"] == p.challenger.address
        assert self.proven <= set(self.ended)

    def _decode_ended(self, log: Any) -> Any:
        try:
            return self.gn.game.events.GameEnded().process_log(log)
        except Exception:  # noqa: BLE001 - another event
            return None

    def energy_conserved(self) -> None:
        """ENERGY held by the ledger and the game == what they owe (test_bisection_stateful.held_is_owed), once
        every game ended, before the claims (a check reads ~20 values, ~1 s on py-evm: too dear for every
        step; each win's own bookkeeping -- bond, stake, reward, statuses -- is checked when it happens)."""
        held_is_owed(self.gn, sorted(self.lineages), [p.gid for p in self.plays])

    def teardown(self) -> None:
        try:
            for _ in range(40):
                self.outcomes_hold()
                if all(p.gid in self.ended for p in self.plays):
                    break
                self.gn.mine(self.gn.clock + 1)
                self._try_timeouts()
            self.outcomes_hold()
            games = {p.gid: self._game(p) for p in self.plays}
            assert all(g["outcome"] != OPEN for g in games.values()), "every game ends"
            self.energy_conserved()
            pots: dict[tuple[int, int, int], list[int]] = {}
            for gid, g in games.items():
                pots.setdefault((g["beastId"], g["index"], g["stored"]), []).append(gid)
            for key, gids in pots.items():
                pot = self.gn.pot_of(*key)
                if pot["reward"] == 0:
                    continue
                best = min((gid for gid in gids if games[gid]["outcome"] == CHALLENGER_WON),
                           key=lambda gid: (games[gid]["commitmentBlock"], gid))
                assert pot["bestGame"] == best and pot["reward"] <= BURN
                payee = games[best]["challenger"]
                before = self.gn.cb.balance_of(payee)
                self.gn.claim_reward(self.gn.a[0], *key)
                assert self.gn.cb.balance_of(payee) == before + pot["reward"]
            assert self.gn.held_by_game() == 0  # (the claims moved exactly the rewards held: still conserved)
        finally:
            self.gn.raw.tester.revert_to_snapshot(self.snap)
            self.gn.cb.sender._nonces.clear()


def _named(name: str) -> Dataset:
    return next(d for d in DATASETS if d.name == name)


def test_scripted_proofs_refusals_and_second_wins() -> None:
    """Paths random runs reach only now and then, each checked by the same rules and invariants: every
    refusal of a proof on an invalid dataset, the win, a second game on the slashed window winning
    without a second slash, a proof after the game ended, a win on a window an earlier slash voided,
    a valid dataset and the largest valid length refusing every proof, and the teardown's checks."""
    m = DatasetGameMachine()
    try:
        m.first_game(_named("bad-last"), 0)
        b1 = m.plays[0].beast
        m.challenge(_Draw(b1, 0), 1)
        a, b = m.plays
        steps = [(a, "stranger", "true", "GameNotYourMove"), (a, "defender", "true", "GameNotYourMove"),
                 (a, "other_challenger", "true", "GameNotYourMove"), (a, "challenger", "valid_record", "GameRecordValid"),
                 (a, "challenger", "wrong_path", "GameRecordNotProven"), (a, "challenger", "foreign", "GameDatasetRootMismatch"),
                 (a, "challenger", "wrong_length", "GameDatasetRootMismatch"), (a, "challenger", "true", None),
                 (b, "challenger", "true", None), (a, "challenger", "true", "GameOver")]
        for p, caller, kind, expect in steps:
            assert (m._expected(p, m.gn.game_of(p.gid), {"stranger": m.stranger, "defender": m.trainer,
                    "other_challenger": b.challenger if p is a else a.challenger, "challenger": p.challenger}[caller],
                    foreign(p.dataset) if kind == "foreign" else p.dataset.proofs[kind]) == expect), (caller, kind)
            m.prove_invalid_dataset(_Draw(p), caller, kind)
            m.outcomes_hold()
        assert a.gid in m.proven and b.gid in m.proven and m.gn.status(b1, 0) == SLASHED
        m.hatch(_named("len-0"))  # window 0, then window 1 on top
        b2 = max(m.lineages)
        m.commit(_Draw(b2))
        m.challenge(_Draw(b2, 1), 0)
        m.challenge(_Draw(b2, 0), 1)
        c, d = m.plays[2:]
        m.prove_invalid_dataset(_Draw(d), "challenger", "true")  # slashes window 0: window 1 is voided
        assert m.gn.status(b2, 1) == VOIDED
        m.prove_invalid_dataset(_Draw(c), "challenger", "true")  # won, nothing left to slash
        m.outcomes_hold()
        assert {c.gid, d.gid} <= m.proven
        for name, kinds in (("valid", ("valid_record", "wrong_length")), ("len-max", ("unproven", "wrong_length"))):
            m.hatch(_named(name))
            m.challenge(_Draw(max(m.lineages), 0), 0)
            for kind in kinds:
                m.prove_invalid_dataset(_Draw(m.plays[-1]), "challenger", kind)  # refused (the rule asserts how)
            m.outcomes_hold()
        assert len(m.proven) == 4
        m.teardown()
    finally:
        m.gn.raw.tester.revert_to_snapshot(m.snap)
        m.gn.cb.sender._nonces.clear()


DatasetGameMachine.TestCase.settings = settings(max_examples=5, stateful_step_count=10, deadline=None,
                                                suppress_health_check=list(HealthCheck))
TestDatasetGameMachine = pytest.mark.filterwarnings("ignore")(DatasetGameMachine.TestCase)
