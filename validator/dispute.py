"""The challenger's side of a window dispute: check a window, open a dispute, follow it, claim.

``cb-dispute`` (validator/dispute_cli.py) is a thin shell over these functions; tests and the
benchmark call them directly too. Nothing here re-implements consensus arithmetic: a check
replays the window with :func:`validator.replay.replay` (or a validator's gRPC service), and
every write goes through the devnet bindings, which sign locally and check each receipt.

Window numbering is the node's and the validator's: window ``K >= 1`` is the ``K``-th commit
of a beast and trains from checkpoint ``K - 1``; the ledger and the dispute game index the same
window as ``K - 1``.

Where the start state (checkpoint ``K - 1``) comes from, in order of preference:

1. ``state_file``: a checkpoint file (one zstd state blob, as ``cb-node`` keeps them);
2. ``node``: a trainer node's NodeService (GetState);
3. otherwise it is rebuilt from genesis by replaying windows ``1 .. K - 1`` with the masks and
   learning-rate shifts of their committed words, checking every h128 against the chain. This
   needs nothing but public data (and, for a private beast, the dataset and owner secret), so
   a challenger never depends on the trainer. If an earlier window does not reproduce, the
   check reports that window instead: it is the one to dispute.

No function prints, logs or puts into an exception the owner secret, a private key or a
keystore password; only public commitments and file names appear in messages.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from collections.abc import Callable

from eth_account import Account
from eth_account.signers.local import LocalAccount

import devnet
from devnet.bindings import ChainBeasts, DisputeInfo, HatchData, Outcome, Param, WindowStatus
from kernel.errors import KernelError
from kernel.hashing import keccak256
from kernel.params import DEFAULT_PARAMS, KernelParams
from kernel.payload import WINDOW_STEPS, Payload
from kernel.state import ZERO32, KernelState, encode_state_blob, genesis
from validator.errors import ValidatorError
from validator.replay import BeastCommitments, ReplayReport, ReplayRequest, replay
from curriculum.errors import SecretFileError
from curriculum.secret import read_owner_only

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1  # check: divergence found; open/claim: refused before spending anything
EXIT_USAGE: Final = 2
EXIT_CHAIN: Final = 3
EXIT_INTERRUPTED: Final = 130

PASSWORD_ENV: Final = "CB_DISPUTE_PASSWORD"
ENERGY_DECIMALS: Final = 18
MAX_STATE_FILE_BYTES: Final = 320 * 1024

# ---------------------------------------------------------------------------------------
# Errors


class DisputeToolError(Exception):
    """Base class: raised when the dispute tool cannot do what it was asked; carries an exit code."""

    exit_code: int = EXIT_CHAIN


class UsageError(DisputeToolError):
    """Raised when a flag, file, keystore, password or deployments file is unusable."""

    exit_code = EXIT_USAGE


class RefusedError(DisputeToolError):
    """Raised when the tool refuses to act (nothing has been spent): a window that cannot be
    disputed, a dataset or secret that does not match the beast's commitments, a short
    balance, a missing confirmation, nothing to claim."""

    exit_code = EXIT_REFUSED


class ChainDataError(DisputeToolError):
    """Raised when the chain, a trainer node or a validator cannot be reached, a transaction
    reverts, or on-chain or local data is missing or inconsistent."""

    exit_code = EXIT_CHAIN


# ---------------------------------------------------------------------------------------
# Formatting


def format_energy(wei: int) -> str:
    """``1.5 ENERGY`` style rendering of an amount in ENERGY wei (exact, trailing zeros dropped)."""
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), 10**ENERGY_DECIMALS)
    text = f"{whole}"
    if frac:
        text += "." + f"{frac:0{ENERGY_DECIMALS}d}".rstrip("0")
    return f"{sign}{text} ENERGY"


# ---------------------------------------------------------------------------------------
# Keys


def _read_private_file(path: Path, what: str, max_bytes: int) -> bytes:
    """Bytes of a file only its owner may read (curriculum.secret.read_owner_only), as a UsageError."""
    try:
        return read_owner_only(path, what, max_bytes)
    except SecretFileError as exc:
        raise UsageError(str(exc)) from None


def load_account(
    *,
    keystore: Path | None = None,
    password_file: Path | None = None,
    password_env: str = PASSWORD_ENV,
    private_key_file: Path | None = None,
) -> LocalAccount:
    """The challenger's signing account from a keystore (password from a file or the
    environment) or from a 0600 private-key file (devnets). Raises UsageError."""
    if keystore is not None and private_key_file is not None:
        raise UsageError("give either --keystore or --private-key-file, not both")
    if private_key_file is not None:
        raw = _read_private_file(private_key_file, "private key file", 200).decode("ascii", "replace").strip()
        try:
            key = bytes.fromhex(raw.removeprefix("0x"))
        except ValueError:
            key = b""
        if len(key) != 32:
            raise UsageError(f"private key file {private_key_file} must hold 0x + 64 hex digits")
        try:
            return Account.from_key(key)
        except Exception:  # noqa: BLE001 - eth-keys raises several types for an invalid scalar
            raise UsageError(f"private key file {private_key_file} holds an invalid key") from None
    if keystore is None:
        raise UsageError("no key: give --keystore FILE (with --password-file or $" + password_env + ") or --private-key-file FILE")
    if password_file is not None:
        password = _read_private_file(password_file, "password file", 4096).decode("utf-8", "replace").rstrip("\r\n")
    elif os.environ.get(password_env) is not None:
        password = os.environ[password_env]
    else:
        raise UsageError(f"keystore {keystore} needs a password: --password-file FILE or ${password_env}")
    try:
        blob = Path(keystore).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read keystore {keystore}: {exc.strerror or exc}") from None
    try:
        key = Account.decrypt(blob, password)
    except ValueError as exc:
        msg = "wrong password" if "MAC" in str(exc) or "password" in str(exc).lower() else "not a valid keystore"
        raise UsageError(f"cannot decrypt keystore {keystore}: {msg}") from None
    except Exception:  # noqa: BLE001 - malformed JSON and missing fields raise many types
        raise UsageError(f"cannot decrypt keystore {keystore}: not a valid keystore") from None
    return Account.from_key(key)


# ---------------------------------------------------------------------------------------
# Chain


def connect(deployments: Path, rpc_url: str | None = None) -> ChainBeasts:
    """Bindings for the chain of a deployments file (``rpc_url`` overrides its rpcUrl)."""
    try:
        chain = devnet.connect(deployments, rpc_url=rpc_url, timeout=30.0)
    except devnet.ConfigError as exc:
        raise UsageError(str(exc)) from None
    except devnet.LedgerError as exc:
        raise ChainDataError(str(exc)) from None
    chain.accounts = []  # the tool signs only with the key it was given
    try:
        chain.deploy_block = int(devnet.load_deployments(deployments).get("deployBlock") or 0)  # type: ignore[attr-defined]
    except devnet.LedgerError:
        chain.deploy_block = 0  # type: ignore[attr-defined]
    return chain


def _chain_call(what: str, fn: Callable[[], Any]) -> Any:
    """Run a chain read or write, turning the devnet's errors into ChainDataError."""
    try:
        return fn()
    except DisputeToolError:
        raise
    except devnet.ContractError as exc:
        raise ChainDataError(f"{what}: the contract refused: {exc}") from None
    except devnet.LedgerError as exc:
        raise ChainDataError(f"{what}: {exc}") from None


