"""Running anvil (from the @foundry-rs/anvil npm package) as a child process on 127.0.0.1.

State stays inside the run folder: HOME points there (anvil writes ~/.foundry otherwise) and the
process works in it. The chain runs the Prague hardfork to match the compiled bytecode.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.artifacts import REPO_ROOT
from devnet.errors import ChainError, ConfigError

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_CHAIN_ID = 31337


def find_anvil() -> Path:
    """The anvil binary: $CB_ANVIL, else contracts/node_modules' platform package, else PATH."""
    env = os.environ.get("CB_ANVIL")
    if env:
        return Path(env)
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), "")
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(platform.system(), "")
    candidate = REPO_ROOT / "contracts" / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if candidate.exists():
        return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ConfigError(f"anvil not found (looked at {candidate}); run `cd contracts && npm ci` or set CB_ANVIL")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def dev_keys(n: int) -> list[LocalAccount]:
    """The first ``n`` accounts anvil funds (its default mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(n)]


class AnvilProcess:
    """An anvil child process; use as a context manager or call start()/stop()."""

    def __init__(self, run_dir: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0, accounts: int = 10,
                 genesis_block: int | None = None) -> None:
        """``genesis_block``: number of the first block (anvil ``--number``), e.g. to test what
        happens near block 2^32 without mining four billion blocks."""
        self.run_dir = Path(run_dir)
        self.genesis_block = genesis_block
        self.host = host
        self.port = port or free_port(host)
        self.accounts = accounts
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> AnvilProcess:
        """Launch anvil and wait until it answers eth_chainId."""
        binary = find_anvil()
        with socket.socket() as probe:
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise ConfigError(f"cannot bind {self.host}:{self.port}: {exc.strerror}") from exc
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, HOME=str(self.run_dir))
        cmd = [
            str(binary), "--host", self.host, "--port", str(self.port), "--hardfork", "prague",
            "--chain-id", str(ANVIL_CHAIN_ID), "--accounts", str(self.accounts), "--mnemonic", ANVIL_MNEMONIC,
            "--gas-limit", "60000000",
        ]
        if self.genesis_block is not None:
            cmd += ["--number", str(self.genesis_block)]
        with open(self.run_dir / "anvil.log", "wb") as log:  # the child keeps its own descriptor
            try:
                self.proc = subprocess.Popen(cmd, cwd=self.run_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
            except OSError as exc:
                raise ConfigError(f"cannot run {binary}: {exc}") from exc
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 2}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainError(f"anvil exited with code {self.proc.returncode}; see {self.run_dir / 'anvil.log'}")
            try:
                if int(w3.eth.chain_id) == ANVIL_CHAIN_ID:
                    return self
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        self.stop()
        raise ChainError(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        """Terminate anvil (kill after 5 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
