"""The node's contract calls (Beast, CheckpointLedger, Energy, SeasonRegistry) over its own ChainClient.

The contracts' enums, structs, parameter ids and gas bounds are the devnet bindings'
(:mod:`devnet.bindings`); this module only routes the calls the trainer makes through
:class:`node.chain.ChainClient`, which signs locally so the trainer can journal each
transaction hash before broadcast, and retries reads on RPC trouble.

Numbering: the node's window N (state after N windows, 0 = genesis) is the ledger's
window index N - 1; both carry globalStep = 128 * N.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from eth_utils import function_signature_to_4byte_selector, keccak

from kernel.params import KernelParams
from devnet.access_list import commit_access_list
from devnet.bindings import (
    GAS_COMMIT,
    GAS_COMMIT_MANY_BASE,
    GAS_COMMIT_MANY_EACH,
    GAS_FINALIZE,
    GAS_FINALIZE_HATCH,
    GAS_FINALIZE_MANY_EACH,
    GAS_HATCH,
    GAS_SEAL_EACH,
    GAS_SMALL,
    MAX_UINT256,
    SEAL_MAX,
    ZERO32,
    HatchData,
    Param,
    WindowStatus,
    hatch_args,
)
from node.chain import ChainClient, SignedTx
from node.errors import ChainError, TxRevertedError

DEPOSIT_ROUNDS: Final = 16  # a deposit top-up covers this many commit batches of the current size
_COMMIT: Final = function_signature_to_4byte_selector("commit(uint256,bytes32)")
_COMMIT_MANY: Final = function_signature_to_4byte_selector("commitMany(uint256[],bytes32[])")
_SEAL: Final = function_signature_to_4byte_selector("sealEpochSeeds(uint256[],uint256[])")
_EPOCH_SEEDED: Final = "0x" + keccak(text="EpochSeeded(uint256,uint256,bytes32)").hex()
_HATCH_REQUESTED: Final = "0x" + keccak(text="HatchRequested(uint256,address,bytes32,bytes32,uint16,bytes32)").hex()


def _wire_logs(rcpt: Any, address: str, topic0: str) -> Iterator[tuple[list[str], str]]:
    """(topics, data) of each log of a wire-form receipt (``ChainClient.wait(light=True)``) that ``address``
    emitted with first topic ``topic0``; lower-case hex strings, as the node's raw JSON-RPC gives them."""
    here = address.lower()
    for log in rcpt["logs"]:
        topics = [str(t).lower() for t in log.get("topics", [])]
        if str(log.get("address", "")).lower() == here and topics and topics[0] == topic0:
            yield topics, str(log.get("data", ""))


def _two_arrays(selector: bytes, first: list[int], second: list[bytes]) -> bytes:
    """ABI calldata of ``f(uint256[], T[])`` with a 32-byte static T: the selector, the two offsets, then each
    array as its length and its elements (what web3 encodes; tests/node/test_commit_batch.py checks it)."""
    n = len(first)
    if len(second) != n or any(not 0 <= v < 1 << 256 for v in first) or any(len(w) != 32 for w in second):
        raise ChainError(f"cannot encode {n} uint256 values with {len(second)} 32-byte words "
                         f"(lengths {sorted({len(w) for w in second})})")
    head = (64).to_bytes(32, "big") + (64 + 32 * (n + 1)).to_bytes(32, "big")
    return (selector + head + n.to_bytes(32, "big") + b"".join(v.to_bytes(32, "big") for v in first)
            + n.to_bytes(32, "big") + b"".join(bytes(w) for w in second))