def kernel_params(chain: ChainBeasts) -> KernelParams:
    """Kernel parameters matching the season constants on chain (shape from spec version 1)."""
    return KernelParams(
        slot_width=DEFAULT_PARAMS.slot_width, n_slots=DEFAULT_PARAMS.n_slots,
        epoch_steps=chain.param(Param.EPOCH_STEPS), base_cost=chain.param(Param.BASE_COST),
        spurt_cost=chain.param(Param.SPURT_COST),
    )


@dataclass(frozen=True)
class WindowOnChain:
    """What the chain says about window ``window`` (K >= 1) of a beast, and what a dispute costs."""

    beast_id: int
    window: int  # K, the node's numbering
    hatch: HatchData
    word: bytes  # the committed word
    payload: Payload | None  # None when the committed word does not even parse
    prev_h128: bytes  # h128 of checkpoint K-1 (genesis h128 at K == 1)
    epoch_seed: bytes
    status: WindowStatus
    commit_block: int
    challenge_deadline: int  # last block (inclusive) in which openDispute is accepted
    block: int  # the chain's latest block when read
    bond: int  # ENERGY wei a dispute posts
    params: KernelParams
    window_count: int
    max_dataset_bytes: int  # the season's limit on the dataset openDispute accepts

    @property
    def index(self) -> int:
        """The ledger's index of the window (K - 1)."""
        return self.window - 1

    @property
    def private(self) -> bool:
        return self.hatch.dataset_commitment != ZERO32

    @property
    def commitments(self) -> BeastCommitments:
        return BeastCommitments(self.hatch.seed_core, self.hatch.dataset_commitment, self.hatch.secret_commitment,
                                self.params)

    @property
    def disputable(self) -> bool:
        """True when an openDispute sent now lands inside the challenge period (next block)."""
        return self.status == WindowStatus.COMMITTED and self.block + 1 <= self.challenge_deadline

    def why_not_disputable(self) -> str:
        if self.status != WindowStatus.COMMITTED:
            return f"window {self.window} of beast {self.beast_id} is {self.status.name.lower()}, not committed"
        return (f"the challenge period of window {self.window} of beast {self.beast_id} ended at block "
                f"{self.challenge_deadline} (the chain is at block {self.block})")


