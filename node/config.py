"""node.toml (read with tomllib) and the encrypted trainer keystore.

The keystore is a standard eth-account JSON keystore (scrypt). Its password comes from
``--password-file``, else ``$CB_NODE_PASSWORD``, else an interactive prompt (getpass,
never echoed); it is never logged, printed or put into an exception message.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from collections.abc import Callable

from chainbeasts.rpc_limits import RpcLimits
from kernel import host
from node.errors import ConfigError
from node.owner_controls import Schedule, parse_lr_schedule
from node.service_limits import DEFAULT_LIMITS
from node.store import FILE_MODE, atomic_write

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from node.staking import StakePolicy

CONFIG_NAME: Final = "node.toml"
MAX_CONFIG_BYTES: Final = 1 << 20  # a commented file of a few dozen keys
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

# Retention (`cb-node prune`): checkpoints of finalized windows are deleted unless the window is
# a multiple of keep_every (0: none kept for that reason), among the newest keep_latest windows,
# genesis, or a window a dispute could still need (every window inside its challenge period,
# disputed, or not yet finalized, and the window before each). auto_prune: the daemon prunes
# after every finalization sweep.
keep_every = 64
keep_latest = 8
auto_prune = false

# Learning-rate schedule per beast (owner control, SPEC §7.1): beast id (or "default") =
# [[from_window, lr_shift], ...], windows strictly increasing from 1, lr_shift 0..24 (the step
# size is 2^-lr_shift). Window N trains with the last entry whose from_window <= N; before the
# first entry a beast keeps its current lr_shift (6 at hatch). Example:
#   [lr_schedule]
#   default = [[1, 6], [200, 8]]
#   7 = [[1, 5]]
# (Tables come last in a TOML file: keep [lr_schedule] below every plain key.)

# gRPC service limits, per client (peer IP address) and for all clients together; the excess is
# refused with RESOURCE_EXHAUSTED. Streams: WatchMetrics and reflection. Calls: GetState,
# ListWindows, GetStepDigests (health checks have their own capacity). A stream is ended after
# its lifetime, or when no message went either way for the idle time (seconds).
grpc_streams_per_client = {streams_per_client}
grpc_max_streams = {streams_total}
grpc_calls_per_client = {calls_per_client}
grpc_max_calls = {calls_total}
grpc_stream_lifetime_s = {stream_lifetime_s:g}
grpc_stream_idle_s = {stream_idle_s:g}

# Every this many windows, `cb-node run` scores the committed checkpoint on held-out boards (move
# accuracy, attack error, block recall, battles won against the untrained beast), prints the
# figures and adds them to the beast's metrics.jsonl ("kind": "eval"); 0 = never.
eval_every = 8

# Stake the ledger requires of a committer: every commit needs at least the call's energyBurn
# staked, and a slash of one of this node's windows takes up to its energyBurn from the stake.
# "auto": the node stakes what each commit batch needs, from its ENERGY balance. An amount of
# ENERGY (e.g. "250"): it stakes up to that much, never more, and a batch that needs more stops
# the node with a clear error. `cb-node stake` / `cb-node unstake` change it by hand.
stake = "auto"
"""


@dataclass
class NodeConfig:
    """The settings of one node directory (the defaults are those of an empty node.toml)."""

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
    keep_every: int = 64
    keep_latest: int = 8
    auto_prune: bool = False
    lr_schedule: dict[str, Schedule] = field(default_factory=dict)
    grpc_streams_per_client: int = DEFAULT_LIMITS.streams_per_client
    grpc_max_streams: int = DEFAULT_LIMITS.streams_total
    grpc_calls_per_client: int = DEFAULT_LIMITS.calls_per_client
    grpc_max_calls: int = DEFAULT_LIMITS.calls_total
    grpc_stream_lifetime_s: float = DEFAULT_LIMITS.stream_lifetime_s
    grpc_stream_idle_s: float = DEFAULT_LIMITS.stream_idle_s
    eval_every: int = 8
    stake: str = "auto"  # node.staking: "auto" or an amount of ENERGY

    @property
    def root(self) -> Path:
        """The node directory (folder of node.toml)."""
        return self.path.parent

    def stake_policy(self) -> StakePolicy:
        """node.toml's ``stake`` as the committer's policy (node.staking)."""
        from node.staking import parse_stake

        return parse_stake(self.stake)

    def rpc_limits(self) -> RpcLimits:
        """The gRPC service's limits: the node's defaults with this file's grpc_* settings."""
        return dataclasses.replace(
            DEFAULT_LIMITS, streams_per_client=self.grpc_streams_per_client, streams_total=self.grpc_max_streams,
            calls_per_client=self.grpc_calls_per_client, calls_total=self.grpc_max_calls,
            stream_lifetime_s=self.grpc_stream_lifetime_s, stream_idle_s=self.grpc_stream_idle_s,
        )


