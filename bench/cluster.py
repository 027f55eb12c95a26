"""A whole ChainBeasts deployment as real processes on 127.0.0.1, for the dispute bench and the e2e scenarios.

It lives with the benchmarks (bench/dispute.py times a game through it); the end-to-end tests
(tests/e2e) import it from here, as product and bench code never import tests.

Started the way a user starts them, through the installed entry points:

* ``cb-devnet up --engine anvil`` (or pyevm): the chain with the contracts (BisectionGame and
  StepVerifier included; every dev account funded and staked);
* ``cb-curriculum pack`` and ``cb-node init / hatch / run --until-window``: an honest trainer node
  that hatches one private and several public beasts and commits their first windows, then
  ``cb-node pause`` and a long-lived ``cb-node run`` that serves checkpoints over gRPC and defends
  its windows in every bisection game, without training further;
* ``cb-validator watch`` processes (watchers) that replay every window of the beasts they are
  told to watch, challenge the divergent ones and play the games to the end;
* on demand (:meth:`Cluster.start_cheater`) a second node run with ``--dishonest KIND
  --from-window K``: a trainer that lies once, defends its lie, and rewinds after the slash;
* ``cb-dispute`` for a challenger by hand (run per command by the tests).

The season constants are set the way an operator would: the registry owner (the devnet's
deployer) queues the changes and the chain is mined past the timelock. Every process writes
its output to a log file under the cluster folder; :meth:`Cluster.close` stops all of them
(SIGTERM, then SIGKILL after a grace period), in reverse start order, whatever happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import contextlib

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.bindings import ChainBeasts, Param

T = TypeVar("T")

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CSV = REPO / "curriculum" / "examples" / "battles.csv"
PASSWORD = "e2e-node-password"
# Season constants for the scenarios (blocks): the challenge period outlasts the whole session.
SEASON = {Param.CHALLENGE_PERIOD: 5_000}
# Blocks each side of a game may spend. anvil mines a block per transaction, so every process's
# traffic runs every game's clock: long enough that no honest process times out while fifty
# games run, short enough for a test to mine through when a side stays away.
GAME_CLOCK = 400
TIMELOCK_BLOCKS = 10  # devnet.deploy.DEFAULT_TIMELOCK_DELAY
PUBLIC_BEASTS = 5
WINDOWS = 2  # windows the node trains and commits per beast before pausing


def write_key_file(path: Path, account: LocalAccount) -> Path:
    """A 0600 private-key file for ``account`` (as a devnet challenger keeps one)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("0x" + bytes(account.key).hex() + "\n")
    return path


def mine(url: str, n: int) -> int:
    """Mine ``n`` empty blocks through a devnet's JSON-RPC (anvil_mine; evm_mine one by one as a fallback)."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    resp = w3.provider.make_request("anvil_mine", [hex(n)])  # type: ignore[arg-type]
    if not isinstance(resp, dict) or "error" in resp:
        for _ in range(n):
            w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.block_number)


class ClusterError(RuntimeError):
    """Raised when a process of the cluster fails to start or a bounded wait runs out."""


def entry_point(name: str) -> str:
    """Path of an installed console script (the venv's bin first)."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"{name} is not installed (pip install -e .)")
    return found


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``predicate`` until it returns something truthy; ClusterError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling; report the last failure
            last_exc = exc
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}"
                               + (f" (last error: {last_exc})" if last_exc else ""))
        time.sleep(interval)


@dataclass
class Proc:
    """One long-running child process with its log file."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str], cwd: Path) -> Proc:
        with open(self.log, "ab") as fh:
            self.popen = subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, cwd=cwd, start_new_session=True)
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, wait ``grace`` seconds, then SIGKILL; returns the exit code."""
        p = self.popen
        if p is None:
            return None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        # The process led its own session: sweep any child it left behind (anvil under cb-devnet).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)
        self.popen = None
        return p.returncode

    def text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Cheater:
    """A dishonest trainer node (``cb-node run --dishonest``) and the beast it trains."""

    name: str
    node_dir: Path
    account: LocalAccount
    beast: int
    lie: str
    from_window: int
    proc: Proc | None = None
    addr: str = ""