def read_window(chain: ChainBeasts, beast_id: int, window: int) -> WindowOnChain:
    """Read hatch data, the committed word, the previous h128, the epoch seed and the bond."""
    if beast_id < 1:
        raise UsageError(f"beast id must be >= 1, got {beast_id}")
    if window < 1:
        raise UsageError(f"window must be >= 1 (window 0 is genesis and is never committed), got {window}")
    hatch = _chain_call(f"reading beast {beast_id}", lambda: chain.hatch_data(beast_id))
    count = _chain_call("reading the window count", lambda: chain.window_count(beast_id))
    if window > count:
        raise ChainDataError(f"window {window} of beast {beast_id} is not committed (the ledger holds windows 1..{count})")
    params = _chain_call("reading season constants", lambda: kernel_params(chain))
    idx = window - 1
    word = _chain_call("reading the committed word", lambda: chain.word(beast_id, idx))
    try:
        payload: Payload | None = Payload.unpack(word)
    except KernelError:
        payload = None
    if window == 1:
        try:
            prev = genesis(hatch.seed_core, params, dataset_commitment=hatch.dataset_commitment).h128()
        except KernelError as exc:
            raise ChainDataError(f"cannot build the genesis of beast {beast_id}: {exc}") from None
    else:
        prev_word = _chain_call("reading the previous word", lambda: chain.word(beast_id, idx - 1))
        prev = prev_word[:16]
    start_step = (WINDOW_STEPS * idx) & 0xFFFFFFFF
    epoch = start_step // params.epoch_steps
    seed = _chain_call(f"reading the seed of epoch {epoch}", lambda: chain.epoch_seed(beast_id, epoch))
    status = _chain_call("reading the window status", lambda: chain.window_status(beast_id, idx))
    commit_block = _chain_call("reading the commit block", lambda: chain.commit_block(beast_id, idx))
    deadline = _chain_call("reading the challenge deadline", lambda: chain.challenge_deadline(beast_id, idx))
    burn = int.from_bytes(word[20:28], "big")  # energyBurn, bits 95..32
    bond = _chain_call("reading the bond multiplier", lambda: chain.param(Param.BOND_MULTIPLIER)) * burn
    block = _chain_call("reading the block number", chain.block_number)
    max_bytes = _chain_call("reading the dataset limit", lambda: chain.param(Param.MAX_DATASET_BYTES))
    return WindowOnChain(beast_id, window, hatch, word, payload, prev, seed, status, commit_block, deadline, block,
                         bond, params, count, max_bytes)


