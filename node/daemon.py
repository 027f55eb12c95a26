"""The node daemon (`cb-node run`) and the commands that set it up and steer it.

Control: the daemon holds an exclusive lock on ``<data_dir>/node.pid`` while it runs and
polls ``<data_dir>/control.json`` ({"state": "running" | "paused" | "stopping"}) between
windows; ``cb-node pause/resume/stop`` write that file. It writes ``status.json`` after
every round so ``cb-node status`` works without the chain or the daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from collections.abc import Callable, Iterator

from eth_account.signers.local import LocalAccount

from kernel.host import atomic_write
from node.beast_run import BeastRun
from node.chain import ChainClient
from node.config import NodeConfig, read_password, unlock_keystore
from node.embedded import ChainHandle, connect_rpc, embedded_chain, mines_only_on_transactions
from chainbeasts.hints import DEVNET_HINT, beast_missing, is_unreachable, reason
from node.errors import ChainError, ConfigError, Interrupted, RpcUnavailableError, TxRevertedError
from node.guards import Guards
from node.hatch_journal import HatchJournal
from node.ledger import Ledger
from node.live import LiveReporter
from node.run_feed import RunFeed
from node.owner_controls import WindowPlanner
from node.retention import KeepPolicy
from node.service import NodeServer, StoreDirectory, create_server
from node.store import COMMITTED, DISPUTED, FINALIZED, PERSISTED, SENT, known_beasts
from node.trainer import Engine
from node.control import (  # noqa: F401 - the status/control API is re-exported here
    CONTROL,
    PIDFILE,
    STATES,
    STATUS,
    _read_pid,
    daemon_alive,
    format_status,
    read_control,
    status,
    wait_stopped,
    write_control,
)

DEVNET_FUND_ETH: Final = 100 * 10**18
DEVNET_FUND_ENERGY: Final = 10**6 * 10**18

CHAIN_WAIT_MAX_S = 10.0  # longest pause between probes while the RPC endpoint is down


# ---- pid lock (node.control reads it) -----------------------------------------------------


@contextlib.contextmanager
def pid_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on node.pid for the daemon's lifetime (one daemon per data dir)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(data_dir / PIDFILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another cb-node is already running on {data_dir} (pid {_read_pid(data_dir)})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        yield
    finally:
        os.close(fd)


# ---- chain setup --------------------------------------------------------------------------


def open_chain(cfg: NodeConfig) -> ChainHandle:
    """Connect as node.toml says: the embedded devnet or an RPC URL with its deployments file."""
    if cfg.rpc == "embedded":
        return embedded_chain()
    assert cfg.deployments is not None
    return connect_rpc(cfg.rpc, cfg.deployments)


def _check_confirmations(cfg: NodeConfig, chain: ChainHandle) -> None:
    """Refuse ``confirmations > 0`` on a chain that only mines when a transaction arrives: the
    node would wait for blocks that never come (until the receipt timeout) after every commit."""
    if cfg.confirmations and mines_only_on_transactions(chain):
        raise ConfigError(f"confirmations = {cfg.confirmations} in node.toml, but this chain mines a block only when "
                          "a transaction arrives (an automining devnet), so no confirmation would ever come; "
                          "set confirmations = 0 for a devnet")


def fund_on_devnet(chain: ChainHandle, address: str, log: Callable[[str], None] = lambda m: None) -> None:
    """On a devnet (embedded, or a deployments file listing dev accounts), give a fresh node
    account ETH and ENERGY from the deployer, so `cb-node init` without --import-key just works.
    Real chains list no dev accounts: nothing happens there.
    """
    if not chain.accounts:
        return
    cb, deployer = chain.bindings, chain.accounts[0]
    if address == deployer.address:
        return
    try:
        if chain.w3.eth.get_balance(address) < DEVNET_FUND_ETH // 10:  # type: ignore[arg-type]
            cb.sender.send(deployer, address, b"", gas=21_000, value=DEVNET_FUND_ETH)
            log(f"devnet: funded {address} with {DEVNET_FUND_ETH // 10**18} ETH")
        if cb.balance_of(address) < DEVNET_FUND_ENERGY // 10:
            cb.mint(deployer, address, DEVNET_FUND_ENERGY)
            log(f"devnet: minted {DEVNET_FUND_ENERGY // 10**18} ENERGY to {address}")
    except Exception as exc:  # noqa: BLE001 - devnet errors of several types; the node can still try
        raise ChainError(f"cannot fund {address} on the devnet: {exc}") from exc


def unlock(cfg: NodeConfig, password_file: Path | None) -> LocalAccount:
    """Decrypt the node's keystore with the password from file / env / prompt."""
    return unlock_keystore(cfg.keystore, read_password(password_file))


