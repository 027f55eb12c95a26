"""``cb-validator watch`` (validator.watch.Watcher) on the embedded chain: check, commit, reveal, play, claim.

The watcher replays every window of every beast, challenges the first one that diverges (commit,
then reveal one block later with the salt it recorded first), plays its game to the end against the
trainer's defence (``validator.bisection.play_defender`` with the trainer's own states), and claims the
reward. A watcher stopped at any point and started again on its record resumes its games; a private
beast is challenged by the watcher that holds its dataset and owner secret, and skipped by others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import devnet
from kernel.hashing import keccak256
from kernel.sources import PublicSource
from kernel.state import KernelState, genesis
from kernel.step import WindowStart, window_step_states
from tests.validator.bisection_lineages import LR_SHIFT, MASK, WRONG_AT, invalid_dataset, lying_states, private_source
from tests.validator.windows import SECRET
from validator.bisection import CHALLENGER_WON, StatesSource, checkpoint_word, play_defender, read_game
from validator.lineage import Curriculum
from validator.watch import Watcher

CLOCK = 16


@pytest.fixture(scope="module")
def net() -> Iterator[Any]:
    yield devnet.start(accounts=6, params={"challenge_period": 600}, game_clock_blocks=CLOCK)


@pytest.fixture
def chain(net: Any) -> Iterator[Any]:
    snap = net.tester.take_snapshot()
    net.chain.sender._nonces.clear()
    yield net
    net.tester.revert_to_snapshot(snap)
    net.chain.sender._nonces.clear()


class Trainer:
    """A trainer that commits windows of real step states, honest or lying in one micro-step, and defends them."""

    def __init__(self, cb: Any, account: Any, beast: int, start: KernelState, samples: Any = None) -> None:
        self.cb, self.account, self.beast, self.samples = cb, account, beast, samples or PublicSource()
        self.state = start
        self.windows: list[list[KernelState]] = []

    def commit(self, lie_at: int | None = None) -> int:
        k = len(self.windows)
        epoch = self.state.params.epoch_of_window(k + 1)
        seed = self.cb.ensure_epoch_seed(self.account, self.beast, epoch)
        w = WindowStart(MASK, LR_SHIFT, seed)
        states = (lying_states(self.state, self.samples, w, lie_at) if lie_at else
                  window_step_states(self.state, self.samples, w))
        self.cb.commit(self.account, self.beast, checkpoint_word(states[-1]))
        self.windows.append(states)
        self.state = states[-1]
        return k

    def defend(self, gid: int) -> Any:
        g = read_game(self.cb, gid)
        return play_defender(self.cb, self.account, gid, StatesSource(self.windows[g.index]))


def public_trainer(net: Any, account: Any) -> Trainer:
    cb = net.chain
    beast = cb.hatch(account)
    return Trainer(cb, account, beast, genesis(bytes(cb.hatch_data(beast).seed_core), cb.kernel_params(), spec_version=2))


def rounds(watcher: Watcher, trainers: list[Trainer], until: Any, limit: int = 60) -> list[dict[str, Any]]:
    """Watcher rounds with the trainers defending between them, until ``until(events)``."""
    events: list[dict[str, Any]] = []
    for _ in range(limit):
        events += watcher.run_once()
        if until(events):
            return events
        moved = False
        for t in trainers:
            for index in range(len(t.windows)):
                for gid in t.cb.games_of_window(t.beast, index):
                    if read_game(t.cb, gid).open:
                        moved |= t.defend(gid) is not None
        if not moved:
            t.cb.mine(1)
    raise AssertionError(f"not done after {limit} rounds: {[e['event'] for e in events]}")


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in events]


def test_watcher_challenges_the_first_divergent_window_plays_and_claims(chain: Any, tmp_path: Path) -> None:
    from devnet.bindings import WindowStatus

    cb = chain.chain
    cheat, honest = public_trainer(chain, chain.accounts[1]), public_trainer(chain, chain.accounts[2])
    cheat.commit()
    bad = cheat.commit(lie_at=WRONG_AT)  # window 2 (ledger index 1) is wrong in micro-step 76 -> 77
    honest.commit()
    watcher = Watcher(cb, chain.accounts[3], tmp_path / "games.json")
    try:
        events = rounds(watcher, [cheat, honest], lambda ev: "reward_claimed" in kinds(ev))
    finally:
        watcher.close()
    assert kinds(events)[:2] == ["commit_challenge", "challenge"], events
    assert events[0]["window"] == bad + 1 and events[0]["reason"] == "the word's h128 is not the replayed checkpoint's"
    gid = events[1]["gameId"]
    g = read_game(cb, gid)
    assert g.outcome == CHALLENGER_WON and (g.lo, g.hi) == (WRONG_AT - 1, WRONG_AT)
    moves = [e for e in events if e["event"] == "move"]
    assert [m["move"] for m in moves].count("respond") == 7 and moves[-1]["move"] == "prove_step"
    assert cb.window_status(cheat.beast, bad) == WindowStatus.SLASHED
    assert cb.window_status(honest.beast, 0) == WindowStatus.COMMITTED  # no game on an honest window
    record = json.loads((tmp_path / "games.json").read_text())
    assert record["games"][str(gid)]["status"] == "claimed" and int(record["games"][str(gid)]["reward"]) > 0
    salt = record["challenges"][f"{cheat.beast}:{bad}"]["salt"]
    assert all(salt not in json.dumps(e) for e in events)  # the salt is never logged


def test_watcher_resumes_its_game_after_each_restart(chain: Any, tmp_path: Path) -> None:
    cb = chain.chain
    cheat = public_trainer(chain, chain.accounts[1])
    k = cheat.commit(lie_at=WRONG_AT)
    path, me = tmp_path / "w" / "games.json", chain.accounts[3]

    def restarted() -> Watcher:
        return Watcher(cb, me, path)

    w = restarted()
    d = w.check_beast(cheat.beast)  # a round's first half: check and commit
    assert d is not None and d.index == k
    assert w.commit(d, cb.block_number())["event"] == "commit_challenge"  # type: ignore[index]
    w.close()  # stopped after the commitment: the salt is in the record only
    w = restarted()
    opened = w.run_once()
    assert kinds(opened)[0] == "challenge"
    gid = opened[0]["gameId"]
    w.close()
    for _ in range(3):  # a few moves, each by a new watcher process
        cheat.defend(gid)
        w = restarted()
        assert [e["event"] for e in w.run_once()] == ["move"]
        w.close()
    # a crash after sending challenge but before recording it: the game is found again from the logs
    doc = json.loads(path.read_text())
    doc["challenges"][f"{cheat.beast}:{k}"].update(status="challenging", gameId=None)
    del doc["games"][str(gid)]
    path.write_text(json.dumps(doc))
    w = restarted()
    try:
        events = rounds(w, [cheat], lambda ev: "reward_claimed" in kinds(ev))
    finally:
        w.close()
    assert events[0] == {**events[0], "event": "challenge", "gameId": gid, "recovered": True}
    assert read_game(cb, gid).outcome == CHALLENGER_WON
    assert len(cb.games_of_window(cheat.beast, k)) == 1  # never a second challenge


def test_a_private_beast_is_challenged_by_the_holder_of_its_dataset_and_secret(chain: Any, tmp_path: Path) -> None:
    """... even when its file is over the season's maxDatasetBytes (lowered after the hatch here; an owner may
    also hatch without its node): no loader of the season takes the file, but a step proof opens one record,
    so the watcher replays and disputes it as any other, saying the file is over the limit (issue 14 item 5)."""
    from devnet.bindings import Param, WindowStatus

    cb = chain.chain
    owner, trainer = chain.accounts[1], chain.accounts[2]
    source, data = private_source()
    beast = cb.hatch(owner, keccak256(data), keccak256(SECRET), source.records_root)
    cb.queue_param_change(chain.accounts[0], Param.MAX_DATASET_BYTES, len(data) - 1)
    cb.mine(cb.timelock_delay())
    assert cb.param(Param.MAX_DATASET_BYTES) == len(data) - 1
    cb.authorize_trainer(owner, beast, trainer.address)
    g0 = genesis(bytes(cb.hatch_data(beast).seed_core), cb.kernel_params(), dataset_commitment=source.records_root,
                 spec_version=2)
    hired = Trainer(cb, trainer, beast, g0, source)
    k = hired.commit(lie_at=40)
    stranger = Watcher(cb, chain.accounts[4], tmp_path / "stranger.json")
    try:
        skipped = stranger.run_once()
    finally:
        stranger.close()
    assert [e["event"] for e in skipped] == ["skip"] and skipped[0]["beast"] == beast
    watcher = Watcher(cb, owner, tmp_path / "owner.json", curricula={beast: Curriculum(data, SECRET)})
    try:
        events = rounds(watcher, [hired], lambda ev: "reward_claimed" in kinds(ev))
    finally:
        watcher.close()
    over = next(e for e in events if e["event"] == "dataset_over_season_limit")
    assert (over["beast"], over["bytes"], over["maxDatasetBytes"]) == (beast, len(data), len(data) - 1)
    gid = next(e["gameId"] for e in events if e["event"] == "challenge")
    g = read_game(cb, gid)
    assert g.outcome == CHALLENGER_WON and (g.lo, g.hi) == (39, 40)
    assert cb.window_status(beast, k) == WindowStatus.SLASHED
    assert SECRET.hex() not in json.dumps(events) and SECRET.hex() not in (tmp_path / "owner.json").read_text()


def test_after_a_slash_the_rewound_lineage_is_followed_again(chain: Any, tmp_path: Path) -> None:
    """Window 2 lies and window 3 builds on it: the watcher challenges window 2 only (3 is never checked:
    nobody honest has its start state); the slash voids 3. The trainer clears the voided range and
    commits again from checkpoint 1: an honest window 2 is left alone, a lying window 3 is challenged."""
    from devnet.bindings import WindowStatus

    cb = chain.chain
    cheat = public_trainer(chain, chain.accounts[1])
    cheat.commit()
    bad = cheat.commit(lie_at=WRONG_AT)
    cheat.commit()  # on top of the lie
    watcher = Watcher(cb, chain.accounts[3], tmp_path / "games.json")
    try:
        events = rounds(watcher, [cheat], lambda ev: "reward_claimed" in kinds(ev))
        assert [e["window"] for e in events if e["event"] == "commit_challenge"] == [bad + 1]
        assert cb.window_status(cheat.beast, bad) == WindowStatus.SLASHED
        assert cb.window_status(cheat.beast, bad + 1) == WindowStatus.VOIDED
        cb.clear_voided(cheat.account, cheat.beast, 10)
        cheat.windows = cheat.windows[:bad]  # the trainer rewinds to checkpoint 1
        cheat.state = cheat.windows[-1][-1]
        cheat.commit()  # window 2 again, honest this time
        assert kinds(watcher.run_once()) == []
        again = cheat.commit(lie_at=5)  # window 3 lies
        events = rounds(watcher, [cheat], lambda ev: "reward_claimed" in kinds(ev))
    finally:
        watcher.close()
    assert [e["window"] for e in events if e["event"] == "commit_challenge"] == [again + 1]
    gid = next(e["gameId"] for e in events if e["event"] == "challenge")
    g = read_game(cb, gid)
    assert g.outcome == CHALLENGER_WON and (g.lo, g.hi) == (4, 5)


def test_a_private_beast_on_an_invalid_dataset_loses_every_window_to_the_holder_of_the_file(
        chain: Any, tmp_path: Path) -> None:
    """Issue 14 item 5: the watcher holding the file (it matches C_dataset, its records open recordsRoot, one
    is not a board) challenges the first open window and wins with proveInvalidDataset at once; a file whose
    records root is not the hatch's cannot be shown on chain and stays skipped with the error it has."""
    from devnet.bindings import WindowStatus

    cb = chain.chain
    owner, trainer = chain.accounts[1], chain.accounts[2]
    data, root = invalid_dataset()
    beast = cb.hatch(owner, keccak256(data), keccak256(SECRET), root)
    wrong = cb.hatch(owner, keccak256(data), keccak256(SECRET), keccak256(b"not its records root"))
    cb.authorize_trainer(owner, beast, trainer.address)
    # whatever the trainer commits: no honest training on this dataset exists
    t = Trainer(cb, trainer, beast, genesis(bytes(cb.hatch_data(beast).seed_core), cb.kernel_params(), spec_version=2))
    t.commit()
    k = t.commit()
    watcher = Watcher(cb, chain.accounts[4], tmp_path / "games.json",
                      curricula={beast: Curriculum(data, SECRET), wrong: Curriculum(data, SECRET)})
    try:
        events = rounds(watcher, [t], lambda ev: "reward_claimed" in kinds(ev))
    finally:
        watcher.close()
    skip = next(e for e in events if e["event"] == "skip")
    assert skip["beast"] == wrong and "not a valid dataset file: record 1 is invalid" in skip["reason"]
    invalid = next(e for e in events if e["event"] == "dataset_invalid")
    assert invalid["beast"] == beast and "record 1 " in invalid["reason"]
    opened = next(e for e in events if e["event"] == "commit_challenge")
    assert (opened["beast"], opened["ledgerIndex"]) == (beast, 0)  # the first committed, unfinalized window
    moves = [e for e in events if e["event"] == "move"]
    assert [m["move"] for m in moves] == ["prove_invalid_dataset"] and moves[0]["recordIndex"] == 1
    g = read_game(cb, next(e["gameId"] for e in events if e["event"] == "challenge"))
    assert g.outcome == CHALLENGER_WON
    assert cb.window_status(beast, 0) == WindowStatus.SLASHED and k == 1
    logged = json.dumps(events)
    assert data.hex() not in logged and SECRET.hex() not in logged
    # the trainer clears the voided window and commits the very same word again: a new window, lost again
    cb.clear_voided(trainer, beast, 10)
    cb.commit(trainer, beast, checkpoint_word(t.windows[0][-1]))
    watcher = Watcher(cb, chain.accounts[4], tmp_path / "games.json", curricula={beast: Curriculum(data, SECRET)})
    try:
        again = rounds(watcher, [t], lambda ev: "reward_claimed" in kinds(ev))
    finally:
        watcher.close()
    assert [e["ledgerIndex"] for e in again if e["event"] == "commit_challenge"] == [0]
    assert cb.window_status(beast, 0) == WindowStatus.SLASHED