# ---------------------------------------------------------------------------------------
# Curriculum


@dataclass(frozen=True)
class Curriculum:
    """A private beast's dataset file bytes and owner secret, checked against its commitments."""

    dataset: bytes = field(repr=False)
    owner_secret: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"Curriculum(dataset=0x{keccak256(self.dataset).hex()}, owner_secret=<redacted>)"


def load_curriculum(hatch: HatchData, beast_id: int, dataset_path: Path | None, secret_path: Path | None,
                    *, max_bytes: int = 512 * 1024) -> Curriculum | None:
    """Read and check the dataset and secret files against the beast's hatch commitments.

    Returns None for a public beast. Raises UsageError for missing or unreadable files and
    RefusedError when a file does not match its commitment (before anything is spent).
    """
    from curriculum import CurriculumError, read_dataset_bytes, read_secret_file

    if hatch.dataset_commitment == ZERO32:
        if dataset_path is not None or secret_path is not None:
            raise UsageError(f"beast {beast_id} has no private curriculum (C_dataset is zero); drop --dataset and --secret-file")
        return None
    if dataset_path is None or secret_path is None:
        raise UsageError(f"beast {beast_id} trains on a private dataset: give --dataset FILE and --secret-file FILE "
                         f"(C_dataset 0x{hatch.dataset_commitment.hex()})")
    try:
        data = read_dataset_bytes(dataset_path, max_bytes=max_bytes)
    except CurriculumError as exc:
        raise UsageError(str(exc)) from None
    got = keccak256(data)
    # Verify the dataset file is the one committed at hatch.
    if got != hatch.dataset_commitment:
        raise RefusedError(
            f"dataset file {dataset_path} hashes to 0x{got.hex()}, but beast {beast_id} committed C_dataset "
            f"0x{hatch.dataset_commitment.hex()}; the dispute game would reject it (nothing was sent)")
    try:
        secret = read_secret_file(secret_path)
    except CurriculumError as exc:
        raise UsageError(str(exc)) from None
    # Verify keccak256(S_owner) is the committed secret commitment.
    if secret.commitment != hatch.secret_commitment:
        raise RefusedError(
            f"the owner secret in {secret_path} does not match beast {beast_id}'s secret commitment "
            f"0x{hatch.secret_commitment.hex()} (its commitment is 0x{secret.commitment.hex()}); nothing was sent")
    return Curriculum(data, secret.reveal())


def _source(w: WindowOnChain, cur: Curriculum | None) -> Any:
    from curriculum import PrivateDatasetSource, decode_dataset
    from kernel.sources import PublicSource

    if cur is None:
        return PublicSource()
    try:
        return PrivateDatasetSource(decode_dataset(cur.dataset), cur.owner_secret)
    except Exception as exc:  # noqa: BLE001 - CurriculumError / KernelError
        raise ChainDataError(f"the committed dataset does not decode: {exc}") from None


# ---------------------------------------------------------------------------------------
# Start state


@dataclass(frozen=True)
class StartState:
    """Checkpoint K-1 as a blob, where it came from, and an earlier divergent window if the rebuild found one."""

    blob: bytes | None = field(repr=False)
    origin: str
    earlier_divergence: int | None = None  # window j < K whose committed word does not reproduce
    earlier_report: ReplayReport | None = None