@dataclass
class Cluster:
    """The running processes, their files, the chain bindings and the beasts the node trained."""

    root: Path
    engine: str = "anvil"
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    deployments: Path = Path()
    chain: ChainBeasts | None = None
    node_dir: Path = Path()
    node: Proc | None = None
    node_addr: str = ""
    watchers: list[Proc] = field(default_factory=list)
    watcher_accounts: list[int] = field(default_factory=lambda: [4, 5])
    n_public: int = PUBLIC_BEASTS
    with_private: bool = True
    private_beast: int = 0
    public_beasts: list[int] = field(default_factory=list)
    watched: list[int] = field(default_factory=list)  # beasts the watchers replay (their --beast list)
    dataset: Path = Path()
    secret: Path = Path()
    password_file: Path = Path()
    challenger_key: Path = Path()
    trainer_key: Path = Path()
    cheaters: list[Cheater] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    # ---- plumbing ---------------------------------------------------------------------

    @property
    def cb(self) -> ChainBeasts:
        assert self.chain is not None
        return self.chain

    def account(self, n: int) -> LocalAccount:
        return self.cb.accounts[n]

    @property
    def trainer(self) -> LocalAccount:
        return self.account(1)

    @property
    def challenger(self) -> LocalAccount:
        return self.account(2)

    @property
    def watcher_keys(self) -> list[LocalAccount]:
        return [self.account(n) for n in self.watcher_accounts]

    def run(self, *argv: str | Path, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run an entry point to completion (stdin is not a terminal); ClusterError on failure when ``check``."""
        args = [entry_point(str(argv[0]))] + [str(a) for a in argv[1:]]
        try:
            cp = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.root,
                                stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{' '.join(args[:3])} did not finish within {timeout:.0f}s") from exc
        if check and cp.returncode != 0:
            raise ClusterError(f"{' '.join(str(a) for a in argv)} exited {cp.returncode}:\n{cp.stdout}\n{cp.stderr}")
        return cp

    def spawn(self, name: str, *argv: str | Path) -> Proc:
        proc = Proc(name, [entry_point(str(argv[0]))] + [str(a) for a in argv[1:]], self.root / f"{name}.log")
        self.procs.append(proc.start(self.env, self.root))
        return proc

    def mine(self, n: int) -> int:
        return mine(self.url, n)

    def close(self) -> None:
        """Stop every process this cluster started, newest first."""
        errors = []
        for proc in reversed(self.procs):
            try:
                t = time.monotonic()
                proc.stop()
                self.timings[f"stop_{proc.name}_s"] = round(time.monotonic() - t, 2)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                errors.append(f"{proc.name}: {exc}")
        self.procs.clear()
        if errors:
            raise ClusterError("; ".join(errors))

    # ---- bring-up ---------------------------------------------------------------------

    def start(self) -> Cluster:
        t0 = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, PYTHONUNBUFFERED="1", CB_NODE_PASSWORD=PASSWORD)
        for stage in (self._devnet, self._season, self._node, self._watchers):
            t = time.monotonic()
            stage()
            self.timings[stage.__name__.strip("_") + "_s"] = round(time.monotonic() - t, 2)
        self.timings["startup_s"] = round(time.monotonic() - t0, 2)
        return self

    def _devnet(self) -> None:
        import devnet

        self.deployments = self.root / "devnet" / "deployments.json"
        proc = self.spawn("devnet", "cb-devnet", "up", "--engine", self.engine, "--port", "0", "--accounts", "12",
                          "--game-clock", GAME_CLOCK, "--run-dir", self.root / "devnet",
                          "--deployments", self.deployments)

        def ready() -> dict[str, Any] | None:
            if not proc.alive:
                raise ClusterError(f"cb-devnet up exited:\n{proc.text()}")
            for line in proc.text().splitlines():
                if line.startswith("{"):
                    return json.loads(line)  # type: ignore[no-any-return]
            return None

        info = wait_until(ready, 90, "cb-devnet up to print its deployments")
        self.url = info["rpcUrl"]
        self.chain = devnet.connect(self.deployments)
        self.env["CB_DEPLOYMENTS"] = str(self.deployments)

    def _season(self) -> None:
        """The registry owner queues the scenario constants; mining past the timelock puts them in force."""
        deployer = self.account(0)
        for param, value in SEASON.items():
            self.cb.queue_param_change(deployer, param, value)
        self.mine(TIMELOCK_BLOCKS + 1)
        for param, value in SEASON.items():
            if self.cb.param(param) != value:
                raise ClusterError(f"season constant {param.name} is {self.cb.param(param)}, expected {value}")

    def _node(self) -> None:
        self.trainer_key = write_key_file(self.root / "trainer.key", self.trainer)
        self.challenger_key = write_key_file(self.root / "challenger.key", self.challenger)
        self.password_file = self.root / "node.password"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self.dataset = self.root / "battles.cbd.zst"
        self.secret = self.root / "owner.secret"
        if self.with_private:
            self.run("cb-curriculum", "pack", "--csv", EXAMPLE_CSV, "-o", self.dataset)
        self.node_dir = self.root / "node"
        self.run("cb-node", "init", self.node_dir, "--rpc", self.url, "--deployments", self.deployments,
                 "--import-key", self.trainer_key, "--password-file", self.password_file, "--grpc", "127.0.0.1:0")
        if self.with_private:
            out = self.run("cb-node", "hatch", "--node-dir", self.node_dir, "--dataset", self.dataset,
                           "--secret-file", self.secret, "--json")
            self.private_beast = int(json.loads(out.stdout)["beastId"])
        self.run("cb-node", "run", "--node-dir", self.node_dir, "--hatch", self.n_public, "--until-window", WINDOWS,
                 "--quiet", timeout=240)
        self.public_beasts = [b for b in range(1, self.cb.total_hatched() + 1)
                              if b != self.private_beast and self.cb.owner_of(b) == self.trainer.address]
        if len(self.public_beasts) != self.n_public:
            raise ClusterError(f"expected {self.n_public} public beasts, found {self.public_beasts}")
        for b in [self.private_beast, *self.public_beasts][0 if self.with_private else 1:]:
            if self.cb.window_count(b) != WINDOWS:
                raise ClusterError(f"beast {b} has {self.cb.window_count(b)} windows, expected {WINDOWS}")
        # From now on the node serves checkpoints, defends its windows and trains nothing.
        self.run("cb-node", "pause", "--node-dir", self.node_dir)
        self.start_node()

    def start_node(self) -> None:
        self.node, self.node_addr = self._serve("node", self.node_dir)

    def stop_node(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None

    def _serve(self, name: str, node_dir: Path, *extra: str | int) -> tuple[Proc, str]:
        """A long-lived ``cb-node run`` of ``node_dir``; returns it and its gRPC address once it serves."""
        ready = self.root / f"{name}.ready.json"
        ready.unlink(missing_ok=True)
        proc = self.spawn(name, "cb-node", "run", "--node-dir", node_dir, "--ready-file", ready, *extra)

        def up() -> dict[str, Any] | None:
            if not proc.alive:
                raise ClusterError(f"cb-node run ({name}) exited:\n{proc.text()}")
            return json.loads(ready.read_text()) if ready.exists() else None

        info = wait_until(up, 60, f"cb-node run ({name}) to serve gRPC")
        return proc, f"127.0.0.1:{info['grpcPort']}"

    def _watchers(self) -> None:
        self.watched = list(self.public_beasts)
        for i in range(len(self.watcher_accounts)):
            self.start_watcher(i)
        # Watchers are up once each survived a couple of poll rounds.
        time.sleep(1.0)
        for w in self.watchers:
            if not w.alive:
                raise ClusterError(f"{w.name} exited:\n{w.text()}")

    def start_watcher(self, i: int) -> Proc:
        """(Re)start watcher ``i`` on the beasts in :attr:`watched` (its game record survives restarts)."""
        n = self.watcher_accounts[i]
        beasts = [x for b in self.watched for x in ("--beast", str(b))]
        proc = self.spawn(f"watcher{i}", "cb-validator", "watch", "--deployments", self.deployments, "--account", n,
                          "--record", self.root / f"games{i}.json", "--poll", "0.3", *beasts)
        if i < len(self.watchers):
            self.watchers[i] = proc
        else:
            self.watchers.append(proc)
        return proc

    def stop_watcher(self, i: int) -> None:
        self.watchers[i].stop()

    def watch_also(self, beast: int) -> None:
        """Restart every running watcher with ``beast`` added to what it watches."""
        self.watched.append(beast)
        for i, w in enumerate(self.watchers):
            if w.alive:
                w.stop()
                self.start_watcher(i)

    def watcher_events(self, i: int) -> list[dict[str, Any]]:
        """The JSON decisions watcher ``i`` logged so far."""
        out = []
        for line in self.watchers[i].text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    # ---- a cheating trainer -----------------------------------------------------------

    def start_cheater(self, account: int, lie: str, from_window: int, until_window: int) -> Cheater:
        """A second node with dev account ``account``: hatches one public beast, trains and commits windows
        1..``until_window`` with ``--dishonest LIE --from-window FROM_WINDOW``, pauses, then serves and defends
        (still ``--dishonest``, so that after a slash it retrains the lied window honestly once resumed)."""
        name = f"cheater{len(self.cheaters)}"
        key = write_key_file(self.root / f"{name}.key", self.account(account))
        node_dir = self.root / name
        self.run("cb-node", "init", node_dir, "--rpc", self.url, "--deployments", self.deployments,
                 "--import-key", key, "--password-file", self.password_file, "--grpc", "127.0.0.1:0")
        before = self.cb.total_hatched()
        self.run("cb-node", "run", "--node-dir", node_dir, "--hatch", 1, "--until-window", until_window, "--quiet",
                 "--dishonest", lie, "--from-window", from_window, timeout=240)
        beast = next(b for b in range(before + 1, self.cb.total_hatched() + 1)
                     if self.cb.owner_of(b) == self.account(account).address)
        self.run("cb-node", "pause", "--node-dir", node_dir)
        cheater = Cheater(name, node_dir, self.account(account), beast, lie, from_window)
        cheater.proc, cheater.addr = self._serve(name, node_dir, "--dishonest", lie, "--from-window", from_window)
        self.cheaters.append(cheater)
        return cheater

    def node_cli(self, node_dir: Path, *argv: str | int | Path, timeout: float = 120.0) -> tuple[int, Any, str]:
        """Run ``cb-node ARGV --node-dir DIR --json``; returns (exit code, parsed stdout or raw text, stderr)."""
        cp = self.run("cb-node", *[str(a) for a in argv], "--node-dir", node_dir, "--json", timeout=timeout, check=False)
        try:
            out: Any = json.loads(cp.stdout)
        except ValueError:
            out = cp.stdout
        return cp.returncode, out, cp.stderr

    # ---- the challenger's commands ------------------------------------------------------

    def dispute(self, *argv: str | int | Path, timeout: float = 180.0) -> tuple[int, Any, str]:
        """Run ``cb-dispute ARGV --json``; returns (exit code, parsed stdout or raw text, stderr)."""
        cp = self.run("cb-dispute", *[str(a) for a in argv], "--json", timeout=timeout, check=False)
        try:
            out: Any = json.loads(cp.stdout)
        except ValueError:
            out = cp.stdout
        return cp.returncode, out, cp.stderr


def start_cluster(root: Path, engine: str = "anvil", *, public_beasts: int = PUBLIC_BEASTS, watchers: int = 2,
                  private: bool = True) -> Cluster:
    """Start everything (``watchers`` watchers; a private beast unless ``private=False``);
    on failure stop what was started and re-raise."""
    cluster = Cluster(root, engine=engine, n_public=public_beasts, watcher_accounts=[4, 5, 6][:watchers],
                      with_private=private)
    try:
        return cluster.start()
    except BaseException:
        cluster.close()
        raise
