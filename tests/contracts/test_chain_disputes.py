"""The bisection game and the committer stake through devnet.bindings, on the devnet as devnet.start deploys it.

Whole games with the real StepVerifier and real kernel step states (kernel.step): a trainer that got
micro-step 77 wrong loses to an honest challenger (window slashed, stake cut, reward claimed), an
honest trainer beats a challenger that disagrees with everything. A defender that never moves loses
on time; the slash rewinds the lineage and clearVoided lets it go on. Every revert arrives decoded
(devnet.errors.GameError / LedgerRevert with the contract's error name and arguments). Games are
read from the GameOpened logs, so a game a contract opened (or an EIP-7702 account: the same to the
game, a caller that is not the transaction's sender) reads like any other; logs are decoded strictly.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3

import devnet
from devnet.bindings import (ChainBeasts, GameInfo, Outcome, Param, Reason, StakeInfo, WindowStatus, challenge_bond,
                             challenge_commitment)
from devnet.deploy import fund
from devnet.errors import EventDecodeError, GameError, LedgerRevert
from devnet.events import decode_log, event_specs
from kernel.params import DEFAULT_PARAMS
from kernel.payload import Payload
from kernel.sources import PublicSource
from kernel.state import KernelState, genesis
from kernel.step import WindowStart, micro_step, window_step_states

from chain_helpers import BURN, Net, make_word, raises_error

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
MASK, LR_SHIFT = 0b0011, 6
EMPTY_SAMPLE = (b"\x00" * 32, 0, b"\x00" * 32, b"", [])


@pytest.fixture(scope="module")
def _game_net() -> Iterator[devnet.EmbeddedDevnet]:
    # A challenge period long enough for a whole game; everything else as devnet.start deploys it.
    yield devnet.start(accounts=6, params={"challenge_period": 600})


@pytest.fixture
def gnet(_game_net: devnet.EmbeddedDevnet) -> Iterator[Net]:
    snap = _game_net.tester.take_snapshot()
    _game_net.chain.sender._nonces.clear()
    yield Net(_game_net)
    _game_net.tester.revert_to_snapshot(snap)
    _game_net.chain.sender._nonces.clear()


def h16(state: bytes) -> bytes:
    return keccak(state)[:16]


def window_zero(cb: ChainBeasts, beast: int, lie_at: int | None) -> tuple[list[bytes], list[bytes]]:
    """(the trainer's 129 state bytes, the true ones) of the beast's first window; the trainer nudges one
    weight after micro-step ``lie_at - 1`` and trains honestly from the wrong state on."""
    seed_core = bytes(cb.hatch_data(beast).seed_core)
    start = genesis(seed_core, DEFAULT_PARAMS, spec_version=2)
    w = WindowStart(MASK, LR_SHIFT, seed_core)
    truth = window_step_states(start, PublicSource(), w)
    mine: list[KernelState] = list(truth)
    if lie_at is not None:
        bad = truth[lie_at].copy()
        bad.w1[0, 0] = int(bad.w1[0, 0]) + (1 if bad.w1[0, 0] < 1000 else -1)
        mine = [*truth[:lie_at], bad]
        for _ in range(lie_at, 128):
            mine.append(micro_step(mine[-1], PublicSource(), w).state)
    return [s.to_bytes() for s in mine], [s.to_bytes() for s in truth]


def word_of(final: bytes) -> bytes:
    from kernel.state import from_bytes

    s = from_bytes(final)
    return Payload(s.h128(), s.global_step, BURN, s.active_mask, s.lr_shift, s.flags).pack()


def open_game(cb: ChainBeasts, challenger: Any, beast: int, k: int, salt: bytes = b"\x5a" * 32) -> int:
    cb.commit_challenge(challenger, beast, k, salt)
    return cb.challenge(challenger, beast, k, salt)


def play(cb: ChainBeasts, gid: int, defender: Any, mine: list[bytes], challenger: Any, truth: list[bytes] | None) -> GameInfo:
    """Play ``gid`` out through the bindings: the defender claims ``mine``; the challenger answers from
    ``truth`` (None: disagrees with everything) and proves the last step when the range is one step."""
    while (g := cb.game_of(gid)).is_open:
        mid = (g.lo + g.hi) // 2
        if not g.challenger_to_move:
            cb.bisect(defender, gid, h16(mine[mid]))
        elif g.hi - g.lo == 1:
            pre = (truth or mine)[g.lo]
            cb.prove_step(challenger, gid, pre, EMPTY_SAMPLE)
        else:
            cb.respond(challenger, gid, truth is not None and g.mid_hash == h16(truth[mid]))
    return g


def held(net: Net) -> int:
    return net.cb.held_by_contracts()


# ---------------------------------------------------------------------- whole games


def test_lying_trainer_loses_a_whole_game_with_the_real_verifier(gnet: Net) -> None:
    cb, trainer, challenger, anyone = gnet.cb, gnet.a[1], gnet.a[2], gnet.a[3]
    beast = cb.hatch(trainer)
    mine, truth = window_zero(cb, beast, lie_at=77)
    cb.commit(trainer, beast, word_of(mine[-1]))
    assert cb.committer_of(beast, 0).committer == trainer.address
    stake_before, bal_before = cb.stake_of(trainer), cb.balance_of(challenger)
    bond = cb.challenge_bond(cb.word(beast, 0))
    assert bond == challenge_bond(cb.word(beast, 0), cb.param(Param.BOND_MULTIPLIER)) == 2 * BURN
    gid = open_game(cb, challenger, beast, 0)
    assert cb.window_status(beast, 0) == WindowStatus.CHALLENGED
    g = cb.game_of(gid)
    assert (g.beast_id, g.index, g.challenger, g.bond, g.outcome) == (beast, 0, challenger.address, bond, Outcome.OPEN)
    assert (g.lo, g.hi, g.challenger_to_move) == (0, 128, False) and g.to_move() == "defender"
    assert cb.balance_of(challenger) == bal_before - bond
    final = play(cb, gid, trainer, mine, challenger, truth)
    assert (final.outcome, final.lo, final.hi) == (Outcome.CHALLENGER_WON, 76, 77)
    ended = cb.events("BisectionGame", "GameEnded", gid)[0].args
    assert ended["reason"] == Reason.ONE_STEP and ended["winner"] == challenger.address
    assert cb.window_status(beast, 0) == WindowStatus.SLASHED
    reward = min(BURN, stake_before.staked + stake_before.unbonding)
    assert cb.stake_of(trainer).staked == stake_before.staked - reward
    assert cb.balance_of(challenger) == bal_before  # the bond came back
    r = cb.claim_reward(anyone, beast, 0, stored_of(cb, gid))
    assert r.event("RewardClaimed").args["challenger"] == challenger.address
    assert r.event("RewardClaimed").args["amount"] == reward
    assert cb.balance_of(challenger) == bal_before + reward
    assert cb.games_of_window(beast, 0) == [gid]
    names = [e.name for e in cb.game_events(g_block(cb, gid))]
    assert names[0] == "GameOpened" and names.count("Bisected") == 7 and names.count("Responded") == 7
    assert names[-4:] == ["StepProved", "GameEnded", "RewardHeld", "RewardClaimed"]


def test_honest_trainer_wins_against_a_challenger_who_disagrees_with_everything(gnet: Net) -> None:
    cb, trainer, challenger = gnet.cb, gnet.a[1], gnet.a[2]
    beast = cb.hatch(trainer)
    mine, _ = window_zero(cb, beast, lie_at=None)
    cb.commit(trainer, beast, word_of(mine[-1]))
    trainer_bal, total = cb.balance_of(trainer), held(gnet)
    gid = open_game(cb, challenger, beast, 0)
    bond = cb.game_of(gid).bond
    final = play(cb, gid, trainer, mine, challenger, None)  # the challenger proves step 0 from the genesis: it holds
    assert (final.outcome, final.lo, final.hi) == (Outcome.DEFENDER_WON, 0, 1)
    assert cb.balance_of(trainer) == trainer_bal + bond  # the challenger's bond to the defender
    assert cb.window_status(beast, 0) == WindowStatus.COMMITTED
    assert held(gnet) == total  # nothing stuck in the game
    with raises_error("GameOver", gameId=gid):
        cb.timeout(challenger, gid)


def test_step_zero_of_a_later_window_starts_from_the_previous_window(gnet: Net) -> None:
    """Window 1's step 0 is window 0's final state (h_0 from the ledger), not the genesis: an honest
    trainer's window 1 holds against a challenger that disagrees with everything."""
    cb, trainer, challenger = gnet.cb, gnet.a[1], gnet.a[2]
    beast = cb.hatch(trainer)
    first, _ = window_zero(cb, beast, lie_at=None)
    cb.commit(trainer, beast, word_of(first[-1]))
    from kernel.state import from_bytes

    seed_core = bytes(cb.hatch_data(beast).seed_core)  # epoch 0 (epochSteps 512): window 1's seed is seed_core
    second = [s.to_bytes() for s in window_step_states(from_bytes(first[-1]), PublicSource(), WindowStart(MASK, LR_SHIFT, seed_core))]
    cb.commit(trainer, beast, word_of(second[-1]))
    gid = open_game(cb, challenger, beast, 1)
    final = play(cb, gid, trainer, second, challenger, None)
    assert (final.outcome, final.lo, final.hi) == (Outcome.DEFENDER_WON, 0, 1)
    assert cb.window_status(beast, 1) == WindowStatus.COMMITTED


def test_the_reward_goes_to_the_earliest_commitment_lowest_game_id_on_a_tie(gnet: Net) -> None:
    """Two challengers commit in the same block; both win on time. The first game revealed (lowest id) takes the
    reward, though the second also won (its bond back only)."""
    cb, trainer, x, y, anyone = gnet.cb, gnet.a[1], gnet.a[2], gnet.a[3], gnet.a[4]
    beast = cb.hatch(trainer)
    gnet.commit_windows(trainer, beast, 1)
    salt = b"\x21" * 32
    tester, w3 = gnet.raw.tester, gnet.raw.w3
    tester.disable_auto_mine_transactions()
    try:
        for who in (x, y):  # signed and sent as the bindings would, both into the next block
            data = bytes.fromhex(cb.game.encode_abi("commitChallenge", args=[challenge_commitment(who, beast, 0, salt)])[2:])
            tx = {"from": who.address, "to": cb.game.address, "data": data, "value": 0, "gas": 150_000,
                  "chainId": cb.chain_id(), "nonce": w3.eth.get_transaction_count(who.address), **cb.sender._fees()}
            w3.eth.send_raw_transaction(who.sign_transaction(tx).raw_transaction)
    finally:
        tester.enable_auto_mine_transactions()  # mines the pending block
    for who in (x, y):
        cb.sender.resync(who.address)
    gx = cb.challenge(x, beast, 0, salt)
    gy = cb.challenge(y, beast, 0, salt)
    assert cb.game_of(gx).commitment_block == cb.game_of(gy).commitment_block and gx < gy
    gnet.mine(cb.clock_blocks() + 1)
    cb.timeout(anyone, gx)  # the lower id wins first (and slashes), then the tie's later id
    cb.timeout(anyone, gy)
    assert cb.game_of(gy).outcome == Outcome.CHALLENGER_WON
    stored = cb.game_of(gx).stored
    assert cb.pot_of(beast, 0, stored).best_game == gx
    r = cb.claim_reward(anyone, beast, 0, stored)
    assert r.event("RewardClaimed").args["challenger"] == x.address


def test_defender_timeout_slashes_and_rewinds_then_clear_voided_reopens_the_lineage(gnet: Net) -> None:
    cb, trainer, challenger, anyone = gnet.cb, gnet.a[1], gnet.a[2], gnet.a[3]
    beast = cb.hatch(trainer)
    gnet.commit_windows(trainer, beast, 4)
    gid = open_game(cb, challenger, beast, 1)
    with raises_error("GameClockRunning", gameId=gid):
        cb.timeout(anyone, gid)
    gnet.mine(cb.clock_blocks() + 1)
    r = cb.timeout(anyone, gid)
    assert r.event("GameEnded").args["reason"] == Reason.TIMEOUT
    assert cb.game_of(gid).outcome == Outcome.CHALLENGER_WON
    assert r.event("LineageRewound").args["voidedTo"] == 4
    statuses = [cb.window_status(beast, k) for k in range(4)]
    assert statuses == [WindowStatus.COMMITTED, WindowStatus.SLASHED, WindowStatus.VOIDED, WindowStatus.VOIDED]
    assert cb.voided_range(beast) == (1, 4) and cb.window_count(beast) == 1
    assert cb.next_global_step(beast) == 256  # the step window 1 ends on: the lineage goes on from window 0
    with pytest.raises(LedgerRevert):  # slot 1 still holds the slashed window
        cb.commit(trainer, beast, make_word(1))
    r = cb.clear_voided(anyone, beast, 2)
    # the slashed window's escrow was burned at the slash; a voided one's is burned now
    assert [(e.args["index"], e.args["burned"]) for e in r.all("WindowVoided")] == [(1, 0), (2, BURN)]
    assert cb.voided_range(beast) == (3, 4)
    cb.clear_voided(anyone, beast, 10)
    assert tuple(cb.voided_range(beast))[0] == tuple(cb.voided_range(beast))[1]
    cb.commit(trainer, beast, make_word(1, tag=2))  # the lineage goes on from window 0
    assert cb.window_count(beast) == 2 and cb.window_status(beast, 1) == WindowStatus.COMMITTED


def test_a_word_whose_other_fields_lie_loses_to_the_final_state(gnet: Net) -> None:
    """The h128 is the true final state's, the lrShift is not: proveWordLie with the state's bytes wins at once."""
    from kernel.state import from_bytes

    cb, trainer, challenger = gnet.cb, gnet.a[1], gnet.a[2]
    beast = cb.hatch(trainer)
    mine, _ = window_zero(cb, beast, lie_at=None)
    s = from_bytes(mine[-1])
    cb.commit(trainer, beast, Payload(s.h128(), s.global_step, BURN, s.active_mask, s.lr_shift + 1, s.flags).pack())
    gid = open_game(cb, challenger, beast, 0)
    with raises_error("GameFinalStateMismatch", gameId=gid):
        cb.prove_word_lie(challenger, gid, mine[-2])
    with raises_error("GameNotYourMove", gameId=gid, caller=trainer.address):
        cb.prove_word_lie(trainer, gid, mine[-1])
    r = cb.prove_word_lie(challenger, gid, mine[-1])
    assert (r.event("GameEnded").args["outcome"], r.event("GameEnded").args["reason"]) == (Outcome.CHALLENGER_WON, Reason.WORD_LIE)
    assert cb.window_status(beast, 0) == WindowStatus.SLASHED


def test_an_honest_word_cannot_be_called_a_lie(gnet: Net) -> None:
    cb, trainer, challenger = gnet.cb, gnet.a[1], gnet.a[2]
    beast = cb.hatch(trainer)
    mine, _ = window_zero(cb, beast, lie_at=None)
    cb.commit(trainer, beast, word_of(mine[-1]))
    gid = open_game(cb, challenger, beast, 0)
    with raises_error("GameWordConsistent", gameId=gid):
        cb.prove_word_lie(challenger, gid, mine[-1])
    assert cb.game_word(gid) == word_of(mine[-1]) == cb.word(beast, 0)


# ---------------------------------------------------------------------- errors, decoded


def test_moves_out_of_turn_or_seat_revert_decoded(gnet: Net) -> None:
    cb, trainer, challenger, stranger = gnet.cb, gnet.a[1], gnet.a[2], gnet.a[3]
    beast = cb.hatch(trainer)
    mine, truth = window_zero(cb, beast, lie_at=5)
    cb.commit(trainer, beast, word_of(mine[-1]))
    salt = b"\x01" * 32
    with raises_error("GameCommitmentMissing"):  # no commitment yet
        cb.challenge(challenger, beast, 0, salt)
    cb.commit_challenge(challenger, beast, 0, salt)
    with raises_error("GameCommitmentMissing"):  # someone else's commitment opens nothing for a copier
        cb.challenge(stranger, beast, 0, salt)
    gid = cb.challenge(challenger, beast, 0, salt)
    with pytest.raises(GameError) as err:
        cb.bisect(stranger, gid, h16(mine[64]))
    assert err.value.name == "GameNotDefender" and err.value["gameId"] == gid
    with raises_error("GameNotYourMove", gameId=gid, caller=challenger.address):
        cb.respond(challenger, gid, True)
    with raises_error("GameZeroHash", gameId=gid):
        cb.bisect(trainer, gid, b"\x00" * 16)
    cb.bisect(trainer, gid, h16(mine[64]))
    with raises_error("GameNotYourMove", gameId=gid, caller=trainer.address):
        cb.bisect(trainer, gid, h16(mine[32]))
    with raises_error("GameNotFound", gameId=gid + 1):
        cb.game_of(gid + 1)
    with pytest.raises(devnet.ConfigError, match="16 bytes"):
        cb.bisect(trainer, gid, b"\x01" * 32)


def test_a_commit_needs_stake_covering_its_burn(gnet: Net) -> None:
    cb, owner = gnet.cb, gnet.a[4]
    staked = cb.stake_of(owner).staked
    assert isinstance(cb.stake_of(owner), StakeInfo) and staked > 0  # devnet.start staked every dev account
    r = cb.request_unstake(owner, staked - BURN + 1)
    info = cb.stake_of(owner)
    assert (info.staked, info.unbonding) == (BURN - 1, staked - BURN + 1)
    assert info.unlock_block == r.block_number + cb.param(Param.CHALLENGE_PERIOD) + 2 * cb.clock_blocks() + 2
    beast = cb.hatch(owner)
    with raises_error("LedgerStakeInsufficient", account=owner.address, staked=BURN - 1, needed=BURN):
        cb.commit(owner, beast, make_word(0))
    with raises_error("LedgerStakeInsufficient", account=owner.address, needed=2 * BURN):
        cb.commit_many(owner, [beast, cb.hatch(owner)], [make_word(0)] * 2)
    cb.stake(owner, 1)
    cb.commit(owner, beast, make_word(0))


def test_unstaked_devnet_accounts_cannot_commit_until_they_stake() -> None:
    net = devnet.start(accounts=2, stake=0)
    cb, owner = net.chain, net.accounts[1]
    assert cb.stake_of(owner) == (0, 0, 0)
    beast = cb.hatch(owner)
    with raises_error("LedgerStakeInsufficient", account=owner.address, staked=0, needed=BURN):
        cb.commit(owner, beast, make_word(0))
    cb.stake(owner, BURN)
    cb.commit(owner, beast, make_word(0))
    with pytest.raises(devnet.ConfigError, match="approve"):
        fund(cb, net.accounts[0], net.accounts, 10, approve=False, stake=1)


# ---------------------------------------------------------------------- reading games from logs


CALLER_SOL = """
// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;
/// Forwards calls: a contract (or an EIP-7702 account's delegated code) acting as a challenger.
contract Forwarder {
    function forward(address target, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) assembly { revert(add(ret, 32), mload(ret)) }
        return ret;
    }
}
"""


def _forwarder() -> dict[str, Any]:
    script = (
        "const solc=require('solc');const src=require('fs').readFileSync(0,'utf8');"
        "const input={language:'Solidity',sources:{'F.sol':{content:src}},settings:{optimizer:{enabled:true,runs:200},"
        "evmVersion:'prague',outputSelection:{'*':{'*':['abi','evm.bytecode.object']}}}};"
        "const out=JSON.parse(solc.compile(JSON.stringify(input)));"
        "if((out.errors||[]).some(e=>e.severity==='error')){console.error(JSON.stringify(out.errors));process.exit(1)}"
        "const c=out.contracts['F.sol'].Forwarder;process.stdout.write(JSON.stringify({abi:c.abi,bytecode:c.evm.bytecode.object}))"
    )
    proc = subprocess.run(["node", "-e", script], cwd=CONTRACTS, input=CALLER_SOL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_games_opened_by_a_contract_or_with_odd_calldata_are_read_from_logs(gnet: Net) -> None:
    cb, trainer, sender = gnet.cb, gnet.a[1], gnet.a[2]
    beast = cb.hatch(trainer)
    gnet.commit_windows(trainer, beast, 1)
    fwd = _forwarder()
    created = cb.sender.send(sender, None, bytes.fromhex(fwd["bytecode"]), gas=None)
    f = gnet.raw.w3.eth.contract(address=Web3.to_checksum_address(created["contractAddress"]), abi=fwd["abi"])
    cb.transfer(sender, f.address, 10 * BURN)

    def via(target: Any, fn: str, args: list[Any], junk: bytes = b"") -> None:
        inner = bytes.fromhex(target.encode_abi(fn, args=args).removeprefix("0x")) + junk
        cb._send(sender, f, "forward", [target.address, inner], None)

    salt = b"\x33" * 32
    via(cb.energy, "approve", [cb.game.address, 2**256 - 1])
    via(cb.game, "commitChallenge", [challenge_commitment(f.address, beast, 0, salt)])
    via(cb.game, "challenge", [beast, 0, salt], junk=b"\xde\xad\xbe\xef" * 9)  # trailing bytes the ABI decoder ignores
    # A direct challenge by an account, its calldata padded with junk as well.
    salt2 = b"\x44" * 32
    cb.commit_challenge(gnet.a[3], beast, 0, salt2)
    data = bytes.fromhex(cb.game.encode_abi("challenge", args=[beast, 0, salt2]).removeprefix("0x")) + b"\x01" * 31
    cb.sender.send(gnet.a[3], cb.game.address, data, gas=None)
    ids = cb.games_of_window(beast, 0)
    assert len(ids) == 2
    assert [cb.game_of(i).challenger for i in ids] == [f.address, gnet.a[3].address]
    opened = [e for e in cb.game_events() if e.name == "GameOpened"]
    assert [e.args["gameId"] for e in opened] == ids


def test_event_decoding_is_strict(gnet: Net) -> None:
    """A log with our event's signature but a non-canonical encoding is an error, never skipped or guessed."""
    specs = event_specs("BisectionGame", devnet.artifacts.load("BisectionGame").abi)  # type: ignore[attr-defined]
    spec = next(s for s in specs.values() if s.name == "GameOpened")
    cb, trainer = gnet.cb, gnet.a[1]
    beast = cb.hatch(trainer)
    gnet.commit_windows(trainer, beast, 1)
    gid = open_game(cb, gnet.a[2], beast, 0)
    log = dict(gnet.raw.w3.eth.get_logs({"address": cb.game.address, "topics": ["0x" + spec.topic.hex()],
                                         "fromBlock": 0, "toBlock": "latest"})[0])
    assert decode_log(spec, log)["gameId"] == gid
    topics, data = [bytes(t) for t in log["topics"]], bytes(log["data"])
    bad_logs = [
        {**log, "data": data + b"\x00" * 32},  # trailing word
        {**log, "data": data[:-1]},  # truncated
        {**log, "topics": topics[:-1]},  # an indexed argument missing
    ]
    addr_word = next((i for i, (n, t, ix) in enumerate(spec.inputs) if t == "address" and not ix), None)
    if addr_word is not None:  # dirty high bytes in an address word
        pos = 32 * [n for n, t, ix in spec.inputs if not ix].index(spec.inputs[addr_word][0])
        bad_logs.append({**log, "data": data[:pos] + b"\xff" + data[pos + 1:]})
    for bad in bad_logs:
        with pytest.raises(EventDecodeError):
            decode_log(spec, bad)


def test_an_old_deployments_file_is_refused_by_name(gnet: Net) -> None:
    old = {n: a for n, a in gnet.cb.addresses.items() if n not in ("StepVerifier", "BisectionGame")}
    old["DisputeGame"] = gnet.a[5].address
    with pytest.raises(devnet.ConfigError, match="StepVerifier.*BisectionGame"):
        ChainBeasts(gnet.raw.w3, old)


# ---------------------------------------------------------------------- helpers reading the chain


def stored_of(cb: ChainBeasts, gid: int) -> int:
    """The ledger slot a game opened on (what claimReward names the window by)."""
    return cb.game_of(gid).stored


def g_block(cb: ChainBeasts, gid: int) -> int:
    return cb.events("BisectionGame", "GameOpened", gid)[0].block_number


def test_commitment_helper_matches_keccak_of_abi_encode() -> None:
    who = "0x" + "11" * 20
    got = challenge_commitment(who, 7, 3, b"\x09" * 32)
    assert got == keccak(abi_encode(["address", "uint256", "uint256", "bytes32"],
                                    [Web3.to_checksum_address(who), 7, 3, b"\x09" * 32]))
