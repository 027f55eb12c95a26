"""The bisection dispute game end to end with real processes on 127.0.0.1 (bench/cluster.py).

One cluster serves every scenario: anvil through ``cb-devnet up``, an honest ``cb-node`` that
trained two windows of six beasts and now serves checkpoints and defends its windows, and two
``cb-validator watch`` processes (watchers) that replay the beasts they are told to watch,
challenge the windows that diverge and play the games to the end. Scenarios that need a cheating
trainer start one (``cb-node run --dishonest KIND --from-window K``); accounts a scenario needs in
numbers (fifty sybils) are made and funded on the spot. Each scenario works on its own beast, and
every scenario ends with the ENERGY audit (tests/e2e/helpers.audit_energy): balances rebuilt from
Transfer logs, nothing minted, every burn an escrow the protocol burns, and the ledger and the
game holding exactly what the protocol says.

What docs/PROTOCOL.md §10 says and the scenarios check (the issue's seven cases):
1. A trainer that lies in exactly one micro-step (step 77 of a window) is slashed through the
   bisection; nobody else can sit in its games; its node rewinds and trains on (7).
2. A lying challenger loses its bond to an honest trainer's node.
3. Either side running out of its clock loses.
4. Fifty sybil challengers cannot make an honest trainer lose, nor keep one honest challenger
   from winning.
5. A private beast's owner catches its hired trainer with the README's commands.
6. A copied pending challenge gains nothing; a trainer challenging itself loses at least what
   honesty costs.
"""

from __future__ import annotations

import contextlib
import os
import threading
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from bench.cluster import BIN, Cheater, Cluster, start_cluster, wait_until
from devnet.bindings import GAS_SMALL, MAX_UINT256, GameInfo, Outcome, Reason, WindowStatus
from devnet.errors import ContractError
from kernel.state import decode_state_blob
from tests.e2e.helpers import BindingTrainer, audit_energy, honest_cost
from validator.bisection import ReplaySource
from validator.node_client import NodeClient

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CATCH_HEADING = "## Catch a cheating trainer"
GAME_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from devnet.anvil import find_anvil
    from devnet.errors import ConfigError

    try:
        find_anvil()
    except ConfigError as exc:
        pytest.skip(f"anvil is not installed: {exc}")
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()


# ---------------------------------------------------------------------------------------
# helpers


def games_on(c: Cluster, beast: int, index: int) -> list[GameInfo]:
    return [c.cb.game_of(g) for g in c.cb.games_of_window(beast, index)]


def wait_game(c: Cluster, beast: int, index: int, timeout: float = GAME_TIMEOUT) -> GameInfo:
    """The first game opened on (beast, index), once one is."""
    return wait_until(lambda: (games_on(c, beast, index) or [None])[0], timeout, f"a game on beast {beast} window {index}",
                      interval=0.3)


def wait_ended(c: Cluster, game_id: int, timeout: float = GAME_TIMEOUT) -> GameInfo:
    def ended() -> GameInfo | None:
        g = c.cb.game_of(game_id)
        return None if g.is_open else g

    return wait_until(ended, timeout, f"game {game_id} to end", interval=0.3)


