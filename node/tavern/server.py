"""The Tavern's HTTP server: the dashboard page, its JSON endpoints and ``/metrics``, on the standard library.

Safe by default: it binds loopback only (another address needs ``allow_remote``), refuses a request
whose ``Host`` header names anything but the loopback address it serves (a web page elsewhere cannot
reach it through DNS rebinding), answers only GET and HEAD (read-only: 405 otherwise), serves a fixed
list of packaged files (no path from the URL ever reaches the file system), bounds every answer
(rows, curve points, battle index), caps concurrent requests and times idle connections out.
Errors are JSON: ``{"error": "...", "status": N}``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from node.config import NodeConfig
from node.errors import ConfigError
from node.tavern.data import EVAL_KEYS, TavernData, TavernError
from node.tavern.prometheus import CONTENT_TYPE as PROMETHEUS_TYPE
from node.tavern.prometheus import render

STATIC: Final = {"/": ("index.html", "text/html; charset=utf-8"),
                 "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
                 "/static/style.css": ("style.css", "text/css; charset=utf-8")}
MAX_CONCURRENT: Final = 32
IDLE_TIMEOUT_S: Final = 10
MAX_QUERY: Final = 512
DEFAULT_PORT: Final = 8600
HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                  "Referrer-Policy": "no-referrer",
                  "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"}


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); ConfigError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--http wants HOST:PORT (port 0..65535; 0 picks a free one), got {text!r}")
    return host.strip("[]"), int(port)


def check_address(text: str, *, allow_remote: bool = False) -> tuple[str, int]:
    """``parse_address`` plus the loopback rule: ConfigError for a public host without ``allow_remote``."""
    host, port = parse_address(text)
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(f"refusing to serve the Tavern on {host}: it binds loopback only unless --allow-remote "
                          "is given (it shows your node's beasts, windows and disputes to anyone who can reach it)")
    return host, port


def _asset(name: str) -> bytes:
    return resources.files("node.tavern").joinpath("static", name).read_bytes()


def _int(query: dict[str, list[str]], key: str, default: int | None) -> int | None:
    values = query.get(key)
    if not values:
        return default
    v = values[-1]
    if not (v.isdigit() and len(v) <= 10):
        raise TavernError(f"{key} must be a non-negative integer, got {v[:40]!r}", 400)
    return int(v)


class TavernServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer holding the Tavern's data source and its request limits."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], data: TavernData, *, allow_remote: bool) -> None:
        self.data = data
        self.allow_remote = allow_remote
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{'[' + str(host) + ']' if ':' in str(host) else host}:{port}/"

    def host_allowed(self, header: str | None) -> bool:
        """The Host header must name this server's loopback address (unless remote access was asked for)."""
        if self.allow_remote:
            return True
        if not header:
            return False
        port = self.server_address[1]
        return header in {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}

    def route(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        """(status, content type, body) of a GET."""
        if path in STATIC:
            name, ctype = STATIC[path]
            return 200, ctype, _asset(name)
        if path == "/metrics":
            overview = self.data.overview()
            evals = {}
            for b in overview["beasts"]:
                pts = self.data.curves(b["beastId"])["eval"]
                if pts:
                    evals[b["beastId"]] = {k: pts[-1][k] for k in EVAL_KEYS if k in pts[-1]}
            return 200, PROMETHEUS_TYPE, render(overview, evals).encode()
        return 200, "application/json", json.dumps(self.api(path, query)).encode()

    def api(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """The JSON endpoints."""
        parts = [p for p in path.split("/") if p]
        if parts == ["healthz"]:
            return {"ok": True}
        if parts == ["api", "overview"]:
            return self.data.overview()
        if parts == ["api", "disputes"]:
            return self.data.disputes()
        if len(parts) == 4 and parts[:2] == ["api", "beasts"]:
            if not (parts[2].isdigit() and len(parts[2]) <= 20):
                raise TavernError(f"beast id must be a non-negative integer, got {parts[2][:40]!r}", 400)
            bid = int(parts[2])
            if parts[3] == "windows":
                return self.data.windows(bid, _int(query, "start", 0) or 0, _int(query, "limit", 200) or 0)
            if parts[3] == "curves":
                return self.data.curves(bid)
            if parts[3] == "battle":
                return self.data.battle(bid, _int(query, "window", None), _int(query, "battle", 0) or 0)
        raise TavernError(f"no such endpoint: {path[:80]}", 404)


class Handler(BaseHTTPRequestHandler):
    """One request; answers through TavernServer.route."""

    server: TavernServer
    timeout = IDLE_TIMEOUT_S
    server_version = "ChainBeasts-Tavern"
    sys_version = ""

    def _send(self, status: int, ctype: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        self._send(status, "application/json", json.dumps({"error": message, "status": status}).encode(), extra)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if not self.server.host_allowed(self.headers.get("Host")):
            self._error(403, "this Tavern answers only requests addressed to its loopback address "
                             "(start it with --allow-remote to serve other hosts)")
            return
        if not self.server.slots.acquire(blocking=False):
            self._error(503, "too many requests at once; retry", {"Retry-After": "1"})
            return
        try:
            url = urlsplit(self.path)
            if len(url.query) > MAX_QUERY:
                raise TavernError(f"query string over {MAX_QUERY} characters", 414)
            status, ctype, body = self.server.route(url.path, parse_qs(url.query, max_num_fields=8))
            self._send(status, ctype, body)
        except TavernError as exc:
            self._error(exc.status, str(exc))
        except ValueError as exc:  # parse_qs over max_num_fields, and the like
            self._error(400, f"bad request: {exc}")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - a bug answers 500 (JSON) instead of dropping the connection
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.server.slots.release()

    do_HEAD = do_GET  # noqa: N815

    def _read_only(self) -> None:
        self._error(405, "the Tavern is read-only: GET and HEAD only", {"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _read_only  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: the page polls every few seconds
        return


def make_server(cfg: NodeConfig, host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, allow_remote: bool = False,
                chain: bool = True) -> TavernServer:
    """A Tavern server for the node at ``cfg`` (not yet serving); ConfigError for a non-loopback host
    without ``allow_remote`` or an address that cannot be bound."""
    check_address(f"{host}:{port}", allow_remote=allow_remote)
    try:
        return TavernServer((host, port), TavernData(cfg, chain=chain), allow_remote=allow_remote)
    except OSError as exc:
        raise ConfigError(f"cannot serve the Tavern on {host}:{port}: {exc.strerror or exc}") from None


def serve_in_thread(server: TavernServer) -> threading.Thread:
    """Run ``server.serve_forever`` in a daemon thread (``cb-node run --http``)."""
    t = threading.Thread(target=server.serve_forever, name="cb-node-tavern", daemon=True)
    t.start()
    return t


def start(cfg: NodeConfig, address: str, *, allow_remote: bool = False) -> TavernServer:
    """Parse ``HOST:PORT``, make the server and serve it in a daemon thread (``cb-node run --http``).

    Stop it with ``stop(server)``. On the embedded chain (which lives inside ``cb-node run`` and is not
    thread-safe) it shows the node's own records only; with an RPC it asks the chain over its own connection.
    """
    host, port = check_address(address, allow_remote=allow_remote)
    server = make_server(cfg, host, port, allow_remote=allow_remote)
    serve_in_thread(server)
    return server


def stop(server: TavernServer) -> None:
    """Stop serving and close the read-only stores."""
    server.shutdown()
    server.server_close()
    server.data.close()


__all__ = ["DEFAULT_PORT", "TavernServer", "check_address", "is_loopback", "make_server", "parse_address", "serve_in_thread", "start",
           "stop"]
