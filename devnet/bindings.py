"""Typed bindings over the five contracts: one :class:`ChainBeasts` object per connection.

This module is the one typed view of the chain: every contract enum (:class:`WindowStatus`,
:class:`Outcome`, :class:`Vote`, :class:`Param`), struct (:class:`HatchData`,
:class:`DisputeInfo`, ...), event query and transaction lives here, and so do the two contract
rules Python needs before sending anything (:func:`dispute_bond`, :func:`dispute_opens`,
:meth:`DisputeInfo.resolution`; each mirrors its contract lines and tests/contracts/test_chain_rules.py
checks it against the contract). Other packages import these names instead of copying ids or layouts.

Writes take the sending :class:`eth_account.signers.local.LocalAccount` first; they are signed
locally with explicit nonces and return a :class:`TxResult` (or the new id) after the receipt was
checked. Reads return plain Python values. Every revert raises a decoded
:class:`devnet.errors.LedgerError` subclass.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence

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
from devnet.errors import ChainError, ConfigError, ContractError, DisputeCalldataError, ErrorDecoder, revert_data
from devnet.tx import Sender

ZERO32 = b"\x00" * 32
MAX_UINT256 = 2**256 - 1

# Fixed gas limits for calls whose cost is bounded (saves an estimate per transaction).
GAS_HATCH = 250_000  # Beast.hatch, the request (about 100k with a dataset and records root)
GAS_FINALIZE_HATCH = 150_000  # Beast.finalizeHatch: seedCore and the mint (about 85k)
GAS_SEAL_EACH = 40_000  # CheckpointLedger.sealEpochSeeds per epoch seed (about 27k), on top of GAS_SMALL
GAS_SMALL = 120_000
GAS_COMMIT = 180_000
GAS_COMMIT_MANY_BASE = 120_000
GAS_COMMIT_MANY_EACH = 70_000
GAS_FINALIZE = 150_000
GAS_FINALIZE_MANY_EACH = 45_000
GAS_VOTE = 200_000
GAS_TRANSFER_BEAST = 150_000


class WindowStatus(enum.IntEnum):
    """CheckpointLedger.WindowStatus."""

    NONE = 0
    COMMITTED = 1
    FINALIZED = 2
    DISPUTED = 3
    SLASHED = 4
    CHALLENGED = 5  # bisection games open on it (docs/PROTOCOL.md §10)


class Outcome(enum.IntEnum):
    """DisputeGame.Outcome."""

    OPEN = 0
    UPHELD = 1
    DIVERGED = 2
    NO_QUORUM = 3


class Vote(enum.IntEnum):
    """DisputeGame.Vote."""

    NONE = 0
    AGREE = 1
    AGAINST = 2


@dataclass(frozen=True)
class ValidatorInfo:
    """DisputeGame.Validator: stake 0 means not registered; withdrawable_at 0 means active."""

    stake: int
    withdrawable_at: int
    open_votes: int


@dataclass(frozen=True)
class DisputeInfo:
    """DisputeGame.Dispute."""

    dispute_id: int
    beast_id: int
    index: int
    voting_deadline: int
    challenger: str
    bond: int
    word: bytes
    agree: int
    against: int
    outcome: Outcome
    voters: tuple[str, ...]

    def resolution(self, quorum: int, block_number: int) -> Outcome | None:
        """The outcome ``resolve`` executed in block ``block_number`` reaches; None when it would revert.

        Mirrors ``DisputeGame.resolve`` (contracts/src/DisputeGame.sol)::

            if (d.outcome != Outcome.Open) revert DisputeAlreadyResolved(...);
            if (agree >= quorum && agree > against) outcome = Outcome.Upheld;
            else if (against >= quorum && against > agree) outcome = Outcome.Diverged;
            else if (block.number > d.votingDeadline) outcome = Outcome.NoQuorum;
            else revert DisputeNotResolvable(...);

        ``quorum`` is SeasonRegistry's ValidatorQuorum. tests/contracts/test_chain_rules.py checks
        this against the contract.
        """
        if self.outcome != Outcome.OPEN:
            return None
        if self.agree >= quorum and self.agree > self.against:
            return Outcome.UPHELD
        if self.against >= quorum and self.against > self.agree:
            return Outcome.DIVERGED
        if block_number > self.voting_deadline:
            return Outcome.NO_QUORUM
        return None


@dataclass(frozen=True)
class VoteCast:
    """DisputeGame.VoteCast: one validator's vote, with the block it was mined in."""

    dispute_id: int
    validator: str
    computed_word: bytes
    agrees: bool
    block_number: int


