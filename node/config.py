"""node.toml (read with tomllib) and the encrypted trainer keystore.

The keystore is a standard eth-account JSON keystore (scrypt). Its password comes from
``--password-file``, else ``$CB_NODE_PASSWORD``, else an interactive prompt (getpass,
never echoed); it is never logged, printed or put into an exception message.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.errors import ConfigError
from node.store import FILE_MODE, atomic_write
from curriculum.errors import SecretFileError
from curriculum.secret import read_owner_only

CONFIG_NAME: Final = "node.toml"
PASSWORD_ENV: Final = "CB_NODE_PASSWORD"
DEFAULT_GRPC: Final = "127.0.0.1:50551"

TEMPLATE: Final = """\
# cb-node configuration, read with Python's tomllib. Relative paths are relative to this file.
# Keys are only ever added in later versions, never renamed or reused.

# Chain: a JSON-RPC URL (e.g. the one `cb-devnet up` prints), or "embedded" for an in-process
# py-evm devnet that lives only as long as `cb-node run` (demos; its beasts vanish with it).
rpc = "{rpc}"

# Deployments JSON naming the contract addresses (written by `cb-devnet up` / `cb-devnet deploy`).
# Ignored when rpc = "embedded".
deployments = "{deployments}"

# Encrypted eth-account JSON keystore of the trainer key. Password: --password-file,
# $CB_NODE_PASSWORD, or an interactive prompt.
keystore = "keystore.json"

# Beast ids this node trains; empty = every beast with a run directory under data_dir.
beasts = []

# Kernel backend: "numpy" (reference) or "torch" (bit-identical; CUDA when available).
backend = "{backend}"

# gRPC checkpoint service address; keep it on 127.0.0.1 unless a proxy fronts it.
grpc = "{grpc}"

# Run directories, checkpoints, indexes and logs.
data_dir = "data"

# Blocks that must follow a commit's block before the window counts as committed.
confirmations = 0

# Gas estimate multiplier and RPC retry policy.
gas_margin = 1.25
rpc_retries = 5

# Finalize windows whose challenge period passed (anyone may; it burns the escrow).
auto_finalize = true

