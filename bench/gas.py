"""Gas of the ChainBeasts contract calls, measured on the embedded py-evm devnet (Prague).

    python bench/gas.py [--json] [--engine pyevm|anvil]

Rows: hatch (the request) and finalizeHatch; sealEpochSeeds; commit (first commit into an empty
ledger, first window of a beast, a later window, an epoch's first window sealing its seed or
with the seed sealed before, by the trainer), each with the escrow pulled by transferFrom and,
after a `deposit`, locked from the prepaid deposit; commitMany at 1, 8 and 32 beasts (gas per
checkpoint) both ways, sent as the node sends them (with an EIP-2930 access list from 8 beasts
on, devnet.access_list) and, for comparison, without the list; deposit and withdrawDeposit; finalize;
the committer stake (stake, requestUnstake, withdrawStake); every move of a whole bisection game with
the real StepVerifier (commitChallenge, challenge, bisect, respond, proveStep, claimReward, and each
side's total), timeout either way (a slash rewinding two later windows), clearVoided; the one-step
verifier (StepVerifier.step, SPEC v2 V2-6) on the default state and on
the largest legal state, public and private, with the share of calldata, hashing and the rest (arithmetic,
memory, control). Baseline: the targets in the issue — a later single
commit <= 65,000 gas, commitMany <= 30,000 gas per checkpoint at 32 beasts (checked on the
deposit path, the cheap path the ledger offers; the transferFrom path is reported beside it).
All ENERGY allowances are unlimited (OpenZeppelin then skips the allowance write), as the
devnet sets them up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
from eth_utils import keccak  # noqa: E402

import devnet  # noqa: E402
from devnet import artifacts  # noqa: E402
from kernel.board import EMPTY, HAZARD, WALL, Board, Creature, encode_record  # noqa: E402
from kernel.params import DEFAULT_PARAMS, KernelParams  # noqa: E402
from kernel.payload import Payload  # noqa: E402
from kernel.state import DEFAULT_MASK, genesis  # noqa: E402

# The energyBurn the ledger requires (since 1.3.0) of a window that keeps the genesis mask 0b0011
# under the devnet season: 128 x baseCost x 2 slabs.
BURN = DEFAULT_PARAMS.window_energy_burn(DEFAULT_MASK, spurt=False)
TARGET_COMMIT = 65_000
TARGET_MANY_32 = 30_000
TARGET_VERIFIER_DEFAULT = 3_000_000  # issue 12: one micro-step of the default state
TARGET_VERIFIER_LARGEST = 25_000_000  # issue 12: one micro-step of the largest legal state
TX_GAS_CAP = 1 << 24  # EIP-7825 (Osaka): the most gas one transaction may use


def word(k: int, tag: int) -> bytes:
    return Payload(tag.to_bytes(4, "big") + k.to_bytes(12, "big"), (128 * (k + 1)) % 2**32, BURN, DEFAULT_MASK, 8, 0).pack()


def measure(cb: devnet.ChainBeasts, accounts: list, mine) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows: list[dict[str, object]] = []

    def row(name: str, gas: int, per: int = 1, note: str = "") -> None:
        rows.append({"call": name, "gas": gas, "checkpoints": per, "gas_per_checkpoint": gas // per, "note": note})

    owner = accounts[1]
    # Every commit needs the committer's stake >= its energyBurn: staked here as a node does (measured in stake_rows).
    cb.stake(owner, 10**6 * BURN)
    for a in accounts[2:7]:
        cb.stake(a, 10**3 * BURN)
    req = cb.request_hatch_tx(owner)
    row("hatch (request)", req.gas_used, note="hatch data and requester (fresh slots), id reserved")
    r = cb.finalize_hatch_tx(owner, req.event("HatchRequested").args["beastId"])
    row("finalizeHatch", r.gas_used, note="seedCore from the request block's hash, mint; requester slot cleared")
    b1 = r.event("BeastHatched").args["beastId"]
    row("commit: first ever (empty ledger)", cb.commit(owner, b1, word(0, b1)).gas_used,
        note="ledger's ENERGY balance 0 -> non-zero (+17.1k)")
    b2 = cb.hatch(owner)
    row("commit: first window of a beast", cb.commit(owner, b2, word(0, b2)).gas_used,
        note="no previous window to read")
    gas = {k: cb.commit(owner, b2, word(k, b2)).gas_used for k in range(1, 7)}
    later = [g for k, g in gas.items() if k % 4]  # epochSteps 512 = 4 windows: k = 4 opens epoch 1
    row("commit: later window (k=1..6)", max(later), note=f"min {min(later)}; escrow by transferFrom")
    row("commit: epoch's first window, seals its seed (k=4)", gas[4],
        note="nobody sealed epoch 1: the commit stores the closing block's hash (fresh slot)")
    cb.commit(owner, b2, word(7, b2))
    row("sealEpochSeeds (1 epoch)", cb.seal_epoch_seeds(accounts[7], [b2], [2]).gas_used,
        note="anyone; what the node sends before training an epoch's first window")
    trainer = accounts[4]
    cb.authorize_trainer(owner, b2, trainer.address)
    row("commit: epoch's first window, sealed before (k=8)", cb.commit(trainer, b2, word(8, b2)).gas_used,
        note="by the trainer: one more SLOAD (trainer) and the seed's cold SLOAD")

    r = cb.deposit(owner, 1000 * BURN)
    row("deposit (first)", r.gas_used, note="prepay ENERGY for later escrow locks (fresh deposit slot)")
    row("deposit (top-up)", cb.deposit(owner, 1000 * BURN).gas_used)
    row("withdrawDeposit", cb.withdraw_deposit(owner, 1000 * BURN).gas_used, note="part of the deposit back")
    gas = {k: cb.commit(owner, b2, word(k, b2)).gas_used for k in range(9, 14)}
    later = [g for k, g in gas.items() if k % 4]
    row("commit: later window, from deposit", max(later), note=f"min {min(later)}; escrow debited from the deposit")
    row("commit: epoch's first window, seals its seed, from deposit (k=12)", gas[12], note="+ the seed (fresh slot)")
    cb.deposit(trainer, 10 * BURN)
    row("commit: later window by trainer, from deposit", cb.commit(trainer, b2, word(14, b2)).gas_used)
    b5 = cb.hatch(owner)
    row("commit: first window of a beast, from deposit", cb.commit(owner, b5, word(0, b5)).gas_used)

    for n in (1, 8, 32):
        ids = [cb.hatch(owner) for _ in range(n)]
        held = cb.deposit_of(owner)
        cb.withdraw_deposit(owner, held)  # transferFrom path first
        cb.commit_many(owner, ids, [word(0, i) for i in ids])  # window 0
        r = cb.commit_many(owner, ids, [word(1, i) for i in ids])
        row(f"commitMany: {n} beasts (later windows)", r.gas_used, n, note="one transferFrom for the batch")
        cb.deposit(owner, held)
        k = 2
        if n >= 8:
            # Windows 2 (sent without a list) and 3 (as the bindings send it) are both ordinary
            # windows (window 4 opens epoch 1, epochSteps 512: measured below at 32 beasts).
            r = cb.commit_many(owner, ids, [word(2, i) for i in ids], access_list=False)
            row(f"commitMany: {n} beasts, from deposit, no access list", r.gas_used, n,
                note="the same call sent without an EIP-2930 list")
            k = 3
        r = cb.commit_many(owner, ids, [word(k, i) for i in ids])
        listed = "with an access list" if n >= 8 else "no access list (would not pay)"
        row(f"commitMany: {n} beasts, from deposit", r.gas_used, n, note=f"escrow debited from the deposit; {listed}")
        if n == 32:
            r = cb.seal_epoch_seeds(owner, ids, [1] * n)
            row("sealEpochSeeds: 32 beasts", r.gas_used, n, note="epoch 1's seed of each (fresh slots)")
            r = cb.commit_many(owner, ids, [word(4, i) for i in ids])
            row("commitMany: 32 beasts, epoch's first windows, sealed before", r.gas_used, n,
                note="+ each seed's cold SLOAD; from deposit, with an access list")
            ids2 = [cb.hatch(owner) for _ in range(32)]
            r0 = cb.commit_many(owner, ids2, [word(0, i) for i in ids2])
            row("commitMany: 32 beasts (first windows), from deposit", r0.gas_used, 32, note="no previous window to read")

    mine(cb.param(5) + 1)
    row("finalize (one window)", cb.finalize(owner, b1, 0).gas_used, note="burns the escrow")

    return rows + stake_rows(cb, accounts, mine) + game_rows(cb, accounts, mine)


def stake_rows(cb: devnet.ChainBeasts, accounts: list, mine) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Committer stake: first stake, top-up, requestUnstake, withdrawStake."""
    rows: list[dict[str, object]] = []
    who = accounts[7]
    rows.append(_row("stake (first)", cb.stake(who, 10 * BURN).gas_used, note="transferFrom; the stake half of the deposit slot"))
    rows.append(_row("stake (top-up)", cb.stake(who, 10 * BURN).gas_used))
    r = cb.request_unstake(who, 5 * BURN)
    rows.append(_row("requestUnstake", r.gas_used, note="reads the challenge period; unbonding slot (fresh)"))
    mine(cb.stake_of(who).unlock_block - cb.block_number())
    rows.append(_row("withdrawStake", cb.withdraw_stake(who).gas_used, note="transfer; unbonding slot cleared"))
    return rows