def new_accounts(c: Cluster, n: int, energy: int) -> list[LocalAccount]:
    """``n`` fresh accounts with gas money, ``energy`` ENERGY and the game approved (what a sybil pays for).

    Dev account 10 sends the ether and dev account 11 the ENERGY (their nonces read from the chain: no
    other sender uses them); then each account approves the ledger and the game. Every transaction is
    signed here and sent without waiting, and each batch's receipts are read (status 1) before the next
    batch, whose senders need the first batch's ether: the same transactions as one at a time, in
    two rounds of waiting instead of one per transaction."""
    w3 = c.cb.w3
    gas_bank, energy_bank = c.account(10), c.account(11)
    accounts = [Account.create() for _ in range(n)]
    block = w3.eth.get_block("latest")
    fees = {"maxFeePerGas": 2 * int(block.get("baseFeePerGas", 0) or 0) + 1 + 10**9, "maxPriorityFeePerGas": 1,
            "chainId": w3.eth.chain_id}

    def send_all(txs: list[tuple[LocalAccount, dict[str, object]]]) -> None:
        nonces: dict[str, int] = {}
        hashes = []
        for sender, tx in txs:
            if sender.address not in nonces:
                nonces[sender.address] = w3.eth.get_transaction_count(sender.address, "pending")
            signed = sender.sign_transaction({**fees, **tx, "nonce": nonces[sender.address]})
            nonces[sender.address] += 1
            hashes.append(w3.eth.send_raw_transaction(signed.raw_transaction))
        for h in hashes:
            assert w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.02)["status"] == 1

    def energy_call(fn: str, *args: object) -> dict[str, object]:
        return {"to": c.cb.addresses["Energy"], "data": c.cb.energy.encode_abi(fn, args=list(args)), "gas": GAS_SMALL,
                "value": 0}

    funding: list[tuple[LocalAccount, dict[str, object]]] = [
        (gas_bank, {"to": a.address, "value": 10**18, "gas": 21_000}) for a in accounts]
    if energy:
        funding += [(energy_bank, energy_call("transfer", a.address, energy)) for a in accounts]
    send_all(funding)
    c.cb.sender.resync(gas_bank.address)
    c.cb.sender.resync(energy_bank.address)
    send_all([(a, energy_call("approve", c.cb.addresses[spender], MAX_UINT256))
              for a in accounts for spender in ("CheckpointLedger", "BisectionGame")])
    return accounts


def open_game(c: Cluster, acct: LocalAccount, beast: int, index: int, salt: int) -> int:
    """commitChallenge, one block, then the reveal: the game id."""
    c.cb.commit_challenge(acct, beast, index, salt)
    c.mine(1)
    return c.cb.challenge(acct, beast, index, salt)


def slashed(c: Cluster, beast: int, index: int, since: int) -> bool:
    """Whether window ``index`` of ``beast`` was slashed since block ``since`` (WindowSlashed logged)."""
    return bool(c.cb.events("CheckpointLedger", "WindowSlashed", beast, index, from_block=since))


def node_state(addr: str, beast: int, checkpoint: int):  # noqa: ANN201 - KernelState
    client = NodeClient()
    try:
        return decode_state_blob(client.get_state(addr, beast, checkpoint))
    finally:
        client.close()


def holdings(c: Cluster, address: str) -> int:
    """ENERGY an account owns, in its wallet and in the ledger (deposit, stake, unbonding)."""
    s = c.cb.stake_of(address)
    return c.cb.balance_of(address) + c.cb.deposit_of(address) + s.staked + s.unbonding


# ---------------------------------------------------------------------------------------
# 1 + 7. one false micro-step, caught by the watchers; the cheater's node rewinds and trains on


