"""Watch mode: answer on-chain disputes by replaying the disputed window and voting the computed word.

One round (:meth:`Watcher.run_once`) walks the open disputes; for each one this validator has
not voted on it fetches what the replay needs (hatch data and words from the ledger, the
dataset and S_owner from the dispute's calldata, the start state from the trainer's node),
replays, and votes the computed 32-byte word. Votes are recorded in a small JSON file, written
atomically before and after each transaction, and the chain's own ``voteOf`` is checked before
every vote, so a restart never votes twice. A file lock keeps two watchers off one record.

When the trainer's start state cannot be had (node unreachable, unknown, or serving a state
that does not hash to the committed h128), the watcher retries on later rounds and votes
``STATE_UNAVAILABLE`` (0x00..00, a vote against the trainer) only once the voting deadline is
``unavailable_margin`` blocks away or less. When the challenger's dataset cannot be read from the
dispute's opening transaction (not a direct ``openDispute`` call), nobody can replay; the
watcher abstains (no vote), so the trainer is not slashed for the challenger's fault. When the
dataset matches the beast's C_dataset but is not a valid dataset file, the fault is the
trainer's (SPEC §10.6): the watcher votes ``DATASET_INVALID`` (0x00..00, against) at once.

Each decision is one JSON line (``event``, ``dispute``, ``beast``, ``window``, ...); no secret
or dataset byte is ever logged.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TextIO

from devnet.errors import DisputeCalldataError, DisputeError, LedgerError, chain_call
from kernel.host import HostError, atomic_write, read_file
from kernel.state import ZERO32
from validator.chain import LedgerChainReader, map_chain_error
from validator.errors import (
    ConfigError,
    DatasetInvalidError,
    NotFoundError,
    StartStateMismatchError,
    StartStateError,
    UpstreamError,
    ValidatorError,
)
from validator.node_client import NodeClient
from validator.replay import MAX_DATASET_BYTES, ReplayRequest, replay

STATE_VERSION: Final = 1
MAX_RECORD_BYTES: Final = 64 << 20  # one small JSON object per dispute ever seen
STATE_UNAVAILABLE: Final = ZERO32
# The vote on a window of a beast whose revealed dataset (matching C_dataset) is not a valid
# dataset file: against the trainer (SPEC §10.6). A committed word is never zero (the ledger
# refuses an empty activeMask), so this word never agrees.
DATASET_INVALID: Final = ZERO32
DEFAULT_UNAVAILABLE_MARGIN: Final = 2  # blocks before the voting deadline
VOTED: Final = "voted"
VOTING: Final = "voting"  # intent written before the transaction is sent
CLOSED: Final = "closed"  # resolved or past its deadline without our vote


class VoteRecord:
    """The watcher's persistent record: which disputes it voted on (atomic JSON file + lock)."""

    def __init__(self, path: str | os.PathLike[str], validator: str, chain_id: int) -> None:
        self.path = Path(path)
        self.validator = validator
        self.chain_id = chain_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise ConfigError(f"another watcher holds {self.path}.lock; run one watcher per vote record") from None
        try:
            self.data = self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": STATE_VERSION, "validator": self.validator, "chainId": self.chain_id, "disputes": {}}
        try:
            data = json.loads(read_file(self.path, limit=MAX_RECORD_BYTES, what="vote record"))
        except (HostError, ValueError) as exc:
            raise ConfigError(f"vote record {self.path} is unreadable: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(data.get("disputes"), dict):
            raise ConfigError(f"vote record {self.path} is not a version-{STATE_VERSION} record")
        if data.get("validator", "").lower() != self.validator.lower() or data.get("chainId") != self.chain_id:
            raise ConfigError(
                f"vote record {self.path} belongs to validator {data.get('validator')} on chain {data.get('chainId')}, "
                f"not {self.validator} on chain {self.chain_id}"
            )
        return data

    def get(self, dispute_id: int) -> dict[str, Any] | None:
        return self.data["disputes"].get(str(dispute_id))

    def put(self, dispute_id: int, **record: Any) -> None:
        """Set the record of ``dispute_id`` and write the file atomically (temp, fsync, rename, fsync folder)."""
        self.data["disputes"][str(dispute_id)] = dict(record, updatedAt=int(time.time()))
        atomic_write(self.path, json.dumps(self.data, indent=1, sort_keys=True).encode())

    def voted(self) -> list[int]:
        """Dispute ids recorded as voted."""
        return sorted(int(k) for k, v in self.data["disputes"].items() if v.get("status") == VOTED)

    def close(self) -> None:
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1


def json_logger(stream: TextIO) -> Callable[[dict[str, Any]], None]:
    """A logger writing one JSON object per line with a UTC timestamp."""
    lock = threading.Lock()

    def emit(entry: dict[str, Any]) -> None:
        line = json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **entry}, sort_keys=False)
        with lock:
            stream.write(line + "\n")
            stream.flush()

    return emit