def test_the_watcher_seals_each_closed_epoch_so_a_trainer_cannot_reroll_its_seed_by_waiting(
        chain: Any, tmp_path: Path) -> None:
    """Abuse: a trainer commits epoch 0's closing window (window 4, ledger index 3), dislikes the seed
    its block C gives epoch 1 and seals nothing; past the EVM's 256-block horizon a seal reads the hash
    of C + 256 j instead, so waiting re-rolls the seed (shown on a beast nobody watches). The watcher
    seals the epoch in its next round, from C; a later seal changes nothing."""
    cb = chain.chain
    watched, alone = public_trainer(chain, chain.accounts[1]), public_trainer(chain, chain.accounts[2])
    for t in (watched, alone):
        for _ in range(4):
            t.commit()  # Trainer.commit seals the epoch of the window it commits: epoch 1 stays unsealed
    closed = {t.beast: cb.commit_block(t.beast, 3) for t in (watched, alone)}
    watcher = Watcher(cb, chain.accounts[3], tmp_path / "games.json", beasts={watched.beast})
    try:
        events = [e for e in watcher.run_once() if e["event"] == "epoch_sealed"]
        assert [(e["beast"], e["epoch"]) for e in events] == [(watched.beast, 1)]
        assert [e for e in watcher.run_once() if e["event"] in ("epoch_sealed", "seal_failed")] == []  # once
    finally:
        watcher.close()
    w3 = chain.w3
    assert cb.epoch_seed(watched.beast, 1) == bytes(w3.eth.get_block(closed[watched.beast])["hash"])
    cb.mine(300)
    for t in (watched, alone):
        cb.seal_epoch_seeds(t.account, [t.beast], [1])
    assert cb.epoch_seed(watched.beast, 1) == bytes(w3.eth.get_block(closed[watched.beast])["hash"])
    rerolled = bytes(w3.eth.get_block(closed[alone.beast] + 256)["hash"])
    assert cb.epoch_seed(alone.beast, 1) == rerolled != bytes(w3.eth.get_block(closed[alone.beast])["hash"])