@dataclass(frozen=True)
class Event:
    """A decoded log: contract event name, its arguments, and (for queried logs) where it was mined."""

    name: str
    args: dict[str, Any]
    address: str
    tx_hash: str = ""
    block_number: int = 0


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


def dispute_bond(word: bytes, bond_multiplier: int) -> int:
    """ENERGY wei ``openDispute`` pulls for disputing the window that committed ``word``.

    Mirrors ``DisputeGame.openDispute`` (contracts/src/DisputeGame.sol)::

        uint256 bond = registry.value(SeasonRegistry.Param.BondMultiplier) * uint64(uint256(committed) >> 32);

    tests/contracts/test_chain_rules.py checks this against the contract.
    """
    return bond_multiplier * energy_burn(word)


def dispute_opens(status: WindowStatus, challenge_deadline: int, block_number: int) -> bool:
    """Whether ``openDispute`` executed in block ``block_number`` gets past the ledger's checks of the window.

    Mirrors ``CheckpointLedger.beginDispute`` (contracts/src/CheckpointLedger.sol)::

        if (s != WindowStatus.Committed) revert LedgerWindowNotOpen(beastId, index, s);
        if (block.number > deadline) revert LedgerChallengePeriodOver(beastId, index, deadline);

    tests/contracts/test_chain_rules.py checks this against the contract.
    """
    return status == WindowStatus.COMMITTED and block_number <= challenge_deadline


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
            raise ConfigError(f"deployment lacks addresses for {missing}")
        self.addresses = {n: Web3.to_checksum_address(addresses[n]) for n in arts}
        self.decoder = ErrorDecoder([a.abi for a in arts.values()])
        self.sender = Sender(w3, self.decoder)
        self.energy: Contract = w3.eth.contract(address=self.addresses["Energy"], abi=arts["Energy"].abi)
        self.beast: Contract = w3.eth.contract(address=self.addresses["Beast"], abi=arts["Beast"].abi)
        self.registry: Contract = w3.eth.contract(address=self.addresses["SeasonRegistry"], abi=arts["SeasonRegistry"].abi)
        self.ledger: Contract = w3.eth.contract(address=self.addresses["CheckpointLedger"], abi=arts["CheckpointLedger"].abi)
        self.game: Contract = w3.eth.contract(address=self.addresses["DisputeGame"], abi=arts["DisputeGame"].abi)
        self._contracts = (self.energy, self.beast, self.registry, self.ledger, self.game)
        self._by_name: dict[str, Contract] = {"Energy": self.energy, "Beast": self.beast, "SeasonRegistry": self.registry,
                                              "CheckpointLedger": self.ledger, "DisputeGame": self.game}

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

    def _result(self, receipt: TxReceipt) -> TxResult:
        events: list[Event] = []
        by_address = {c.address: c for c in self._contracts}
        for log in receipt["logs"]:
            c = by_address.get(Web3.to_checksum_address(log["address"]))
            if c is None:
                continue
            for ev in c.events:
                try:
                    decoded = ev.process_log(log)
                except Exception:  # noqa: BLE001 - not this event's signature
                    continue
                events.append(Event(decoded["event"], dict(decoded["args"]), c.address))
                break
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

    def events(self, contract: str, event: str, *topics: int | str | None, from_block: int | None = None) -> list[Event]:
        """Logs of ``contract``'s ``event`` (names as in the ABI) whose indexed arguments match ``topics``
        in order (an int, an address, or None for any), oldest first, from ``from_block`` (default:
        the deployment block) to the latest block."""
        c = self._by_name.get(contract)
        if c is None:
            raise ConfigError(f"unknown contract {contract!r} (known: {', '.join(self._by_name)})")
        ev = getattr(c.events, event)()
        start = self.deploy_block if from_block is None else from_block
        query: Any = {"address": c.address, "fromBlock": start, "toBlock": "latest",
                      "topics": [ev.topic, *(_topic(t) for t in topics)]}
        try:
            logs = list(self.w3.eth.get_logs(query))
        except Exception as exc:  # noqa: BLE001 - RPC errors come in many types
            raise ChainError(f"reading {contract}.{event} logs failed: {exc}") from exc
        out = []
        for log in logs:
            decoded = ev.process_log(log)
            out.append(Event(decoded["event"], dict(decoded["args"]), c.address,
                             "0x" + bytes(log["transactionHash"]).hex(), int(log["blockNumber"])))
        return out

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
        """Give the ledger and the dispute game an unlimited allowance if they lack one.

        OpenZeppelin skips the allowance write for the maximum value, which saves gas per commit.
        """
        for name in ("CheckpointLedger", "DisputeGame"):
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
        """Last block (inclusive) in which the window can be disputed."""
        return int(self._call(self.ledger, "challengeDeadline", beast_id, index))

    def epoch_seed(self, beast_id: int, epoch: int) -> bytes:
        """Seed of curriculum epoch ``epoch`` (seedCore for 0; LedgerEpochSeedUnknown if not sealed yet)."""
        return bytes(self._call(self.ledger, "epochSeed", beast_id, epoch))

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

    def dispute_bond(self, word: bytes) -> int:
        """The bond a dispute of the window that committed ``word`` posts now (:func:`dispute_bond`)."""
        return dispute_bond(word, self.param(Param.BOND_MULTIPLIER))

    # ------------------------------------------------------------------ validators

    def register_validator(self, sender: LocalAccount, stake: int) -> TxResult:
        """Stake ``stake`` ENERGY and register as a validator."""
        return self._send(sender, self.game, "registerValidator", [stake], 200_000)

    def request_withdrawal(self, sender: LocalAccount) -> TxResult:
        """Stop voting; the stake becomes withdrawable after validatorWithdrawDelay blocks."""
        return self._send(sender, self.game, "requestWithdrawal", [], GAS_SMALL)

    def withdraw(self, sender: LocalAccount) -> TxResult:
        """Withdraw the stake (after the delay, with no unresolved votes)."""
        return self._send(sender, self.game, "withdraw", [], GAS_SMALL)

    def validator(self, address: Any) -> ValidatorInfo:
        """A validator's record."""
        t = self._call(self.game, "validatorOf", _addr(address))
        return ValidatorInfo(int(t[0]), int(t[1]), int(t[2]))

    def is_active_validator(self, address: Any) -> bool:
        """Whether ``address`` may vote now."""
        return bool(self._call(self.game, "isActiveValidator", _addr(address)))

    # ------------------------------------------------------------------ disputes

    def open_dispute(self, sender: LocalAccount, beast_id: int, index: int, dataset: bytes = b"",
                     owner_secret: bytes | str = ZERO32) -> int:
        """Dispute a window, posting the bond; returns the dispute id."""
        return int(self.open_dispute_tx(sender, beast_id, index, dataset, owner_secret).event("DisputeOpened").args["disputeId"])

    def open_dispute_tx(self, sender: LocalAccount, beast_id: int, index: int, dataset: bytes = b"",
                        owner_secret: bytes | str = ZERO32) -> TxResult:
        """Like :meth:`open_dispute` but returns the TxResult. Gas: estimate raised to the EIP-7623 floor."""
        return self._send(sender, self.game, "openDispute", [beast_id, index, bytes(dataset), _b32(owner_secret, "owner_secret")], None)

    def vote(self, sender: LocalAccount, dispute_id: int, computed_word: bytes | str) -> TxResult:
        """Vote the word your replay produced (0x00..00 = trainer state unavailable)."""
        return self._send(sender, self.game, "vote", [dispute_id, _b32(computed_word, "computed_word")], GAS_VOTE)

    def resolve(self, sender: LocalAccount, dispute_id: int) -> Outcome:
        """Resolve a dispute (after a quorum or its deadline); returns the outcome."""
        return Outcome(int(self.resolve_tx(sender, dispute_id).event("DisputeResolved").args["outcome"]))

    def resolve_tx(self, sender: LocalAccount, dispute_id: int) -> TxResult:
        """Like :meth:`resolve` but returns the TxResult."""
        return self._send(sender, self.game, "resolve", [dispute_id], None)

    def claim(self, sender: LocalAccount) -> int:
        """Transfer the caller's credited ENERGY; returns the amount."""
        return int(self.claim_tx(sender).event("Claimed").args["amount"])

    def claim_tx(self, sender: LocalAccount) -> TxResult:
        """Like :meth:`claim` but returns the TxResult (the amount is its ``Claimed`` event's)."""
        return self._send(sender, self.game, "claim", [], GAS_SMALL)

    def credit_of(self, address: Any) -> int:
        """ENERGY credited and not yet claimed."""
        return int(self._call(self.game, "creditOf", _addr(address)))

    def bind_dispute_game(self, owner: LocalAccount) -> TxResult:
        """Tell the ledger which dispute game may mark windows disputed (once, by the ledger's deployer)."""
        return self._send(owner, self.ledger, "bindDisputeGame", [self.game.address], 100_000)

    def dispute(self, dispute_id: int) -> DisputeInfo:
        """A dispute's record."""
        t = self._call(self.game, "disputeOf", dispute_id)
        return DisputeInfo(
            dispute_id, int(t[0]), int(t[1]), int(t[2]), str(t[3]), int(t[4]), bytes(t[5]),
            int(t[6]), int(t[7]), Outcome(int(t[8])), tuple(str(v) for v in t[9]),
        )

    def dispute_count(self) -> int:
        """Number of disputes ever opened (ids are 1..count)."""
        return int(self._call(self.game, "disputeCount"))

    def vote_of(self, dispute_id: int, validator: str) -> Vote:
        """The vote ``validator`` cast in ``dispute_id``."""
        return Vote(int(self._call(self.game, "voteOf", dispute_id, _addr(validator))))

    def votes_cast(self, dispute_id: int) -> list[VoteCast]:
        """The VoteCast events of ``dispute_id``, in order."""
        return [VoteCast(dispute_id, str(e.args["validator"]), bytes(e.args["computedWord"]), bool(e.args["agrees"]),
                         e.block_number) for e in self.events("DisputeGame", "VoteCast", dispute_id)]

    def disputes_on(self, beast_id: int, index: int) -> list[int]:
        """Ids of the disputes opened on window ``index`` (the ledger's index) of ``beast_id``, oldest first."""
        return [int(e.args["disputeId"]) for e in self.events("DisputeGame", "DisputeOpened", None, beast_id, index)]

    def dispute_opened_event(self, dispute_id: int) -> dict[str, Any]:
        """The DisputeOpened log of ``dispute_id`` (args plus ``transactionHash``)."""
        logs = self.events("DisputeGame", "DisputeOpened", dispute_id)
        if not logs:
            raise ChainError(f"no DisputeOpened log for dispute {dispute_id}")
        return {**logs[0].args, "transactionHash": logs[0].tx_hash}

    def dispute_dataset(self, dispute_id: int) -> tuple[bytes, bytes]:
        """(dataset, ownerSecret) of a dispute, read back from the openDispute calldata.

        DisputeCalldataError when the opening transaction is not a direct, decodable
        ``openDispute`` call to the game matching the dispute (the game refuses calls from
        contracts, but an EIP-7702 account could still open one from its delegated code).
        """
        ev = self.dispute_opened_event(dispute_id)
        tx = self.w3.eth.get_transaction(ev["transactionHash"])
        where = f"dispute {dispute_id} (transaction {ev['transactionHash']})"
        if tx.get("to") is None or Web3.to_checksum_address(tx["to"]) != self.game.address:
            raise DisputeCalldataError(f"{where} was not sent to the dispute game: its dataset cannot be read")
        try:
            fn, args = self.game.decode_function_input(tx["input"])
        except Exception as exc:  # noqa: BLE001 - web3 raises several types for undecodable input
            raise DisputeCalldataError(f"{where}: the transaction input does not decode as a game call ({exc})") from None
        if fn.fn_name != "openDispute" or (args["beastId"], args["index"]) != (ev["beastId"], ev["index"]):
            raise DisputeCalldataError(f"{where} was not opened by a direct openDispute call")
        dataset, secret = bytes(args["dataset"]), bytes(args["ownerSecret"])
        committed = bytes(ev["datasetHash"])  # 0x0 for a beast without a private dataset
        if (committed == ZERO32 and dataset) or (committed != ZERO32 and keccak(dataset) != committed):
            raise DisputeCalldataError(f"{where}: the calldata's dataset does not match the dispute's dataset hash")
        return dataset, secret

    # ------------------------------------------------------------------ accounting

    def held_by_contracts(self) -> int:
        """ENERGY held by the ledger and the dispute game together."""
        return self.balance_of(self.addresses["CheckpointLedger"]) + self.balance_of(self.addresses["DisputeGame"])