def test_1_one_false_micro_step_is_slashed_through_bisection_and_the_node_rewinds(cluster: Cluster) -> None:
    c = cluster
    since = c.cb.block_number()
    cheat = c.start_cheater(6, "step", from_window=3, until_window=4)  # node window 3 = ledger index 2 lies at step 77
    beast, index = cheat.beast, 2
    assert c.cb.window_count(beast) == 4
    c.watch_also(beast)
    g = wait_game(c, beast, index)
    assert g.defender == cheat.account.address
    # Nobody but the window's committer can sit: fake defenders are refused whatever they claim.
    for fake in new_accounts(c, 3, 0):
        with pytest.raises(ContractError) as err:
            c.cb.bisect(fake, g.game_id, os.urandom(16))
        assert err.value.name in ("GameNotDefender", "GameNotYourMove")
    end = wait_ended(c, g.game_id)
    assert end.outcome == Outcome.CHALLENGER_WON
    # The bisection narrowed 128 steps to the one the trainer faked: step 76 -> 77.
    assert (end.lo, end.hi) == (76, 77), (end.lo, end.hi)
    ended = [e for e in c.cb.game_events(from_block=since) if e.name == "GameEnded" and e.args["gameId"] == g.game_id]
    assert ended and Reason(int(ended[0].args["reason"])) == Reason.ONE_STEP
    # The slash rewound the lineage to the last window not shown false (the node may already have cleared
    # the voided slots by now, so the ledger's logs say it rather than the statuses).
    assert slashed(c, beast, index, since)
    rewound = c.cb.events("CheckpointLedger", "LineageRewound", beast, from_block=since)
    assert [(int(e.args["tip"]), int(e.args["voidedTo"])) for e in rewound] == [(index, 4)]

    # 7. The cheater's node rewinds by itself; resumed, it retrains window 3 honestly and goes on.
    wait_until(lambda: c.cb.voided_range(beast).start == c.cb.voided_range(beast).end, GAME_TIMEOUT,
               "the node to clear the voided windows", interval=0.5)
    code, _, err = c.node_cli(cheat.node_dir, "resume")
    assert code == 0, err
    wait_until(lambda: c.cb.window_count(beast) >= 5, GAME_TIMEOUT, "the rewound node to commit window 5", interval=0.5)
    code, _, err = c.node_cli(cheat.node_dir, "pause")
    assert code == 0, err
    for k in range(c.cb.window_count(beast)):
        assert c.cb.window_status(beast, k) in (WindowStatus.COMMITTED, WindowStatus.FINALIZED), k
    # Nothing lost, nothing doubled: the node's stored lineage re-derives to every word on chain.
    code, out, err = c.node_cli(cheat.node_dir, "verify", "--beast", beast, timeout=240)
    assert code == 0, (out, err)
    # The watchers see the new windows as honest: no game on them.
    assert all(not games_on(c, beast, k) for k in range(index + 1, c.cb.window_count(beast)))
    audit_energy(c.cb, since)


# ---------------------------------------------------------------------------------------
# 2 + 3. a lying challenger loses its bond; either side running out of its clock loses


def test_2_a_lying_challenger_loses_its_bond_to_the_honest_node(cluster: Cluster) -> None:
    c = cluster
    since = c.cb.block_number()
    beast, index = c.public_beasts[0], 1
    liar, silent = new_accounts(c, 2, 10**21)
    trainer_before = holdings(c, c.trainer.address)
    # The liar disagrees with every claim, then proves the last step with the true pre-state:
    # the verifier agrees with the node.
    gid = open_game(c, liar, beast, index, salt=1)
    start = node_state(c.node_addr, beast, index)
    word = c.cb.word(beast, index)
    source = ReplaySource(start, word, c.cb.epoch_seed(beast, start.params.epoch_of_step(start.global_step)))
    while True:
        g = wait_until(lambda: (lambda x: x if (x.challenger_to_move or not x.is_open) else None)(c.cb.game_of(gid)),
                       GAME_TIMEOUT, "the node's bisection move", interval=0.2)
        if not g.is_open:
            break
        if g.hi - g.lo > 1:
            c.cb.respond(liar, gid, False)
        else:
            c.cb.prove_step(liar, gid, source.state_at(g.lo), source.sample_at(g.lo))
    assert c.cb.game_of(gid).outcome == Outcome.DEFENDER_WON
    # 3a. The silent challenger opens a game and never answers: its clock runs out, the node wins.
    gid2 = open_game(c, silent, beast, index, salt=2)
    wait_until(lambda: c.cb.game_of(gid2).challenger_to_move, GAME_TIMEOUT, "the node's first bisection", interval=0.2)
    c.mine(c.cb.clock_blocks() + 1)
    end = wait_ended(c, gid2)  # the node calls timeout by itself
    assert end.outcome == Outcome.DEFENDER_WON
    bond = end.bond
    assert c.cb.balance_of(liar.address) == 10**21 - bond
    assert c.cb.balance_of(silent.address) == 10**21 - bond
    assert holdings(c, c.trainer.address) >= trainer_before + 2 * bond - 0  # both bonds went to the committer
    assert c.cb.window_status(beast, index) == WindowStatus.COMMITTED
    audit_energy(c.cb, since)