def make_engine(cfg: NodeConfig, chain: ChainHandle, account: LocalAccount, log: Callable[[str], None]) -> Engine:
    """The training engine over this chain with the node's signing account."""
    client = ChainClient(chain.w3, account, decoder=chain.decoder, confirmations=cfg.confirmations,
                         gas_margin=cfg.gas_margin, retries=cfg.rpc_retries)
    engine = Engine(cfg.data_dir, Ledger(client, chain.contracts), backend=cfg.backend,
                    torch_threads=cfg.torch_threads, log=log, planner=WindowPlanner(cfg.lr_schedule),
                    retention=KeepPolicy(cfg.keep_every, cfg.keep_latest) if cfg.auto_prune else None)
    engine.committer.stake = cfg.stake_policy()  # node.staking
    return engine


def check_on_chain(engine: Engine, run: BeastRun, address: str) -> None:
    """Refuse a beast the chain does not have, or has as another beast (a devnet restarted under
    the node: its run directory outlived the chain), before the authorization check, whose "may
    not commit" would send the user the wrong way; then refuse an account that may not commit."""
    try:
        on_chain = engine.ledger.hatch_data(run.beast_id)
    except TxRevertedError as exc:
        if "BeastNotFound" in f"{exc.reason} {exc}":
            raise ChainError(beast_missing(run.beast_id)) from None
        raise
    if on_chain.seed_core != run.meta.hatch.seed_core:
        raise ChainError(beast_missing(run.beast_id, f"on this chain is not the beast in {run.store.root} "
                                                     "(another seedCore)"))
    if not engine.ledger.is_committer(run.beast_id):
        raise ChainError(f"account {address} may not commit for beast {run.beast_id} "
                         "(neither owner nor authorized trainer)")


# ---- hatch ----------------------------------------------------------------------------------


def hatch(cfg: NodeConfig, password_file: Path | None, dataset: Path | None, secret_file: Path | None) -> dict[str, Any]:
    """Hatch one beast owned by the node's account; returns its summary. Needs an RPC chain."""
    if cfg.rpc == "embedded":
        raise ConfigError("rpc = \"embedded\" lives only inside `cb-node run`; use `cb-node run --hatch N`, "
                          "or point rpc at a chain (`cb-devnet up`)")
    if secret_file is not None and dataset is None:
        raise ConfigError("--secret-file needs --dataset (the secret keys the private sampling)")
    if dataset is not None and secret_file is None:
        raise ConfigError("--dataset needs --secret-file (an existing 0600 secret, or a new path to create)")
    if secret_file is not None and not secret_file.exists():
        from curriculum.secret import new_secret_file

        new_secret_file(secret_file)
    account = unlock(cfg, password_file)
    chain = open_chain(cfg)
    try:
        _check_confirmations(cfg, chain)
        fund_on_devnet(chain, account.address)
        engine = make_engine(cfg, chain, account, log=lambda m: None)
        # A hatch this command started before the node was killed counts as the hatch asked for.
        recovered = engine.recover_hatches()
        run = recovered[-1] if recovered else engine.hatch(dataset, secret_file)
        out = {"beastId": run.beast_id, "owner": account.address, **{k: run.meta.to_json()[k] for k in
               ("seed_core", "dataset_commitment", "secret_commitment", "hatch_block")},
               "runDir": str(run.store.root), "recovered": [r.beast_id for r in recovered]}
        for r in engine.runs.values():
            r.store.close()
        return out
    finally:
        chain.close()


# ---- run -------------------------------------------------------------------------------------


@dataclass
class RunOptions:
    """Options of one `cb-node run`."""

    password_file: Path | None = None
    hatch: int = 0  # beasts to hatch at start (public sources)
    until_window: int = 0  # exit 0 once every beast has this many committed windows; 0 = run until stopped
    grpc: str | None = None  # override node.toml's address
    finalize_every: int = 8  # rounds between finalization sweeps
    quiet: bool = False  # same as output="quiet"
    output: str = "human"  # node.live.MODES: human lines, JSON lines, or nothing
    ready_file: Path | None = None  # written (JSON: pid, grpc port) once serving, for scripts and tests
    http: str | None = None  # HOST:PORT of the Tavern dashboard (node.tavern), served beside gRPC
    dishonest: str | None = None  # node.dishonest KIND (devnet only): lie in window from_window
    from_window: int = 0


@dataclass
class _Signals:
    count: int = 0
    event: threading.Event = field(default_factory=threading.Event)


