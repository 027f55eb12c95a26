"""``cb-node demo``: the whole trainer loop in one process, on an embedded py-evm chain.

Starts the devnet with the contracts deployed, funds a fresh trainer key, packs the
example battles (curriculum/examples/battles.csv) into a private dataset with a fresh
0600 owner secret, hatches a beast with them, trains and commits a few windows, advances
the chain past the challenge period, finalizes, and prints the ledger with learning
figures. Everything it writes lives in one run directory (printed at the end).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from chainbeasts.units import format_energy
from kernel.evaluate import figures, heldout_boards, win_rate
from kernel.payload import Payload
from kernel.state import genesis
from node.chain import ChainClient
from node.embedded import ChainHandle, embedded_chain
from node.errors import DataError
from node.ledger import Ledger
from node.trainer import Engine

EXAMPLE_CSV = Path(__file__).resolve().parents[1] / "curriculum" / "examples" / "battles.csv"
HELDOUT_BOARDS = 256
# `--seed S`: the embedded chain starts at this time + S (in 2100: py-evm then stamps every block
# parent + 1, so block hashes, seedCore and epoch seeds repeat) and the owner secret derives from S.
SEED_GENESIS_TIMESTAMP = 4_102_444_800
SEED_SECRET_TAG = b"chainbeasts/demo-secret/v1"
MAX_SEED = 2**32 - 1
WIN_RATE_BATTLES = 40


class ProgressBar:
    """A plain-text progress bar on a stream (stderr): ``[#####.....] 4/8 message``."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self.tty = stream.isatty()

    def update(self, done: int, message: str = "") -> None:
        """Redraw (tty) or print one line (not a tty) for ``done`` of ``total``."""
        filled = self.width * done // max(self.total, 1)
        line = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {message}"
        if self.tty:
            self.stream.write("\r" + line.ljust(self.width + 60))
            if done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def seeded_secret(seed: int) -> bytes:
    """The owner secret of ``cb-node demo --seed SEED`` (a demo value, public by construction: never use it for a real beast)."""
    from kernel.hashing import keccak256

    return keccak256(SEED_SECRET_TAG + seed.to_bytes(8, "big"))


def prepare_curriculum(run_dir: Path, seed: int | None = None) -> tuple[Path, Path]:
    """Pack the example battles into run_dir/dataset.cbd.zst and write a 0600 secret (fresh, or from ``seed``)."""
    from curriculum.files import write_dataset
    from curriculum.importers import read_csv
    from curriculum.secret import OwnerSecret, new_secret_file, write_secret_file

    if not EXAMPLE_CSV.exists():
        raise DataError(f"the example battles are missing: {EXAMPLE_CSV}")
    dataset = run_dir / "dataset.cbd.zst"
    secret = run_dir / "owner.secret"
    write_dataset(dataset, read_csv(EXAMPLE_CSV))
    if seed is None:
        new_secret_file(secret)
    else:
        write_secret_file(secret, OwnerSecret(seeded_secret(seed)))
    return dataset, secret


def run_demo(windows: int = 48, data_dir: Path | None = None, backend: str = "numpy",
             progress: bool = True, private: bool = True, chain: ChainHandle | None = None,
             seed: int | None = None) -> dict[str, Any]:
    """Run the demo and return its report (ledger rows, figures, timings).

    ``chain``: an embedded chain to use and leave running (tests replay against it, and choose
    its season's spec version); by default a new one is started (the latest spec version) and
    closed at the end. ``seed``: the same seed gives the same beast, windows and figures (a
    reproducible chain and owner secret); None: fresh ones.
    """
    t_start = time.perf_counter()
    run_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="cb-node-demo-"))
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    bar = ProgressBar(windows + 3) if progress else None
    say = (lambda i, m: bar.update(i, m)) if bar else (lambda i, m: None)

    say(0, "starting embedded py-evm devnet")
    own_chain = chain is None
    chain = chain or embedded_chain(genesis_timestamp=None if seed is None else SEED_GENESIS_TIMESTAMP + seed)
    try:
        # A funded devnet account trains; the devnet already approved the ledger for it.
        account = chain.accounts[1]
        assert chain.mine is not None
        client = ChainClient(chain.w3, account, decoder=chain.decoder)
        ledger = Ledger(client, chain.contracts)
        engine = Engine(run_dir, ledger, backend=backend)
        dataset = secret = None
        if private:
            dataset, secret = prepare_curriculum(run_dir, seed)
        say(1, "hatching a beast")
        run = engine.hatch(dataset, secret)
        for i in range(windows):
            rows = engine.step([run])
            row = rows[0]
            say(2 + i, f"window {row.window} committed (loss {row.loss_sum})")
        period = ledger.challenge_period()
        chain.mine(period + 1)
        finalized = engine.finalize_due([run])
        say(windows + 3, f"finalized {finalized} window(s)")

        bid = run.beast_id
        table = []
        for w in range(1, ledger.window_count(bid) + 1):
            p = Payload.unpack(ledger.word(bid, w))
            row = run.store.get(w)
            table.append({"window": w, "globalStep": p.global_step, "h128": "0x" + p.h128.hex(),
                          "energyBurn": p.energy_burn, "activeMask": p.active_mask, "lrShift": p.lr_shift,
                          "flags": p.flags, "status": ledger.status(bid, w).name.lower(),
                          "localStatus": row.status if row else "", "lossSum": row.loss_sum if row else None,
                          "tx": row.tx_hash if row else "", "word": p.hex()})
        first = run.store.load_state(0)
        last = run.latest_state()
        boards = heldout_boards(HELDOUT_BOARDS)
        f0, f1 = figures(first, boards), figures(last, boards)
        report = {
            "chain": "embedded py-evm",
            "seed": seed,
            "beastId": bid,
            "trainer": account.address,
            "seedCore": "0x" + run.meta.hatch.seed_core.hex(),
            "datasetCommitment": "0x" + run.meta.hatch.dataset_commitment.hex(),
            "secretCommitment": "0x" + run.meta.hatch.secret_commitment.hex(),
            "specVersion": run.meta.hatch.spec_version,
            "recordsRoot": "0x" + run.meta.hatch.records_root.hex(),
            "runDir": str(run_dir),
            "backend": backend,
            "windows": table,
            "figures": {
                "heldoutBoards": HELDOUT_BOARDS,
                "genesis": asdict(f0),
                "final": asdict(f1),
                "lossFirstWindow": table[0]["lossSum"] if table else None,
                "lossLastWindow": table[-1]["lossSum"] if table else None,
                "winRateVsGenesis": win_rate(last, genesis(run.seed_core, run.params,
                                                           dataset_commitment=run.meta.hatch.dataset_root,
                                                           spec_version=run.meta.hatch.spec_version),
                                             WIN_RATE_BATTLES),
                "winRateBattles": WIN_RATE_BATTLES,
            },
            "timings": {k: round(v, 3) for k, v in engine.timings.items()} | {
                "total_s": round(time.perf_counter() - t_start, 3)},
        }
        run.store.close()
        return report
    finally:
        if own_chain:
            chain.close()