# torch threads for batched training of many beasts (0 = torch's default). 1 is fastest on
# small shared machines; raise it on a dedicated many-core host.
torch_threads = 1
"""


@dataclass
class NodeConfig:
    """The settings of one node directory."""

    path: Path  # the node.toml file
    rpc: str = "embedded"
    deployments: Path | None = None
    keystore: Path = Path("keystore.json")
    beasts: list[int] = field(default_factory=list)
    backend: str = "numpy"
    grpc: str = DEFAULT_GRPC
    data_dir: Path = Path("data")
    confirmations: int = 0
    gas_margin: float = 1.25
    rpc_retries: int = 5
    auto_finalize: bool = True
    torch_threads: int = 1

    @property
    def root(self) -> Path:
        """The node directory (folder of node.toml)."""
        return self.path.parent


def _expect(doc: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = doc[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{path}: {key} must be a {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def load_config(node_dir: Path) -> NodeConfig:
    """Read DIR/node.toml (or the file itself when given), validate every key, resolve paths."""
    path = Path(node_dir)
    if path.is_dir():
        path = path / CONFIG_NAME
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no {CONFIG_NAME} at {path}; create one with `cb-node init DIR`") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    known = set(NodeConfig.__dataclass_fields__) - {"path"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown} (known: {sorted(known)})")
    cfg = NodeConfig(path=path.resolve())
    root = cfg.root

    def rel(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else root / q

    if "rpc" in doc:
        cfg.rpc = _expect(doc, "rpc", str, path)
        if cfg.rpc != "embedded" and not cfg.rpc.startswith(("http://", "https://")):
            raise ConfigError(f"{path}: rpc must be an http(s) URL or \"embedded\", got {cfg.rpc!r}")
    if "deployments" in doc:
        cfg.deployments = rel(_expect(doc, "deployments", str, path))
    if cfg.rpc != "embedded" and cfg.deployments is None:
        raise ConfigError(f"{path}: rpc is a URL, so deployments (the contract addresses file) is required")
    if "keystore" in doc:
        cfg.keystore = rel(_expect(doc, "keystore", str, path))
    else:
        cfg.keystore = rel(str(cfg.keystore))
    if "beasts" in doc:
        beasts = _expect(doc, "beasts", list, path)
        if not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in beasts):
            raise ConfigError(f"{path}: beasts must be a list of beast ids >= 1, got {beasts!r}")
        cfg.beasts = list(beasts)
    if "backend" in doc:
        cfg.backend = _expect(doc, "backend", str, path)
        if cfg.backend not in ("numpy", "torch"):
            raise ConfigError(f"{path}: backend must be \"numpy\" or \"torch\", got {cfg.backend!r}")
    if "grpc" in doc:
        cfg.grpc = _expect(doc, "grpc", str, path)
    host, _, port = cfg.grpc.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{path}: grpc must be HOST:PORT, got {cfg.grpc!r}")
    cfg.data_dir = rel(_expect(doc, "data_dir", str, path)) if "data_dir" in doc else rel("data")
    if "confirmations" in doc:
        cfg.confirmations = _expect(doc, "confirmations", int, path)
        if not 0 <= cfg.confirmations <= 64:
            raise ConfigError(f"{path}: confirmations must be 0..64, got {cfg.confirmations}")
    if "gas_margin" in doc:
        cfg.gas_margin = float(_expect(doc, "gas_margin", (int, float), path))
        if not 1.0 <= cfg.gas_margin <= 5.0:
            raise ConfigError(f"{path}: gas_margin must be 1.0..5.0, got {cfg.gas_margin}")
    if "rpc_retries" in doc:
        cfg.rpc_retries = _expect(doc, "rpc_retries", int, path)
        if not 0 <= cfg.rpc_retries <= 20:
            raise ConfigError(f"{path}: rpc_retries must be 0..20, got {cfg.rpc_retries}")
    if "torch_threads" in doc:
        cfg.torch_threads = _expect(doc, "torch_threads", int, path)
        if not 0 <= cfg.torch_threads <= 256:
            raise ConfigError(f"{path}: torch_threads must be 0..256, got {cfg.torch_threads}")
    if "auto_finalize" in doc:
        cfg.auto_finalize = _expect(doc, "auto_finalize", bool, path)
    return cfg


def write_config(node_dir: Path, *, rpc: str, deployments: str, backend: str, grpc: str) -> Path:
    """Write a commented node.toml into ``node_dir`` (refuses to overwrite)."""
    path = Path(node_dir) / CONFIG_NAME
    if path.exists():
        raise ConfigError(f"{path} already exists; refusing to overwrite it")
    atomic_write(path, TEMPLATE.format(rpc=rpc, deployments=deployments, backend=backend, grpc=grpc).encode(),
                 mode=0o644)
    return path


# ---- password and keystore ------------------------------------------------------------


def read_password(password_file: Path | None, *, confirm: bool = False) -> str:
    """The keystore password from a file, $CB_NODE_PASSWORD, or a getpass prompt (in that order)."""
    if password_file is not None:
        try:
            text = Path(password_file).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read password file {password_file}: {exc.strerror or exc}") from None
        pw = text.splitlines()[0] if text else ""
    elif os.environ.get(PASSWORD_ENV):
        pw = os.environ[PASSWORD_ENV]
    else:
        if not sys.stdin.isatty():
            raise ConfigError(f"no keystore password: pass --password-file, set ${PASSWORD_ENV}, or run in a terminal")
        pw = getpass.getpass("keystore password: ")
        if confirm and getpass.getpass("repeat password: ") != pw:
            raise ConfigError("the passwords do not match")
    if not pw:
        raise ConfigError("the keystore password is empty")
    return pw


def create_keystore(path: Path, password: str, private_key: bytes | None = None, *, iterations: int | None = None) -> str:
    """Encrypt a new (or the given) private key into a 0600 keystore at ``path``; returns the address."""
    if path.exists():
        raise ConfigError(f"keystore {path} already exists; refusing to overwrite it")
    acct = Account.from_key(private_key) if private_key is not None else Account.create()
    ks = Account.encrypt(acct.key, password, iterations=iterations) if iterations else Account.encrypt(acct.key, password)
    atomic_write(path, json.dumps(ks).encode(), mode=FILE_MODE)
    return acct.address


def unlock_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt the keystore; a wrong password or a malformed file is a ConfigError (no secrets in the message)."""
    try:
        ks = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"keystore {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read keystore {path}: {exc}") from None
    try:
        key = Account.decrypt(ks, password)
    except ValueError:
        raise ConfigError(f"cannot decrypt keystore {path}: wrong password or corrupt keystore") from None
    except Exception as exc:  # noqa: BLE001 - malformed keystore structures raise many types
        raise ConfigError(f"keystore {path} is malformed ({type(exc).__name__})") from None
    return Account.from_key(key)


def read_private_key_file(path: Path) -> bytes:
    """A hex private key from a file (for `cb-node init --import-key`); the file must not be group/world readable."""
    try:
        text = read_owner_only(path, "key file", 200).decode("ascii", "replace").strip()
    except SecretFileError as exc:
        raise ConfigError(str(exc)) from None
    t = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        key = bytes.fromhex(t)
    except ValueError:
        raise ConfigError(f"key file {path} does not hold a hex private key") from None
    if len(key) != 32:
        raise ConfigError(f"key file {path} does not hold a 32-byte private key")
    return key