def test_3_a_silent_trainer_loses_on_its_clock(cluster: Cluster) -> None:
    """A trainer that commits a false window and then never moves: the watchers' game times out."""
    c = cluster
    since = c.cb.block_number()
    (owner,) = new_accounts(c, 1, 10**22)
    c.cb.stake(owner, 10**21)
    bt = BindingTrainer.hatch(c.cb, owner)
    bt.commit_next()
    bt.commit_next(tamper="h128")
    c.watch_also(bt.beast_id)
    g = wait_game(c, bt.beast_id, 1)
    c.mine(c.cb.clock_blocks() + 1)
    end = wait_ended(c, g.game_id)  # a watcher calls timeout
    assert end.outcome == Outcome.CHALLENGER_WON
    assert c.cb.window_status(bt.beast_id, 1) == WindowStatus.SLASHED
    audit_energy(c.cb, since)


# ---------------------------------------------------------------------------------------
# 4. fifty sybils


def test_4_fifty_sybil_challengers_cannot_make_the_honest_node_lose(cluster: Cluster) -> None:
    c = cluster
    since = c.cb.block_number()
    beast, index = c.public_beasts[1], 1
    sybils = new_accounts(c, 50, 10**20)
    for i, s in enumerate(sybils):
        c.cb.commit_challenge(s, beast, index, 1000 + i)
    c.mine(1)
    gids = [c.cb.challenge(s, beast, index, 1000 + i) for i, s in enumerate(sybils)]
    # The node answers every game; the sybils then stall, each on its own clock.
    wait_until(lambda: all(c.cb.game_of(g).challenger_to_move for g in gids), 2 * GAME_TIMEOUT,
               "the node's first move in all fifty games", interval=1.0)
    c.mine(c.cb.clock_blocks() + 1)
    for g in gids:
        assert wait_ended(c, g).outcome == Outcome.DEFENDER_WON
    assert c.cb.window_status(beast, index) == WindowStatus.COMMITTED
    audit_energy(c.cb, since)


def test_4b_fifty_sybil_games_cannot_keep_the_honest_watcher_from_winning(cluster: Cluster) -> None:
    """The cheater's friends open fifty games first on its false window and stall; the watchers' game
    still runs to the slash (each game is its own)."""
    c = cluster
    since = c.cb.block_number()
    (owner,) = new_accounts(c, 1, 10**22)
    c.cb.stake(owner, 10**21)
    bt = BindingTrainer.hatch(c.cb, owner)
    bt.commit_next(tamper="h128")
    friends = new_accounts(c, 50, 10**20)
    for i, s in enumerate(friends):
        c.cb.commit_challenge(s, bt.beast_id, 0, 2000 + i)
    c.mine(1)
    for i, s in enumerate(friends):
        c.cb.challenge(s, bt.beast_id, 0, 2000 + i)
    c.watch_also(bt.beast_id)
    watcher_addrs = {a.address for a in c.watcher_keys}

    def watcher_game() -> GameInfo | None:
        return next((g for g in games_on(c, bt.beast_id, 0) if g.challenger in watcher_addrs), None)

    g = wait_until(watcher_game, GAME_TIMEOUT, "a watcher's game on the false window", interval=0.5)
    c.mine(c.cb.clock_blocks() + 1)
    assert wait_ended(c, g.game_id).outcome == Outcome.CHALLENGER_WON
    assert c.cb.window_status(bt.beast_id, 0) == WindowStatus.SLASHED
    audit_energy(c.cb, since)


# ---------------------------------------------------------------------------------------
# 5. the README's "Catch a cheating trainer": a private beast's owner against its hired trainer