def format_report(report: dict[str, Any]) -> str:
    """The human-readable ledger table and learning figures."""
    lines = [
        f"beast {report['beastId']} on {report['chain']}  (trainer {report['trainer']})"
        + (f"  seed {report['seed']}" if report.get("seed") is not None else ""),
        f"  seedCore          {report['seedCore']}",
        f"  C_dataset         {report['datasetCommitment']}",
        f"  run directory     {report['runDir']}",
        "",
        f"{'window':>6}  {'globalStep':>10}  {'h128':<34}  {'burned':>15}  {'mask':>4}  {'status':<10}",
    ]
    for r in report["windows"]:
        lines.append(f"{r['window']:>6}  {r['globalStep']:>10}  {r['h128']:<34}  {format_energy(r['energyBurn']):>15}  "
                     f"{r['activeMask']:#06b}  {r['status']:<10}")
    f = report["figures"]
    g, fin = f["genesis"], f["final"]
    lines += [
        "",
        f"learning figures (held-out boards: {f['heldoutBoards']})   genesis -> after {len(report['windows'])} windows",
        f"  move accuracy      {g['move_accuracy']:.3f} -> {fin['move_accuracy']:.3f}",
        f"  attack MAE         {g['attack_mae']:.3f} -> {fin['attack_mae']:.3f}",
        f"  block accuracy     {g['block_accuracy']:.3f} -> {fin['block_accuracy']:.3f}",
        f"  window loss (Q8)   first {f['lossFirstWindow']}  last {f['lossLastWindow']}",
        f"  win rate vs its untrained self: {f['winRateVsGenesis']:.2f} over {f['winRateBattles']} battles",
        "",
        f"time: {report['timings']['total_s']:.1f}s total, training {report['timings']['train_s']:.2f}s, "
        f"chain {report['timings']['chain_s']:.2f}s",
    ]
    return "\n".join(lines)


def main_demo(windows: int, data_dir: Path | None, backend: str, as_json: bool, private: bool = True,
              seed: int | None = None) -> int:
    """Entry for the CLI: run, then print the table (or JSON) on stdout."""
    report = run_demo(windows, data_dir, backend, progress=True, private=private, seed=seed)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0