def _row(name: str, gas: int, per: int = 1, note: str = "") -> dict[str, object]:
    return {"call": name, "gas": gas, "checkpoints": per, "gas_per_checkpoint": gas // per, "note": note}


def game_rows(cb: devnet.ChainBeasts, accounts: list, mine) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Every move of a whole bisection game with the real StepVerifier and real kernel states (a trainer
    wrong from micro-step 77 on loses to an honest challenger), a game decided on time (slash, rewind of
    three later windows), clearVoided and claimReward; then the totals of each side over the whole game."""
    from kernel.sources import PublicSource
    from kernel.step import WindowStart, micro_step, window_step_states

    rows: list[dict[str, object]] = []
    trainer, ch, anyone = accounts[5], accounts[6], accounts[7]
    bid = cb.hatch(trainer)
    seed_core = bytes(cb.hatch_data(bid).seed_core)
    w = WindowStart(DEFAULT_MASK, 6, seed_core)
    truth = window_step_states(genesis(seed_core, DEFAULT_PARAMS, spec_version=2), PublicSource(), w)
    bad = truth[77].copy()
    bad.w1[0, 0] = int(bad.w1[0, 0]) + 1
    mine_states = [*truth[:77], bad]
    for _ in range(77, 128):
        mine_states.append(micro_step(mine_states[-1], PublicSource(), w).state)
    final = mine_states[-1]
    cb.commit(trainer, bid, Payload(final.h128(), final.global_step, BURN, final.active_mask, final.lr_shift, final.flags).pack())
    truth_b, mine_b = [s.to_bytes() for s in truth], [s.to_bytes() for s in mine_states]
    h = [keccak(x)[:16] for x in truth_b], [keccak(x)[:16] for x in mine_b]
    salt = keccak(b"bench salt")
    sides = {"challenger": 0, "defender": 0}
    r = cb.commit_challenge(ch, bid, 0, salt)
    rows.append(_row("game: commitChallenge", r.gas_used, note="the commitment (fresh slot)"))
    sides["challenger"] += r.gas_used
    r = cb.challenge_tx(ch, bid, 0, salt)
    rows.append(_row("game: challenge", r.gas_used, note="ledger.beginGame, bond transferFrom, game record (fresh slots)"))
    sides["challenger"] += r.gas_used
    gid = int(r.event("GameOpened").args["gameId"])
    moves: dict[str, list[int]] = {"bisect": [], "respond": []}
    while (g := cb.game_of(gid)).is_open:
        mid = (g.lo + g.hi) // 2
        if not g.challenger_to_move:
            r = cb.bisect(trainer, gid, h[1][mid])
            moves["bisect"].append(r.gas_used)
            sides["defender"] += r.gas_used
        elif g.hi - g.lo == 1:
            r = cb.prove_step(ch, gid, truth_b[g.lo], (b"\x00" * 32, 0, b"\x00" * 32, b"", []))
            rows.append(_row("game: proveStep (StepVerifier, default state, public)", r.gas_used,
                             note="the one-step in the EVM, then ledger.endGame: slash, reward to the game"))
            sides["challenger"] += r.gas_used
        else:
            r = cb.respond(ch, gid, g.mid_hash == h[0][mid])
            moves["respond"].append(r.gas_used)
            sides["challenger"] += r.gas_used
    for name, gas in moves.items():
        rows.append(_row(f"game: {name} (max of {len(gas)})", max(gas), note=f"min {min(gas)}"))
    r = cb.claim_reward(anyone, bid, 0, g.stored)
    rows.append(_row("game: claimReward", r.gas_used, note="the reward to the earliest-committed winner"))
    rows.append(_row("game: whole game, challenger's moves", sides["challenger"],
                     note="commitChallenge + challenge + 7 responds + proveStep"))
    rows.append(_row("game: whole game, defender's moves", sides["defender"], note="7 bisects"))

    # On time: window 1 of four challenged, its committer silent; slash voids windows 2 and 3.
    b2 = cb.hatch(trainer)
    for k in range(4):
        cb.commit(trainer, b2, word(k, b2))
    cb.commit_challenge(ch, b2, 1, salt)
    gid = cb.challenge(ch, b2, 1, salt)
    mine(cb.clock_blocks() + 1)
    r = cb.timeout(anyone, gid)
    rows.append(_row("game: timeout (challenger wins: slash, rewind 2 windows)", r.gas_used,
                     note="ledger.endGame: escrow burned, stake cut, reward to the game, lineage rewound"))
    r = cb.clear_voided(anyone, b2, 1)
    rows.append(_row("clearVoided (the slashed window)", r.gas_used, note="slot cleared; its escrow was burned at the slash"))
    r = cb.clear_voided(anyone, b2, 2)
    rows.append(_row("clearVoided (2 voided windows)", r.gas_used, 2, note="slots cleared, escrow burned, range closed"))
    # A game the defender wins on time: it bisects once, the challenger goes silent.
    b3 = cb.hatch(trainer)
    cb.commit(trainer, b3, word(0, b3))
    cb.commit_challenge(ch, b3, 0, salt)
    gid = cb.challenge(ch, b3, 0, salt)
    cb.bisect(trainer, gid, b"\x01" * 16)
    mine(cb.clock_blocks() + 1)
    r = cb.timeout(anyone, gid)
    rows.append(_row("game: timeout (defender wins)", r.gas_used, note="bond to the defender; window Committed again"))
    # A word with the true final state's h128 but another lrShift: the final state's bytes win at once.
    b4 = cb.hatch(trainer)
    seed4 = bytes(cb.hatch_data(b4).seed_core)
    end = window_step_states(genesis(seed4, DEFAULT_PARAMS, spec_version=2), PublicSource(), WindowStart(DEFAULT_MASK, 6, seed4))[-1]
    cb.commit(trainer, b4, Payload(end.h128(), end.global_step, BURN, end.active_mask, end.lr_shift + 1, end.flags).pack())
    cb.commit_challenge(ch, b4, 0, salt)
    gid = cb.challenge(ch, b4, 0, salt)
    r = cb.prove_word_lie(ch, gid, end.to_bytes())
    rows.append(_row("game: proveWordLie (default state)", r.gas_used,
                     note="the final state's fields against the word's, then the slash as proveStep's"))
    return rows


def _verifier_state(params: KernelParams, mask: int, seed: int, root: bytes = b"\x00" * 32) -> bytes:
    """A v2 state in epoch 6 (every head trains) whose active units all have h > 0: genesis-range weights
    (|w| <= 1024) and b1 in 8000..12000, so every row of W1 and every column of W2 is visited."""
    g = genesis(keccak(b"bench verifier %d" % seed), params, dataset_commitment=root, spec_version=2)
    rng = np.random.default_rng(seed)
    return replace(g, global_step=6 * params.epoch_steps + 1, active_mask=mask,
                   b1=rng.integers(8000, 12000, size=g.b1.shape)).to_bytes()


def _worst_record() -> bytes:
    """A board that makes the most work: not adjacent but reachable (a move label, so all six heads have a
    gradient), walls and hazards in every word of the 5x5 view, six non-binary features and crit."""
    tiles = [EMPTY] * 64
    for t in (9, 10, 12, 17, 20, 25, 35, 41, 43, 44):
        tiles[t] = WALL
    for t in (11, 19, 26, 34, 36, 42):
        tiles[t] = HAZARD
    me = Creature(hp=200, stamina=10, defense=50, temp_def=64, crit=1, last_action=0)
    enemy = Creature(hp=180, stamina=5, defense=40, temp_def=32, crit=0, last_action=2)
    return encode_record(Board(tuple(tiles), 27, 54, me, enemy))


def _calldata_gas(data: bytes) -> tuple[int, int]:
    """(EIP-2028 calldata gas, EIP-7623 floor of the whole transaction)."""
    zeros = data.count(0)
    nonzero = len(data) - zeros
    return 16 * nonzero + 4 * zeros, 21_000 + 10 * (zeros + 4 * nonzero)


def verifier_rows(w3) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """Gas of StepVerifier.step transactions: the default state and the largest legal state, public and
    private. Shares: calldata (EIP-2028), hashing (every keccak256 the step does, by the opcode's formula:
    the pre- and post-state hashes, and for a private step the root binding, sample key, index, leaf and
    Merkle path) and the rest (arithmetic, memory, control flow), each of the transaction's gasUsed."""
    from curriculum.records import records_tree

    art = artifacts.load("StepVerifier")
    sender = w3.eth.accounts[0]
    deploy = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor().transact({"from": sender, "gas": 8_000_000})
    verifier = w3.eth.contract(address=w3.eth.wait_for_transaction_receipt(deploy).contractAddress, abi=art.abi)
    rows: list[dict[str, object]] = []
    record = _worst_record()
    tree = records_tree([record])
    private = (b"\x07" * 32, 1, tree.merkle_root, record, [])
    public = (b"\x00" * 32, 0, b"\x00" * 32, b"", [])
    largest = KernelParams(slot_width=192, n_slots=8, epoch_steps=128)
    cases = [
        ("verifier: default state (public)", _verifier_state(DEFAULT_PARAMS, DEFAULT_MASK, 1), DEFAULT_MASK, public, 0),
        ("verifier: default state (private)", _verifier_state(DEFAULT_PARAMS, DEFAULT_MASK, 1, tree.records_root),
         DEFAULT_MASK, private, 0),
        ("verifier: largest state (public)", _verifier_state(largest, 0xFF, 2), 0xFF, public, 0),
        ("verifier: largest state (private, worst board)", _verifier_state(largest, 0xFF, 2, tree.records_root), 0xFF,
         private, 0),
    ]
    for name, pre, mask, sample, depth in cases:
        fn = verifier.functions.step(pre, (mask, 0, b"\x05" * 32), sample)
        data = bytes.fromhex(fn._encode_transaction_data()[2:])
        receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender, "gas": 40_000_000}))
        assert receipt.status == 1, name
        gas = int(receipt.gasUsed)
        calldata, floor = _calldata_gas(data)
        words = (len(pre) + 31) // 32
        hashing = 2 * (30 + 6 * words)
        if sample is private:  # root binding (36 B), sample key (89 B), index (36 B), leaf (28 B), path levels
            hashing += (30 + 6 * 2) + (30 + 6 * 3) + (30 + 6 * 2) + (30 + 6 * 1) + depth * (30 + 6 * 2)
        rest = gas - 21_000 - calldata - hashing
        rows.append({"call": name, "gas": gas, "checkpoints": 1, "gas_per_checkpoint": gas,
                     "note": f"{len(pre):,} B state; calldata {100 * calldata / gas:.0f}%, hashing {100 * hashing / gas:.1f}%, "
                             f"arithmetic/memory/control {100 * rest / gas:.0f}%, base 21,000; EIP-7623 floor {floor:,}",
                     "shares": {"calldata": calldata, "hashing": hashing, "rest": rest, "base": 21_000, "floor": floor}})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--engine", choices=("pyevm", "anvil"), default="pyevm")
    args = ap.parse_args(argv)
    if args.engine == "pyevm":
        net = devnet.start(accounts=8, stake=0)  # the bench stakes as a node does (and measures it)
        rows = measure(net.chain, net.accounts, net.mine) + verifier_rows(net.w3)
        engine = "py-evm 0.12.1b1 (eth-tester, Prague)"
    else:
        from devnet.launch import launch

        with tempfile.TemporaryDirectory() as tmp, launch("anvil", port=0, run_dir=tmp, accounts=8, stake=0) as run:
            rows = measure(run.chain, run.accounts, run.chain.mine) + verifier_rows(run.chain.w3)
        engine = "anvil 1.7.1 (--hardfork prague)"
    def gas_of(call: str, key: str = "gas") -> int:
        return int(next(r[key] for r in rows if r["call"] == call))  # type: ignore[call-overload]

    later = gas_of("commit: later window, from deposit")
    v_default = max(gas_of("verifier: default state (public)"), gas_of("verifier: default state (private)"))
    v_largest = max(gas_of("verifier: largest state (public)"), gas_of("verifier: largest state (private, worst board)"))
    many32 = gas_of("commitMany: 32 beasts, from deposit", "gas_per_checkpoint")
    summary = {
        "engine": engine,
        "targets": {
            "commit_later_le_65000": {"value": later, "met": later <= TARGET_COMMIT,
                                      "transferFrom_path": gas_of("commit: later window (k=1..6)")},
            "commitMany32_per_checkpoint_le_30000": {
                "value": many32, "met": many32 <= TARGET_MANY_32,
                "without_access_list": gas_of("commitMany: 32 beasts, from deposit, no access list", "gas_per_checkpoint"),
                "transferFrom_path": gas_of("commitMany: 32 beasts (later windows)", "gas_per_checkpoint")},
            "verifier_default_le_3000000": {"value": v_default, "met": v_default <= TARGET_VERIFIER_DEFAULT},
            "verifier_largest_lt_25000000": {"value": v_largest, "met": v_largest < TARGET_VERIFIER_LARGEST,
                                             "under_eip7825_cap": v_largest <= TX_GAS_CAP},
        },
    }
    if args.json:
        print(json.dumps({"rows": rows, **summary}, indent=2))
        return 0
    print(f"engine: {engine}")
    print(f"| {'call':50} | {'gas':>10} | {'gas/checkpoint':>14} | note")
    print(f"|{'-' * 52}|{'-' * 12}|{'-' * 16}|------")
    for r in rows:
        per = f"{r['gas_per_checkpoint']:,}" if r["checkpoints"] != 1 or str(r["call"]).startswith("commit") else ""
        print(f"| {r['call']:50} | {r['gas']:>10,} | {per:>14} | {r['note']}")
    for name, t in summary["targets"].items():
        if "transferFrom_path" not in t:
            cap = f" (within the EIP-7825 cap 2^24: {'yes' if t['under_eip7825_cap'] else 'no'})" if "under_eip7825_cap" in t else ""
            print(f"target {name}: {t['value']:,} -> {'met' if t['met'] else 'NOT met'}{cap}")
            continue
        plain = f", without access list: {t['without_access_list']:,}" if "without_access_list" in t else ""
        print(f"target {name}: {t['value']:,} from deposit -> {'met' if t['met'] else 'NOT met'}"
              f" (transferFrom path: {t['transferFrom_path']:,}{plain})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
