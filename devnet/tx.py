"""Sending locally signed transactions with explicit nonces and always-checked receipts.

Why not ``contract.functions.f().transact()``: that needs an unlocked node account and, with a
fixed gas limit, a reverting transaction is mined with ``status == 0`` and raises nothing. Here
every transaction is signed with the sender's private key, carries an explicit nonce and gas
limit, and its receipt is checked; on ``status == 0`` the call is replayed with ``eth_call`` in
its own block to recover the revert data and raise the decoded custom error.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from devnet.errors import ChainError, ErrorDecoder, TransactionReverted, revert_data

TX_BASE_GAS = 21_000
TX_GAS_CAP = 2**24  # Osaka (EIP-7825): no transaction may carry more gas; a larger one is never mined
FLOOR_GAS_PER_TOKEN = 10  # EIP-7623: a zero byte is 1 token, a non-zero byte 4 tokens


def calldata_floor(data: bytes) -> int:
    """Prague's EIP-7623 minimum gas for a transaction carrying ``data``."""
    nonzero = sum(1 for b in data if b)
    tokens = (len(data) - nonzero) + 4 * nonzero
    return TX_BASE_GAS + FLOOR_GAS_PER_TOKEN * tokens


def gas_limit(estimate: int, data: bytes) -> int:
    """The gas to send with a transaction estimated at ``estimate`` and carrying ``data``.

    The estimate plus 20% and 10,000, at least the EIP-7623 floor plus 10,000, at most TX_GAS_CAP
    (Osaka): the margin is cut at the cap rather than asking for gas no block may include. A
    transaction whose estimate or floor is itself over the cap can never be mined: ChainError.
    """
    need = max(estimate, calldata_floor(data))
    if need > TX_GAS_CAP:
        raise ChainError(f"transaction needs {need} gas, over the {TX_GAS_CAP} gas cap per transaction (EIP-7825)")
    return min(TX_GAS_CAP, max(int(estimate * 1.2) + 10_000, calldata_floor(data) + 10_000))


class Sender:
    """Signs, sends and confirms transactions for many accounts on one web3 connection."""

    def __init__(self, w3: Web3, decoder: ErrorDecoder, *, receipt_timeout: float = 60.0) -> None:
        self.w3 = w3
        self.decoder = decoder
        self.receipt_timeout = receipt_timeout
        self._nonces: dict[str, int] = {}
        self._lock = threading.Lock()
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _next_nonce(self, address: str) -> int:
        if address not in self._nonces:
            self._nonces[address] = int(self.w3.eth.get_transaction_count(address, "pending"))
        n = self._nonces[address]
        self._nonces[address] = n + 1
        return n

    def resync(self, address: str) -> None:
        """Forget the cached nonce of ``address`` (after an external sender used it)."""
        self._nonces.pop(address, None)

    def _fees(self) -> dict[str, int]:
        block = self.w3.eth.get_block("latest")
        base = int(block.get("baseFeePerGas", 0) or 0)
        tip = 1
        return {"maxFeePerGas": 2 * base + tip + 10**9, "maxPriorityFeePerGas": tip}

    def call_error(self, tx: dict[str, Any], block: Any = "latest") -> TransactionReverted | None:
        """Replay ``tx`` as eth_call and return the decoded error it reverts with, if any."""
        call = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(call, block)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - every client raises its own type
            data = revert_data(exc)
            if data is None:
                return TransactionReverted(f"call failed: {exc}")
            return self.decoder.decode(data)
        return None

    def estimate(self, tx: dict[str, Any]) -> int:
        """Gas estimate for ``tx``, raising the decoded error if it would revert."""
        call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            return int(self.w3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001
            data = revert_data(exc)
            if data is not None:
                raise self.decoder.decode(data) from None
            err = self.call_error(tx)
            if err is not None:
                raise err from None
            raise ChainError(f"gas estimation failed: {exc}") from exc

    def send(self, account: LocalAccount, to: str | None, data: bytes, *, gas: int | None = None, value: int = 0,
             access_list: list[dict[str, Any]] | None = None) -> TxReceipt:
        """Sign and send; wait for the receipt; raise the decoded error when it reverted.

        ``gas=None`` estimates, then raises the gas to the EIP-7623 calldata floor; the margin added
        never takes it over TX_GAS_CAP, and a transaction that needs more is refused here (ChainError).
        ``access_list``: an EIP-2930 list to pre-warm slots (see devnet.access_list).
        """
        tx: dict[str, Any] = {"from": account.address, "data": data, "value": value, "chainId": self.chain_id}
        if to is not None:
            tx["to"] = to
        if gas is None:
            gas = gas_limit(self.estimate(tx), data)
        tx["gas"] = gas
        tx.update(self._fees())
        if access_list:
            tx["accessList"] = access_list
        with self._lock:
            tx["nonce"] = self._next_nonce(account.address)
        signed = account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:  # noqa: BLE001
            self.resync(account.address)
            data_ = revert_data(exc)
            if data_ is not None and len(data_) >= 4:
                raise self.decoder.decode(data_) from None
            raise ChainError(f"sending transaction failed: {exc}") from exc
        receipt = self.wait(tx_hash)
        if int(receipt["status"]) != 1:
            # Replay in the transaction's own block: on automining devnets the reverted transaction
            # is alone there, so the state is the one it saw and block.number matches.
            err = self.call_error(tx, int(receipt["blockNumber"])) or TransactionReverted(
                "reverted (no revert data on replay; out of gas?)")
            err.tx_hash = "0x" + bytes(tx_hash).hex()
            raise err
        return receipt

    def wait(self, tx_hash: Any) -> TxReceipt:
        """Poll for the receipt quickly (automining devnets answer within milliseconds)."""
        deadline = time.monotonic() + self.receipt_timeout
        delay = 0.001
        while True:
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
                if receipt is not None:
                    return receipt
            except Exception as exc:  # noqa: BLE001 - "not found" differs per client
                if "not found" not in str(exc).lower() and "unknown" not in str(exc).lower():
                    raise ChainError(f"reading receipt failed: {exc}") from exc
            if time.monotonic() > deadline:
                raise ChainError(f"no receipt for 0x{bytes(tx_hash).hex()} after {self.receipt_timeout}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
