"""A dishonest trainer slashed end to end (e2e scenario 2) on anvil: time, blocks, gas, ENERGY moved.

    python bench/dispute.py [--json] [--engine anvil|pyevm] [--runs N]

Everything runs as real processes on 127.0.0.1 (tests/e2e/cluster.py): ``cb-devnet up``, a
``cb-node`` serving checkpoints, three ``cb-validator watch`` (quorum 2, poll 0.3 s) and the
challenger's ``cb-dispute`` commands. Per run a fresh public beast's window 3 is committed
with a made-up h128 by the trainer; then, timed from the moment the challenger starts it:

1. ``cb-dispute open --node ... --yes`` (local replay first, then openDispute);
2. ``cb-dispute status ID --watch --resolve`` until the validators' quorum lets it resolve;
3. ``cb-dispute claim ID`` for the challenger (validators claim through the bindings).

Reported: seconds and blocks from the open command's start to the DisputeResolved block
(open-to-slash) and to the claim, the gas of each transaction (approve when needed,
openDispute, each vote, resolve, each claim) read from the receipts, and the ENERGY moved
(bond posted, escrow slashed, payouts). Baseline: the issue's target of < 120 s open-to-slash.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import Cluster, commit_window3, start_cluster, wait_until  # noqa: E402
from validator.dispute import format_energy  # noqa: E402

TARGET_S = 120.0


def _receipt_gas(c: Cluster, tx_hash: Any) -> int:
    return int(c.cb.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])


def _event_txs(c: Cluster, contract: Any, event: str, topics: list[Any], from_block: int) -> list[tuple[Any, Any]]:
    ev = getattr(contract.events, event)()
    logs = c.cb.w3.eth.get_logs({"address": contract.address, "fromBlock": from_block, "toBlock": "latest",
                                 "topics": [ev.topic, *topics]})
    return [(log["transactionHash"], ev.process_log(log)) for log in logs]


def one_run(c: Cluster, beast: int) -> dict[str, Any]:
    """Scenario 2 on ``beast``; returns the measurements."""
    w3 = commit_window3(c, beast, "h128")
    b0 = c.cb.block_number()
    challenger_before = c.cb.balance_of(c.challenger)
    t0 = time.monotonic()
    code, out, err = c.dispute("open", "--beast", beast, "--window", 3, "--node", c.node_addr, "--yes",
                               "--private-key-file", c.challenger_key)
    if code != 0:
        raise RuntimeError(f"cb-dispute open exited {code}: {err}")
    t_open = time.monotonic() - t0
    did = int(out["disputeId"])
    code, _, err = c.dispute("status", did, "--watch", "--resolve", "--private-key-file", c.challenger_key,
                             "--interval", "0.2", "--timeout", "300", timeout=330)
    if code != 0:
        raise RuntimeError(f"cb-dispute status --watch exited {code}: {err}")
    t_resolved = time.monotonic() - t0
    code, claim_out, err = c.dispute("claim", did, "--private-key-file", c.challenger_key)
    if code != 0:
        raise RuntimeError(f"cb-dispute claim exited {code}: {err}")
    t_claimed = time.monotonic() - t0
    wait_until(lambda: c.cb.dispute(did).outcome != 0, 10, "the outcome")

    topic = "0x" + did.to_bytes(32, "big").hex()
    game = c.cb.game
    opened = _event_txs(c, game, "DisputeOpened", [topic], b0)
    votes = _event_txs(c, game, "VoteCast", [topic], b0)
    resolved = _event_txs(c, game, "DisputeResolved", [topic], b0)
    resolve_block = int(c.cb.w3.eth.get_transaction_receipt(resolved[0][0])["blockNumber"])
    open_block = int(c.cb.w3.eth.get_transaction_receipt(opened[0][0])["blockNumber"])
    gas: dict[str, Any] = {
        "approve": out["gas"].get("approve"),
        "openDispute": _receipt_gas(c, opened[0][0]),
        "votes": [_receipt_gas(c, h) for h, _ in votes],
        "resolve": _receipt_gas(c, resolved[0][0]),
        "claimChallenger": claim_out["gas"].get("claim"),
    }
    # Validators collect their shares (bindings, once their watchers are done with the dispute).
    block_before_claims = c.cb.block_number() + 1
    c.claim_validators(did)
    claimed = _event_txs(c, game, "Claimed", [], block_before_claims)
    gas["claimValidators"] = [_receipt_gas(c, h) for h, _ in claimed]
    d = c.cb.dispute(did)
    share = w3.escrow // 2 // d.against
    moved = {
        "bond": d.bond,
        "escrowSlashed": w3.escrow,
        "toChallenger": d.bond + w3.escrow - share * d.against,
        "toValidators": share * d.against,
        "challengerNet": c.cb.balance_of(c.challenger) - challenger_before,
    }
    return {
        "disputeId": did, "beast": beast, "outcome": d.outcome.name.lower(), "agree": d.agree, "against": d.against,
        "secondsOpenCommand": round(t_open, 2), "secondsOpenToSlash": round(t_resolved, 2),
        "secondsOpenToClaim": round(t_claimed, 2), "blocksOpenToSlash": resolve_block - open_block,
        "gas": gas, "energyWei": {k: str(v) for k, v in moved.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--engine", choices=("anvil", "pyevm"), default="anvil")
    ap.add_argument("--runs", type=int, default=3, help="disputes to time (1..5; default 3)")
    args = ap.parse_args(argv)
    if not 1 <= args.runs <= 5:
        ap.error("--runs must be 1..5 (one public beast per run)")
    with tempfile.TemporaryDirectory(prefix="cb-bench-dispute-") as tmp:
        c = start_cluster(Path(tmp), engine=args.engine)
        try:
            runs = [one_run(c, c.public_beasts[i]) for i in range(args.runs)]
        finally:
            c.close()
    best = min(r["secondsOpenToSlash"] for r in runs)
    med = statistics.median(r["secondsOpenToSlash"] for r in runs)
    report = {"engine": args.engine, "runs": runs, "startupSeconds": c.timings.get("startup_s"),
              "openToSlashBest": best, "openToSlashMedian": med, "targetSeconds": TARGET_S, "met": med < TARGET_S}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"dispute bench on {args.engine}: {args.runs} run(s); cluster start-up {report['startupSeconds']} s")
    for r in runs:
        g = r["gas"]
        e = r["energyWei"]
        print(f"  dispute {r['disputeId']}: {r['outcome']} ({r['against']} against, {r['agree']} agree)  "
              f"open command {r['secondsOpenCommand']} s, open-to-slash {r['secondsOpenToSlash']} s / "
              f"{r['blocksOpenToSlash']} blocks, open-to-claim {r['secondsOpenToClaim']} s")
        print(f"    gas: openDispute {g['openDispute']:,}, votes {', '.join(f'{v:,}' for v in g['votes'])}, "
              f"resolve {g['resolve']:,}, claim {g['claimChallenger']:,} (validators "
              f"{', '.join(f'{v:,}' for v in g['claimValidators'])})")
        print(f"    ENERGY: bond {format_energy(int(e['bond']))}, escrow slashed {format_energy(int(e['escrowSlashed']))}, "
              f"to challenger {format_energy(int(e['toChallenger']))}, to validators {format_energy(int(e['toValidators']))}")
    print(f"open-to-slash: best {best} s, median {med} s; target < {TARGET_S:.0f} s: {'met' if report['met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
