"""BisectionGame with the real StepVerifier and real kernel step states (spec version 2).

A trainer whose window 1 (ledger index 0) is right except one weight nudged after micro-step 77
loses: the honest challenger's hashes come from ``kernel.step.window_step_states``, the one-step
runs in the EVM. An honest trainer beats a challenger who disagrees with everything and then has
to prove step 0 itself (the one-step starts from the genesis the game rebuilds). A private beast's
owner beats its hired trainer with one record and its Merkle path.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import keccak

from bisection_helpers import (BURN, CHALLENGER_WON, DEFENDER_WON, SLASHED, GameNet, empty_sample, play_challenger,
                               play_defender, start_game_net)
from kernel.params import DEFAULT_PARAMS
from kernel.payload import Payload
from kernel.sources import PublicSource
from kernel.state import KernelState, from_bytes, genesis  # noqa: F401
from kernel.step import WindowStart, micro_step, window_step_states



@pytest.fixture(scope="module")
def gn() -> Iterator[GameNet]:
    yield start_game_net(accounts=4, clock=200, params={"challenge_period": 600}, verifier="StepVerifier")


def _window(seed_core: bytes, lie_at: int | None) -> tuple[list[bytes], list[bytes]]:
    """(the trainer's 129 state bytes, the true ones) of window 1 from genesis."""
    g = genesis(seed_core, DEFAULT_PARAMS, spec_version=2)
    w = WindowStart(3, 6, seed_core)
    truth = window_step_states(g, PublicSource(), w)
    mine: list[KernelState] = list(truth)
    if lie_at is not None:
        bad = truth[lie_at].copy()
        bad.w1[0, 0] = (int(bad.w1[0, 0]) + 1) if bad.w1[0, 0] < 1000 else (int(bad.w1[0, 0]) - 1)
        mine = [*truth[:lie_at], bad]
        for _ in range(lie_at, 128):
            mine.append(micro_step(mine[-1], PublicSource(), w).state)
    return [s.to_bytes() for s in mine], [s.to_bytes() for s in truth]


@pytest.mark.parametrize("lie_at", [77, None], ids=["lying-trainer", "honest-trainer"])
def test_real_one_step(gn: GameNet, lie_at: int | None) -> None:
    snap = gn.raw.tester.take_snapshot()
    gn.cb.sender._nonces.clear()
    try:
        trainer, challenger = gn.a[1], gn.a[2]
        beast = gn.cb.hatch(trainer)
        seed_core = bytes(gn.cb.hatch_data(beast).seed_core)
        mine, truth = _window(seed_core, lie_at)
        final = from_bytes(mine[-1])
        gn.cb.commit(trainer, beast, Payload(final.h128(), final.global_step, BURN, final.active_mask,
                                              final.lr_shift, final.flags).pack())
        gid = gn.challenge(challenger, beast, 0)
        tag = "proveStep (StepVerifier)" if lie_at is not None else "proveStep"
        while gn.game_of(gid)["outcome"] == 0:
            g = gn.game_of(gid)
            if g["challengerToMove"] and g["hi"] - g["lo"] == 1:  # the challenger proves the last step
                gn.prove_step(challenger, gid, truth[g["lo"]], empty_sample(), tag=tag)
            elif g["challengerToMove"]:
                if lie_at is None:  # a challenger with no case disagrees to the end
                    gn.respond(challenger, gid, False)
                else:
                    play_challenger(gn, challenger, gid, truth, empty_sample())
            else:
                play_defender(gn, trainer, gid, mine)
        g = gn.game_of(gid)
        if lie_at is None:
            assert g["outcome"] == DEFENDER_WON and (g["lo"], g["hi"]) == (0, 1)
        else:
            assert g["outcome"] == CHALLENGER_WON and (g["lo"], g["hi"]) == (lie_at - 1, lie_at)
        where = f"step {lie_at - 1}" if lie_at else "step 0, genesis rebuilt"
        print(f"\n{tag} gas ({where}):", gn.gas[tag][-1])
    finally:
        gn.raw.tester.revert_to_snapshot(snap)
        gn.cb.sender._nonces.clear()


def test_real_private_beast_owner_disputes_hired_trainer(gn: GameNet) -> None:
    """A private version-2 beast: the hired trainer is wrong from micro-step 40 on; the owner, who
    holds the dataset and S_owner, wins with one record and its Merkle path (not the dataset)."""
    from curriculum.dataset import Dataset
    from curriculum.source import PrivateDatasetSource
    from kernel.board import encode_record
    from kernel.sources import draw_board

    snap = gn.raw.tester.take_snapshot()
    gn.cb.sender._nonces.clear()
    try:
        owner, trainer = gn.a[1], gn.a[2]
        records = [encode_record(draw_board(i + 1, None)) for i in range(5)]
        secret = bytes(range(32))
        source = PrivateDatasetSource(Dataset(keccak(b"".join(records)), b"".join(records)), secret, spec_version=2)
        beast = gn.cb.hatch(owner, keccak(b"the dataset file"), keccak(secret), source.records_root)
        gn.cb.authorize_trainer(owner, beast, trainer.address)
        seed_core = bytes(gn.cb.hatch_data(beast).seed_core)
        g0 = genesis(seed_core, DEFAULT_PARAMS, dataset_commitment=source.records_root, spec_version=2)
        w = WindowStart(3, 6, seed_core)
        truth = window_step_states(g0, source, w)
        bad = truth[40].copy()
        bad.b2[0] = int(bad.b2[0]) + 1
        mine = [*truth[:40], bad]
        for _ in range(40, 128):
            mine.append(micro_step(mine[-1], source, w).state)
        final = mine[-1]
        gn.cb.commit(trainer, beast, Payload(final.h128(), final.global_step, BURN, final.active_mask,
                                             final.lr_shift, final.flags).pack())
        gid = gn.challenge(owner, beast, 0)
        mine_b, truth_b = [s.to_bytes() for s in mine], [s.to_bytes() for s in truth]
        while gn.game_of(gid)["hi"] - gn.game_of(gid)["lo"] > 1:
            play_defender(gn, trainer, gid, mine_b)
            play_challenger(gn, owner, gid, truth_b)
        assert gn.game_of(gid)["challengerToMove"]
        lo = gn.game_of(gid)["lo"]
        assert lo == 39
        pre = truth[lo]
        proof = source.proof(pre.seed_core, pre.global_step)
        sample = (secret, proof.dataset_len, proof.merkle_root, proof.record, list(proof.path))
        r = gn.prove_step(owner, gid, truth_b[lo], sample, tag="proveStep (StepVerifier, private)")
        assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON
        assert gn.status(beast, 0) == SLASHED
        print("\nproveStep gas, private step with its record proof:", r.gas)
    finally:
        gn.raw.tester.revert_to_snapshot(snap)
        gn.cb.sender._nonces.clear()


def test_largest_state_prove_step_through_the_game_on_anvil(tmp_path) -> None:  # noqa: ANN001
    """The worst proveStep a game can meet: the largest legal v2 state (slot_width 192 x 8 slots,
    every slot active, every unit h > 0) as the agreed pre-state, through BisectionGame on anvil
    (py-evm needs tens of seconds per such step). The whole transaction stays under the EIP-7825
    cap of 2^24 gas, so a challenger can always send it. The agreed h_lo is the hash of that state
    because the defender claimed it at step 64 and the challenger agreed (the game checks hashes,
    not shapes: an honest challenger never agrees to a state of another shape)."""
    from dataclasses import replace as dc_replace

    from devnet.anvil import AnvilProcess, dev_keys
    from devnet.errors import ConfigError
    from test_step_verifier_anvil import LARGEST, busy_state
    from web3 import Web3

    try:
        proc = AnvilProcess(str(tmp_path), accounts=4).start()
    except ConfigError as exc:
        pytest.skip(f"anvil binary missing: {exc}")
    try:
        w3 = Web3(Web3.HTTPProvider(proc.url, request_kwargs={"timeout": 120}))
        gn = start_game_net(accounts=4, clock=200, params={"challenge_period": 600}, verifier="StepVerifier",
                            on=(w3, dev_keys(4)))
        trainer, challenger = gn.a[1], gn.a[2]
        beast = gn.cb.hatch(trainer)
        gn.cb.commit(trainer, beast, Payload(b"\x42" * 16, 128, BURN, 3, 6, 0).pack())
        gid = gn.challenge(challenger, beast, 0)
        state = from_bytes(busy_state(LARGEST, 0xFF, 7, 6 * 128 + 64))
        pre = dc_replace(state, step=64, loss_acc=5 * 64, loss_sum_prev=1 << 40).to_bytes()
        assert len(pre) == 218_297
        gn.bisect(trainer, gid, keccak(pre)[:16])  # h_64
        gn.respond(challenger, gid, True)
        while gn.game_of(gid)["hi"] - gn.game_of(gid)["lo"] > 1:
            gn.bisect(trainer, gid, keccak(b"%d" % gn.game_of(gid)["hi"])[:16])
            gn.respond(challenger, gid, False)
        assert (gn.game_of(gid)["lo"], gn.game_of(gid)["hi"]) == (64, 65)
        r = gn.prove_step(challenger, gid, pre, empty_sample(), tag="proveStep (largest v2 state)",
                          gas=2**24)  # the EIP-7825 cap
        assert r.named("GameEnded")[0]["outcome"] == CHALLENGER_WON
        print("\nproveStep through the game, largest v2 state (anvil):", r.gas)
        assert r.gas < 2**24
    finally:
        proc.stop()
