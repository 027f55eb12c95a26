"""A web3 provider over eth-tester that fills a call's missing ``from`` without asking for the accounts each time.

web3's EthereumTesterProvider gives an ``eth_call`` (or ``eth_estimateGas``, ``eth_sendTransaction``,
``eth_createAccessList``) without a ``from`` the tester's first account, and to find it asks
``eth_accounts`` through the whole middleware stack three times per call, checksumming every account
each time: about 4 of the 7 ms a view call of the bindings costs on the embedded devnet. The first
account of an EthereumTester never changes (``add_account`` appends), so this provider reads it once,
on the first call that needs it, and fills the same value. Everything else is web3's provider.
"""

from __future__ import annotations

from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.middleware.base import Web3Middleware
from web3.providers.eth_tester.middleware import ethereum_tester_middleware

_FILLED = frozenset({"eth_call", "eth_estimateGas", "eth_sendTransaction", "eth_createAccessList"})


class _FirstAccountAsSender(Web3Middleware):
    """What web3's DefaultTransactionFieldsMiddleware does, with the first account read once per provider."""

    def request_processor(self, method: Any, params: Any) -> Any:
        if method in _FILLED and params[0].get("from") is None:
            provider = self._w3.provider
            assert isinstance(provider, EmbeddedProvider)
            params = [{**params[0], "from": provider.first_account()}, *list(params)[1:]]
        return method, params


class EmbeddedProvider(EthereumTesterProvider):  # type: ignore[misc]
    """EthereumTesterProvider whose default ``from`` is the tester's first account, read once (module docstring)."""

    _middleware = (_FirstAccountAsSender, ethereum_tester_middleware)

    def __init__(self, ethereum_tester: Any) -> None:
        super().__init__(ethereum_tester)
        self._first: list[str] = []

    def first_account(self) -> str | None:
        """The tester's first account (checksummed, as ``eth_accounts`` gives it), or None when it has none."""
        if not self._first:
            accounts = self.ethereum_tester.get_accounts()
            if not accounts:
                return None  # not cached: an account added later becomes the first
            self._first.append(accounts[0])
        return self._first[0]


def embedded_web3(ethereum_tester: Any) -> Web3:
    """A Web3 connected to ``ethereum_tester`` through :class:`EmbeddedProvider`."""
    return Web3(EmbeddedProvider(ethereum_tester))


__all__ = ["EmbeddedProvider", "embedded_web3"]