def run_daemon(cfg: NodeConfig, opts: RunOptions) -> int:
    """Train, commit and serve until stopped. Returns 0 (done/stopped) or 130 (signal)."""
    reporter = LiveReporter("quiet" if opts.quiet else opts.output)
    log = reporter.log
    account = unlock(cfg, opts.password_file)
    sig = _Signals()

    def on_signal(signum: int, frame: Any) -> None:
        sig.count += 1
        sig.event.set()
        if sig.count >= 2:  # second signal: abandon the current window right away
            raise KeyboardInterrupt

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    server: NodeServer | None = None
    tavern: Any = None  # node.tavern.server.TavernServer with --http
    chain: ChainHandle | None = None
    try:
        with pid_lock(cfg.data_dir):
            if read_control(cfg.data_dir) == "stopping":
                write_control(cfg.data_dir, "running")
            if cfg.rpc == "embedded" and (known_beasts(cfg.data_dir) or HatchJournal(cfg.data_dir).pending()):
                raise ConfigError(f"{cfg.data_dir} holds beasts from an earlier embedded chain, which did not persist; "
                                  "use an empty data_dir or a real chain (`cb-devnet up`)")
            chain = open_chain(cfg)
            lie = None
            if opts.dishonest is not None:
                from node.dishonest import Lie, check_devnet

                lie = Lie(opts.dishonest, opts.from_window)
                check_devnet(int(chain.w3.eth.chain_id), chain.embedded)  # before anything is signed
            _check_confirmations(cfg, chain)
            fund_on_devnet(chain, account.address, log)
            engine = make_engine(cfg, chain, account, log)
            # Hatches a killed run left half done count towards --hatch N.
            recovered = engine.recover_hatches()
            for run in engine.hatch_many(max(0, opts.hatch - len(recovered))):  # in flight together, each journaled
                log(f"hatched beast {run.beast_id}")
            ids = cfg.beasts or known_beasts(cfg.data_dir)
            if not ids:
                raise ConfigError("no beasts to train: list them in node.toml, `cb-node hatch`, or `run --hatch N`")
            runs = [engine.open(b) for b in ids]
            guards = _guards(cfg, engine, chain, runs, lie, log)
            for run in runs:
                check_on_chain(engine, run, account.address)
            guards.start()  # a rewind a slash or a killed run left comes before reconcile
            for run in runs:
                engine.reconcile(run)
            stores = StoreDirectory(cfg.data_dir, shared=lambda b: engine.runs[b].store if b in engine.runs else None)
            server, port = create_server(opts.grpc or cfg.grpc, stores=stores, bus=engine.bus, limits=cfg.rpc_limits())
            log(f"serving chainbeasts.v1.NodeService on {(opts.grpc or cfg.grpc).rpartition(':')[0]}:{port}; "
                f"training beasts {ids} as {account.address}")
            ready: dict[str, Any] = {"pid": os.getpid(), "grpcPort": port}
            if opts.http:
                from node.tavern.server import start as start_tavern

                tavern = start_tavern(cfg, opts.http)
                ready["httpPort"] = tavern.server_address[1]
                log(f"Tavern dashboard at {tavern.url}")
            if opts.ready_file is not None:
                atomic_write(opts.ready_file, json.dumps(ready).encode())
            if opts.until_window:
                reporter.set_total(sum(max(0, opts.until_window - _committed_upto(r)) for r in runs))
            feed = RunFeed(engine.bus, {r.beast_id: r for r in runs}, reporter, cfg.eval_every)
            try:
                return _loop(cfg, opts, engine, runs, sig, port, account.address, log, feed, guards)
            finally:
                feed.drain()
                feed.close()
                reporter.finish()
    except KeyboardInterrupt:
        log("interrupted; the current window was abandoned (it is retrained or recommitted on restart)")
        return Interrupted.exit_code
    finally:
        if tavern is not None:
            from node.tavern.server import stop as stop_tavern

            stop_tavern(tavern)
        if server is not None:
            server.stop(1.0)
        if chain is not None:
            chain.close()
        for s, h in old.items():
            signal.signal(s, h)


def _guards(cfg: NodeConfig, engine: Engine, chain: ChainHandle, runs: list[BeastRun], lie: Any,
            log: Callable[[str], None]) -> Guards:
    """The defense, rewinds and (with --dishonest) the liar of this run (node.guards)."""
    from node.defense import Defense
    from node.dishonest import DishonestMode

    defense = Defense(cfg.data_dir, engine.ledger, chain.bindings, {r.beast_id: r for r in runs}, log)
    return Guards(engine, runs, defense, DishonestMode(lie, engine, log) if lie is not None else None, log)