def rebuild_start(chain: ChainBeasts, w: WindowOnChain, cur: Curriculum | None, backend: str = "numpy") -> StartState:
    """Replay windows 1..K-1 from genesis with their committed masks and lr shifts, checking each h128."""
    from kernel.replay import replay_window

    try:
        state: KernelState = genesis(w.hatch.seed_core, w.params, dataset_commitment=w.hatch.dataset_commitment)
    except KernelError as exc:
        raise ChainDataError(f"cannot build the genesis of beast {w.beast_id}: {exc}") from None
    if w.window == 1:
        return StartState(encode_state_blob(state), "genesis")
    source = _source(w, cur)
    for j in range(1, w.window):
        word_j = _chain_call(f"reading window {j}", lambda j=j: chain.word(w.beast_id, j - 1))
        epoch = state.global_step // state.params.epoch_steps
        seed = _chain_call(f"reading the seed of epoch {epoch}", lambda epoch=epoch: chain.epoch_seed(w.beast_id, epoch))
        result = None
        # a malformed word or an illegal mask/lr_shift: the replay below reports why
        with contextlib.suppress(KernelError):
            result = replay_window(state, source, Payload.unpack(word_j), epoch_seed=seed, backend=backend)
        if result is None or result.payload.pack() != word_j:
            # Let the validator library say what differs (fields, reason).
            req = ReplayRequest(w.commitments, j, start_state=encode_state_blob(state), prev_h128=state.h128(),
                                committed_word=word_j, epoch_seed=seed, dataset=cur.dataset if cur else None,
                                owner_secret=cur.owner_secret if cur else None)
            report = _replay(req, backend, w.max_dataset_bytes)
            return StartState(None, f"rebuilt from genesis up to window {j}", earlier_divergence=j, earlier_report=report)
        state = result.state
    return StartState(encode_state_blob(state), f"rebuilt from genesis ({w.window - 1} windows replayed)")


def fetch_start(chain: ChainBeasts, w: WindowOnChain, cur: Curriculum | None, *, state_file: Path | None = None,
                node: str | None = None, backend: str = "numpy", rebuild: bool = True) -> StartState:
    """Checkpoint K-1 from a file, a trainer node, or rebuilt from genesis (module docstring)."""
    if state_file is not None:
        try:
            with open(state_file, "rb") as fh:
                blob = fh.read(MAX_STATE_FILE_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read state file {state_file}: {exc.strerror or exc}") from None
        if len(blob) > MAX_STATE_FILE_BYTES:
            raise UsageError(f"state file {state_file} is over {MAX_STATE_FILE_BYTES} bytes; not a checkpoint")
        return StartState(blob, f"state file {state_file}")
    if node is not None:
        from validator.node_client import NodeClient

        client = NodeClient(timeout_s=10.0)
        try:
            blob = client.get_state(node, w.beast_id, w.window - 1)
        except ValidatorError as exc:
            if not rebuild:
                raise ChainDataError(f"cannot get checkpoint {w.window - 1} from the trainer node: {exc}") from None
            start = rebuild_start(chain, w, cur, backend)
            return StartState(start.blob, f"{start.origin}; trainer node {node} failed: {exc}",
                              start.earlier_divergence, start.earlier_report)
        finally:
            client.close()
        return StartState(blob, f"trainer node {node}")
    if not rebuild:
        raise UsageError("no start state: give --state-file or --node")
    return rebuild_start(chain, w, cur, backend)


# ---------------------------------------------------------------------------------------
# Check


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
            "disputable": w.disputable,
            "bond": str(w.bond),
            "bondEnergy": format_energy(w.bond),
            "seconds": round(self.seconds, 3),
        }


def _replay(req: ReplayRequest, backend: str, max_dataset_bytes: int) -> ReplayReport:
    try:
        return replay(req, backend=backend, max_dataset_bytes=max_dataset_bytes)
    except ValidatorError as exc:
        raise ChainDataError(f"the replay refused its inputs: {exc}") from None


def check_window(chain: ChainBeasts, w: WindowOnChain, cur: Curriculum | None, *, state_file: Path | None = None,
                 node: str | None = None, validator: str | None = None, backend: str = "numpy",
                 timeout_s: float = 60.0) -> CheckResult:
    """Replay window K locally (or through a validator's gRPC service) against its committed word."""
    t0 = time.perf_counter()
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
    report = _replay(req, backend, w.max_dataset_bytes)
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
                                             spurt_cost=w.params.spurt_cost),
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