# TOML value types a key may hold, by the name its error message uses. A TOML boolean is never an
# integer or a number here (Python's bool is an int subclass).
_KINDS: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "list": (list,),
    "table": (dict,),
}


def _between(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


def _is_rpc(v: str) -> bool:
    return v == "embedded" or v.startswith(("http://", "https://"))


def _is_host_port(v: str) -> bool:
    host, _, port = v.rpartition(":")
    return bool(host) and port.isdigit() and 0 <= int(port) <= 65535


def _is_stake(v: str) -> bool:
    from node.staking import parse_stake

    try:
        parse_stake(v)
    except ConfigError:
        return False
    return True


def _are_beast_ids(v: list[Any]) -> bool:
    return all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in v)


@dataclass(frozen=True)
class Key:
    """One node.toml key: its TOML type, the rule its value must meet (as users read it) and its check.

    ``is_path`` keys name a file or folder relative to node.toml's folder (``~`` expands). The
    default is the NodeConfig field's, which goes through the same resolution.
    """

    name: str
    kind: str  # a key of _KINDS
    rule: str = ""  # "" when the type is the whole rule
    check: Callable[[Any], bool] = field(default=lambda v: True)
    is_path: bool = False


# One row per node.toml key, in NodeConfig's field order (a test holds the two together).
KEYS: Final = (
    Key("rpc", "string", 'an http(s) URL or "embedded"', _is_rpc),
    Key("deployments", "string", is_path=True),
    Key("keystore", "string", is_path=True),
    Key("beasts", "list", "a list of beast ids >= 1", _are_beast_ids),
    Key("backend", "string", '"numpy" or "torch"', lambda v: v in ("numpy", "torch")),
    Key("grpc", "string", "HOST:PORT", _is_host_port),
    Key("data_dir", "string", is_path=True),
    Key("confirmations", "integer", "0..64", _between(0, 64)),
    Key("gas_margin", "number", "1.0..5.0", _between(1.0, 5.0)),
    Key("rpc_retries", "integer", "0..20", _between(0, 20)),
    Key("auto_finalize", "boolean"),
    Key("torch_threads", "integer", "0..256", _between(0, 256)),
    Key("keep_every", "integer", "0..1000000 windows", _between(0, 1_000_000)),
    Key("keep_latest", "integer", "1..1000000 windows", _between(1, 1_000_000)),
    Key("auto_prune", "boolean"),
    Key("lr_schedule", "table"),  # its rules: node.owner_controls.parse_lr_schedule
    Key("grpc_streams_per_client", "integer", "1..256", _between(1, 256)),
    Key("grpc_max_streams", "integer", "1..256", _between(1, 256)),
    Key("grpc_calls_per_client", "integer", "1..256", _between(1, 256)),
    Key("grpc_max_calls", "integer", "1..256", _between(1, 256)),
    Key("grpc_stream_lifetime_s", "number", "1..86400 seconds", _between(1, 86400)),
    Key("grpc_stream_idle_s", "number", "1..86400 seconds", _between(1, 86400)),
    Key("eval_every", "integer", "0..1000000 windows", _between(0, 1_000_000)),
    Key("stake", "string", '"auto" or a positive amount of ENERGY such as "250"', lambda v: _is_stake(v)),
)
# A per-client limit above its total could never be reached: refused so the file says what it means.
_PER_CLIENT_AND_TOTAL: Final = (("grpc_streams_per_client", "grpc_max_streams"), ("grpc_calls_per_client", "grpc_max_calls"))


def _setting(key: Key, value: Any, path: Path, root: Path) -> Any:
    """``value`` of ``key`` checked against its row and converted to the NodeConfig setting."""
    kinds = _KINDS[key.kind]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        article = "an" if key.kind[0] in "aeiou" else "a"
        raise ConfigError(f"{path}: {key.name} must be {article} {key.kind}, got {value!r}")
    if not key.check(value):
        raise ConfigError(f"{path}: {key.name} must be {key.rule}, got {value!r}")
    if key.is_path:
        return _resolve(Path(value), root)
    if key.kind == "table":
        return parse_lr_schedule(value, str(path))
    return float(value) if key.kind == "number" else value