def _loop(cfg: NodeConfig, opts: RunOptions, engine: Engine, runs: list[BeastRun], sig: _Signals, port: int,
          address: str, log: Callable[[str], None], feed: RunFeed, guards: Guards) -> int:
    started = time.time()
    rounds = 0
    state = "running"
    while True:
        if sig.event.is_set():
            _flush(engine, runs, log)
            log("signal received; stopped after finishing the current window")
            _write_status(cfg, runs, "stopped", port, address, started, rounds, engine)
            return Interrupted.exit_code
        state = read_control(cfg.data_dir)
        if state == "stopping":
            _flush(engine, runs, log)
            log("stop requested")
            _write_status(cfg, runs, "stopped", port, address, started, rounds, engine)
            return 0
        if state == "paused":
            _write_status(cfg, runs, "paused", port, address, started, rounds, engine)
            with contextlib.suppress(RpcUnavailableError):
                guards.after_round()  # a paused node still defends its windows
            sig.event.wait(0.2)
            continue
        active = [r for r in runs if not opts.until_window or _latest(r) < opts.until_window]
        try:
            if opts.until_window and all(_committed_upto(r) >= opts.until_window for r in runs):
                engine.commit_pending(runs)
                if cfg.auto_finalize:
                    engine.finalize_due(runs)
                if guards.after_round() or guards.defense.open_games():
                    # a game on one of its windows is still open (or just rewound a lineage): defend it
                    # to the end before leaving; a rewind sends the loop back to training
                    _write_status(cfg, runs, "running", port, address, started, rounds, engine)
                    sig.event.wait(0.2)
                    continue
                _write_status(cfg, runs, "stopped", port, address, started, rounds, engine)
                log(f"every beast reached window {opts.until_window}")
                return 0
            # this round's commits in flight while the next windows train (node.pipeline)
            engine.pipelined_round(runs, guards.before_round(active))
            rounds += 1
            if cfg.auto_finalize and rounds % opts.finalize_every == 0:
                engine.finalize_due(runs)
            guards.after_round()  # defend the node's windows; rewind what a slash cut
        except TxRevertedError as exc:
            if not guards.on_revert(exc):
                raise
        except RpcUnavailableError as exc:
            if not _wait_for_chain(engine, runs, sig, log, exc):
                continue  # a signal arrived while waiting: the top of the loop handles it
        feed.drain()
        _write_status(cfg, runs, "running", port, address, started, rounds, engine)


def _flush(engine: Engine, runs: list[BeastRun], log: Callable[[str], None]) -> None:
    """Commit the windows the last pipelined round trained before stopping (an unreachable chain
    leaves them persisted or sent: the next start's reconcile settles them)."""
    try:
        engine.commit_pending(runs)
    except RpcUnavailableError as exc:
        log(f"stopping with uncommitted windows (the chain is unreachable: {exc}); the next start commits them")
    finally:
        engine.close()


def _wait_for_chain(engine: Engine, runs: list[BeastRun], sig: _Signals,
                    log: Callable[[str], None], exc: RpcUnavailableError) -> bool:
    """Wait out an RPC outage, then reconcile every beast; False when a signal cut the wait short.

    Trained windows stay persisted (or sent, with their hash) meanwhile, so nothing is lost;
    reconcile marks what reached the chain and requeues what did not, and the order check of
    the ledger turns any late duplicate into a revert, never a second commit.
    """
    why = f"{reason(exc)}: {DEVNET_HINT} check `rpc` in node.toml" if is_unreachable(exc) else str(exc)
    log(f"chain unreachable ({why}); waiting for it to come back")
    for run in runs:
        run.store.event("chain_unreachable", reason=str(exc))
    delay = 0.5
    while not sig.event.is_set():
        sig.event.wait(delay)
        delay = min(delay * 2, CHAIN_WAIT_MAX_S)
        try:
            engine.ledger.block_number()
            for run in runs:
                engine.reconcile(run)
        except RpcUnavailableError:
            continue
        log("chain reachable again; reconciled, resuming")
        for run in runs:
            run.store.event("chain_reachable")
        return True
    return False


def _latest(run: BeastRun) -> int:
    row = run.store.latest()
    return row.window if row else 0


def _committed_upto(run: BeastRun) -> int:
    rows = run.store.with_status(COMMITTED, FINALIZED, DISPUTED)
    pending = run.store.with_status(PERSISTED, SENT)
    top = rows[-1].window if rows else 0
    return top if not pending else min(top, pending[0].window - 1)


def _write_status(cfg: NodeConfig, runs: list[BeastRun], state: str, port: int, address: str, started: float,
                  rounds: int, engine: Engine) -> None:
    doc = {"pid": os.getpid(), "state": state, "grpcPort": port, "account": address, "startedAt": started,
           "updatedAt": time.time(), "rounds": rounds, "beasts": [r.beast_id for r in runs],
           "timings": {k: round(v, 3) for k, v in engine.timings.items()}}
    atomic_write(cfg.data_dir / STATUS, json.dumps(doc).encode())


__all__ = ["RunOptions", "daemon_alive", "format_status", "hatch", "read_control", "run_daemon", "status",
           "wait_stopped", "write_control"]