# ---------------------------------------------------------------------------------------
# Open


@dataclass(frozen=True)
class OpenResult:
    """A dispute that was opened: its id, the bond posted and the transactions sent."""

    dispute_id: int
    bond: int
    voting_deadline: int
    tx_hash: str
    block: int
    gas: dict[str, int]  # transaction name -> gas used

    def to_json(self) -> dict[str, Any]:
        return {"disputeId": self.dispute_id, "bond": str(self.bond), "bondEnergy": format_energy(self.bond),
                "votingDeadline": self.voting_deadline, "txHash": self.tx_hash, "block": self.block, "gas": self.gas}


def preflight_open(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain) -> None:
    """Refuse (RefusedError) a dispute that would revert: window state, challenge period, balance."""
    if not w.disputable:
        raise RefusedError(f"cannot dispute: {w.why_not_disputable()}; nothing was sent")
    balance = _chain_call("reading the ENERGY balance", lambda: chain.balance_of(account.address))
    if balance < w.bond:
        raise RefusedError(f"the bond is {format_energy(w.bond)} but {account.address} holds {format_energy(balance)}; "
                           f"nothing was sent")


def open_dispute(chain: ChainBeasts, account: LocalAccount, w: WindowOnChain, cur: Curriculum | None) -> OpenResult:
    """Approve the dispute game for the bond (when needed) and post openDispute with dataset and secret."""
    preflight_open(chain, account, w)
    game = chain.addresses["DisputeGame"]
    gas: dict[str, int] = {}
    allowance = _chain_call("reading the allowance", lambda: chain.allowance(account.address, game))
    if allowance < w.bond:
        r = _chain_call("approving the bond", lambda: chain.approve(account, game, w.bond))
        gas["approve"] = r.gas_used
    dataset = cur.dataset if cur else b""
    secret = cur.owner_secret if cur else ZERO32
    try:
        r = _chain_call("openDispute", lambda: chain.open_dispute_tx(account, w.beast_id, w.index, dataset, secret))
    except DisputeToolError as exc:
        # A client error could echo the transaction's calldata, which carries S_owner.
        if cur is not None and cur.owner_secret.hex() in str(exc).lower():
            import re

            raise type(exc)(re.sub(cur.owner_secret.hex(), "<redacted>", str(exc), flags=re.I)) from None
        raise
    gas["openDispute"] = r.gas_used
    ev = r.event("DisputeOpened").args
    return OpenResult(int(ev["disputeId"]), int(ev["bond"]), int(ev["votingDeadline"]), r.tx_hash, r.block_number, gas)


# ---------------------------------------------------------------------------------------
# Status


@dataclass(frozen=True)
class VoteRecord:
    """One VoteCast event."""

    validator: str
    computed_word: bytes
    agrees: bool
    block: int


@dataclass(frozen=True)
class DisputeStatus:
    """A dispute as the chain sees it now."""

    info: DisputeInfo
    votes: tuple[VoteRecord, ...]
    block: int
    quorum: int
    owner: str
    credits: dict[str, int]  # address -> credited, unclaimed ENERGY (challenger, owner, voters)

    @property
    def open(self) -> bool:
        return self.info.outcome == Outcome.OPEN

    @property
    def resolvable(self) -> bool:
        """Whether resolve() would succeed now (a quorum with more votes, or the deadline passed)."""
        i = self.info
        if i.outcome != Outcome.OPEN:
            return False
        return ((i.agree >= self.quorum and i.agree > i.against) or (i.against >= self.quorum and i.against > i.agree)
                or self.block > i.voting_deadline)

    @property
    def blocks_left(self) -> int:
        return max(0, self.info.voting_deadline - self.block)

    def to_json(self) -> dict[str, Any]:
        i = self.info
        return {
            "disputeId": i.dispute_id, "beastId": i.beast_id, "window": i.index + 1, "ledgerIndex": i.index,
            "challenger": i.challenger, "owner": self.owner, "bond": str(i.bond), "bondEnergy": format_energy(i.bond),
            "word": "0x" + i.word.hex(), "agree": i.agree, "against": i.against, "quorum": self.quorum,
            "votingDeadline": i.voting_deadline, "block": self.block, "blocksLeft": self.blocks_left,
            "outcome": i.outcome.name.lower(), "resolvable": self.resolvable,
            "votes": [{"validator": v.validator, "computedWord": "0x" + v.computed_word.hex(), "agrees": v.agrees,
                       "block": v.block} for v in self.votes],
            "credits": {a: str(c) for a, c in self.credits.items()},
        }


