"""Exceptions of the devnet package and the decoding of contract custom errors into them.

Every failure surfaces as a :class:`LedgerError`. A revert with a custom error becomes a
:class:`ContractError` subclass chosen by the error's domain prefix (``Ledger*`` ->
:class:`LedgerRevert`, ``Game*`` and the one-step verifier's errors -> :class:`GameError`, ...) carrying ``name`` and
``args``; the message reads like ``LedgerStepOutOfOrder(beastId=1, expected=256, got=384)``.
"""

from __future__ import annotations

import ast
from typing import Any, TypeVar
from collections.abc import Callable, Mapping, Sequence



class LedgerError(Exception):
    """Base class of every error raised by the devnet package."""


class ConfigError(LedgerError):
    """Raised when a file, flag or argument is missing or malformed (CLI exit code 2: usage or configuration)."""


class ArtifactError(ConfigError):
    """Raised when contract artifacts under contracts/build are missing or unreadable."""


class ChainError(LedgerError):
    """Raised when the chain cannot be reached or answers unexpectedly (CLI exit code 4: chain)."""


class EventDecodeError(ChainError):
    """Raised when a log carries one of our events' signatures but its data does not decode strictly as that event."""


class TransactionReverted(ChainError):
    """Raised when a transaction or call reverted without a decodable custom error."""

    def __init__(self, message: str, *, tx_hash: str | None = None, data: bytes = b"") -> None:
        super().__init__(message)
        self.tx_hash = tx_hash
        self.data = data


class ContractError(TransactionReverted):
    """Raised when a contract reverted with a known custom error; ``name`` and ``args`` hold it."""

    def __init__(self, name: str, args: Mapping[str, Any], *, tx_hash: str | None = None, data: bytes = b"") -> None:
        self.name = name
        self.args_by_name = dict(args)
        rendered = ", ".join(f"{k}={_render(v)}" for k, v in args.items())
        super().__init__(f"{name}({rendered})", tx_hash=tx_hash, data=data)

    def __getitem__(self, key: str) -> Any:
        return self.args_by_name[key]


class LedgerRevert(ContractError):
    """Raised for CheckpointLedger errors (``Ledger*``)."""


class GameError(ContractError):
    """Raised for BisectionGame errors (``Game*``) and the one-step verifier's (StepVerifier: a malformed
    pre-state or private sample, raised through ``proveStep``)."""


class BeastError(ContractError):
    """Raised for Beast token errors (``Beast*`` and OpenZeppelin ``ERC721*``)."""


class RegistryError(ContractError):
    """Raised for SeasonRegistry errors (``Season*`` and OpenZeppelin ``Ownable*``)."""


class TokenError(ContractError):
    """Raised for ENERGY token errors (OpenZeppelin ``ERC20*``, ``AccessControl*``, SafeERC20)."""


T = TypeVar("T")

ErrorMap = Callable[[str, "LedgerError"], BaseException]
"""How a caller turns a devnet error of the call described by ``what`` into its own exception."""


def chain_call(what: str, fn: Callable[[], T], to_error: ErrorMap) -> T:
    """Run one chain read or write ``fn``, described by ``what``, mapping its devnet errors with ``to_error``.

    The one wrapper every package uses around the bindings (the validator maps to its gRPC-free
    error classes, cb-dispute to its exit-code classes). Only :class:`LedgerError` is mapped:
    anything else ``fn`` raises, the caller's own errors included, passes through unchanged.
    ``to_error`` may return ``exc`` itself to keep an error as it is.
    """
    try:
        return fn()
    except LedgerError as exc:
        raise to_error(what, exc) from None


_PREFIXES: tuple[tuple[str, type[ContractError]], ...] = (
    ("Ledger", LedgerRevert),
    ("Game", GameError),
    ("Beast", BeastError),
    ("ERC721", BeastError),
    ("Season", RegistryError),
    ("Ownable", RegistryError),
    ("ERC20", TokenError),
    ("AccessControl", TokenError),
    ("SafeERC20", TokenError),
)

# StepVerifier's errors carry no domain prefix (SPEC §7.5 names them); they surface through proveStep.
_VERIFIER_ERRORS = frozenset({"BadMerkleProof", "DatasetRootMismatch", "EmptyDataset", "InvalidRecord", "MalformedState"})

_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


def _render(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _abi_type(item: Mapping[str, Any]) -> str:
    t = str(item["type"])
    if t.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){t[5:]}"
    return t


class ErrorDecoder:
    """Maps 4-byte selectors of the ABIs' custom errors to exception instances."""

    def __init__(self, abis: Sequence[Sequence[Mapping[str, Any]]]) -> None:
        from eth_utils import keccak  # lazy (also below): the exception classes load without eth-abi/eth-utils

        self._by_selector: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_abi_type(i) for i in item["inputs"]]
                names = [i["name"] or f"arg{n}" for n, i in enumerate(item["inputs"])]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._by_selector[selector] = (item["name"], names, types)

    def decode(self, data: bytes, *, tx_hash: str | None = None) -> TransactionReverted:
        """The exception for revert ``data`` (empty data gives a plain TransactionReverted)."""
        from eth_abi import decode as abi_decode

        if len(data) >= 4 and data[:4] in self._by_selector:
            name, names, types = self._by_selector[data[:4]]
            try:
                values = abi_decode(types, data[4:])
            except Exception:  # malformed payload: keep the raw bytes
                return TransactionReverted(f"{name}(<undecodable 0x{data[4:].hex()}>)", tx_hash=tx_hash, data=data)
            cls = GameError if name in _VERIFIER_ERRORS else next((c for p, c in _PREFIXES if name.startswith(p)),
                                                                   ContractError)
            return cls(name, dict(zip(names, values, strict=True)), tx_hash=tx_hash, data=data)
        if data[:4] == _ERROR_STRING:
            (reason,) = abi_decode(["string"], data[4:])
            return TransactionReverted(f"reverted: {reason}", tx_hash=tx_hash, data=data)
        if data[:4] == _PANIC:
            (code,) = abi_decode(["uint256"], data[4:])
            return TransactionReverted(f"panic 0x{code:02x}", tx_hash=tx_hash, data=data)
        if not data:
            return TransactionReverted("reverted without data (out of gas or invalid opcode?)", tx_hash=tx_hash)
        return TransactionReverted(f"reverted with unknown data 0x{data.hex()}", tx_hash=tx_hash, data=data)


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes carried by an eth-tester or web3 exception, or None if it has none.

    web3's eth-tester provider re-raises ``TransactionFailed("execution reverted: b'...'")`` with
    the raw bytes only in the original exception (``__context__``), so the chain is walked.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        found = _direct_revert_data(e)
        if found is not None:
            return found
        e = e.__cause__ or e.__context__
    return None


def _direct_revert_data(exc: BaseException) -> bytes | None:
    candidates: list[Any] = [getattr(exc, "data", None)]
    candidates.extend(getattr(exc, "args", ()))
    for c in candidates:
        if isinstance(c, BaseException):
            inner = _direct_revert_data(c)
            if inner is not None:
                return inner
        if isinstance(c, (bytes, bytearray)):
            return bytes(c)
        if isinstance(c, str):
            text = c.removeprefix("execution reverted: ")
            if text.startswith(("b'", 'b"')):
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, bytes):
                    return value
            if text.startswith("0x"):
                try:
                    return bytes.fromhex(text[2:])
                except ValueError:
                    continue
        if isinstance(c, Mapping) and isinstance(c.get("data"), str):
            try:
                return bytes.fromhex(c["data"].removeprefix("0x"))
            except ValueError:
                continue
    return None
