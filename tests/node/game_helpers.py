"""A challenger for the node's defense and rewind tests: real BisectionGame moves on the embedded devnet.

The challenger is a dev account playing through devnet.bindings (commit-reveal challenge, respond,
proveStep, timeout); its "truth" is the 129 step states of kernel.step replayed independently of
the node. It is a test player, not a mock: every move is a real transaction the contract judges.
"""

from __future__ import annotations

import os
from typing import Any

from eth_account.signers.local import LocalAccount

from kernel.sources import PublicSource
from kernel.state import KernelState
from kernel.step import WindowStart, window_step_states
from node.beast_run import BeastRun

ZERO32 = b"\x00" * 32
OPEN, DEFENDER_WON, CHALLENGER_WON = 0, 1, 2


def empty_sample() -> tuple[Any, ...]:
    """A PrivateSample for a public beast (the verifier reads no record)."""
    return (ZERO32, 0, ZERO32, b"", [])


def true_states(run: BeastRun, window: int, start: KernelState | None = None) -> list[bytes]:
    """The true 129 step states of node window ``window`` from the node's stored start (or ``start``),
    with the stored row's settings: what an honest challenger computes."""
    store = run.store
    row = store.get(window)
    assert row is not None
    start = start or store.load_state(window - 1)
    w = WindowStart(row.active_mask, row.lr_shift, row.epoch_seed)
    return [s.to_bytes() for s in window_step_states(start, PublicSource(), w)]


def h16(state: bytes) -> bytes:
    from eth_utils import keccak

    return keccak(state)[:16]


def open_game(cb: Any, challenger: LocalAccount, beast: int, window: int) -> int:
    """Challenge node window ``window`` (ledger index window - 1) with a fresh commitment; returns the game id."""
    salt = os.urandom(32)
    cb.commit_challenge(challenger, beast, window - 1, salt)
    return int(cb.challenge(challenger, beast, window - 1, salt))


def challenger_move(cb: Any, challenger: LocalAccount, gid: int, truth: list[bytes], *, liar: bool = False) -> bool:
    """One move of the challenger if it is its turn (False when not): honest with ``truth``; a ``liar``
    disagrees with every claim and then proves the last step (from the true state it has, which
    the verifier's post-state shows to agree with the defender)."""
    g = cb.game_of(gid)
    if g.outcome != OPEN or not g.challenger_to_move:
        return False
    if g.hi - g.lo == 1:
        cb.prove_step(challenger, gid, truth[g.lo], empty_sample())
        return True
    mid = (g.lo + g.hi) // 2
    cb.respond(challenger, gid, not liar and bytes(g.mid_hash) == h16(truth[mid]))
    return True
