"""Checking a window before any bond is posted: replay it locally, or through a validator's gRPC
service, from its start state, and compare the word it computes with the committed one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.bindings import ChainBeasts
from validator.dispute.curriculum import Curriculum, dataset_fault, provable_fault
from validator.dispute.errors import ChainDataError, UsageError
from validator.dispute.formatting import format_energy
from validator.dispute.start import StartState, fetch_start, run_replay
from validator.dispute.window import WindowOnChain
from validator.errors import ValidatorError
from validator.replay import ReplayRequest


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a local (or validator) replay of a window before any bond is posted."""

    window: WindowOnChain
    verdict: str  # "match" | "diverged"
    computed_word: bytes | None
    mismatched_fields: tuple[str, ...]
    reason: str
    first_divergent_step: int | None
    replayed_by: str  # "local numpy" | "validator HOST:PORT"
    start_origin: str
    divergent_window: int  # the window that diverges (K, or an earlier one found while rebuilding)
    seconds: float

    @property
    def diverged(self) -> bool:
        return self.verdict == "diverged"

    def to_json(self) -> dict[str, Any]:
        w = self.window
        return {
            "beastId": w.beast_id,
            "window": w.window,
            "ledgerIndex": w.index,
            "verdict": self.verdict,
            "divergentWindow": self.divergent_window if self.diverged else None,
            "committedWord": "0x" + w.word.hex(),
            "computedWord": "0x" + self.computed_word.hex() if self.computed_word else None,
            "mismatchedFields": list(self.mismatched_fields),
            "reason": self.reason,
            "firstDivergentStep": self.first_divergent_step,
            "replayedBy": self.replayed_by,
            "startState": self.start_origin,
            "status": w.status.name.lower(),
            "challengeDeadline": w.challenge_deadline,
            "block": w.block,
            "challengeable": w.challengeable,
            "bond": str(w.bond),
            "bondEnergy": format_energy(w.bond),
            "seconds": round(self.seconds, 3),
        }



def check_window(chain: ChainBeasts, w: WindowOnChain, cur: Curriculum | None, *, state_file: Path | None = None,
                 node: str | None = None, validator: str | None = None, backend: str = "numpy",
                 timeout_s: float = 60.0) -> CheckResult:
    """Replay window K locally (or through a validator's gRPC service) against its committed word."""
    t0 = time.perf_counter()
    fault = dataset_fault(cur, w.hatch)
    if fault is not None:
        # No honest training on this file exists; the trainer committed to it (SPEC §10.6).
        how = ("provable on chain: a challenge wins with proveInvalidDataset" if provable_fault(cur, w.hatch) is not None
               else "not provable on chain: no challenge can win")
        return CheckResult(w, "diverged", None, (), f"{fault}: that counts against the trainer (SPEC §10.6); {how}",
                           None, "nobody (no replay possible)", "not needed", w.window, time.perf_counter() - t0)
    start = fetch_start(chain, w, cur, state_file=state_file, node=node, backend=backend)
    if start.earlier_divergence is not None:
        rep = start.earlier_report
        assert rep is not None
        return CheckResult(w, "diverged", rep.computed.pack(), rep.mismatched_fields,
                           f"window {start.earlier_divergence} (before window {w.window}) does not reproduce: dispute "
                           f"window {start.earlier_divergence}" + (f" ({rep.reason})" if rep.reason else ""),
                           rep.first_divergent_step, f"local {backend}", start.origin, start.earlier_divergence,
                           time.perf_counter() - t0)
    if validator is not None:
        return _check_remote(w, cur, start, validator, timeout_s, t0)
    req = ReplayRequest(w.commitments, w.window, start_state=start.blob, prev_h128=w.prev_h128, committed_word=w.word,
                        epoch_seed=w.epoch_seed, dataset=cur.dataset if cur else None,
                        owner_secret=cur.owner_secret if cur else None)
    report = run_replay(req, backend, w.max_dataset_bytes)
    return CheckResult(w, "match" if report.match else "diverged", report.computed.pack(), report.mismatched_fields,
                       report.reason, report.first_divergent_step, f"local {backend}", start.origin, w.window,
                       time.perf_counter() - t0)


def _check_remote(w: WindowOnChain, cur: Curriculum | None, start: StartState, address: str, timeout_s: float,
                  t0: float) -> CheckResult:
    import grpc

    from chainbeasts.v1 import validator_pb2, validator_pb2_grpc
    from validator.node_client import check_node_address

    try:
        check_node_address(address)
    except ValidatorError as exc:
        raise UsageError(f"--validator: {exc}") from None
    req = validator_pb2.ReplayWindowRequest(
        beast_id=w.beast_id, window=w.window,
        beast=validator_pb2.BeastCommitments(seed_core=w.hatch.seed_core, dataset_commitment=w.hatch.dataset_commitment,
                                             secret_commitment=w.hatch.secret_commitment,
                                             epoch_steps=w.params.epoch_steps, base_cost=w.params.base_cost,
                                             spurt_cost=w.params.spurt_cost, spec_version=w.hatch.spec_version,
                                             records_root=w.hatch.records_root),
        claim=validator_pb2.WindowClaim(prev_h128=w.prev_h128, committed_word=w.word, epoch_seed=w.epoch_seed),
        start_state=start.blob or b"",
        dataset=cur.dataset if cur else b"", owner_secret=cur.owner_secret if cur else b"",
    )
    channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 1 << 20)])
    try:
        resp = validator_pb2_grpc.ValidatorServiceStub(channel).ReplayWindow(req, timeout=timeout_s)
    except grpc.RpcError as exc:
        code = exc.code().name if hasattr(exc, "code") and exc.code() else "error"
        details = exc.details() if hasattr(exc, "details") else ""
        raise ChainDataError(f"validator {address}: ReplayWindow failed: {code}: {details}") from None
    finally:
        channel.close()
    step = resp.first_divergent_step if resp.first_divergent_step >= 0 else None
    return CheckResult(w, "match" if resp.match else "diverged", bytes(resp.computed_word) or None,
                       tuple(resp.mismatched_fields), resp.reason, step, f"validator {address} ({resp.backend})",
                       start.origin, w.window, time.perf_counter() - t0)


__all__ = ["CheckResult", "check_window"]