def _counting_replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the windows watchers replay from now on (validator.lineage builds one ReplaySource per window)."""
    import validator.lineage

    calls: list[int] = []
    real = validator.lineage.ReplaySource

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(validator.lineage, "ReplaySource", counted)
    return calls


def test_a_restarted_watcher_starts_at_the_tip_it_verified(chain: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A restart replays only the windows committed since, not the beast's whole history (validator.lineage_cache),
    and still finds a lie on top of the cached tip."""
    from kernel.state import decode_state_blob

    cb = chain.chain
    t = public_trainer(chain, chain.accounts[1])
    for _ in range(3):
        t.commit()
    path, me = tmp_path / "games.json", chain.accounts[3]
    replays = _counting_replays(monkeypatch)
    w = Watcher(cb, me, path)
    try:
        assert w.run_once() == []
    finally:
        w.close()
    assert len(replays) == 3
    cached = tmp_path / "games.json.lineages" / f"beast-{t.beast}.json"
    assert cached.stat().st_mode & 0o777 == 0o600 and cached.parent.stat().st_mode & 0o777 == 0o700
    doc = json.loads(cached.read_text())
    tip = decode_state_blob(bytes.fromhex(doc["state"]))
    assert tip.window == doc["window"] == 3 and tip.h128() == t.state.h128()
    assert doc["tipBlock"] == cb.commit_block(t.beast, 2)

    t.commit()
    replays.clear()
    w = Watcher(cb, me, path)
    try:
        events = [e for e in w.run_once() if e["event"] != "epoch_sealed"]  # (window 4 closed epoch 1)
        assert events == [{"event": "lineage_resumed", "beast": t.beast, "windows": 3}]
        assert len(replays) == 1  # window 4 only
        assert json.loads(cached.read_text())["window"] == 4
        bad = t.commit(lie_at=WRONG_AT)
        events = w.run_once()
    finally:
        w.close()
    assert kinds(events) == ["commit_challenge", "challenge"] and events[0]["ledgerIndex"] == bad == 4, events


