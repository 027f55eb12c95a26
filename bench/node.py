"""Trainer-node benchmark: windows committed per minute for 1 to 1,024 beasts, and the ratio to the batched kernel.

    python bench/node.py [--json] [--engines pyevm,anvil] [--beasts 1,8,64] [--seconds S] [--data-dir DIR]

Every configuration also times ``kernel.batched.train_windows_batched`` alone on the same beasts'
states in the same run (``kernel``: the vectorized inputs and **no per-step digests**, exactly the
training the node does since it recomputes digests only when a validator asks, node.step_digests;
the kernel with digests is reported beside it), right after each of the node's segments so that
both see the load of the same minute, and ``ratio`` = the node's best segment's beast-micro-steps/s
over the kernel's best: the share of the kernel's speed the node passes on. Ratios are comparable
between runs on a busy shared machine; absolute figures are not.

What is timed is the node's own loop: train one window per beast, persist every checkpoint (atomic
write and SQLite row; made durable with the commit's one sync before its broadcast), sign, record,
broadcast and confirm the commits. ``node``
runs ``Engine.pipelined_round`` (node.pipeline: a round's commits in flight while the next round
trains; the count is the windows committed in the segment), ``baseline`` runs ``train_next`` then
``commit_pending``. Hatching is not timed (its seconds are reported). Each configuration runs whole
rounds for ``--seconds`` split into two segments, each of whole epoch cycles (windows per epoch + 1
rounds: in ``node`` mode each beast waits one of them for the commit closing its epoch, staggered
over the rounds from 128 beasts on), and reports the better segment, since the shared machines are
often busy. Hatching (``hatch_s``) uses ``Engine.hatch_many``: every transaction of a phase in
flight at once. ``peak_rss_mb`` is the process's peak resident memory so far (node, embedded chain,
kernel; anvil is another process): run one beast count per process for a per-count figure. The time
shares overlap in ``node`` mode (training and the commit thread run at once), so they may add up to
more than 100%.

Two modes per beast count:

* ``node``: what ``cb-node run`` does -- several beasts per round go through
  ``kernel.batched`` (from 8 beasts on) and all windows of a round are committed with
  ``commitMany`` transactions of as many words as the block gas limit and the 2^24
  per-transaction cap allow (237 with the bindings' gas bounds).
* ``baseline``: the naive loop -- numpy ``train_window`` per beast and one ``commit``
  transaction per window.

Chains: ``pyevm`` is the embedded devnet in this process (``devnet.start()``); ``anvil``
is a real node (``devnet.launch("anvil")``, JSON-RPC on 127.0.0.1) when its binary is
installed. The shares say where the loop's wall time went: training, chain (RPC, signing,
mining, receipts), persisting. Nothing is asserted: this is a report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.chain import ChainClient  # noqa: E402
from node.embedded import ChainHandle, connect_rpc, embedded_chain  # noqa: E402
from node.ledger import Ledger  # noqa: E402
from node.pipeline import epoch_cycle  # noqa: E402
from node.trainer import Engine  # noqa: E402
from node.training import RoundPlan  # noqa: E402


def open_chain(engine: str, workdir: Path) -> tuple[ChainHandle, Any]:
    """(handle, closer) for 'pyevm' (embedded) or 'anvil' (a real node on 127.0.0.1)."""
    if engine == "pyevm":
        h = embedded_chain(accounts=4)
        return h, h.close
    from devnet.launch import launch

    net = launch("anvil", port=0, run_dir=workdir / "anvil", accounts=4)
    h = connect_rpc(net.url, workdir / "anvil" / "deployments.json")
    return h, net.stop


def run_config(chain: ChainHandle, account_index: int, n_beasts: int, mode: str, seconds: float,
               workdir: Path, repeats: int = 2) -> dict[str, Any]:
    """Hatch n_beasts, then run whole rounds for ``seconds``; returns the figures."""
    client = ChainClient(chain.w3, chain.accounts[account_index], decoder=chain.decoder)
    engine = Engine(workdir / f"{mode}-{n_beasts}", Ledger(client, chain.contracts), batched=(mode == "node"))
    t_hatch = time.perf_counter()
    runs = engine.hatch_many(n_beasts)  # in flight together (node.hatching), as `cb-node run --hatch N` does
    t_hatch = time.perf_counter() - t_hatch
    engine.ledger.ensure_allowance(1)
    batch = engine.committer.batch_size() if mode == "node" else 1  # node: as many as a transaction's gas allows
    # Warm-up (imports, first-use caches), not counted. ``node``: two epoch cycles of pipelined rounds
    # from genesis, as `cb-node run` starts, after which the beasts' epochs are staggered (node.pipeline:
    # from STAGGER_MIN beasts on, each beast waits for its epoch seed in the round of its slot) and one
    # round is trained and persisted, its commits going out with the first timed round: the steady state.
    cycle = epoch_cycle(engine.params())
    if mode == "node":
        for _ in range(2 * cycle):
            engine.pipelined_round(runs)
        engine.commit_pending(runs, max_batch=batch)  # the kernel's states below: every beast's next window
    else:
        engine.train_next(runs)
        engine.commit_pending(runs, max_batch=batch)
    kernel_plan = engine.trainer.plan(runs)
    # Whole epoch cycles per segment: in ``node`` mode the window opening an epoch waits for the commit
    # closing the one before (its seed is that block's hash), one round in (windows per epoch + 1) per
    # beast; a segment of whole cycles from any round on holds exactly its share of them.
    best: dict[str, Any] | None = None
    kernel = 0.0
    for _ in range(repeats):  # best of ``repeats`` segments: the shared machine is often busy
        engine.timings.update(dict.fromkeys(engine.timings, 0.0))
        before = _committed(runs)
        rounds = 0
        t0 = time.perf_counter()
        while rounds < cycle or rounds % cycle or time.perf_counter() - t0 < seconds / repeats:
            if mode == "node":
                engine.pipelined_round(runs)  # what `cb-node run` does: commits in flight while the next round trains
            else:
                engine.train_next(runs)
                engine.commit_pending(runs, max_batch=batch)
            rounds += 1
        wall = time.perf_counter() - t0
        windows = _committed(runs) - before  # windows committed in the segment (a pipelined round commits the last one's)
        if best is None or windows / wall > best["windows"] / best["wall"]:
            best = {"rounds": rounds, "windows": windows, "wall": wall, "t": dict(engine.timings)}
        # the kernel right after each node segment, so both see the machine's load of the same minute
        kernel = max(kernel, kernel_steps_per_s(engine, kernel_plan, seconds / repeats, want_digests=False))
    assert best is not None
    engine.commit_pending(runs, max_batch=batch)
    engine.close()
    rounds, windows, wall, t = best["rounds"], best["windows"], best["wall"], best["t"]
    for r in runs:
        assert r.store.with_status("persisted", "sent") == [], "every trained window must be committed"
    kernel_dg = kernel_steps_per_s(engine, kernel_plan, seconds / repeats / 2, want_digests=True)
    steps = windows * 128 / wall
    return {
        "beasts": n_beasts, "mode": mode, "rounds": rounds, "windows": windows, "wall_s": round(wall, 3),
        "windows_per_min": round(windows / wall * 60, 1),
        "steps_per_s": round(steps, 1), "kernel_steps_per_s": round(kernel, 1), "ratio": round(steps / kernel, 3),
        "kernel_digests_steps_per_s": round(kernel_dg, 1),
        "share_train": round(t["train_s"] / wall, 3), "share_chain": round(t["chain_s"] / wall, 3),
        "share_persist": round(t["persist_s"] / wall, 3),
        "tx_per_round": -(-n_beasts // batch), "hatch_s": round(t_hatch, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1), "load_avg_end": round(os.getloadavg()[0], 2),
    }


def _committed(runs: list[Any]) -> int:
    return sum(len(r.store.with_status("committed", "finalized")) for r in runs)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB): the node, its embedded chain if any, the kernel."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def kernel_steps_per_s(engine: Engine, plan: RoundPlan, seconds: float, *, want_digests: bool) -> float:
    """Beast-micro-steps/s of the batched kernel alone on the planned next windows of every beast, trained
    again and again from the same states for ``seconds`` (at least once).

    ``want_digests=False`` is what the node trains (it recomputes per-step digests only when asked,
    node.step_digests), so that is the baseline of ``ratio``; with digests is reported beside it.
    """
    import torch

    from kernel.batched import train_windows_batched

    torch.set_num_threads(engine.trainer.torch_threads)  # as the node trains (a baseline loop never set it)
    states, seeds, sources = plan.states, plan.seeds, [r.source for r in plan.runs]
    n, t0 = 0, time.perf_counter()
    while n < 1 or time.perf_counter() - t0 < seconds:
        train_windows_batched(states, sources, epoch_seeds=seeds, want_digests=want_digests, inputs="fast")
        n += 1
    return n * len(states) * 128 / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--engines", default="pyevm,anvil", help="chains to measure (default pyevm,anvil)")
    ap.add_argument("--beasts", default="1,8,64", help="beast counts (default 1,8,64)")
    ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per configuration (default 8)")
    ap.add_argument("--modes", default="node,baseline", help="modes (default node,baseline)")
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="folder for the node's run directories and anvil's (a temporary folder inside it, removed "
                         "afterwards; default: the system's temporary folder). Creating a file costs what that "
                         "filesystem charges: on the shared machine 0.6-1 ms in /tmp against 0.02-0.05 ms in "
                         "another folder of the same disk (docs/PERFORMANCE.md, Node)")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.beasts.split(",")]
    modes = args.modes.split(",")
    results: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cb-bench-node-", dir=args.data_dir) as tmp:
        for eng in args.engines.split(","):
            try:
                chain, close = open_chain(eng, Path(tmp) / eng)
            except Exception as exc:  # noqa: BLE001 - report and go on with the other engine
                skipped[eng] = f"{type(exc).__name__}: {exc}"
                continue
            try:
                acct = 1
                for n in counts:
                    for mode in modes:
                        r = run_config(chain, acct, n, mode, args.seconds, Path(tmp) / eng)
                        r["chain"] = eng
                        results.append(r)
                        if not args.json:
                            print(f"{eng:6} {n:3} beasts {mode:8} {r['windows_per_min']:9.1f} windows/min  "
                                  f"{r['steps_per_s']:8.0f} steps/s = {r['ratio']:.0%} of the kernel's  "
                                  f"train {r['share_train']:.0%} chain {r['share_chain']:.0%} "
                                  f"persist {r['share_persist']:.0%}  ({r['windows']} windows in {r['wall_s']}s, "
                                  f"peak RSS {r['peak_rss_mb']:.0f} MB, load {r['load_avg_end']})",
                                  file=sys.stderr, flush=True)
            finally:
                close()
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_avg_start": os.getloadavg()[0]},
              "results": results, "skipped": skipped}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'chain':6} {'beasts':>6} {'mode':8} {'windows/min':>11} {'steps/s':>8} {'kernel':>8} {'ratio':>6} "
              f"{'train':>6} {'chain':>6} {'persist':>7}")
        for r in results:
            print(f"{r['chain']:6} {r['beasts']:>6} {r['mode']:8} {r['windows_per_min']:>11.1f} {r['steps_per_s']:>8.0f} "
                  f"{r['kernel_steps_per_s']:>8.0f} {r['ratio']:>6.0%} "
                  f"{r['share_train']:>6.0%} {r['share_chain']:>6.0%} {r['share_persist']:>7.0%}")
        for k, v in skipped.items():
            print(f"{k}: skipped ({v})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
