"""Typed bindings over the contracts: one :class:`ChainBeasts` object per connection.

This module is the one typed view of the chain: every contract enum (:class:`WindowStatus`,
:class:`Outcome`, :class:`Reason`, :class:`Param`), struct (:class:`HatchData`, :class:`GameInfo`,
:class:`StakeInfo`, ...), event query and transaction lives here, and so do the contract rules
Python needs before sending anything (:func:`challenge_bond`, :func:`challenge_opens`,
:func:`challenge_commitment`, :func:`unstake_unlock_block`; each mirrors its contract lines and
tests/contracts/test_chain_rules.py checks it against the contract). Other packages import these
names instead of copying ids or layouts.

Writes take the sending :class:`eth_account.signers.local.LocalAccount` first; they are signed
locally with explicit nonces and return a :class:`TxResult` (or the new id) after the receipt was
checked. Reads return plain Python values. Every revert raises a decoded
:class:`devnet.errors.LedgerError` subclass. Events are decoded strictly from logs (by their
signature topic, then the ABI; a log of ours that does not decode is an error, never skipped), so a
game opened by any caller (a contract, an EIP-7702 account, calldata encoded oddly) reads the same.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from collections.abc import Mapping, Sequence

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from kernel.params import KernelParams
from devnet import artifacts
from devnet.access_list import commit_access_list
from devnet.records import HatchData, Param
from devnet.errors import ChainError, ConfigError, ContractError, ErrorDecoder, revert_data
from devnet.events import EventTable
from devnet.tx import TX_GAS_CAP, Sender

ZERO32 = b"\x00" * 32
ZERO16 = b"\x00" * 16
MAX_UINT256 = 2**256 - 1

# Fixed gas limits for calls whose cost is bounded (saves an estimate per transaction).
GAS_HATCH = 250_000  # Beast.hatch, the request (about 100k with a dataset and records root)
GAS_FINALIZE_HATCH = 250_000  # Beast.finalizeHatch: seedCore, the mint and the first role-history entries (about 150k)
GAS_SEAL_EACH = 40_000  # CheckpointLedger.sealEpochSeeds per epoch seed (about 27k), on top of GAS_SMALL
GAS_SMALL = 120_000
# epoch seeds per sealEpochSeeds: its gas bound under the 2^24 per-transaction cap (EIP-7825); the node
# and the watcher both split their seals by it
SEAL_MAX = (TX_GAS_CAP - GAS_SMALL) // GAS_SEAL_EACH
GAS_COMMIT = 180_000
GAS_COMMIT_MANY_BASE = 120_000
GAS_COMMIT_MANY_EACH = 70_000
GAS_FINALIZE = 150_000
GAS_FINALIZE_MANY_EACH = 45_000
GAS_TRANSFER_BEAST = 200_000  # ERC-721 transfer plus both role histories (about 117k)
# The game and stake calls whose validity depends on the block they run in (a commitment from an
# earlier block, a clock, an unlock block) get fixed limits: an estimate runs in the latest block on
# anvil, one block early, and would refuse a challenge or timeout the next block accepts. (A
# reverted one is mined and its error decoded by a replay in its own block.) Measured in
# bench/gas.py; proveStep, proveWordLie (state-dependent), clearVoided (count-dependent) and
# claimReward are estimated.
GAS_STAKE = 150_000  # stake, requestUnstake, withdrawStake (about 46k-60k)
GAS_GAME_MOVE = 150_000  # commitChallenge, bisect, respond (about 40k-46k)
GAS_CHALLENGE = 500_000  # challenge: ledger.beginGame, the bond's transferFrom, the game record (about 320k, fresh slots)
GAS_TIMEOUT = 400_000  # timeout: ends the game, ledger.endGame (a slash: burn, stake cut, rewind; about 150k)


class WindowStatus(enum.IntEnum):
    """CheckpointLedger.WindowStatus (the numbering is stable: 3 was the vote game's Disputed)."""

    NONE = 0
    COMMITTED = 1
    FINALIZED = 2
    VOIDED = 3  # after a slash of an earlier window: off the lineage until clearVoided (docs/PROTOCOL.md §10)
    SLASHED = 4
    CHALLENGED = 5  # bisection games open on it (docs/PROTOCOL.md §10)


class Outcome(enum.IntEnum):
    """BisectionGame.Outcome: how a game stands or ended."""

    OPEN = 0
    DEFENDER_WON = 1
    CHALLENGER_WON = 2


class Reason(enum.IntEnum):
    """BisectionGame.Reason: why a game ended (GameEnded's ``reason``)."""

    ONE_STEP = 0  # the verifier decided the last step
    WORD_LIE = 1  # the final state's bytes contradict the word
    TIMEOUT = 2  # the side to move ran out of its clock
    INVALID_DATASET = 3  # the beast's committed dataset is invalid (BisectionGame 2.1.0, proveInvalidDataset)


class StakeInfo(NamedTuple):
    """CheckpointLedger.stakeOf: the committer stake of an account (unpacks as the contract's three values)."""

    staked: int
    unbonding: int
    unlock_block: int  # first block withdrawStake releases ``unbonding`` in (0: nothing unbonding)


class Committer(NamedTuple):
    """CheckpointLedger.committerOf: who committed a window, in which block, in which role."""

    committer: str  # Beast.holderAt(beast, commit_block, as_trainer): the seat of the window's games
    commit_block: int
    as_trainer: bool


class Pot(NamedTuple):
    """BisectionGame.potOf: what the game holds for one window (beast, index, stored)."""

    reward: int  # the ledger's slash reward, until claimed
    open: int  # games open on the window
    best_commitment: int  # commitment block of the best winning game so far
    best_game: int  # the winning game with the earliest commitment (ties: lowest id); 0 none
    claimed: bool


class VoidedRange(NamedTuple):
    """CheckpointLedger.voidedRange: the windows [start, end) still to clear after a slash (empty: start == end)."""

    start: int
    end: int


@dataclass(frozen=True)
class GameInfo:
    """BisectionGame.gameOf: one game's record (docs/PROTOCOL.md §10).

    ``lo``/``hi`` bound the disputed step range (the defender claims ``hi_hash`` for step ``hi``,
    both sides agree on ``lo_hash`` for step ``lo``); ``challenger_to_move`` says whose clock runs.
    ``stored`` is the ledger slot the game opened on (it names this very window for ``claimReward``
    and the ledger's ``endGame``, even after a rewind re-used the index); the word itself is
    :meth:`ChainBeasts.game_word`.
    """

    game_id: int
    beast_id: int
    index: int
    challenger: str
    defender: str  # the window's committer (CheckpointLedger.committerOf), the only one who may bisect
    lo: int
    hi: int
    challenger_to_move: bool
    outcome: Outcome
    commitment_block: int  # block of the challenger's commitChallenge (earliest wins the window's reward)
    defender_clock: int
    challenger_clock: int
    last_move: int
    lo_hash: bytes
    hi_hash: bytes
    mid_hash: bytes
    bond: int
    stored: int
    extra: Mapping[str, Any] = field(default_factory=dict)  # members this version of the bindings does not name

    @property
    def is_open(self) -> bool:
        return self.outcome == Outcome.OPEN

    def to_move(self) -> str:
        """Whose move it is: "challenger" or "defender" (meaningless once the game ended)."""
        return "challenger" if self.challenger_to_move else "defender"

    def clock_left(self, block_number: int) -> int:
        """Blocks the side to move still has if its move runs in block ``block_number`` (negative: ran out).

        Mirrors BisectionGame (contracts/src/BisectionGame.sol): a move spends ``block.number -
        lastMove`` of the mover's clock and reverts GameClockExpired when that is more than it has
        (``_spend``); ``timeout`` reverts GameClockRunning while ``elapsed <= remaining``.
        tests/contracts/test_chain_rules.py checks this against the contract.
        """
        remaining = self.challenger_clock if self.challenger_to_move else self.defender_clock
        return remaining - (block_number - self.last_move)

    def timed_out(self, block_number: int) -> bool:
        """Whether ``timeout`` executed in block ``block_number`` ends this open game (the side to move loses)."""
        return self.is_open and self.clock_left(block_number) < 0

    @classmethod
    def from_abi(cls, game_id: int, value: Sequence[Any], names: Sequence[str]) -> GameInfo:
        """The struct gameOf returned, keyed by the ABI's component names (camelCase)."""
        raw = dict(zip(names, value, strict=True))
        known = {f for f in cls.__dataclass_fields__ if f not in ("game_id", "extra")}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, v in raw.items():
            snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
            if snake in known:
                kwargs[snake] = v
            else:
                extra[snake] = bytes(v) if isinstance(v, (bytes, bytearray)) else v
        missing = known - kwargs.keys()
        if missing:
            raise ChainError(f"gameOf lacks {sorted(missing)}: the BisectionGame artifact is not the one these bindings read")
        return cls(
            game_id=game_id, beast_id=int(kwargs["beast_id"]), index=int(kwargs["index"]),
            challenger=str(kwargs["challenger"]), defender=str(kwargs["defender"]), lo=int(kwargs["lo"]),
            hi=int(kwargs["hi"]), challenger_to_move=bool(kwargs["challenger_to_move"]), outcome=Outcome(int(kwargs["outcome"])),
            commitment_block=int(kwargs["commitment_block"]), defender_clock=int(kwargs["defender_clock"]),
            challenger_clock=int(kwargs["challenger_clock"]), last_move=int(kwargs["last_move"]),
            lo_hash=bytes(kwargs["lo_hash"]), hi_hash=bytes(kwargs["hi_hash"]), mid_hash=bytes(kwargs["mid_hash"]),
            bond=int(kwargs["bond"]), stored=int(kwargs["stored"]), extra=extra,
        )


@dataclass(frozen=True)
class Event:
    """A decoded log: contract event name, its arguments, and (for queried logs) where it was mined."""

    name: str
    args: dict[str, Any]
    address: str
    tx_hash: str = ""
    block_number: int = 0
    log_index: int = 0


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction with its decoded events."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[Event, ...] = field(default=())

    def event(self, name: str) -> Event:
        """The first event called ``name``; KeyError when absent."""
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(f"no {name} event in {self.tx_hash} (got {[e.name for e in self.events]})")

    def all(self, name: str) -> list[Event]:
        """Every event called ``name`` in log order."""
        return [e for e in self.events if e.name == name]


def energy_burn(word: bytes) -> int:
    """The energyBurn field of a committed word, read as the contract reads it: ``uint64(uint256(word) >> 32)``
    (bits 95..32, bytes 20..27), so it is defined even for a word that does not parse as a Payload."""
    if len(word) != 32:
        raise ConfigError("a checkpoint word is 32 bytes")
    return int.from_bytes(word[20:28], "big")


def challenge_bond(word: bytes, bond_multiplier: int) -> int:
    """ENERGY wei ``BisectionGame.challenge`` pulls from the challenger of the window that committed ``word``.

    Mirrors ``BisectionGame.challenge`` (contracts/src/BisectionGame.sol)::

        uint256 bond = registry.value(SeasonRegistry.Param.BondMultiplier) * uint64(uint256(word) >> ENERGY_BURN_OFFSET);

    tests/contracts/test_chain_rules.py checks this against the contract.
    """
    return bond_multiplier * energy_burn(word)


def challenge_opens(status: WindowStatus, challenge_deadline: int, block_number: int) -> bool:
    """Whether ``challenge`` executed in block ``block_number`` gets past the ledger's checks of the window.

    Mirrors ``CheckpointLedger.beginGame`` (contracts/src/CheckpointLedger.sol): the window is
    Committed or Challenged (games run side by side) and ``block.number <= deadline``.
    tests/contracts/test_chain_rules.py checks this against the contract.
    """
    return status in (WindowStatus.COMMITTED, WindowStatus.CHALLENGED) and block_number <= challenge_deadline


def challenge_commitment(challenger: Any, beast_id: int, index: int, salt: bytes | str | int) -> bytes:
    """What ``commitChallenge`` records for a later ``challenge(beast_id, index, salt)`` by ``challenger``.

    Mirrors ``keccak256(abi.encode(msg.sender, beastId, index, salt))`` (BisectionGame.challenge):
    the commitment names the challenger, so a copy of it from another account opens nothing.
    """
    return keccak(abi_encode(["address", "uint256", "uint256", "bytes32"],
                             [_addr(challenger), beast_id, index, _b32(salt, "salt")]))


def unstake_unlock_block(block_number: int, challenge_period: int, clock_blocks: int) -> int:
    """The block from which stake moved to unbonding by ``requestUnstake`` in block ``block_number`` is withdrawable.

    Mirrors CheckpointLedger.requestUnstake (3.1.0): ``block.number + challengePeriod + 2 * clockBlocks + 2``,
    the block after the last one in which a game on a window the stake backs can still end.
    tests/contracts/test_chain_rules.py checks this against the contract.
    """
    return block_number + challenge_period + 2 * clock_blocks + 2


def _topic(value: int | str | None) -> str | None:
    """An indexed event argument as a log topic (None matches any value)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = int(Web3.to_checksum_address(value), 16)
    return "0x" + value.to_bytes(32, "big").hex()


def _addr(value: Any) -> str:
    """Checksummed address from a string or anything with an ``address`` (a LocalAccount)."""
    return Web3.to_checksum_address(getattr(value, "address", value))


def _b32(value: bytes | str | int, what: str) -> bytes:
    if isinstance(value, int):
        if not 0 <= value < 2**256:
            raise ConfigError(f"{what} must fit 256 bits")
        return value.to_bytes(32, "big")
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.removeprefix("0x"))
        except ValueError as exc:
            raise ConfigError(f"{what} is not hex: {value!r}") from exc
    if not isinstance(value, (bytes, bytearray)) or len(value) != 32:
        raise ConfigError(f"{what} must be 32 bytes")
    return bytes(value)


def hatch_args(dataset_commitment: bytes | str, secret_commitment: bytes | str, records_root: bytes | str) -> list[bytes]:
    """``Beast.hatch``'s arguments (datasetCommitment, secretCommitment, recordsRoot), each checked to be 32 bytes."""
    return [_b32(dataset_commitment, "dataset_commitment"), _b32(secret_commitment, "secret_commitment"),
            _b32(records_root, "records_root")]


class ChainBeasts:
    """The deployed contracts on one chain, with a sender for signed transactions."""

    def __init__(self, w3: Web3, addresses: Mapping[str, str], *, deploy_block: int = 0) -> None:
        self.w3 = w3
        self.accounts: list[LocalAccount] = []  # dev accounts when known (embedded devnet, deployments file)
        self.deploy_block = deploy_block  # event queries start here (no contract log is older)
        arts = artifacts.load_all()
        missing = [n for n in arts if n not in addresses]
        if missing:
            raise ConfigError(f"deployment lacks addresses for {missing} (a deployments file of an older deployment?)")
        self.addresses = {n: Web3.to_checksum_address(addresses[n]) for n in arts}
        self.decoder = ErrorDecoder([a.abi for a in arts.values()])
        self.sender = Sender(w3, self.decoder)
        self._by_name: dict[str, Contract] = {n: w3.eth.contract(address=self.addresses[n], abi=arts[n].abi) for n in arts}
        self.energy: Contract = self._by_name["Energy"]
        self.beast: Contract = self._by_name["Beast"]
        self.registry: Contract = self._by_name["SeasonRegistry"]
        self.ledger: Contract = self._by_name["CheckpointLedger"]
        self.verifier: Contract = self._by_name["StepVerifier"]
        self.game: Contract = self._by_name["BisectionGame"]
        self._contracts = tuple(self._by_name.values())
        self.event_table = EventTable({n: (self.addresses[n], arts[n].abi) for n in arts})
        game_of = next(i for i in arts["BisectionGame"].abi if i.get("type") == "function" and i["name"] == "gameOf")
        self._game_fields = [str(c["name"]) for c in game_of["outputs"][0]["components"]]

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def account(private_key: bytes | str) -> LocalAccount:
        """A signing account from a private key."""
        return Account.from_key(private_key)

    def _send(self, sender: LocalAccount, contract: Contract, fn: str, args: Sequence[Any], gas: int | None,
              access_list: list[dict[str, Any]] | None = None) -> TxResult:
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args)).removeprefix("0x"))
        receipt = self.sender.send(sender, contract.address, data, gas=gas, access_list=access_list)
        return self._result(receipt)

    def _event(self, log: Any) -> Event | None:
        found = self.event_table.decode(log)
        if found is None:
            return None
        spec, args = found
        return Event(spec.name, args, Web3.to_checksum_address(log["address"]), "0x" + bytes(log["transactionHash"]).hex(),
                     int(log["blockNumber"]), int(log.get("logIndex") or 0))

    def _result(self, receipt: TxReceipt) -> TxResult:
        events = [e for e in map(self._event, receipt["logs"]) if e is not None]
        return TxResult(
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=int(receipt["blockNumber"]),
            gas_used=int(receipt["gasUsed"]),
            events=tuple(events),
        )

    def _call(self, contract: Contract, fn: str, *args: Any) -> Any:
        try:
            return getattr(contract.functions, fn)(*args).call()
        except Exception as exc:  # noqa: BLE001 - eth-tester and web3 raise different types
            data = revert_data(exc)
            if data is not None and len(data) >= 4:
                raise self.decoder.decode(data) from None
            raise ChainError(f"{fn} call failed: {exc}") from exc

    def receipt(self, tx_hash: str) -> TxResult:
        """The mined transaction ``tx_hash`` (gas used, block, decoded events); ChainError when not mined."""
        try:
            return self._result(self.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - "not found" differs per client
            raise ChainError(f"no receipt for {tx_hash}: {exc}") from exc

    def events(self, contract: str, event: str, *topics: int | str | None, from_block: int | None = None,
               to_block: int | str = "latest") -> list[Event]:
        """Logs of ``contract``'s ``event`` (names as in the ABI) whose indexed arguments match ``topics``
        in order (an int, an address, or None for any), oldest first, from ``from_block`` (default:
        the deployment block) to ``to_block`` (inclusive; default the latest block). Decoded strictly
        (devnet.events): a log that does not decode raises EventDecodeError."""
        if contract not in self._by_name:
            raise ConfigError(f"unknown contract {contract!r} (known: {', '.join(self._by_name)})")
        try:
            spec = self.event_table.spec(contract, event)
        except KeyError as exc:
            raise ConfigError(str(exc)) from None
        return self._logs(self.addresses[contract], [spec.topic, *topics], from_block, to_block, f"{contract}.{event}")

    def _logs(self, address: str, topics: Sequence[bytes | int | str | None], from_block: int | None,
              to_block: int | str, what: str) -> list[Event]:
        start = self.deploy_block if from_block is None else from_block
        wire = ["0x" + t.hex() if isinstance(t, bytes) else _topic(t) for t in topics]
        while wire and wire[-1] is None:
            wire.pop()
        query: Any = {"address": address, "fromBlock": start, "toBlock": to_block, "topics": wire}
        try:
            logs = list(self.w3.eth.get_logs(query))
        except Exception as exc:  # noqa: BLE001 - RPC errors come in many types
            raise ChainError(f"reading {what} logs failed: {exc}") from exc
        out = [e for e in map(self._event, logs) if e is not None]
        return sorted(out, key=lambda e: (e.block_number, e.log_index))

    def mine(self, blocks: int = 1) -> int:
        """Mine ``blocks`` empty blocks on a devnet (py-evm in process, or anvil/cb-devnet over RPC)."""
        if blocks > 0:
            tester = getattr(self.w3.provider, "ethereum_tester", None)
            if tester is not None:
                tester.mine_blocks(blocks)
            else:
                resp = self.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]
                if "error" in resp:
                    raise ChainError(f"anvil_mine failed: {resp['error']}")
        return self.block_number()

    def block_number(self) -> int:
        """The latest block number."""
        return int(self.w3.eth.block_number)

    def chain_id(self) -> int:
        """The chain id transactions are signed for."""
        return self.sender.chain_id

    # ------------------------------------------------------------------ ENERGY

    def balance_of(self, address: Any) -> int:
        """ENERGY balance (wei) of ``address``."""
        return int(self._call(self.energy, "balanceOf", _addr(address)))

    def allowance(self, owner: str, spender: str) -> int:
        """ENERGY allowance of ``spender`` over ``owner``'s tokens."""
        return int(self._call(self.energy, "allowance", _addr(owner), _addr(spender)))

    def mint(self, minter: LocalAccount, to: str, amount: int) -> TxResult:
        """Mint ENERGY (``minter`` needs MINTER_ROLE)."""
        return self._send(minter, self.energy, "mint", [_addr(to), amount], GAS_SMALL)

    def approve(self, sender: LocalAccount, spender: str, amount: int = MAX_UINT256) -> TxResult:
        """Approve ``spender`` (e.g. ``addresses['CheckpointLedger']``) to pull ENERGY."""
        return self._send(sender, self.energy, "approve", [_addr(spender), amount], GAS_SMALL)

    def ensure_approvals(self, sender: LocalAccount) -> None:
        """Give the ledger (escrow, deposits, stake) and the bisection game (challenge bonds) an unlimited
        allowance if they lack one.

        OpenZeppelin skips the allowance write for the maximum value, which saves gas per commit.
        """
        for name in ("CheckpointLedger", "BisectionGame"):
            if self.allowance(sender.address, self.addresses[name]) < 2**255:
                self.approve(sender, self.addresses[name])

    def transfer(self, sender: LocalAccount, to: str, amount: int) -> TxResult:
        """Transfer ENERGY."""
        return self._send(sender, self.energy, "transfer", [_addr(to), amount], GAS_SMALL)

    # ------------------------------------------------------------------ beasts

    def hatch(self, owner: LocalAccount, dataset_commitment: bytes | str = ZERO32, secret_commitment: bytes | str = ZERO32,
              records_root: bytes | str = ZERO32) -> int:
        """Hatch a beast for ``owner`` (request, then finalize in the next block); returns its id.

        Commitments are 32 bytes (0x0 = none). ``records_root`` is the dataset's R_dataset:
        required with a dataset on a spec version 2 deployment, refused on version 1 and without
        a dataset (Beast.hatch reverts).
        """
        return int(self.hatch_tx(owner, dataset_commitment, secret_commitment, records_root).event("BeastHatched").args["beastId"])

    def hatch_tx(self, owner: LocalAccount, dataset_commitment: bytes | str = ZERO32, secret_commitment: bytes | str = ZERO32,
                 records_root: bytes | str = ZERO32) -> TxResult:
        """Like :meth:`hatch` but returns the finalizing TxResult (BeastHatched, gas).

        The two steps are two transactions, so the finalize lands in a later block than the
        request, as Beast.finalizeHatch requires (automining devnets make one block per transaction).
        """
        req = self.request_hatch_tx(owner, dataset_commitment, secret_commitment, records_root)
        return self.finalize_hatch_tx(owner, int(req.event("HatchRequested").args["beastId"]))

    def request_hatch_tx(self, owner: LocalAccount, dataset_commitment: bytes | str = ZERO32,
                         secret_commitment: bytes | str = ZERO32, records_root: bytes | str = ZERO32) -> TxResult:
        """``Beast.hatch``: request a beast for ``owner`` (HatchRequested; its seedCore is fixed by the finalize)."""
        return self._send(owner, self.beast, "hatch", hatch_args(dataset_commitment, secret_commitment, records_root), GAS_HATCH)

    def finalize_hatch_tx(self, sender: LocalAccount, beast_id: int) -> TxResult:
        """``Beast.finalizeHatch``: fix the requested beast's seedCore and mint it (anyone, a later block)."""
        return self._send(sender, self.beast, "finalizeHatch", [beast_id], GAS_FINALIZE_HATCH)

    def pending_hatch_owner(self, beast_id: int) -> str | None:
        """The requester of a hatch not finalized yet, or None."""
        owner = str(self._call(self.beast, "pendingHatchOwner", beast_id))
        return None if int(owner, 16) == 0 else owner

    def spec_version(self) -> int:
        """The kernel spec version of every beast this deployment hatches (Beast.SPEC_VERSION)."""
        return int(self._call(self.beast, "SPEC_VERSION"))

    def hatch_data(self, beast_id: int) -> HatchData:
        """The beast's immutable hatch data."""
        return HatchData.from_abi(self._call(self.beast, "hatchData", beast_id))

    def total_hatched(self) -> int:
        """Number of beasts hatched so far (ids are 1..total_hatched())."""
        return int(self._call(self.beast, "totalHatched"))

    def owner_of(self, beast_id: int) -> str:
        """Current owner of the beast."""
        return str(self._call(self.beast, "ownerOf", beast_id))

    def transfer_beast(self, sender: LocalAccount, from_: str, to: str, beast_id: int) -> TxResult:
        """ERC-721 ``transferFrom``: move ``beast_id`` (its authorized trainer is revoked)."""
        return self._send(sender, self.beast, "transferFrom", [_addr(from_), _addr(to), beast_id], GAS_TRANSFER_BEAST)

    def authorize_trainer(self, owner: LocalAccount, beast_id: int, trainer: str) -> TxResult:
        """Let ``trainer`` commit for ``beast_id`` (replaces the previous trainer)."""
        return self._send(owner, self.beast, "authorizeTrainer", [beast_id, _addr(trainer)], GAS_SMALL)

    def revoke_trainer(self, owner: LocalAccount, beast_id: int) -> TxResult:
        """End the trainer authorization of ``beast_id``."""
        return self._send(owner, self.beast, "revokeTrainer", [beast_id], GAS_SMALL)

    def trainer_of(self, beast_id: int) -> str | None:
        """The authorized trainer, or None."""
        a = str(self._call(self.beast, "trainerOf", beast_id))
        return None if int(a, 16) == 0 else a

    def is_committer(self, beast_id: int, address: Any) -> bool:
        """Whether ``address`` may commit for ``beast_id``."""
        return bool(self._call(self.beast, "isCommitter", beast_id, _addr(address)))

    # ------------------------------------------------------------------ ledger

    def commit(self, sender: LocalAccount, beast_id: int, word: bytes | str) -> TxResult:
        """Commit the next window's 32-byte word; locks its energyBurn from ``sender``'s deposit or balance."""
        return self._send(sender, self.ledger, "commit", [beast_id, _b32(word, "word")], GAS_COMMIT)

    def commit_many(self, sender: LocalAccount, beast_ids: Sequence[int], words: Sequence[bytes | str], *,
                    access_list: bool = True) -> TxResult:
        """Commit one window per (beast_ids[i], words[i]) with one escrow lock (deposit or transfer).

        ``access_list=False`` sends no EIP-2930 list even where one would pay (gas comparisons).
        """
        ws = [_b32(w, "word") for w in words]
        gas = GAS_COMMIT_MANY_BASE + GAS_COMMIT_MANY_EACH * len(ws)
        # not strict: arrays of different lengths are sent as given, so the ledger's own check refuses them
        access = (commit_access_list(self.ledger.address, self.beast.address, sender.address, list(zip(beast_ids, ws, strict=False)))
                  if access_list else None)
        return self._send(sender, self.ledger, "commitMany", [list(beast_ids), ws], gas, access)

    def deposit(self, sender: LocalAccount, amount: int) -> TxResult:
        """Prepay ``amount`` ENERGY into the ledger (pulled with transferFrom; needs the allowance).

        Later commits by ``sender`` lock their escrow from this deposit when it covers the whole
        amount (no ERC-20 transfer: about 15k gas less per commit); otherwise they fall back to
        transferFrom as before.
        """
        return self._send(sender, self.ledger, "deposit", [amount], GAS_SMALL)

    def withdraw_deposit(self, sender: LocalAccount, amount: int) -> TxResult:
        """Take back ``amount`` of ``sender``'s unspent deposit (LedgerDepositInsufficient if more)."""
        return self._send(sender, self.ledger, "withdrawDeposit", [amount], GAS_SMALL)

    def deposit_of(self, address: Any) -> int:
        """ENERGY ``address`` has deposited in the ledger and not yet spent or withdrawn."""
        return int(self._call(self.ledger, "depositOf", _addr(address)))

    def word(self, beast_id: int, index: int) -> bytes:
        """The committed word of window ``index`` (LedgerWindowNotFound when absent)."""
        return bytes(self._call(self.ledger, "word", beast_id, index))

    def window_count(self, beast_id: int) -> int:
        """Number of committed windows (they are 0..count-1)."""
        return int(self._call(self.ledger, "windowCount", beast_id))

    def next_global_step(self, beast_id: int) -> int:
        """The globalStep the next commit must carry."""
        return int(self._call(self.ledger, "nextGlobalStep", beast_id))

    def window_status(self, beast_id: int, index: int) -> WindowStatus:
        """Status of a window."""
        return WindowStatus(int(self._call(self.ledger, "windowStatus", beast_id, index)))

    def commit_block(self, beast_id: int, index: int) -> int:
        """Block in which the window was committed."""
        return int(self._call(self.ledger, "commitBlockOf", beast_id, index))

    def challenge_deadline(self, beast_id: int, index: int) -> int:
        """Last block (inclusive) in which the window can be challenged (a game opened on it)."""
        return int(self._call(self.ledger, "challengeDeadline", beast_id, index))

    def epoch_seed(self, beast_id: int, epoch: int) -> bytes:
        """Seed of curriculum epoch ``epoch`` (seedCore for 0; LedgerEpochSeedUnknown if not sealed yet)."""
        return bytes(self._call(self.ledger, "epochSeed", beast_id, epoch))

    def epoch_windows(self) -> int:
        """Windows per curriculum epoch as the ledger counts them: its ``epochSteps`` (fixed at deployment) / 128."""
        return int(self._call(self.ledger, "epochSteps")) // 128

    def seal_epoch_seeds(self, sender: LocalAccount, beast_ids: Sequence[int], epochs: Sequence[int]) -> TxResult:
        """``sealEpochSeeds``: fix each (beast, epoch)'s seed from the hash of its closing commit's block (anyone)."""
        return self._send(sender, self.ledger, "sealEpochSeeds", [list(beast_ids), list(epochs)],
                          GAS_SMALL + GAS_SEAL_EACH * len(epochs))

    def ensure_epoch_seed(self, sender: LocalAccount, beast_id: int, epoch: int) -> bytes:
        """The seed of ``epoch``, sealing it first (as ``sender``) when the ledger has not fixed it yet.

        Call it after the closing window's commit is mined: the seal then lands in a later block.
        """
        if epoch > 0:
            try:
                return self.epoch_seed(beast_id, epoch)
            except ContractError as exc:
                if exc.name != "LedgerEpochSeedUnknown":
                    raise
            self.seal_epoch_seeds(sender, [beast_id], [epoch])
        return self.epoch_seed(beast_id, epoch)

    def finalize(self, sender: LocalAccount, beast_id: int, index: int) -> TxResult:
        """Finalize a window after its challenge deadline; burns its escrow."""
        return self._send(sender, self.ledger, "finalize", [beast_id, index], GAS_FINALIZE)

    def finalize_many(self, sender: LocalAccount, beast_ids: Sequence[int], indices: Sequence[int]) -> TxResult:
        """Finalize several windows with one burn."""
        gas = GAS_FINALIZE + GAS_FINALIZE_MANY_EACH * len(indices)
        return self._send(sender, self.ledger, "finalizeMany", [list(beast_ids), list(indices)], gas)

    # ------------------------------------------------------------------ registry

    def param(self, param: Param | int) -> int:
        """A season constant in force now."""
        return int(self._call(self.registry, "value", int(param)))

    def params(self) -> dict[str, int]:
        """Every season constant in force now, by lower-case name."""
        return {p.name.lower(): self.param(p) for p in Param}

    def kernel_params(self) -> KernelParams:
        """The kernel parameters of the season in force (KernelError when the constants are not valid ones)."""
        return KernelParams.for_season(epoch_steps=self.param(Param.EPOCH_STEPS), base_cost=self.param(Param.BASE_COST),
                                       spurt_cost=self.param(Param.SPURT_COST))

    def timelock_delay(self) -> int:
        """Blocks between queueing a season change and its taking effect."""
        return int(self._call(self.registry, "timelockDelay"))

    def queue_param_change(self, owner: LocalAccount, param: Param | int, value: int) -> TxResult:
        """Queue a change (registry owner only); it takes effect timelockDelay blocks later."""
        return self._send(owner, self.registry, "queueChange", [int(param), value], GAS_SMALL)

    def cancel_param_change(self, owner: LocalAccount, param: Param | int) -> TxResult:
        """Drop the change queued for ``param`` before it takes effect (registry owner only)."""
        return self._send(owner, self.registry, "cancelChange", [int(param)], GAS_SMALL)


    def challenge_bond(self, word: bytes) -> int:
        """The bond a challenge of the window that committed ``word`` posts now (:func:`challenge_bond`)."""
        return challenge_bond(word, self.param(Param.BOND_MULTIPLIER))

    # ------------------------------------------------------------------ committer stake

    def stake(self, sender: LocalAccount, amount: int) -> TxResult:
        """Stake ``amount`` ENERGY (pulled with transferFrom; needs the ledger's allowance).

        Every commit and commitMany needs ``staked >= the call's total energyBurn``
        (LedgerStakeInsufficient otherwise); a slashed window's challenger reward comes out of it.
        """
        return self._send(sender, self.ledger, "stake", [amount], GAS_STAKE)

    def request_unstake(self, sender: LocalAccount, amount: int) -> TxResult:
        """Move ``amount`` of the stake to unbonding; it unlocks at :func:`unstake_unlock_block` of this block."""
        return self._send(sender, self.ledger, "requestUnstake", [amount], GAS_STAKE)

    def withdraw_stake(self, sender: LocalAccount) -> TxResult:
        """Take back every unbonding amount that has unlocked."""
        return self._send(sender, self.ledger, "withdrawStake", [], GAS_STAKE)

    def stake_of(self, address: Any) -> StakeInfo:
        """(staked, unbonding, unlock_block) of ``address``."""
        t = self._call(self.ledger, "stakeOf", _addr(address))
        return StakeInfo(int(t[0]), int(t[1]), int(t[2]))

    def committer_of(self, beast_id: int, index: int) -> Committer:
        """Who committed window ``index`` (the holder of its role after the commit's block), when, as which role."""
        t = self._call(self.ledger, "committerOf", beast_id, index)
        return Committer(str(t[0]), int(t[1]), bool(t[2]))

    # ------------------------------------------------------------------ rewind after a slash

    def voided_range(self, beast_id: int) -> VoidedRange:
        """The stored windows [start, end) a slash took off the lineage and clearVoided has not cleared yet."""
        t = self._call(self.ledger, "voidedRange", beast_id)
        return VoidedRange(int(t[0]), int(t[1]))

    def clear_voided(self, sender: LocalAccount, beast_id: int, count: int) -> TxResult:
        """Clear up to ``count`` slots of the voided range from its low end (anyone), burning their escrow.

        The next commit of the rewound lineage needs its slot cleared first.
        """
        return self._send(sender, self.ledger, "clearVoided", [beast_id, count], None)

    # ------------------------------------------------------------------ bisection game

    def bind_bisection_game(self, owner: LocalAccount) -> TxResult:
        """Tell the ledger which bisection game may open and end games on windows (once, by the ledger's deployer)."""
        return self._send(owner, self.ledger, "bindBisectionGame", [self.game.address], 100_000)

    def clock_blocks(self) -> int:
        """Blocks each side of a game may spend on its moves over the whole game."""
        return int(self._call(self.game, "clockBlocks"))

    def game_count(self) -> int:
        """Number of games ever opened (ids are 1..count)."""
        return int(self._call(self.game, "gameCount"))

    def commit_challenge(self, sender: LocalAccount, beast_id: int, index: int, salt: bytes | str | int) -> TxResult:
        """``commitChallenge``: the first half of a challenge; ``challenge`` with the same salt in a later block opens the game.

        The commitment (:func:`challenge_commitment`) hides the window, so a pending challenge
        cannot be copied and front-run; keep ``salt`` secret until then.
        """
        return self._send(sender, self.game, "commitChallenge", [challenge_commitment(sender, beast_id, index, salt)],
                          GAS_GAME_MOVE)

    def challenge(self, sender: LocalAccount, beast_id: int, index: int, salt: bytes | str | int) -> int:
        """Open a game on window ``index`` (after :meth:`commit_challenge` in an earlier block), posting the bond; its id."""
        return int(self.challenge_tx(sender, beast_id, index, salt).event("GameOpened").args["gameId"])

    def challenge_tx(self, sender: LocalAccount, beast_id: int, index: int, salt: bytes | str | int) -> TxResult:
        """Like :meth:`challenge` but returns the TxResult (GameOpened, the ledger's WindowChallenged, the bond's Transfer)."""
        return self._send(sender, self.game, "challenge", [beast_id, index, _b32(salt, "salt")], GAS_CHALLENGE)

    def bisect(self, sender: LocalAccount, game_id: int, h16: bytes | str) -> TxResult:
        """The defender (the window's committer) claims ``h16``, the step hash at the middle of the disputed range."""
        return self._send(sender, self.game, "bisect", [game_id, _b16(h16, "h16")], GAS_GAME_MOVE)

    def respond(self, sender: LocalAccount, game_id: int, agree: bool) -> TxResult:
        """The challenger agrees or not with the defender's pending midpoint claim."""
        return self._send(sender, self.game, "respond", [game_id, bool(agree)], GAS_GAME_MOVE)

    def prove_step(self, sender: LocalAccount, game_id: int, pre: bytes, sample: Sequence[Any]) -> TxResult:
        """The challenger has the one-step verifier re-execute step lo -> lo + 1 from ``pre`` (its bytes).

        ``sample`` is IStepVerifier.PrivateSample as a tuple (sOwner, datasetLen, merkleRoot, record,
        path); zeros and empties for a public beast. Gas is estimated (the real verifier needs up to
        about 13.5M for the largest state) and never asked above 2^24.
        """
        return self._send(sender, self.game, "proveStep", [game_id, bytes(pre), _sample(sample)], None)

    def prove_word_lie(self, sender: LocalAccount, game_id: int, state: bytes) -> TxResult:
        """The challenger shows the final state's bytes (hash = the word's h128) contradict another field of the word."""
        return self._send(sender, self.game, "proveWordLie", [game_id, bytes(state)], None)

    def prove_invalid_dataset(self, sender: LocalAccount, game_id: int, dataset_len: int, merkle_root: bytes,
                              index: int, record: bytes, path: Sequence[bytes]) -> TxResult:
        """The challenger shows the beast's committed dataset is invalid (SPEC §10.6): (``dataset_len``,
        ``merkle_root``) open the hatch's recordsRoot, and either the length is 0 or over MAX_RECORDS
        (``record`` and ``path`` are then ignored) or ``path`` proves the invalid ``record`` as leaf ``index``."""
        return self._send(sender, self.game, "proveInvalidDataset",
                          [game_id, int(dataset_len), _b32(merkle_root, "merkle root"), int(index), bytes(record),
                           [_b32(p, "path entry") for p in path]], None)

    def timeout(self, sender: LocalAccount, game_id: int) -> TxResult:
        """End a game whose side to move ran out of its clock (anyone); that side loses."""
        return self._send(sender, self.game, "timeout", [game_id], GAS_TIMEOUT)

    def claim_reward(self, sender: LocalAccount, beast_id: int, index: int, stored: int) -> TxResult:
        """Pay a slashed window's reward to the challenger of its earliest-committed winning game (anyone calls;
        once no game on the window is open). ``stored`` is the ledger slot the games opened on
        (``GameInfo.stored``), naming this very window even after a rewind."""
        return self._send(sender, self.game, "claimReward", [beast_id, index, int(stored)], None)

    def game_of(self, game_id: int) -> GameInfo:
        """A game's record (GameNotFound for an unknown id)."""
        return GameInfo.from_abi(game_id, self._call(self.game, "gameOf", game_id), self._game_fields)

    def game_word(self, game_id: int) -> bytes:
        """The checkpoint word the game disputes (rebuilt from its stored slot and index)."""
        return bytes(self._call(self.game, "wordOf", game_id))

    def pot_of(self, beast_id: int, index: int, stored: int) -> Pot:
        """What the game holds for the window ``stored`` names: its reward, open games, best winner."""
        t = self._call(self.game, "potOf", beast_id, index, int(stored))
        return Pot(int(t[0]), int(t[1]), int(t[2]), int(t[3]), bool(t[4]))

    def commitment_block(self, challenger: Any, commitment: bytes) -> int:
        """The block ``challenger`` committed ``commitment`` in (0: none)."""
        return int(self._call(self.game, "commitmentBlock", _addr(challenger), _b32(commitment, "commitment")))

    def genesis_h128(self, beast_id: int) -> bytes:
        """h128 of the beast's genesis state as the game rebuilds it (step 0 of window 0)."""
        return bytes(self._call(self.game, "genesisH128", beast_id))

    def games_of_window(self, beast_id: int, index: int, *, from_block: int | None = None) -> list[int]:
        """Ids of every game opened on window ``index`` of ``beast_id``, oldest first, from the GameOpened logs
        (whoever opened them: an account, a contract, an EIP-7702 delegate)."""
        spec = self.event_table.spec("BisectionGame", "GameOpened")
        indexed = [n for n, _ in spec.indexed]
        topics: list[bytes | int | None] = [spec.topic] + [
            beast_id if n == "beastId" else index if n == "index" else None for n in indexed]
        logs = self._logs(self.game.address, topics, from_block, "latest", "BisectionGame.GameOpened")
        return [int(e.args["gameId"]) for e in logs
                if int(e.args["beastId"]) == beast_id and int(e.args["index"]) == index]

    def game_events(self, from_block: int | None = None, to_block: int | str = "latest") -> list[Event]:
        """Every BisectionGame event from ``from_block`` (default: the deployment block) to ``to_block``, in chain order."""
        return self._logs(self.game.address, [], from_block, to_block, "BisectionGame")

    # ------------------------------------------------------------------ accounting

    def held_by_contracts(self) -> int:
        """ENERGY held by the ledger (escrow, deposits, stakes) and the game (bonds, held rewards) together."""
        return self.balance_of(self.addresses["CheckpointLedger"]) + self.balance_of(self.addresses["BisectionGame"])


def _b16(value: bytes | str, what: str) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.removeprefix("0x"))
        except ValueError as exc:
            raise ConfigError(f"{what} is not hex: {value!r}") from exc
    if not isinstance(value, (bytes, bytearray)) or len(value) != 16:
        raise ConfigError(f"{what} must be 16 bytes")
    return bytes(value)


def _sample(sample: Sequence[Any]) -> tuple[Any, ...]:
    """IStepVerifier.PrivateSample as the ABI encoder takes it, checked for shape."""
    try:
        s_owner, dataset_len, root, record, path = sample
    except (TypeError, ValueError):
        raise ConfigError("sample must be (sOwner, datasetLen, merkleRoot, record, path)") from None
    return (_b32(s_owner, "sample.sOwner"), int(dataset_len), _b32(root, "sample.merkleRoot"), bytes(record),
            [_b32(p, "sample.path[]") for p in path])