def vote_records(chain: ChainBeasts, dispute_id: int) -> list[VoteRecord]:
    """The VoteCast events of a dispute, in order."""
    topic = "0x" + dispute_id.to_bytes(32, "big").hex()
    ev = chain.game.events.VoteCast()
    start = int(getattr(chain, "deploy_block", 0) or 0)

    def fetch() -> list[Any]:
        return list(chain.w3.eth.get_logs({"address": chain.game.address, "fromBlock": start, "toBlock": "latest",
                                           "topics": [ev.topic, topic]}))

    try:
        logs = fetch()
    except Exception as exc:  # noqa: BLE001 - RPC errors come in many types
        raise ChainDataError(f"reading the votes of dispute {dispute_id}: {exc}") from None
    out = []
    for log in logs:
        a = ev.process_log(log)["args"]
        out.append(VoteRecord(str(a["validator"]), bytes(a["computedWord"]), bool(a["agrees"]), int(log["blockNumber"])))
    return out


def find_dispute(chain: ChainBeasts, beast_id: int, window: int) -> int:
    """The id of the latest dispute opened on window ``window`` (K >= 1) of ``beast_id``."""
    if beast_id < 1 or window < 1:
        raise UsageError("--beast and --window must be >= 1")
    ev = chain.game.events.DisputeOpened()
    start = int(getattr(chain, "deploy_block", 0) or 0)
    topics = [ev.topic, None, "0x" + beast_id.to_bytes(32, "big").hex(), "0x" + (window - 1).to_bytes(32, "big").hex()]
    try:
        logs = list(chain.w3.eth.get_logs({"address": chain.game.address, "fromBlock": start, "toBlock": "latest",
                                           "topics": topics}))
    except Exception as exc:  # noqa: BLE001 - RPC errors come in many types
        raise ChainDataError(f"searching disputes of beast {beast_id} window {window}: {exc}") from None
    if not logs:
        raise ChainDataError(f"no dispute was opened on beast {beast_id} window {window}")
    return int(ev.process_log(logs[-1])["args"]["disputeId"])


def dispute_status(chain: ChainBeasts, dispute_id: int) -> DisputeStatus:
    """Votes so far, deadline, outcome and credits of a dispute."""
    if dispute_id < 1:
        raise UsageError(f"dispute id must be >= 1, got {dispute_id}")
    info = _chain_call(f"reading dispute {dispute_id}", lambda: chain.dispute(dispute_id))
    votes = vote_records(chain, dispute_id)
    block = _chain_call("reading the block number", chain.block_number)
    quorum = _chain_call("reading the quorum", lambda: chain.param(Param.VALIDATOR_QUORUM))
    owner = _chain_call("reading the beast owner", lambda: chain.owner_of(info.beast_id))
    who = [info.challenger, owner] + [v.validator for v in votes]
    credits = {a: _chain_call("reading credits", lambda a=a: chain.credit_of(a)) for a in dict.fromkeys(who)}
    return DisputeStatus(info, tuple(votes), block, quorum, owner, credits)


