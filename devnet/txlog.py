"""The anvil-style console of ``cb-devnet up``: dev accounts at start, one line per transaction, interval mining.

:class:`TxLog` follows the chain through its JSON-RPC URL (the same for the py-evm and the anvil
engine, so both print the same lines) and writes one line per mined transaction: block, hash,
sender, ``Contract.function`` (decoded from the committed ABIs), gas used of gas limit, and ``ok``
or ``REVERTED`` with the custom error decoded by :mod:`devnet.errors` (replayed with ``eth_call``
in the transaction's block, as :class:`devnet.tx.Sender` does). :class:`BlockTimer` mines an empty
block every ``--block-time`` seconds, so game clocks (counted in blocks) advance on an idle chain.

Lines go to the file descriptor with ``os.write``, one call per line: a reader that stops reading
(a test holding only the first line) stalls this thread, never the chain or the shutdown.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from devnet.errors import ChainError, ErrorDecoder, revert_data

POLL_SECONDS = 0.2
MAX_MINE = 100_000  # blocks per `cb-devnet mine` / anvil_mine request (the py-evm server refuses more)
PUBLIC_KEYS_BANNER = ("Dev accounts: PUBLIC TEST KEYS, printed for this devnet only. Anyone can read them here;\n"
                      "never send real funds to these addresses or use these keys on a real chain.")


def accounts_lines(accounts: Sequence[Mapping[str, str]]) -> list[str]:
    """The start-up listing of the dev accounts and their (public, test-only) private keys."""
    lines = [PUBLIC_KEYS_BANNER, ""]
    lines += [f"({i}) {a['address']}" for i, a in enumerate(accounts)]
    lines += ["", "Private keys (public test keys, devnet only)", ""]
    lines += [f"({i}) {a['privateKey']}" for i, a in enumerate(accounts)]
    return lines


class Selectors:
    """``Contract.function`` names of 4-byte selectors and contract addresses, from the committed ABIs."""

    def __init__(self, contracts: Mapping[str, str]) -> None:
        from eth_utils import keccak

        from devnet import artifacts
        from devnet.errors import _abi_type

        arts = artifacts.load_all()
        self.decoder = ErrorDecoder([a.abi for a in arts.values()])
        self.names = {addr.lower(): name for name, addr in contracts.items()}
        self.functions: dict[str, dict[bytes, str]] = {}
        for name, art in arts.items():
            table: dict[bytes, str] = {}
            for item in art.abi:
                if item.get("type") == "function":
                    sig = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
                    table[keccak(text=sig)[:4]] = item["name"]
            self.functions[name] = table

    def describe(self, to: str | None, data: bytes, created: str | None) -> str:
        """``Contract.function`` for a call, ``create Contract`` for a deployment, ``transfer`` for plain value."""
        if to is None:
            name = self.names.get((created or "").lower(), "contract")
            return f"create {name}"
        contract = self.names.get(to.lower())
        if contract is None:
            return f"call {to}" if data else f"transfer to {to}"
        if len(data) < 4:
            return f"{contract} (no calldata)"
        fn = self.functions.get(contract, {}).get(data[:4], "0x" + data[:4].hex())
        return f"{contract}.{fn}"


class Rpc:
    """A minimal JSON-RPC client over urllib (no web3 import: ``cb-devnet mine`` starts fast)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self._id = 0

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        """The ``result`` of one request; ChainError for a dead endpoint or a JSON-RPC error."""
        import json
        import urllib.error
        import urllib.request

        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or []}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - the user's own RPC URL
                answer = json.loads(resp.read(1 << 24))
        except (OSError, ValueError) as exc:
            raise ChainError(f"cannot reach {self.url}: {exc} (is `cb-devnet up` running?)") from None
        if not isinstance(answer, dict):
            raise ChainError(f"{self.url} answered {method} with something that is not a JSON-RPC object")
        if answer.get("error"):
            err = answer["error"]
            msg = err.get("message") if isinstance(err, dict) else err
            raise ChainError(f"{self.url} refused {method}: {msg}")
        return answer.get("result")

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)


