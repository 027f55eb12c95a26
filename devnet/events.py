"""Strict decoding of the contracts' event logs.

A log is matched to an event by its emitter (one of the deployment's contracts) and its first topic
(the event signature's hash), never by trying every event until one decodes. Its indexed arguments
come from the topics and the rest from the data, and the result must re-encode to exactly the bytes
the log carried (canonical ABI encoding: no dirty padding, no trailing or missing bytes). A log of
ours that fails that is an :class:`devnet.errors.EventDecodeError`, not skipped: a reader that
skipped it would miss a game. Game state is read from these logs (and the contracts' views), never
from transaction calldata, so a game opened by a contract or an EIP-7702 account reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3

from devnet.errors import EventDecodeError, _abi_type

_DYNAMIC_INDEXED = ("string", "bytes")  # indexed as their hash: the topic is kept as bytes


@dataclass(frozen=True)
class EventSpec:
    """One event of one contract's ABI."""

    contract: str
    name: str
    topic: bytes
    inputs: tuple[tuple[str, str, bool], ...]  # (name, abi type, indexed)

    @property
    def indexed(self) -> list[tuple[str, str]]:
        return [(n, t) for n, t, i in self.inputs if i]

    @property
    def unindexed(self) -> list[tuple[str, str]]:
        return [(n, t) for n, t, i in self.inputs if not i]


def event_specs(contract: str, abi: Sequence[Mapping[str, Any]]) -> dict[bytes, EventSpec]:
    """The non-anonymous events of ``abi`` by signature topic."""
    out: dict[bytes, EventSpec] = {}
    for item in abi:
        if item.get("type") != "event" or item.get("anonymous"):
            continue
        types = [_abi_type(i) for i in item["inputs"]]
        topic = keccak(text=f"{item['name']}({','.join(types)})")
        inputs = tuple((str(i["name"]), t, bool(i.get("indexed"))) for i, t in zip(item["inputs"], types, strict=True))
        out[topic] = EventSpec(contract, str(item["name"]), topic, inputs)
    return out


def _plain(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return Web3.to_checksum_address(value)
    if isinstance(value, tuple):
        return tuple(value)
    return value


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if hasattr(value, "hex") and not isinstance(value, str):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


def decode_log(spec: EventSpec, log: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of ``log`` as ``spec``'s event, by name; EventDecodeError unless canonically encoded."""
    topics = [_bytes(t) for t in log["topics"]]
    data = _bytes(log.get("data") or b"")
    where = f"{spec.contract}.{spec.name} log"
    indexed = spec.indexed
    if len(topics) != 1 + len(indexed) or topics[0] != spec.topic:
        raise EventDecodeError(f"{where}: {len(topics)} topics, the event has {1 + len(indexed)}")
    args: dict[str, Any] = {}
    for (name, t), topic in zip(indexed, topics[1:], strict=True):
        if len(topic) != 32:
            raise EventDecodeError(f"{where}: topic of {name} is {len(topic)} bytes")
        if t in _DYNAMIC_INDEXED or t.endswith("]") or t.startswith("("):
            args[name] = topic  # a hash of the value
            continue
        try:
            (value,) = abi_decode([t], topic, strict=True)
        except Exception as exc:  # noqa: BLE001 - eth-abi raises several types
            raise EventDecodeError(f"{where}: topic of {name} does not decode as {t} ({exc})") from None
        if abi_encode([t], [value]) != topic:
            raise EventDecodeError(f"{where}: topic of {name} is not a canonical {t}")
        args[name] = _plain(t, value)
    types = [t for _, t in spec.unindexed]
    try:
        values = abi_decode(types, data, strict=True)
    except Exception as exc:  # noqa: BLE001
        raise EventDecodeError(f"{where}: data does not decode as ({','.join(types)}) ({exc})") from None
    if abi_encode(types, list(values)) != data:
        raise EventDecodeError(f"{where}: data is not the canonical encoding of ({','.join(types)})")
    for (name, t), value in zip(spec.unindexed, values, strict=True):
        args[name] = _plain(t, value)
    return {n: args[n] for n, _, _ in spec.inputs}


class EventTable:
    """Every event of the deployment's contracts, looked up by emitter address and signature topic."""

    def __init__(self, contracts: Mapping[str, tuple[str, Sequence[Mapping[str, Any]]]]) -> None:
        """``contracts``: contract name -> (address, ABI)."""
        self.by_address: dict[str, dict[bytes, EventSpec]] = {}
        self.by_name: dict[tuple[str, str], EventSpec] = {}
        self.address_of: dict[str, str] = {}
        for name, (address, abi) in contracts.items():
            addr = Web3.to_checksum_address(address)
            specs = event_specs(name, abi)
            self.by_address[addr] = specs
            self.address_of[name] = addr
            for spec in specs.values():
                self.by_name[(name, spec.name)] = spec

    def spec(self, contract: str, event: str) -> EventSpec:
        try:
            return self.by_name[(contract, event)]
        except KeyError:
            raise KeyError(f"{contract} has no event {event}") from None

    def decode(self, log: Mapping[str, Any]) -> tuple[EventSpec, dict[str, Any]] | None:
        """(spec, args) of a log of ours; None for a log of another contract or an event not in our ABIs
        (a token transfer's log is ours: Energy's); EventDecodeError for a known event that does not decode."""
        specs = self.by_address.get(Web3.to_checksum_address(log["address"]))
        if specs is None or not log["topics"]:
            return None
        spec = specs.get(_bytes(log["topics"][0]))
        if spec is None:
            return None
        return spec, decode_log(spec, log)


__all__ = ["EventSpec", "EventTable", "decode_log", "event_specs"]
