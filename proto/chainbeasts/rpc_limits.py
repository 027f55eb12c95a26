"""RpcLimits: the numbers a guarded gRPC server enforces (see :mod:`chainbeasts.rpc_guard`).

Apart from the guard so that code that only reads or writes the limits (node.toml's grpc_*
keys, ``cb-node status``) does not import grpc.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

STREAM: Final = "stream"
CALL: Final = "call"
LIGHT: Final = "light"
LANES: Final = (STREAM, CALL, LIGHT)
_REFUSAL_HEADROOM: Final = 8  # threads kept for answering refusals while every lane is full


class GuardConfigError(ValueError):
    """RpcLimits holds a value that cannot work (a limit below 1, per client above the total)."""


@dataclass(frozen=True)
class RpcLimits:
    """What one server lets its clients hold at once; each service picks its own defaults.

    ``*_per_client`` bounds one peer IP address, ``*_total`` the whole server. Times are seconds.
    """

    streams_per_client: int = 4
    streams_total: int = 16
    calls_per_client: int = 8
    calls_total: int = 16
    light_per_client: int = 4
    light_total: int = 8
    stream_lifetime_s: float = 3600.0
    stream_idle_s: float = 600.0
    max_request_bytes: int = 64 * 1024
    max_response_bytes: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise GuardConfigError(f"rpc limit {f.name} must be a positive number, got {value!r}")
        for lane in ("streams", "calls", "light"):
            per, total = getattr(self, f"{lane}_per_client"), getattr(self, f"{lane}_total")
            if per > total:
                raise GuardConfigError(f"rpc limit {lane}_per_client ({per}) is above {lane}_total ({total})")

    @property
    def workers(self) -> int:
        """Threads (and gRPC's maximum_concurrent_rpcs): every lane full plus headroom for refusals."""
        return self.streams_total + self.calls_total + self.light_total + _REFUSAL_HEADROOM

    def per_client(self, lane: str) -> int:
        return {STREAM: self.streams_per_client, CALL: self.calls_per_client, LIGHT: self.light_per_client}[lane]

    def total(self, lane: str) -> int:
        return {STREAM: self.streams_total, CALL: self.calls_total, LIGHT: self.light_total}[lane]