class Ledger:
    """The contract calls of the trainer node, over one ChainClient."""

    def __init__(self, client: ChainClient, contracts: dict[str, Any]) -> None:
        missing = [n for n in ("Beast", "CheckpointLedger", "Energy", "SeasonRegistry") if n not in contracts]
        if missing:
            raise ChainError(f"deployment lacks contracts: {', '.join(missing)}")
        self.client = client
        self.beast = contracts["Beast"]
        self.ledger = contracts["CheckpointLedger"]
        self.energy = contracts["Energy"]
        self.registry = contracts["SeasonRegistry"]
        self.game = contracts.get("BisectionGame")  # node.defense plays its moves here
        self._allowance_ok = False
        self._deposit: int | None = None  # the prepaid deposit as last read, less the locks taken since (ensure_deposit)

    # ---- season --------------------------------------------------------------------

    def season_value(self, param: Param) -> int:
        """SeasonRegistry.value(param)."""
        return int(self.client.call(f"SeasonRegistry.value({param.name})", self.registry.functions.value(int(param))))

    def kernel_params(self) -> KernelParams:
        """Kernel parameters matching the season constants on chain (KernelParams.for_season)."""
        return KernelParams.for_season(epoch_steps=self.season_value(Param.EPOCH_STEPS),
                                       base_cost=self.season_value(Param.BASE_COST),
                                       spurt_cost=self.season_value(Param.SPURT_COST))

    def challenge_period(self) -> int:
        """Blocks after a commit during which a window can be disputed."""
        return self.season_value(Param.CHALLENGE_PERIOD)

    # ---- beasts --------------------------------------------------------------------

    def spec_version(self) -> int:
        """The kernel spec version of every beast this deployment hatches (Beast.SPEC_VERSION)."""
        return int(self.client.call("Beast.SPEC_VERSION", self.beast.functions.SPEC_VERSION()))

    def sign_hatch(self, dataset_commitment: bytes, secret_commitment: bytes, records_root: bytes = ZERO32, *,
                   preflight: bool = True) -> SignedTx:
        """Sign (not send) a hatch request for a beast owned by the node's account; reverts are raised here.

        The request only reserves the id; :meth:`finalize_hatches` finalizes it in a later block (Beast 3.0.0).

        ``records_root`` is the dataset's R_dataset on a spec version 2 deployment (zero otherwise).
        ``preflight=False`` skips the ``eth_call`` of a fixed-gas client (node.hatching signs many
        identical public requests and preflights the first).
        """
        call = self.beast.functions.hatch(*hatch_args(dataset_commitment, secret_commitment, records_root))
        return self.client.sign("Beast.hatch", call, gas=GAS_HATCH if self.client.fixed_gas else None,
                                preflight=preflight)

    def hatch_request_id(self, rcpt: Any) -> int:
        """The beast id a mined hatch request reserved, from the wire form of ``ChainClient.wait(light=True)``
        (HatchRequested's first indexed argument), which spares web3's formatting of every receipt of a large hatch."""
        for topics, _ in _wire_logs(rcpt, str(self.beast.address), _HATCH_REQUESTED):
            if len(topics) > 1:
                return int(topics[1], 16)
        raise ChainError(f"hatch transaction {rcpt.get('transactionHash')} emitted no HatchRequested event")

    def finalize_hatches(self, beast_ids: list[int]) -> list[int]:
        """Send ``Beast.finalizeHatch`` for every id of mined hatch requests, in flight together (all
        broadcast, then every receipt awaited); returns ``beast_ids``. Anyone may finalize: one that
        reverts because the hatch was finalized already is fine.

        Sent after the requests' receipts, so each lands in a later block, as the contract requires
        (seedCore then takes the request block's hash); hence no preflight: an ``eth_call`` runs in the
        latest block, where finalizeHatch reverts (NotReady), while the transaction can only land in a
        later one. A real failure still shows as a reverted receipt (TxRevertedError).
        """
        todo = list(beast_ids)  # no probe first: a hatch someone else finalized shows as a revert, checked below
        try:
            signed = [self.client.sign(f"Beast.finalizeHatch({b})", self.beast.functions.finalizeHatch(b),
                                       gas=GAS_FINALIZE_HATCH, preflight=False) for b in todo]
            for s in signed:
                self.client.broadcast(s)
        except ChainError:
            self.client.resync_nonce()
            raise
        for b, s in zip(todo, signed, strict=True):
            try:
                self.client.wait(s, f"Beast.finalizeHatch({b})", light=True)
            except TxRevertedError:
                if self._hatch_pending(b):
                    raise  # else someone finalized it first: fine
        return beast_ids

    def _hatch_pending(self, beast_id: int) -> bool:
        owner = self.client.call("Beast.pendingHatchOwner", self.beast.functions.pendingHatchOwner(beast_id))
        return int(str(owner), 16) != 0

    def hatch_data(self, beast_id: int) -> HatchData:
        """The hatch data of ``beast_id`` (TxRevertedError with BeastNotFound when unknown)."""
        return HatchData.from_abi(self.client.call(f"Beast.hatchData({beast_id})", self.beast.functions.hatchData(beast_id)))

    def is_committer(self, beast_id: int) -> bool:
        """Whether the node's account may commit for ``beast_id``."""
        return bool(self.client.call("Beast.isCommitter", self.beast.functions.isCommitter(beast_id, self.client.address)))

    # ---- checkpoints ---------------------------------------------------------------

    def window_count(self, beast_id: int) -> int:
        """Committed windows of ``beast_id`` (the node's windows 1..count are on chain)."""
        return int(self.client.call("CheckpointLedger.windowCount", self.ledger.functions.windowCount(beast_id)))

    def word(self, beast_id: int, window: int) -> bytes:
        """The committed word of node window ``window`` (>= 1)."""
        return bytes(self.client.call("CheckpointLedger.word", self.ledger.functions.word(beast_id, window - 1)))

    def status(self, beast_id: int, window: int) -> WindowStatus:
        """CheckpointLedger.windowStatus of node window ``window``."""
        return WindowStatus(int(self.client.call("CheckpointLedger.windowStatus",
                                                 self.ledger.functions.windowStatus(beast_id, window - 1))))

    def challenge_deadline(self, beast_id: int, window: int) -> int:
        """Last block in which node window ``window`` can be disputed."""
        return int(self.client.call("CheckpointLedger.challengeDeadline",
                                    self.ledger.functions.challengeDeadline(beast_id, window - 1)))

    def epoch_seed(self, beast_id: int, epoch: int) -> bytes:
        """The curriculum epoch seed the ledger fixed for ``epoch`` (TxRevertedError when not sealed yet)."""
        return bytes(self.client.call("CheckpointLedger.epochSeed", self.ledger.functions.epochSeed(beast_id, epoch)))

    def sealed_epoch_seed(self, beast_id: int, epoch: int) -> bytes | None:
        """The seed of ``epoch`` if the ledger has sealed it, else None (LedgerEpochSeedUnknown)."""
        try:
            return self.epoch_seed(beast_id, epoch)
        except TxRevertedError as exc:
            if exc.reason.startswith("LedgerEpochSeedUnknown"):
                return None
            raise

    def seal_epoch_seeds(self, keys: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Send ``sealEpochSeeds`` for ``keys`` = [(beast_id, epoch)]: each seed becomes the hash of the
        block of the commit that closed the epoch before (sealed ones are kept); returns every key's seed.

        The node calls it once the closing commits are mined (so the seal lands in a later block)
        and before it trains the epochs' first windows, so the seed it trains on is the ledger's
        whatever block its commit lands in (docs/PROTOCOL.md §4). The seeds this transaction sealed
        are read from its ``EpochSeeded`` logs (the values the ledger stored, one receipt instead of
        an ``epochSeed`` call per beast); a key sealed before (by anyone) has no log and is read.
        """
        if len(keys) > SEAL_MAX:  # one transaction stays under the per-transaction gas cap (EIP-7825)
            out: dict[tuple[int, int], bytes] = {}
            for i in range(0, len(keys), SEAL_MAX):
                out.update(self.seal_epoch_seeds(keys[i:i + SEAL_MAX]))
            return out
        what = f"CheckpointLedger.sealEpochSeeds({len(keys)})"
        data = _two_arrays(_SEAL, [b for b, _ in keys], [e.to_bytes(32, "big") for _, e in keys])
        try:
            # as finalize_hatches: no preflight (an eth_call in the closing commit's block reverts NotReady)
            signed = self.client.sign_data(what, self.ledger.address, data, gas=GAS_SMALL + GAS_SEAL_EACH * len(keys),
                                           preflight=False)
            try:
                self.client.broadcast(signed)
            except ChainError:
                self.client.resync_nonce()
                raise
            rcpt = self.client.wait(signed, what, light=True)
        except TxRevertedError:
            got = {key: self.sealed_epoch_seed(*key) for key in keys}
            if any(seed is None for seed in got.values()):
                raise  # else others sealed them meanwhile (a seal is final): fine
            return {key: seed for key, seed in got.items() if seed is not None}
        seeds: dict[tuple[int, int], bytes] = {}
        wanted = set(keys)
        # EpochSeeded(uint256 indexed beastId, uint256 indexed epoch, bytes32 seed)
        for topics, data in _wire_logs(rcpt, self.ledger.address, _EPOCH_SEEDED):
            if len(topics) != 3:
                continue
            key = (int(topics[1], 16), int(topics[2], 16))
            raw = bytes.fromhex(data[2:])
            if key in wanted and len(raw) == 32:
                seeds[key] = raw
        return {key: seeds[key] if key in seeds else self.epoch_seed(*key) for key in keys}

    def commit_call(self, items: list[tuple[int, bytes]]) -> Any:
        """The contract call committing ``items`` = [(beast_id, word)]: commit for one, commitMany for several."""
        if len(items) == 1:
            return self.ledger.functions.commit(items[0][0], items[0][1])
        return self.ledger.functions.commitMany([b for b, _ in items], [w for _, w in items])

    @staticmethod
    def commit_data(items: list[tuple[int, bytes]]) -> bytes:
        """The calldata of :meth:`commit_call` for ``items``, ABI-encoded here without web3 (which takes
        about 9 ms for a 64-window batch): ``commit(id, word)``, or ``commitMany(ids, words)``.
        tests/node/test_commit_batch.py checks it equals web3's encoding."""
        if len(items) == 1:
            bid, word = items[0]
            if not 0 <= bid < 1 << 256 or len(word) != 32:
                raise ChainError(f"cannot encode a commit of beast {bid} with a {len(word)}-byte word")
            return _COMMIT + bid.to_bytes(32, "big") + bytes(word)
        return _two_arrays(_COMMIT_MANY, [b for b, _ in items], [w for _, w in items])

    def commit_access_list(self, items: list[tuple[int, bytes]]) -> list[dict[str, Any]] | None:
        """EIP-2930 access list for committing ``items`` (None when it would not pay: small batches)."""
        return commit_access_list(self.ledger.address, self.beast.address, self.client.address, items)

    @staticmethod
    def commit_gas(n: int) -> int:
        """Gas limit for committing n windows in one transaction (devnet bindings' bounds)."""
        return GAS_COMMIT if n == 1 else GAS_COMMIT_MANY_BASE + GAS_COMMIT_MANY_EACH * n

    @staticmethod
    def finalize_gas(n: int) -> int:
        """Gas limit for finalizing n windows in one transaction."""
        return GAS_FINALIZE + (0 if n == 1 else GAS_FINALIZE_MANY_EACH * n)

    def finalize_call(self, items: list[tuple[int, int]]) -> Any:
        """The call finalizing node windows ``items`` = [(beast_id, window)]."""
        if len(items) == 1:
            return self.ledger.functions.finalize(items[0][0], items[0][1] - 1)
        return self.ledger.functions.finalizeMany([b for b, _ in items], [w - 1 for _, w in items])

    # ---- ENERGY --------------------------------------------------------------------

    def energy_balance(self) -> int:
        """ENERGY balance of the node's account."""
        return int(self.client.call("Energy.balanceOf", self.energy.functions.balanceOf(self.client.address)))

    def ensure_allowance(self, needed: int) -> None:
        """Approve the ledger to pull ENERGY for commits (once, unlimited) when the allowance is short."""
        if self._allowance_ok:
            return
        have = int(self.client.call("Energy.allowance",
                                    self.energy.functions.allowance(self.client.address, self.ledger.address)))
        if have < needed:
            self.client.transact("Energy.approve", self.energy.functions.approve(self.ledger.address, MAX_UINT256),
                                 gas=GAS_SMALL)
        self._allowance_ok = True

    def deposit_of(self) -> int:
        """ENERGY the node's account holds prepaid in the ledger (commits lock from it first)."""
        return int(self.client.call("CheckpointLedger.depositOf", self.ledger.functions.depositOf(self.client.address)))

    def ensure_deposit(self, needed: int) -> None:
        """Keep the prepaid escrow deposit at least ``needed`` so the next commit locks from it.

        Locking from a deposit costs about 15k gas less per commit than a transferFrom.
        A top-up covers DEPOSIT_ROUNDS batches of this size, or what the wallet holds;
        when even that cannot cover ``needed`` nothing is deposited and the commit pulls
        the whole lock with transferFrom (or fails loudly on a short balance).
        """
        if self._deposit is not None and self._deposit >= needed:
            return  # known to cover it: only this account's commits take from its deposit (locked())
        have = self._deposit = self.deposit_of()
        if have >= needed:
            return
        top_up = min(needed * DEPOSIT_ROUNDS - have, self.energy_balance())
        if have + top_up < needed:
            return
        self.ensure_allowance(top_up)
        self._deposit = None  # read again next time should the top-up fail half-way
        self.client.transact("CheckpointLedger.deposit", self.ledger.functions.deposit(top_up), gas=GAS_SMALL)
        self._deposit = have + top_up

    def locked(self, amount: int | None) -> None:
        """A commit locking ``amount`` was mined (None: the outcome of a commit is unknown, read the
        deposit again). The ledger locks from the deposit when it covers the whole amount, else
        pulls it with transferFrom and leaves the deposit alone (CheckpointLedger._lock), so the
        node's figure stays exact without a read per batch. Someone withdrawing the deposit with this
        account's key meanwhile only makes a commit pull by transferFrom, which its gas bound covers."""
        if amount is None or self._deposit is None:
            self._deposit = None
        elif self._deposit >= amount:
            self._deposit -= amount

    # ---- stake (node.staking) --------------------------------------------------------

    def stake_of(self) -> tuple[int, int, int]:
        """(staked, unbonding, unlockBlock) of the node's account (CheckpointLedger.stakeOf)."""
        t = self.client.call("CheckpointLedger.stakeOf", self.ledger.functions.stakeOf(self.client.address))
        return int(t[0]), int(t[1]), int(t[2])

    def stake(self, amount: int) -> Any:
        """Stake ``amount`` ENERGY from the wallet (approving the ledger first when needed); returns the receipt."""
        self.ensure_allowance(amount)
        return self.client.transact("CheckpointLedger.stake", self.ledger.functions.stake(amount), gas=GAS_SMALL)

    def request_unstake(self, amount: int) -> Any:
        """Move ``amount`` of the stake to unbonding (withdrawable after the unlock block); returns the receipt."""
        return self.client.transact("CheckpointLedger.requestUnstake", self.ledger.functions.requestUnstake(amount),
                                    gas=GAS_SMALL)

    def withdraw_stake(self) -> Any:
        """Withdraw every unlocked unbonding amount to the wallet; returns the receipt."""
        return self.client.transact("CheckpointLedger.withdrawStake", self.ledger.functions.withdrawStake(), gas=GAS_SMALL)

    # ---- lineage rewinds (node.rewind) ------------------------------------------------

    def voided_range(self, beast_id: int) -> tuple[int, int]:
        """[from, to) of ledger indexes voided by a slash and not cleared yet (from == to: none)."""
        t = self.client.call("CheckpointLedger.voidedRange", self.ledger.functions.voidedRange(beast_id))
        return int(t[0]), int(t[1])

    def clear_voided(self, beast_id: int, count: int) -> Any:
        """Clear up to ``count`` voided slots of ``beast_id`` (anyone may), so the next commit can take them."""
        return self.client.transact(f"CheckpointLedger.clearVoided({beast_id}, {count})",
                                    self.ledger.functions.clearVoided(beast_id, count), gas=None)

    def rewound_tips(self, beast_id: int, from_block: int = 0) -> list[int]:
        """``windowCount`` after each ``LineageRewound`` of ``beast_id`` since ``from_block`` (its ``tip`` field)."""
        ev = self.ledger.events.LineageRewound()
        topics = [ev.topic, "0x" + beast_id.to_bytes(32, "big").hex()]
        logs = self.client.rpc("LineageRewound logs", lambda: self.client.w3.eth.get_logs(
            {"address": self.ledger.address, "fromBlock": from_block, "toBlock": "latest", "topics": topics}))  # type: ignore[typeddict-item]
        return [int(ev.process_log(log)["args"]["tip"]) for log in logs]

    def committer_of(self, beast_id: int, window: int) -> str:
        """The account that committed node window ``window`` (CheckpointLedger.committerOf)."""
        t = self.client.call("CheckpointLedger.committerOf", self.ledger.functions.committerOf(beast_id, window - 1))
        return str(t[0])

    def block_number(self) -> int:
        """The latest block number."""
        return int(self.client.rpc("eth_blockNumber", lambda: self.client.w3.eth.block_number))


__all__ = ["Ledger", "TxRevertedError"]
