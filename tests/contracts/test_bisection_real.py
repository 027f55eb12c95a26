"""BisectionGame with the real StepVerifier and real kernel step states (spec version 2).

A trainer whose window 1 (ledger index 0) is right except one weight nudged after micro-step 77
loses: the honest challenger's hashes come from ``kernel.step.window_step_states``, the one-step
runs in the EVM. And an honest trainer's window beats a challenger who disputes the last step.
Skipped until contracts/build/StepVerifier.json exists (the verifier helper lands it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bisection_helpers import BURN, GameNet, empty_sample, play_challenger, play_defender, start_game_net
from devnet import artifacts
from kernel.params import DEFAULT_PARAMS
from kernel.payload import Payload
from kernel.sources import PublicSource
from kernel.state import KernelState, from_bytes, genesis
from kernel.step import WindowStart, micro_step, window_step_states

pytestmark = pytest.mark.skipif(not (artifacts.build_dir() / "StepVerifier.json").exists(),
                                reason="StepVerifier is not built yet")
CHALLENGER_WON, DEFENDER_WON = 2, 1


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
        while gn.game_of(gid)["outcome"] == 0:
            g = gn.game_of(gid)
            if g["challengerToMove"]:
                if lie_at is None:  # a challenger with no case disagrees to the end and proves
                    gn.respond(challenger, gid, False)
                else:
                    play_challenger(gn, challenger, gid, truth, empty_sample())
            elif g["hi"] - g["lo"] == 1 and lie_at is not None:
                gn.prove_step(challenger, gid, truth[g["lo"]], empty_sample(), tag="proveStep (StepVerifier)")
            else:
                play_defender(gn, trainer, gid, mine, empty_sample())
        g = gn.game_of(gid)
        if lie_at is None:
            assert g["outcome"] == DEFENDER_WON and (g["lo"], g["hi"]) == (0, 1)
        else:
            assert g["outcome"] == CHALLENGER_WON and (g["lo"], g["hi"]) == (lie_at - 1, lie_at)
        print("\nproveStep gas with StepVerifier:", gn.gas.get("proveStep (StepVerifier)") or gn.gas.get("proveStep"))
    finally:
        gn.raw.tester.revert_to_snapshot(snap)
        gn.cb.sender._nonces.clear()