def _resolve(p: Path, root: Path) -> Path:
    """A path from node.toml: ``~`` expanded, relative ones taken from node.toml's folder."""
    p = p.expanduser()
    return p if p.is_absolute() else root / p


def _read_toml(node_dir: Path) -> tuple[Path, dict[str, Any]]:
    path = Path(node_dir)
    if path.is_dir():
        path = path / CONFIG_NAME
    try:  # kernel.host.read_file: a FIFO or device is refused, not waited on
        return path, tomllib.loads(host.read_file(path, limit=MAX_CONFIG_BYTES, what=CONFIG_NAME).decode("utf-8"))
    except host.FileMissingError:
        raise ConfigError(f"no {CONFIG_NAME} at {path}; create one with `cb-node init DIR`") from None
    except host.HostError as exc:
        raise ConfigError(str(exc)) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def load_config(node_dir: Path) -> NodeConfig:
    """Read DIR/node.toml (or the file itself when given), check every key against KEYS, resolve paths."""
    path, doc = _read_toml(node_dir)
    known = [k.name for k in KEYS]
    unknown = sorted(set(doc) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown} (known: {sorted(known)})")
    cfg = NodeConfig(path=path.resolve())
    for key in KEYS:
        if key.name in doc:
            setattr(cfg, key.name, _setting(key, doc[key.name], path, cfg.root))
        elif key.is_path and getattr(cfg, key.name) is not None:  # a default path, relative to node.toml too
            setattr(cfg, key.name, _resolve(getattr(cfg, key.name), cfg.root))
    if cfg.rpc != "embedded" and cfg.deployments is None:
        raise ConfigError(f"{path}: rpc is a URL, so deployments (the contract addresses file) is required")
    for per, total in _PER_CLIENT_AND_TOTAL:
        if getattr(cfg, per) > getattr(cfg, total):
            raise ConfigError(f"{path}: {per} ({getattr(cfg, per)}) must be at most {total} ({getattr(cfg, total)})")
    return cfg


def write_config(node_dir: Path, *, rpc: str, deployments: str, backend: str, grpc: str) -> Path:
    """Write a commented node.toml into ``node_dir`` (refuses to overwrite)."""
    path = Path(node_dir) / CONFIG_NAME
    if path.exists():
        raise ConfigError(f"{path} already exists; refusing to overwrite it")
    text = TEMPLATE.format(rpc=rpc, deployments=deployments, backend=backend, grpc=grpc, **dataclasses.asdict(DEFAULT_LIMITS))
    atomic_write(path, text.encode(), mode=0o644)
    return path


# ---- password and keystore ------------------------------------------------------------


def read_password(password_file: Path | None, *, confirm: bool = False) -> str:
    """The keystore password from a file, $CB_NODE_PASSWORD, or a getpass prompt (in that order)."""
    if password_file is not None:
        try:  # kernel.host: the first line; a FIFO or device is refused, not waited on
            pw = host.read_password_file(password_file, private=True)  # mode 0600, ours, no symlink
        except host.HostError as exc:
            raise ConfigError(str(exc)) from None
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
    from eth_account import Account  # lazy: `cb-node --help` and `status` must not import eth-account

    acct = Account.from_key(private_key) if private_key is not None else Account.create()
    ks = Account.encrypt(acct.key, password, iterations=iterations) if iterations else Account.encrypt(acct.key, password)
    atomic_write(path, json.dumps(ks).encode(), mode=FILE_MODE)
    return acct.address


def unlock_keystore(path: Path, password: str) -> LocalAccount:
    """Decrypt the keystore (kernel.host.unlock_keystore); a wrong password or a malformed file is a
    ConfigError (no secrets in the message)."""
    try:
        return host.unlock_keystore(path, password)
    except host.HostError as exc:
        raise ConfigError(str(exc)) from None


def read_private_key_file(path: Path) -> bytes:
    """A hex private key from a 0600 file (for `cb-node init --import-key`; kernel.host.read_private_key)."""
    try:
        return host.read_private_key(path)
    except host.HostError as exc:
        raise ConfigError(str(exc)) from None