class TxLog:
    """Follows new blocks from ``start_block + 1`` on and writes one line per transaction to ``fd``."""

    def __init__(self, url: str, contracts: Mapping[str, str], accounts: Sequence[str], start_block: int, *,
                 fd: int = 1, poll: float = POLL_SECONDS) -> None:
        self.url = url
        self.selectors = Selectors(contracts)
        self.accounts = {a.lower(): i for i, a in enumerate(accounts)}
        self.next_block = start_block + 1
        self.fd = fd
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._w3: Any = None

    def start(self) -> TxLog:
        from web3 import Web3

        self._w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))
        self._thread = threading.Thread(target=self._run, name="cb-devnet-txlog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def write(self, line: str) -> bool:
        """One line, one ``os.write``; False once the reader has gone (closed pipe)."""
        try:
            os.write(self.fd, (line + "\n").encode())
        except (BrokenPipeError, OSError):
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                head = int(self._w3.eth.block_number)
                while self.next_block <= head and not self._stop.is_set():
                    for line in self.block_lines(self.next_block):
                        if not self.write(line):
                            return
                    self.next_block += 1
            except Exception as exc:  # noqa: BLE001 - the chain going away ends the log, not the devnet
                if self._stop.is_set():
                    return
                self.write(f"txlog: {exc}")
            self._stop.wait(self.poll)

    def block_lines(self, number: int) -> list[str]:
        """The lines of every transaction in block ``number`` (none for an empty block)."""
        block = self._w3.eth.get_block(number, full_transactions=True)
        return [self.tx_line(number, tx) for tx in block["transactions"]]

    def _who(self, address: str) -> str:
        i = self.accounts.get(address.lower())
        return f"({i}) {address}" if i is not None else address

    def tx_line(self, number: int, tx: Any) -> str:
        """``block N  0xHASH  from (i) 0xADDR  Contract.function  gas USED/LIMIT  ok|REVERTED error``."""
        receipt = self._w3.eth.get_transaction_receipt(tx["hash"])
        data = bytes(tx.get("input") or tx.get("data") or b"")
        what = self.selectors.describe(tx.get("to"), data, receipt.get("contractAddress"))
        gas = f"gas {int(receipt['gasUsed']):,}/{int(tx['gas']):,}"
        head = f"block {number}  0x{bytes(tx['hash']).hex()}  from {self._who(tx['from'])}  {what}  {gas}"
        if int(receipt["status"]) == 1:
            return f"{head}  ok"
        return f"{head}  REVERTED {self.revert_reason(tx, number)}"

    def revert_reason(self, tx: Any, number: int) -> str:
        """The decoded custom error of a reverted transaction, replayed with eth_call in its block."""
        call = {"from": tx["from"], "data": tx.get("input") or tx.get("data") or b"", "value": tx.get("value", 0), "gas": tx["gas"]}
        if tx.get("to"):
            call["to"] = tx["to"]
        try:
            self._w3.eth.call(call, number)
        except Exception as exc:  # noqa: BLE001 - every client raises its own type
            data = revert_data(exc)
            return str(self.selectors.decoder.decode(data)) if data is not None else f"(replay failed: {exc})"
        return "(the replay did not revert: out of gas?)"


class BlockTimer:
    """Mines one empty block every ``seconds`` through ``evm_mine`` (anvil and the py-evm server answer it)."""

    def __init__(self, url: str, seconds: float, on_error: Callable[[str], None] | None = None) -> None:
        self.rpc = Rpc(url)
        self.seconds = seconds
        self.on_error = on_error
        self._stop = threading.Event()

    def start(self) -> BlockTimer:
        threading.Thread(target=self._run, name="cb-devnet-blocktime", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.rpc.call("evm_mine")
            except ChainError as exc:
                if self.on_error is not None and not self._stop.is_set():
                    self.on_error(f"block-time: {exc}")


__all__ = ["MAX_MINE", "PUBLIC_KEYS_BANNER", "BlockTimer", "Rpc", "Selectors", "TxLog", "accounts_lines"]
