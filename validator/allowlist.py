"""Which trainer nodes the validator's gRPC service may dial: the ``allowed_nodes`` setting.

A ReplayWindowRequest may name a trainer node (``node_address``) to fetch the start state and
step digests from. The service dials it only when it is on this list, so a client cannot make
the validator connect to any host:port it likes.

Entries are ``host:port`` or ``host:*`` (any port of that host); IPv6 literals go in brackets
(``[::1]:*``). Hosts are compared as written, case-insensitively (IPv6 literals in their
canonical form); nothing is resolved, so ``localhost:*`` allows ``localhost:50051`` and not
``127.0.0.1:50051``. With nothing configured only a node on this machine at the node's default
gRPC port is allowed (:data:`DEFAULT_ALLOWED_NODES`: loopback, port :data:`DEFAULT_NODE_PORT`),
so a client cannot make the validator dial (and time) any other local port; configured
entries replace that default, and an empty list allows no node at all.

``cb-validator serve --allow-node HOST:PORT`` (repeatable) sets the list; in code,
``create_server(..., allowed_nodes=[...])``. ``cb-validator replay`` and ``watch`` dial only the
nodes their own operator names (``--node``, ``--node-map``), which are allowed implicitly.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final

from validator.errors import ConfigError, InvalidInputError, NodeNotAllowedError
from validator.node_client import HOST_PATTERN, MAX_ADDRESS_LEN, check_node_address

DEFAULT_NODE_PORT: Final = 50551  # cb-node's default gRPC port (node.config.DEFAULT_GRPC; validator does not import node)
DEFAULT_ALLOWED_NODES: Final = (f"127.0.0.1:{DEFAULT_NODE_PORT}", f"localhost:{DEFAULT_NODE_PORT}", f"[::1]:{DEFAULT_NODE_PORT}")
ANY_PORT: Final = "*"
_HOST_RE: Final = re.compile(HOST_PATTERN)
_PORT_RE: Final = re.compile(r"[0-9]{1,5}")
# gRPC reads "NAME:rest" as a URI when NAME is one of its schemes ("unix:50051" is a socket file, not a port)
_GRPC_SCHEMES: Final = frozenset({"dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock"})
_ENTRY_FORM: Final = "write host:port or host:* (IPv6 in brackets, e.g. [::1]:*)"


def _host_key(host: str) -> str:
    """``host`` as compared: lower case, a bracketed IPv6 literal in its canonical form."""
    host = host.lower()
    if host.startswith("["):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            return host
    return host


def _parse_entry(entry: object) -> tuple[str, int | None]:
    """One ``allowed_nodes`` entry -> (host key, port or None for any port); ConfigError when malformed."""
    if not isinstance(entry, str):
        raise ConfigError(f"allowed_nodes (--allow-node) entry {entry!r} is not a string; {_ENTRY_FORM}")
    host, sep, port = entry.strip().rpartition(":")
    if not sep or len(entry.strip()) > MAX_ADDRESS_LEN or not _HOST_RE.fullmatch(host):
        raise ConfigError(f"allowed_nodes (--allow-node) entry {entry!r} is not host:port or host:*; {_ENTRY_FORM}")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ConfigError(f"allowed_nodes (--allow-node) entry {entry!r}: {host} is not an IPv6 address") from None
    if host.lower() in _GRPC_SCHEMES:
        raise ConfigError(f"allowed_nodes (--allow-node) entry {entry!r}: gRPC reads '{host}:' as a URI scheme, not as a host")
    if port == ANY_PORT:
        return _host_key(host), None
    if not _PORT_RE.fullmatch(port) or not 0 < int(port) < 65536:
        raise ConfigError(f"allowed_nodes (--allow-node) entry {entry!r}: the port must be 1..65535 or *; {_ENTRY_FORM}")
    return _host_key(host), int(port)


class NodeAllowlist:
    """The trainer nodes a gRPC client may make the validator dial; ``check(address)`` before dialing.

    ``NodeAllowlist()`` (or ``None`` entries) is the default (a local node on its default port); malformed entries
    raise ConfigError when the list is built, that is at startup.
    """

    def __init__(self, entries: Iterable[str] | None = None) -> None:
        if isinstance(entries, str):
            raise ConfigError("allowed_nodes is a list of host:port strings, not one string")
        self.entries: tuple[str, ...] = DEFAULT_ALLOWED_NODES if entries is None else tuple(entries)
        self._rules = frozenset(_parse_entry(e) for e in self.entries)

    def _listed(self, address: str) -> bool:
        host, _, port = address.rpartition(":")
        key = _host_key(host)
        return (key, None) in self._rules or (key, int(port)) in self._rules

    def allows(self, address: str) -> bool:
        """Whether ``address`` is a valid host:port that this list allows."""
        try:
            check_node_address(address)
        except InvalidInputError:
            return False
        return self._listed(address)

    def check(self, address: str) -> str:
        """``address`` when it may be dialed; InvalidInputError when malformed, NodeNotAllowedError when not listed."""
        check_node_address(address)
        if not self._listed(address):
            host = address.rpartition(":")[0]
            raise NodeNotAllowedError(
                f"node_address {address} is not an allowed trainer node: this validator dials only the nodes its "
                f"operator allows (setting allowed_nodes; cb-validator serve --allow-node {address} or "
                f"--allow-node {host}:*)"
            )
        return address

    def __repr__(self) -> str:
        return f"NodeAllowlist({list(self.entries)!r})"


__all__ = ["ANY_PORT", "DEFAULT_ALLOWED_NODES", "DEFAULT_NODE_PORT", "NodeAllowlist"]
