"""chainbeasts.rpc_guard's pure parts: whom a call is counted against, and limits that cannot work.

The guard itself runs under real servers in tests/node/test_service_limits.py and
tests/validator/test_service_limits.py.
"""

from __future__ import annotations

import pytest

from chainbeasts.rpc_guard import GuardConfigError, RpcLimits, client_of


class _Peer:
    """The one ServicerContext method client_of reads (gRPC's context cannot be built outside a call)."""

    def __init__(self, peer: str) -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer


@pytest.mark.parametrize(("peer", "client"), [
    ("ipv4:127.0.0.1:50123", "127.0.0.1"),
    ("ipv4:10.1.2.3:1", "10.1.2.3"),
    ("ipv6:[::1]:40000", "[::1]"),
    ("ipv6:[::ffff:10.0.0.7]:2", "[::ffff:10.0.0.7]"),
    ("unix:/run/cb.sock", "unix:/run/cb.sock"),
    ("", "unknown"),
])
def test_a_client_is_its_ip_address_whatever_its_port(peer: str, client: str) -> None:
    assert client_of(_Peer(peer)) == client  # type: ignore[arg-type]


@pytest.mark.parametrize(("change", "message"), [
    ({"streams_per_client": 0}, "streams_per_client must be a positive number"),
    ({"calls_total": -1}, "calls_total must be a positive number"),
    ({"stream_idle_s": True}, "stream_idle_s must be a positive number"),
    ({"light_per_client": 9}, "light_per_client (9) is above light_total (8)"),
])
def test_limits_that_cannot_work_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(GuardConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RpcLimits(**change)  # type: ignore[arg-type]


def test_the_pool_holds_every_lane_full_plus_headroom() -> None:
    limits = RpcLimits(streams_total=3, calls_total=5, light_total=2, streams_per_client=1, calls_per_client=1, light_per_client=1)
    assert limits.workers == 3 + 5 + 2 + 8