def catch_section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(CATCH_HEADING)
    end = text.index("\n## ", start + len(CATCH_HEADING))
    return text[start:end]


def catch_commands() -> list[str]:
    """The ``cb-dispute`` command lines of the section's ```sh blocks, in order."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", catch_section(), re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("cb-dispute"):
                lines.append(line)
    return lines


def test_5_the_readme_catches_a_cheating_trainer(cluster: Cluster, tmp_path: Path) -> None:
    """The README section, as written: its cheater's ``cb-node run`` flags and its ``cb-dispute`` lines with
    its variables, against a dishonest node (a public beast here, so PRIVATE is empty)."""
    c = cluster
    section = catch_section()
    flags = re.search(r"cb-node run .*?--dishonest (\w+) --from-window (\d+)", section)
    assert flags, "the section starts its cheater with cb-node run --dishonest KIND --from-window K"
    lie, window = flags.group(1), int(flags.group(2))
    since = c.cb.block_number()
    cheat: Cheater = c.start_cheater(7, lie, from_window=window, until_window=window + 1)
    env = dict(c.env, BEAST=str(cheat.beast), WINDOW=str(window), NODE=cheat.addr, PRIVATE="",
               PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    before = c.cb.balance_of(c.challenger.address)
    commands = catch_commands()
    assert [line.split()[1] for line in commands] == ["check", "challenge", "status"]
    for line in commands:
        cp = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        expected = 1 if line.split()[1] == "check" else 0
        assert cp.returncode == expected, (line, cp.returncode, cp.stdout[-2000:], cp.stderr[-2000:])
    index = window - 1
    assert slashed(c, cheat.beast, index, since)
    (g,) = [x for x in games_on(c, cheat.beast, index) if x.challenger == c.challenger.address]
    assert g.outcome == Outcome.CHALLENGER_WON and (g.lo, g.hi) == (76, 77)
    assert c.cb.balance_of(c.challenger.address) > before  # bond back plus the reward from the trainer's stake
    # The trainer's node rewinds by itself: the voided windows are cleared.
    wait_until(lambda: c.cb.voided_range(cheat.beast).start == c.cb.voided_range(cheat.beast).end, GAME_TIMEOUT,
               "the cheater's node to clear the voided windows", interval=0.5)
    audit_energy(c.cb, since)


def test_5b_a_private_beasts_owner_catches_its_hired_trainer(cluster: Cluster, tmp_path: Path) -> None:
    """The owner of a private beast hires a trainer (its key authorized on chain, dataset and secret handed
    over); the trainer lies in one micro-step of window 2 and defends its lie in every game. The owner, the
    holder of the dataset and the secret, catches it with ``cb-dispute`` (a real process); the game takes
    one record with its Merkle path, never the dataset."""
    from curriculum import read_secret_file
    from kernel.step import WindowStart
    from node.dishonest import false_states
    from validator.bisection import StatesSource, play_defender
    from validator.bisection.source import checkpoint_word
    from bench.cluster import write_key_file

    c = cluster
    since = c.cb.block_number()
    owner, hired = new_accounts(c, 2, 10**22)
    c.cb.stake(hired, 10**21)
    dataset, secret = c.dataset.read_bytes(), read_secret_file(c.secret).reveal()
    bt = BindingTrainer.hatch(c.cb, owner, dataset=dataset, secret=secret)
    c.cb.authorize_trainer(owner, bt.beast_id, hired.address)
    bt.account = hired
    bt.commit_next()  # window 1 (index 0), honest
    start = bt.state
    seed = c.cb.ensure_epoch_seed(hired, bt.beast_id, start.global_step // start.params.epoch_steps)
    states, _ = false_states(start, bt.source, WindowStart(start.active_mask, start.lr_shift, seed), {"step": 77})
    c.cb.commit(hired, bt.beast_id, checkpoint_word(states[-1]))  # window 2 (index 1): one false micro-step
    lie = StatesSource(states)

    stop = threading.Event()

    def defend() -> None:  # the hired trainer answers every game on its window from its (false) states
        while not stop.is_set():
            for gid in c.cb.games_of_window(bt.beast_id, 1):
                with contextlib.suppress(ContractError):
                    play_defender(c.cb, hired, gid, lie)
            stop.wait(0.3)

    defender = threading.Thread(target=defend, daemon=True)
    defender.start()
    try:
        key = write_key_file(tmp_path / "owner.key", owner)
        args = ["--beast", bt.beast_id, "--window", 2, "--dataset", c.dataset, "--secret-file", c.secret]
        code, out, err = c.dispute("check", *args)
        assert code == 1, (out, err)
        code, out, err = c.dispute("challenge", *args, "--key-file", key, "--yes", timeout=300)
        assert code == 0, (out, err)
    finally:
        stop.set()
        defender.join(timeout=30)
    (g,) = games_on(c, bt.beast_id, 1)
    assert g.challenger == owner.address and g.defender == hired.address
    assert g.outcome == Outcome.CHALLENGER_WON and (g.lo, g.hi) == (76, 77)
    assert c.cb.window_status(bt.beast_id, 1) == WindowStatus.SLASHED
    # The proof carried the pre-state, one 28-byte record and its Merkle path, not the dataset.
    proved = [e for e in c.cb.game_events(from_block=since) if e.name == "StepProved" and e.args["gameId"] == g.game_id]
    calldata = bytes(c.cb.w3.eth.get_transaction(proved[0].tx_hash)["input"])
    assert len(calldata) < len(states[g.lo].to_bytes()) + 2_048
    audit_energy(c.cb, since)


# ---------------------------------------------------------------------------------------
# 6. a copied challenge gains nothing; a self-challenging trainer loses at least honesty's cost


def test_6_copy_and_self_challenge_do_not_pay(cluster: Cluster) -> None:
    c = cluster
    since = c.cb.block_number()
    cheater, honest, finder, copier = new_accounts(c, 4, 10**22)
    for a in (cheater, honest):
        c.cb.stake(a, 10**21)
    bt = BindingTrainer.hatch(c.cb, cheater)
    ht = BindingTrainer.hatch(c.cb, honest)
    c0, h0 = holdings(c, cheater.address), holdings(c, honest.address)
    ht.commit_next()
    bt.commit_next(tamper="h128")
    # The cheater challenges itself first (hoping to take its own reward back); an honest finder
    # commits next; a copier sees the finder's reveal and copies it a block later.
    own = open_game(c, cheater, bt.beast_id, 0, salt=7)
    c.cb.commit_challenge(finder, bt.beast_id, 0, 8)
    c.mine(1)
    found = c.cb.challenge(finder, bt.beast_id, 0, 8)
    copied = open_game(c, copier, bt.beast_id, 0, salt=9)
    f0, k0 = holdings(c, finder.address), holdings(c, copier.address)
    c.mine(c.cb.clock_blocks() + 1)
    for gid in (own, found, copied):
        c.cb.timeout(c.account(0), gid)
        assert c.cb.game_of(gid).outcome == Outcome.CHALLENGER_WON
    stored = c.cb.game_of(own).stored
    c.cb.claim_reward(c.account(0), bt.beast_id, 0, stored)
    # The earliest commitment (the cheater's own) takes the reward: its loss is still the escrow.
    cheater_cost = c0 - holdings(c, cheater.address)
    honest_spent = h0 - holdings(c, honest.address)
    assert cheater_cost >= honest_spent == honest_cost(ht)
    # The copier got its bond back and nothing more; the finder the same (the cheater's commitment was earlier).
    assert holdings(c, copier.address) == k0 + c.cb.game_of(copied).bond
    assert holdings(c, finder.address) == f0 + c.cb.game_of(found).bond
    audit_energy(c.cb, since)