class Watcher:
    """Follows disputes on one chain and votes as one validator account."""

    def __init__(
        self,
        chain: Any,  # devnet.bindings.ChainBeasts
        account: Any,  # eth_account LocalAccount
        record_path: str | os.PathLike[str],
        *,
        node_address: str | None = None,
        node_map: dict[int, str] | None = None,
        backend: str = "numpy",
        inputs: str = "spec",
        unavailable_margin: int = DEFAULT_UNAVAILABLE_MARGIN,
        log: Callable[[dict[str, Any]], None] | None = None,
        node_client: NodeClient | None = None,
    ) -> None:
        self.chain = chain
        self.account = account
        self.reader = LedgerChainReader(chain)
        self.node_address = node_address
        self.node_map = dict(node_map or {})
        self.backend = backend
        self.inputs = inputs
        self.margin = unavailable_margin
        self.log = log or (lambda entry: None)
        self.nodes = node_client or NodeClient()
        chain_id = chain_call("reading the chain id", chain.chain_id, map_chain_error)
        self.record = VoteRecord(record_path, account.address, chain_id)

    def close(self) -> None:
        self.record.close()
        self.nodes.close()

    # -- one dispute ---------------------------------------------------------------------

    def compute_word(self, dispute: Any) -> tuple[bytes, dict[str, Any]]:
        """Replay the disputed window; returns (word to vote, details for the log)."""
        window = dispute.index + 1
        beast = self.reader.beast_commitments(dispute.beast_id)
        claim = self.reader.window_claim(dispute.beast_id, window)
        dataset = secret = None
        if beast.private:
            dataset, secret = self._dispute_dataset(dispute.dispute_id)
        start_state = digests = None
        node = self.node_map.get(dispute.beast_id, self.node_address)
        if window > 1:
            if node is None:
                raise UpstreamError(f"no trainer node configured for beast {dispute.beast_id}")
            start_state = self.nodes.get_state(node, dispute.beast_id, window - 1)
            try:
                digests = self.nodes.get_step_digests(node, dispute.beast_id, window)
            except ValidatorError:
                digests = None  # digests only locate the divergence; the vote does not need them
        report = replay(
            ReplayRequest(beast=beast, window=window, start_state=start_state, prev_h128=claim.prev_h128,
                          committed_word=dispute.word, epoch_seed=claim.epoch_seed, dataset=dataset,
                          owner_secret=secret, trainer_digests=digests),
            backend=self.backend, inputs=self.inputs,  # type: ignore[arg-type]
            # openDispute bounded the dataset by the season's maxDatasetBytes, which may exceed the
            # default or have changed since: the validator takes the dataset the game accepted.
            max_dataset_bytes=max(MAX_DATASET_BYTES, len(dataset or b"")),
        )
        return report.computed.pack(), {
            "verdict": report.verdict, "firstDivergentStep": report.first_divergent_step,
            "mismatchedFields": list(report.mismatched_fields), "reason": report.reason,
            "replayMs": round(report.replay_seconds * 1000, 3),
        }

    def _dispute_dataset(self, dispute_id: int) -> tuple[bytes, bytes]:
        """The challenger's dataset and secret; DisputeCalldataError (kept as is) when the opening
        transaction does not carry them readably, other chain errors mapped as usual."""
        return chain_call("reading the dispute's dataset", lambda: self.chain.dispute_dataset(dispute_id),
                          _keeping(DisputeCalldataError))

    def handle(self, dispute_id: int, block: int) -> dict[str, Any] | None:
        """Decide and vote on one dispute; returns the logged decision (None when nothing happened)."""
        from devnet.bindings import Outcome, Vote

        rec = self.record.get(dispute_id)
        if rec is not None and rec.get("status") in (VOTED, CLOSED):
            return None
        d = chain_call(f"reading dispute {dispute_id}", lambda: self.chain.dispute(dispute_id), map_chain_error)
        base = {"dispute": dispute_id, "beast": d.beast_id, "window": d.index + 1}
        me = self.account.address
        if chain_call("reading our vote", lambda: self.chain.vote_of(dispute_id, me), map_chain_error) != Vote.NONE:
            # Voted before (a crash after sending, or a lost record): record it, never vote again.
            self.record.put(dispute_id, status=VOTED, word=(rec or {}).get("word"), tx=(rec or {}).get("tx"), recovered=True)
            return {"event": "already_voted", **base}
        if d.outcome != Outcome.OPEN or block > d.voting_deadline:
            self.record.put(dispute_id, status=CLOSED, outcome=Outcome(d.outcome).name)
            return {"event": "closed", "outcome": Outcome(d.outcome).name, **base}
        if not chain_call("checking our stake", lambda: self.chain.is_active_validator(me), map_chain_error):
            return {"event": "skipped", "reason": "this account is not an active validator (register first)", **base}
        try:
            word, details = self.compute_word(d)
        except DisputeCalldataError as exc:
            # The challenger's dataset cannot be read, so nobody can replay: abstain rather than
            # vote "unavailable", which would slash the trainer for the challenger's fault.
            self.record.put(dispute_id, status=CLOSED, outcome="abstained", reason=str(exc))
            return {"event": "abstain", "reason": str(exc), **base}
        except DatasetInvalidError as exc:
            # The trainer committed at hatch to a file no one can train on or replay: its windows
            # count as diverged at once (no retry would change the file).
            word, details = DATASET_INVALID, {"verdict": "dataset_invalid", "reason": str(exc)}
        except (UpstreamError, NotFoundError, StartStateMismatchError, StartStateError) as exc:
            if d.voting_deadline - block > self.margin:
                return {"event": "retry", "reason": f"start state unavailable: {exc}", "blocksLeft": d.voting_deadline - block, **base}
            word, details = STATE_UNAVAILABLE, {"verdict": "state_unavailable", "reason": str(exc)}
        self.record.put(dispute_id, status=VOTING, word="0x" + word.hex())
        try:
            tx = self._vote(dispute_id, word)
        except DisputeError as exc:
            if exc.name == "DisputeAlreadyVoted":
                self.record.put(dispute_id, status=VOTED, word="0x" + word.hex(), tx=None, recovered=True)
                return {"event": "already_voted", **base}
            if exc.name in ("DisputeVotingClosed", "DisputeAlreadyResolved"):
                self.record.put(dispute_id, status=CLOSED, outcome=exc.name)
                return {"event": "closed", "outcome": exc.name, **base}
            raise map_chain_error(f"voting on dispute {dispute_id}", exc) from None
        self.record.put(dispute_id, status=VOTED, word="0x" + word.hex(), tx=tx)
        return {"event": "vote", **base, "word": "0x" + word.hex(), "agrees": word == d.word, "tx": tx, **details}

    def _vote(self, dispute_id: int, word: bytes) -> str:
        """Send the vote; a DisputeError is kept as is (the caller reads its name), others mapped."""
        return chain_call(f"voting on dispute {dispute_id}", lambda: str(self.chain.vote(self.account, dispute_id, word).tx_hash),
                          _keeping(DisputeError))

    # -- rounds ----------------------------------------------------------------------------

    def run_once(self) -> list[dict[str, Any]]:
        """One pass over every dispute not yet voted or closed; returns the decisions logged."""
        count = chain_call("counting disputes", self.chain.dispute_count, map_chain_error)
        block = chain_call("reading the block number", self.chain.block_number, map_chain_error)
        out: list[dict[str, Any]] = []
        for dispute_id in range(1, count + 1):
            try:
                entry = self.handle(dispute_id, block)
            except ValidatorError as exc:
                entry = {"event": "error", "dispute": dispute_id, "error": type(exc).__name__, "reason": str(exc)}
            except Exception as exc:  # noqa: BLE001 - one malformed dispute must not stop the watcher
                entry = {"event": "error", "dispute": dispute_id, "error": type(exc).__name__,
                         "reason": f"unexpected: {exc}"}
            if entry is not None:
                self.log(entry)
                out.append(entry)
        return out

    def run(self, poll_s: float, stop: threading.Event, max_rounds: int | None = None) -> int:
        """Rounds every ``poll_s`` seconds until ``stop`` is set (or ``max_rounds``); returns rounds run."""
        rounds = 0
        while not stop.is_set() and (max_rounds is None or rounds < max_rounds):
            try:
                self.run_once()
            except ValidatorError as exc:  # the chain is briefly unreachable: log and keep watching
                self.log({"event": "error", "error": type(exc).__name__, "reason": str(exc)})
            rounds += 1
            stop.wait(poll_s)
        return rounds


def _keeping(kept: type[LedgerError]) -> Callable[[str, Exception], Exception]:
    """An error map that keeps ``kept`` errors as they are and maps the rest with map_chain_error."""
    return lambda what, exc: exc if isinstance(exc, kept) else map_chain_error(what, exc)


__all__ = ["DATASET_INVALID", "STATE_UNAVAILABLE", "VoteRecord", "Watcher", "json_logger"]
