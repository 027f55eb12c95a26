"""The node defends its own windows (node.defense): real BisectionGame games on the embedded devnet.

The node's engine trains and commits real windows; a challenger (a dev account, tests/node/
game_helpers) opens games with commit-reveal and plays real moves; the node answers from its
stored checkpoints through :class:`node.defense.Defense` -- the object `cb-node run` polls between
rounds. A lying challenger loses and its bond goes to the node; a silent one is timed out; a
node restarted mid-game (a new Defense over the same data directory) resumes its games and finds
the ones opened while it was down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devnet.bindings import WindowStatus
from node.beast_run import BeastRun
from node.defense import BOOK, FOREIGN, WON, Defense
from node.embedded import ChainHandle, embedded_chain
from node.trainer import Engine
from tests.node.conftest import make_engine
from tests.node.game_helpers import DEFENDER_WON, OPEN, challenger_move, open_game, true_states


@dataclass
class Node:
    chain: ChainHandle
    engine: Engine
    run: BeastRun
    data: Path

    @property
    def cb(self):  # noqa: ANN201 - devnet.bindings.ChainBeasts
        return self.chain.bindings

    def defense(self) -> Defense:
        """A Defense over the node's data directory, as a (re)started `cb-node run` builds it."""
        return Defense(self.data, self.engine.ledger, self.cb, {self.run.beast_id: self.run})


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    chain = embedded_chain()
    try:
        engine = make_engine(chain, tmp_path / "data")
        run = engine.hatch()
        for _ in range(3):
            engine.step([run])
        yield Node(chain, engine, run, tmp_path / "data")
    finally:
        chain.close()


def play(node: Node, defense: Defense, gid: int, truth: list[bytes], *, liar: bool) -> None:
    """Alternate the challenger's moves and the node's polls until the game ends."""
    for _ in range(64):
        if node.cb.game_of(gid).outcome != OPEN:
            return
        if not challenger_move(node.cb, node.chain.accounts[2], gid, truth, liar=liar):
            assert defense.poll().moves, "the node did not move although it was its turn"
    raise AssertionError("the game did not end")


def test_a_lying_challenger_loses_and_its_bond_goes_to_the_node(node: Node) -> None:
    cb, bid, me = node.cb, node.run.beast_id, node.engine.ledger.client.address
    defense = node.defense()
    truth = true_states(node.run, 2)
    gid = open_game(cb, node.chain.accounts[2], bid, 2)
    bond = cb.game_of(gid).bond
    before = cb.balance_of(me)
    play(node, defense, gid, truth, liar=True)
    g = cb.game_of(gid)
    assert g.outcome == DEFENDER_WON and (g.lo, g.hi) == (0, 1)  # disagreed to the end, then proved step 0 -> 1
    assert cb.balance_of(me) - before == bond  # the challenger's bond (moves cost the node gas, no ENERGY)
    assert cb.window_status(bid, 1) == WindowStatus.COMMITTED  # still open to finalize
    defense.poll()
    book = json.loads((node.data / BOOK).read_text())
    assert book["games"][str(gid)]["state"] == WON and book["games"][str(gid)]["moves"] == 7
    assert [e["event"] for e in node.run.store.events() if e["event"].startswith("game_")] == ["game_opened", "game_ended"]
    from node.control import _games, format_status  # what `cb-node status` shows of them

    assert _games(node.data) == [{"gameId": gid, "beastId": bid, "window": 2, "state": WON, "moves": 7}]
    doc = {"node": "n", "rpc": "embedded", "daemon": {"running": False}, "beasts": [], "games": _games(node.data)}
    assert f"game {gid} on beast {bid} window 2: won (7 moves by this node)" in format_status(doc)


def test_a_silent_challenger_is_timed_out(node: Node) -> None:
    cb, bid = node.cb, node.run.beast_id
    defense = node.defense()
    gid = open_game(cb, node.chain.accounts[2], bid, 3)
    assert defense.poll().moves == [(gid, "bisect")]
    g = cb.game_of(gid)
    assert g.challenger_to_move
    assert defense.poll().moves == []  # its clock still runs: nothing to do
    node.chain.mine(g.challenger_clock)  # type: ignore[misc]
    assert defense.poll().moves == []  # spent in this very block: the node waits one more (validator.bisection)
    node.chain.mine(1)  # type: ignore[misc]
    res = defense.poll()
    assert res.moves == [(gid, "timeout")] and [r.game_id for r in res.ended] == [gid] and not res.rewound
    assert cb.game_of(gid).outcome == DEFENDER_WON


def test_a_restarted_node_resumes_its_games_and_finds_those_opened_while_down(node: Node) -> None:
    cb, bid, challenger = node.cb, node.run.beast_id, node.chain.accounts[2]
    first = node.defense()
    g1 = open_game(cb, challenger, bid, 2)
    truth2 = true_states(node.run, 2)
    assert first.poll().moves == [(g1, "bisect")]
    challenger_move(cb, challenger, g1, truth2)
    del first  # the node stops (or is killed) here: defense.json holds game 1 and the log cursor
    g2 = open_game(cb, challenger, bid, 3)  # opened while the node is down
    truth3 = true_states(node.run, 3)
    again = node.defense()
    assert sorted(r.game_id for r in again.open_games()) == [g1]
    for _ in range(64):
        open_ = [g for g in (g1, g2) if cb.game_of(g).outcome == OPEN]
        if not open_:
            break
        moved = [challenger_move(cb, challenger, g, t) for g, t in ((g1, truth2), (g2, truth3)) if g in open_]
        if not any(moved):
            assert again.poll().moves
    assert cb.game_of(g1).outcome == cb.game_of(g2).outcome == DEFENDER_WON  # honest challengers lose to honest windows
    again.poll()
    assert {r.game_id: r.state for r in again.book.games.values()} == {g1: WON, g2: WON}


def test_a_game_on_a_window_the_node_did_not_commit_is_left_alone(node: Node, tmp_path: Path) -> None:
    """Another node's Defense (another account, another data directory) with the same beast in its runs:
    it is not the window's committer, so it records the game as foreign and never moves."""
    other_engine = make_engine(node.chain, tmp_path / "other", account_index=3)
    other = Defense(tmp_path / "other", other_engine.ledger, node.cb, {node.run.beast_id: node.run})
    gid = open_game(node.cb, node.chain.accounts[2], node.run.beast_id, 1)
    assert other.poll().moves == []
    assert other.book.games[gid].state == FOREIGN and "defends it, not this node" in other.book.games[gid].note