def watch_status(chain: ChainBeasts, dispute_id: int, *, interval_s: float = 1.0, timeout_s: float = 600.0,
                 on_change: Callable[[DisputeStatus], None] | None = None,
                 resolver: LocalAccount | None = None) -> DisputeStatus:
    """Poll until the dispute is resolved (or ``timeout_s``); with ``resolver``, resolve it once possible."""
    deadline = time.monotonic() + timeout_s
    last: tuple[Any, ...] | None = None
    while True:
        st = dispute_status(chain, dispute_id)
        key = (st.info.agree, st.info.against, st.info.outcome, st.resolvable)
        if key != last and on_change is not None:
            on_change(st)
        last = key
        if not st.open:
            return st
        if resolver is not None and st.resolvable:
            resolve(chain, resolver, dispute_id)
            continue
        if time.monotonic() > deadline:
            raise ChainDataError(f"dispute {dispute_id} still open after {timeout_s:.0f}s "
                                 f"({st.blocks_left} blocks of voting left)")
        time.sleep(interval_s)


# ---------------------------------------------------------------------------------------
# Resolve and claim


def resolve(chain: ChainBeasts, account: LocalAccount, dispute_id: int) -> tuple[Outcome, int]:
    """Resolve a dispute; returns (outcome, gas used)."""
    r = _chain_call(f"resolving dispute {dispute_id}", lambda: chain.resolve_tx(account, dispute_id))
    return Outcome(int(r.event("DisputeResolved").args["outcome"])), r.gas_used


@dataclass(frozen=True)
class ClaimResult:
    """What ``claim`` did: an optional resolve, then the transfer of the caller's credit."""

    account: str
    amount: int
    resolved: Outcome | None  # the outcome when this call resolved the dispute
    outcome: Outcome | None  # the dispute's outcome (when an id was given)
    gas: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "amount": str(self.amount), "amountEnergy": format_energy(self.amount),
                "resolvedNow": self.resolved.name.lower() if self.resolved is not None else None,
                "outcome": self.outcome.name.lower() if self.outcome is not None else None, "gas": self.gas}


def claim(chain: ChainBeasts, account: LocalAccount, dispute_id: int | None = None) -> ClaimResult:
    """Resolve ``dispute_id`` when it is resolvable and still open, then claim the caller's credit."""
    gas: dict[str, int] = {}
    resolved: Outcome | None = None
    outcome: Outcome | None = None
    if dispute_id is not None:
        st = dispute_status(chain, dispute_id)
        if st.open:
            if not st.resolvable:
                raise RefusedError(
                    f"dispute {dispute_id} is still open ({st.info.agree} agree, {st.info.against} against, quorum "
                    f"{st.quorum}); voting ends after block {st.info.voting_deadline}, the chain is at block {st.block}")
            resolved, gas["resolve"] = resolve(chain, account, dispute_id)
            outcome = resolved
        else:
            outcome = st.info.outcome
    credit = _chain_call("reading the credit", lambda: chain.credit_of(account.address))
    if credit == 0:
        what = f" from dispute {dispute_id} ({outcome.name.lower()})" if dispute_id is not None and outcome else ""
        if resolved is not None:
            return ClaimResult(account.address, 0, resolved, outcome, gas)
        raise RefusedError(f"nothing to claim{what} for {account.address}")
    r = _chain_call("claiming", lambda: chain._send(account, chain.game, "claim", [], 120_000))
    gas["claim"] = r.gas_used
    amount = int(r.event("Claimed").args["amount"])
    return ClaimResult(account.address, amount, resolved, outcome, gas)


__all__ = [
    "EXIT_CHAIN",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "ChainDataError",
    "CheckResult",
    "ClaimResult",
    "Curriculum",
    "DisputeStatus",
    "DisputeToolError",
    "OpenResult",
    "RefusedError",
    "UsageError",
    "VoteRecord",
    "WindowOnChain",
    "check_window",
    "claim",
    "connect",
    "dispute_status",
    "find_dispute",
    "format_energy",
    "load_account",
    "load_curriculum",
    "open_dispute",
    "read_window",
    "resolve",
    "watch_status",
]
