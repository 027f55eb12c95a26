"""A small threaded JSON-RPC-over-HTTP server in front of the in-process py-evm chain.

It lets other processes (the node, watchers, the dispute tool, anvil-style clients) use the
embedded devnet through an ordinary ``http://127.0.0.1:PORT`` URL. Requests are forwarded to
web3's EthereumTesterProvider request pipeline (which speaks standard JSON-RPC parameters) under
one lock, since py-evm is not thread-safe; results are re-encoded as JSON-RPC (quantities as hex).
``evm_mine`` and ``anvil_mine [n]`` mine empty blocks so tools can advance time as on anvil, and
``anvil_getAutomine`` answers true (a block per transaction, none in between). One request mines
at most ``MAX_MINE`` blocks (a larger count is refused: it would hold the chain's lock for minutes).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_tester import EthereumTester
from web3 import Web3

from devnet.errors import revert_data
from devnet.txlog import MAX_MINE


def to_jsonrpc(value: Any) -> Any:
    """Convert a provider result into JSON-RPC wire form."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: to_jsonrpc(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonrpc(v) for v in value]
    return str(value)


class RpcBridge:
    """Executes JSON-RPC requests against one in-process chain, one at a time."""

    def __init__(self, w3: Web3, tester: EthereumTester) -> None:
        self.w3 = w3
        self.tester = tester
        self._lock = threading.Lock()
        self._request = w3.provider.request_func(w3, w3.middleware_onion)  # type: ignore[attr-defined]

    def handle(self, req: Any) -> dict[str, Any]:
        """Answer one JSON-RPC request object."""
        rid = req.get("id") if isinstance(req, dict) else None
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32600, "message": "invalid request"}}
        method, params = req["method"], req.get("params") or []
        try:
            with self._lock:
                if method in ("evm_mine", "anvil_mine"):
                    n = int(params[0], 16) if method == "anvil_mine" and params and isinstance(params[0], str) else (
                        int(params[0]) if method == "anvil_mine" and params else 1)
                    if not 0 <= n <= MAX_MINE:
                        return {"jsonrpc": "2.0", "id": rid,
                                "error": {"code": -32602, "message": f"{method}: block count must be 0..{MAX_MINE}, got {n}"}}
                    self.tester.mine_blocks(max(n, 1))
                    return {"jsonrpc": "2.0", "id": rid, "result": "0x0"}
                if method == "anvil_getAutomine":  # as on anvil: every transaction gets its own block
                    return {"jsonrpc": "2.0", "id": rid, "result": True}
                resp = self._request(method, params)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON-RPC error
            data = revert_data(exc)
            if data is not None:
                err = {"code": 3, "message": "execution reverted", "data": "0x" + data.hex()}
            else:
                err = {"code": -32000, "message": str(exc) or type(exc).__name__}
            return {"jsonrpc": "2.0", "id": rid, "error": err}
        if "error" in resp:
            error = resp["error"]
            if not isinstance(error, dict):
                error = {"code": -32601 if "Unknown RPC" in str(resp.get("message", "")) else -32000,
                         "message": str(resp.get("message") or error)}
            return {"jsonrpc": "2.0", "id": rid, "error": error}
        return {"jsonrpc": "2.0", "id": rid, "result": to_jsonrpc(resp.get("result"))}


def make_server(bridge: RpcBridge, host: str = "127.0.0.1", port: int = 8545) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) answering JSON-RPC POSTs with ``bridge``; port 0 picks one."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError:
                out: Any = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
            else:
                out = [bridge.handle(r) for r in body] if isinstance(body, list) else bridge.handle(body)
            payload = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Start ``server.serve_forever`` in a daemon thread."""
    t = threading.Thread(target=server.serve_forever, name="cb-devnet-rpc", daemon=True)
    t.start()
    return t