def test_a_cached_tip_that_cannot_be_used_is_ignored(chain: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that is not a state, another beast's state, or a tip above a game of ours: replayed from genesis."""
    cb = chain.chain
    a, b = public_trainer(chain, chain.accounts[1]), public_trainer(chain, chain.accounts[2])
    for _ in range(2):
        a.commit()
        b.commit()
    path, me = tmp_path / "games.json", chain.accounts[3]
    w = Watcher(cb, me, path)
    w.run_once()
    w.close()
    folder = tmp_path / "games.json.lineages"
    (folder / f"beast-{a.beast}.json").write_bytes(b"not a tip")
    doc = json.loads((folder / f"beast-{b.beast}.json").read_text())
    (folder / f"beast-{b.beast}.json").write_text(json.dumps({**doc, "state": doc["state"][:-8]}))

    def restart() -> tuple[list[dict[str, Any]], int]:
        replays = _counting_replays(monkeypatch)
        w = Watcher(cb, me, path)
        try:
            return w.run_once(), len(replays)
        finally:
            w.close()

    events, replayed = restart()
    assert [(e["event"], e["beast"]) for e in events] == [("lineage_cache_ignored", a.beast),
                                                         ("lineage_cache_ignored", b.beast)], events
    assert "not a lineage tip: JSONDecodeError" in events[0]["reason"] and replayed == 4
    assert "not a lineage tip: StateBlobError" in events[1]["reason"]
    theirs = json.loads((folder / f"beast-{a.beast}.json").read_text())  # a's (rewritten) tip, named b's
    (folder / f"beast-{b.beast}.json").write_text(json.dumps({**theirs, "beast": b.beast}))
    events, replayed = restart()
    assert [e["event"] for e in events] == ["lineage_resumed", "lineage_cache_ignored"], events
    assert events[1]["beast"] == b.beast and "another beast's state" in events[1]["reason"] and replayed == 2
    doc = json.loads(path.read_text())  # a game of ours on b's first window (as a restart would find it)
    doc["games"]["99"] = {"beast": b.beast, "index": 0, "side": "challenger", "word": "0x" + "00" * 32,
                          "status": "playing"}
    path.write_text(json.dumps(doc))
    logged: list[dict[str, Any]] = []
    w = Watcher(cb, me, path, log=logged.append)
    try:
        w.check_beast(b.beast)  # (a round would play the made-up game)
    finally:
        w.close()
    assert [e["event"] for e in logged] == ["lineage_cache_ignored"] and logged[0]["beast"] == b.beast
    assert "window 1, below the cached tip" in logged[0]["reason"]


@pytest.mark.parametrize("restarted", [True, False])
def test_a_false_window_committed_under_an_honest_tip_while_nobody_looked_is_found(chain: Any, tmp_path: Path,
                                                                                   restarted: bool) -> None:
    """Abuse: a watcher verified windows 1-3 and stopped (or was between two rounds). The trainer has a sybil challenge its honest window 2
    and lets the game time out: the slash voids windows 2 and 3. It clears them, commits a false window 2,
    then window 3's honest word again (the h128 the watcher verified: the trainer knows it). A watcher that
    compared only the word below its tip resumed at window 3 and never replayed the false window 2; the tip's
    window now has another commit block, so the watcher goes back to genesis and challenges window 2."""
    cb = chain.chain
    t = public_trainer(chain, chain.accounts[1])
    for _ in range(3):
        t.commit()
    path, me, sybil = tmp_path / "games.json", chain.accounts[3], chain.accounts[4]
    first = Watcher(cb, me, path)
    try:
        assert first.run_once() == []
    finally:
        if restarted:
            first.close()
    third = checkpoint_word(t.windows[2][-1])
    salt = (7).to_bytes(32, "big")
    cb.commit_challenge(sybil, t.beast, 1, salt)
    gid = cb.challenge(sybil, t.beast, 1, salt)
    cb.mine(cb.clock_blocks() + 1)  # the trainer does not defend
    cb.timeout(sybil, gid)
    assert cb.window_count(t.beast) == 1
    cb.clear_voided(t.account, t.beast, 10)
    t.windows, t.state = t.windows[:1], t.windows[0][-1]
    bad = t.commit(lie_at=WRONG_AT)
    cb.commit(t.account, t.beast, third)
    assert cb.window_count(t.beast) == 3 and bytes(cb.word(t.beast, 2)) == third
    w = Watcher(cb, me, path) if restarted else first
    try:
        events = w.run_once()
    finally:
        w.close()
    assert [(e["event"], e.get("ledgerIndex")) for e in events if e["event"] != "epoch_sealed"] == [
        *([("lineage_resumed", None)] if restarted else []), ("commit_challenge", bad), ("challenge", bad)], events
