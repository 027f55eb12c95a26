"""JSON-RPC in wire form (hex quantities, hex data), without web3's middleware and result formatters.

Why: web3 runs every request through its middleware onion and formats every result (checksummed
addresses, HexBytes, AttributeDicts of every log of a receipt). Measured on anvil at 127.0.0.1
(docs/PERFORMANCE.md, Node): an ``eth_call`` of ``stakeOf`` 12.5 ms through a bound contract
function, 1.9 ms as one raw request; the receipt of a 64-window ``commitMany`` 16 ms formatted,
3 ms raw. The commit path (:mod:`node.committing`) sends a handful of requests per batch, so this
is most of its cost. Both kinds of chain speak the same wire form here:

* an HTTP endpoint (anvil, ``cb-devnet up``, a real node): the provider's own ``make_request``;
* the embedded py-evm devnet: :class:`devnet.server.RpcBridge`, the standard-parameter pipeline the
  devnet's HTTP server uses, with results re-encoded as JSON-RPC.

A request answers ``{"result": ...}`` or ``{"error": {...}}``; :meth:`node.chain.ChainClient.raw`
turns errors into the node's exceptions (decoded reverts, retries on connection trouble).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from web3 import Web3

Request = Callable[[str, list[Any]], dict[str, Any]]


def wire_requester(w3: Web3) -> Request:
    """A function sending one JSON-RPC request in wire form to ``w3``'s chain and returning the response."""
    tester = getattr(w3.provider, "ethereum_tester", None)
    if tester is not None:
        from devnet.server import RpcBridge

        bridge = RpcBridge(w3, tester)
        return lambda method, params: bridge.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    provider = w3.provider
    return lambda method, params: dict(provider.make_request(method, params))  # type: ignore[arg-type]


def quantity(value: Any) -> int:
    """A JSON-RPC quantity (``"0x1a"``) as an int; ints pass through."""
    return value if isinstance(value, int) else int(str(value), 16)


__all__ = ["Request", "quantity", "wire_requester"]
