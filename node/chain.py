"""Chain client: locally signed transactions with explicit nonces, gas margins, retries,
confirmations, dropped/replaced transaction detection and readable contract errors.

Why locally signed: the node's key never leaves the process (no ``eth_sendTransaction``
on an unlocked node account), and the transaction hash is known *before* broadcast, so
the node records it first and a crash between broadcast and bookkeeping loses nothing.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any, TypeVar
from collections.abc import Callable

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound, Web3Exception

from devnet.errors import ErrorDecoder, revert_data
from devnet.tx import calldata_floor
from node.errors import ChainError, RpcUnavailableError, TxDroppedError, TxRevertedError
from node.raw_rpc import Request, quantity, wire_requester
from node.signed_tx import SignedTx

T = TypeVar("T")

# RPC failures worth retrying: connection trouble and transient node errors.
_TRANSIENT = (ConnectionError, TimeoutError, OSError)


def _is_revert(exc: BaseException) -> bool:
    if isinstance(exc, (ContractCustomError, ContractLogicError)):
        return True
    name = type(exc).__name__
    return name in ("TransactionFailed", "ContractPanicError") or "revert" in str(exc).lower()


class ChainClient:
    """Signs with a local account, tracks the nonce itself and waits for receipts.

    ``confirmations`` is how many blocks must follow the inclusion block (0: the receipt is
    enough; a devnet with automine). ``gas_margin`` multiplies every estimate.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        *,
        decoder: ErrorDecoder | None = None,
        confirmations: int = 0,
        gas_margin: float = 1.25,
        retries: int = 5,
        backoff_s: float = 0.2,
        receipt_timeout_s: float = 120.0,
        poll_s: float = 0.05,
        dropped_after_s: float = 30.0,
        replaced_after_s: float = 5.0,
        fixed_gas: bool = True,
        on_mined_wait: Callable[[], None] | None = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.decoder = decoder or ErrorDecoder([])
        self.confirmations = confirmations
        self.gas_margin = gas_margin
        self.fixed_gas = fixed_gas  # use the bounded gas limits callers pass instead of estimating
        self.retries = retries
        self.backoff_s = backoff_s
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self.dropped_after_s = dropped_after_s
        self.replaced_after_s = replaced_after_s
        self._nonce: int | None = None
        self._chain_id: int | None = None
        self._on_mined_wait = on_mined_wait
        self._wire: Request | None = None

    # ---- retries --------------------------------------------------------------------

    def rpc(self, what: str, fn: Callable[[], T]) -> T:
        """Run one RPC with retries and exponential backoff on connection errors.

        Contract reverts are not retried: they are decoded into TxRevertedError.
        """
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except _TRANSIENT as exc:
                if attempt == self.retries:
                    raise RpcUnavailableError(f"{what}: RPC unreachable after {self.retries + 1} attempts: {exc}") from exc
            except Exception as exc:  # noqa: BLE001 - classified below
                if _is_revert(exc):
                    reason = self.reason(exc)
                    raise TxRevertedError(f"{what} reverted: {reason}", reason=reason) from exc
                if isinstance(exc, Web3Exception) and _looks_transient(exc) and attempt < self.retries:
                    pass
                else:
                    raise ChainError(f"{what} failed: {exc}") from exc
            time.sleep(delay * (1 + random.random() * 0.25))
            delay = min(delay * 2, 5.0)
        raise ChainError(f"{what}: retries exhausted")  # pragma: no cover - loop always returns or raises

    def reason(self, exc: BaseException) -> str:
        """The contract error behind ``exc``, decoded with the devnet's ABI error table."""
        data = revert_data(exc)
        if data is None:
            return str(exc)
        return str(self.decoder.decode(data))

    def call(self, what: str, fn_call: Any) -> Any:
        """An ``eth_call`` of a bound contract function, with retries and decoded reverts."""
        return self.rpc(what, lambda: fn_call.call({"from": self.address}))

    def raw(self, what: str, method: str, params: list[Any]) -> Any:
        """One JSON-RPC request in wire form, without web3's middleware and formatters (node.raw_rpc):
        its ``result`` (hex strings, dicts, None), with retries on connection trouble; an error
        answer carrying revert data is a TxRevertedError with the contract error decoded."""
        resp = self._wire_response(what, method, params)
        if "error" in resp and resp["error"] is not None:
            self._raise_wire_error(what, resp["error"])
        return resp.get("result")

    def _wire_response(self, what: str, method: str, params: list[Any]) -> dict[str, Any]:
        if self._wire is None:
            self._wire = wire_requester(self.w3)
        wire = self._wire
        return self.rpc(what, lambda: wire(method, params))

    def _raise_wire_error(self, what: str, err: Any) -> None:
        if not isinstance(err, dict):
            err = {"message": str(err)}
        msg = str(err.get("message", ""))
        data = err.get("data")
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x") and (len(data) > 2 or "revert" in msg.lower()):
            reason = str(self.decoder.decode(bytes.fromhex(data[2:])))
            raise TxRevertedError(f"{what} reverted: {reason}", reason=reason)
        if "revert" in msg.lower():
            raise TxRevertedError(f"{what} reverted: {msg}", reason=msg)
        raise ChainError(f"{what} failed: {msg}")

    # ---- nonces and signing ---------------------------------------------------------

    @property
    def chain_id(self) -> int:
        """The chain id (cached)."""
        if self._chain_id is None:
            self._chain_id = self.rpc("eth_chainId", lambda: self.w3.eth.chain_id)
        return self._chain_id

    def chain_nonce(self, block: str = "pending") -> int:
        """The account's transaction count at ``block`` ("pending" or "latest")."""
        return quantity(self.raw("eth_getTransactionCount", "eth_getTransactionCount", [self.address, block]))

    def next_nonce(self) -> int:
        """The nonce for the next transaction; synced from the chain on first use or after resync()."""
        if self._nonce is None:
            self._nonce = self.chain_nonce("pending")
        return self._nonce

    def resync_nonce(self) -> None:
        """Forget the local nonce; the next signature reads it from the chain again."""
        self._nonce = None

    def sign(self, what: str, fn_call: Any, *, gas: int | None = None, nonce: int | None = None,
             preflight: bool = True, access_list: list[dict[str, Any]] | None = None) -> SignedTx:
        """Pick the gas limit and the nonce and sign ``fn_call`` locally.

        ``gas=None``: ``eth_estimateGas`` times ``gas_margin``. A fixed ``gas`` (known bounded
        costs, e.g. a commit) skips the estimate, which on py-evm re-executes the call a dozen
        times; ``preflight`` then runs it once as ``eth_call`` instead. Either way a call that
        would revert raises TxRevertedError here with the contract error decoded, before
        anything is signed or broadcast. The limit never goes below the EIP-7623 calldata floor.
        ``access_list``: EIP-2930 slots to pre-warm (devnet.access_list; cheaper batch commits).
        """
        if gas is None:
            est = self.rpc(f"estimate gas for {what}", lambda: fn_call.estimate_gas({"from": self.address}))
            gas = int(est * self.gas_margin) + 5_000
        elif preflight:
            self.rpc(f"preflight of {what}", lambda: fn_call.call({"from": self.address, "gas": gas}))
        n = self.next_nonce() if nonce is None else nonce
        fees = self._fees()
        params: dict[str, Any] = {"from": self.address, "nonce": n, "gas": gas, "chainId": self.chain_id, **fees}
        if access_list:
            params["accessList"] = access_list
        tx = fn_call.build_transaction(params)
        # py-evm's estimate ignores the EIP-7623 calldata floor (docs: STACK.md); never send less.
        floor = calldata_floor(bytes.fromhex(str(tx["data"])[2:])) + 5_000
        if tx["gas"] < floor:
            tx["gas"] = gas = floor
        signed = self.account.sign_transaction(tx)
        if nonce is None:
            self._nonce = n + 1
        return SignedTx("0x" + bytes(signed.hash).hex(), n, "0x" + bytes(signed.raw_transaction).hex(), gas)

    def sign_data(self, what: str, to: str, data: bytes, *, gas: int, nonce: int | None = None, preflight: bool = True,
                  access_list: list[dict[str, Any]] | None = None) -> SignedTx:
        """:meth:`sign` for calldata the caller encoded (the commit path's fast way, node.raw_rpc): a fixed
        ``gas`` limit, the preflight as one raw ``eth_call`` (a revert raises TxRevertedError before
        anything is signed), the nonce and fees as in :meth:`sign`, signed locally."""
        hexdata = "0x" + data.hex()
        if preflight:
            self.raw(f"preflight of {what}", "eth_call",
                     [{"from": self.address, "to": to, "data": hexdata, "gas": hex(gas)}, "latest"])
        n = self.next_nonce() if nonce is None else nonce
        gas = max(gas, calldata_floor(data) + 5_000)  # the EIP-7623 floor, as sign() keeps it
        tx: dict[str, Any] = {"to": to, "data": hexdata, "value": 0, "nonce": n, "gas": gas, "chainId": self.chain_id,
                              **self._fees()}
        if access_list:
            tx["accessList"] = access_list
        signed = self.account.sign_transaction(tx)
        if nonce is None:
            self._nonce = n + 1
        return SignedTx("0x" + bytes(signed.hash).hex(), n, "0x" + bytes(signed.raw_transaction).hex(), gas)

    def _fees(self) -> dict[str, int]:
        """EIP-1559 fees: twice the latest base fee plus a 1 gwei tip (legacy gasPrice before London)."""
        block = self.raw("eth_getBlockByNumber", "eth_getBlockByNumber", ["latest", False])
        base = block.get("baseFeePerGas") if isinstance(block, dict) else None
        if base is None:
            return {"gasPrice": quantity(self.raw("eth_gasPrice", "eth_gasPrice", []))}
        tip = 10**9
        return {"maxFeePerGas": 2 * quantity(base) + tip, "maxPriorityFeePerGas": tip}

    # ---- broadcast and confirmation -------------------------------------------------

    def broadcast(self, signed: SignedTx) -> str:
        """Send a signed transaction; one the node already knows counts as sent."""
        what = f"broadcast {signed.tx_hash}"
        resp = self._wire_response(what, "eth_sendRawTransaction", [signed.raw])
        err = resp.get("error")
        if err is None:
            return str(resp.get("result") or signed.tx_hash)
        text = str(err.get("message", "") if isinstance(err, dict) else err).lower()
        if "already known" in text or "already imported" in text or "known transaction" in text:
            return signed.tx_hash
        if _nonce_too_low(text):
            self.resync_nonce()
            if self.receipt_wire(signed.tx_hash) is not None:
                return signed.tx_hash
            raise TxDroppedError(f"nonce {signed.nonce} of {signed.tx_hash} was already used by another "
                                 "transaction (replaced)")
        self._raise_wire_error(what, err)
        raise AssertionError("unreachable")  # pragma: no cover - _raise_wire_error always raises

    def receipt(self, tx_hash: str) -> Any | None:
        """The receipt of ``tx_hash`` (web3's, with decoded logs) or None when it is not mined."""
        def get() -> Any | None:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            except TransactionNotFound:
                return None
        return self.rpc(f"receipt of {tx_hash}", get)

    def receipt_wire(self, tx_hash: str) -> dict[str, Any] | None:
        """The receipt of ``tx_hash`` as a small dict (``status``, ``blockNumber``, ``gasUsed`` as ints,
        ``blockHash``, ``transactionHash``, ``logs`` as sent: hex strings), or None when it is not mined; no
        web3 formatting (node.raw_rpc)."""
        try:
            r = self.raw(f"receipt of {tx_hash}", "eth_getTransactionReceipt", [tx_hash])
        except ChainError as exc:
            if "not found" in str(exc).lower():  # the embedded chain's way of saying null
                return None
            raise
        if not r or r.get("blockNumber") is None:
            return None
        return {"status": quantity(r.get("status", 1)), "blockNumber": quantity(r["blockNumber"]),
                "blockHash": str(r["blockHash"]), "gasUsed": quantity(r.get("gasUsed", 0)),
                "transactionHash": str(r.get("transactionHash", tx_hash)), "logs": list(r.get("logs") or [])}

    def known(self, tx_hash: str) -> bool:
        """Whether the node knows ``tx_hash`` (pending or mined)."""
        try:
            return self.raw(f"lookup of {tx_hash}", "eth_getTransactionByHash", [tx_hash]) is not None
        except ChainError as exc:
            if "not found" in str(exc).lower():
                return False
            raise

    def wait(self, signed: SignedTx | str, what: str = "transaction", *, nonce: int | None = None,
             light: bool = False) -> Any:
        """Wait for the receipt and the configured confirmations; check its status.

        Polls with raw requests (node.raw_rpc). Returns web3's receipt (decoded logs), or with
        ``light`` the small dict of :meth:`receipt_wire` (what the commit path needs; no formatting
        of a batch's hundreds of logs). Raises TxRevertedError for status 0, TxDroppedError when the
        transaction vanished from the node (or its nonce was used by another transaction) with no receipt.
        """
        tx_hash = signed.tx_hash if isinstance(signed, SignedTx) else signed
        n = signed.nonce if isinstance(signed, SignedTx) else nonce
        start = time.monotonic()
        missing_since: float | None = None
        used_since: float | None = None
        pause = min(0.005, self.poll_s)  # a devnet mines at once: look again soon, then every poll_s
        while True:
            rcpt = self.receipt_wire(tx_hash)
            if rcpt is not None:
                break
            now = time.monotonic()
            if n is not None and self.chain_nonce("latest") > n:
                # The nonce is spent. Nodes may expose the new state a moment before the
                # receipt (anvil does), so only a lasting absence means another tx took it.
                used_since = used_since or now
                if now - used_since > self.replaced_after_s:
                    raise TxDroppedError(f"{what} {tx_hash} was replaced: nonce {n} is used by another transaction")
                time.sleep(pause)
                pause = min(2 * pause, self.poll_s)
                continue
            if not self.known(tx_hash):
                missing_since = missing_since or now
                if now - missing_since > self.dropped_after_s:
                    raise TxDroppedError(f"{what} {tx_hash} was dropped by the node (not pending, never mined)")
            else:
                missing_since = None
            if now - start > self.receipt_timeout_s:
                raise ChainError(f"{what} {tx_hash} not mined after {self.receipt_timeout_s:.0f}s")
            if self._on_mined_wait is not None:
                self._on_mined_wait()
            time.sleep(pause)
            pause = min(2 * pause, self.poll_s)
        if rcpt["status"] != 1:
            reason = self._replay_reason(tx_hash, rcpt)
            raise TxRevertedError(f"{what} {tx_hash} reverted in block {rcpt['blockNumber']}: {reason}",
                                  reason=reason, tx_hash=tx_hash)
        if self.confirmations:
            target = rcpt["blockNumber"] + self.confirmations
            while quantity(self.raw("eth_blockNumber", "eth_blockNumber", [])) < target:
                if time.monotonic() - start > self.receipt_timeout_s:
                    raise ChainError(f"{what} {tx_hash} lacks {self.confirmations} confirmations after "
                                     f"{self.receipt_timeout_s:.0f}s")
                time.sleep(self.poll_s)
            again = self.receipt_wire(tx_hash)
            if again is None or again["blockHash"] != rcpt["blockHash"]:
                raise TxDroppedError(f"{what} {tx_hash} was reorganized out of block {rcpt['blockNumber']}")
        if light:
            return rcpt
        full = self.receipt(tx_hash)
        if full is None:  # pragma: no cover - it was there a moment ago; a reorg shows on the next look
            raise TxDroppedError(f"{what} {tx_hash} vanished right after its receipt was read")
        return full

    def _replay_reason(self, tx_hash: str, rcpt: Any) -> str:
        """Re-run a failed transaction as a call at its block to recover the revert reason."""
        try:
            tx = self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            self.w3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]},
                             rcpt["blockNumber"] - 1)
        except Exception as exc:  # noqa: BLE001 - the revert is what we want
            return self.reason(exc)
        return "status 0 (no revert data)"

    def transact(self, what: str, fn_call: Any, *, gas: int | None = None) -> Any:
        """Sign, broadcast and wait: for calls whose crash-safety bookkeeping is not needed."""
        signed = self.sign(what, fn_call, gas=gas if self.fixed_gas else None)
        try:
            self.broadcast(signed)
        except ChainError:
            self.resync_nonce()
            raise
        return self.wait(signed, what)


def _looks_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("timeout", "temporarily", "connection", "503", "502", "429", "too many"))


_PYEVM_NONCE = re.compile(r"invalid transaction nonce: expected (\d+), but got (\d+)")


def _nonce_too_low(text: str) -> bool:
    """Whether a lowercased broadcast error says the transaction's nonce is already used: geth's and
    anvil's "nonce too low", or py-evm's "Invalid transaction nonce: Expected N, but got M" with N > M
    (what py-evm answers a transaction it already mined, e.g. a broadcast retried after its answer was
    lost; the caller then looks for its receipt)."""
    if "nonce too low" in text or "nonce is too low" in text:
        return True
    m = _PYEVM_NONCE.search(text)
    return m is not None and int(m.group(1)) > int(m.group(2))
