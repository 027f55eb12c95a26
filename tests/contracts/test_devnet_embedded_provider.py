"""devnet.embedded_provider: a call without ``from`` runs as web3's own eth-tester provider runs it.

The embedded devnet's Web3 fills a missing ``from`` with the tester's first account read once instead of
asking ``eth_accounts`` three times per call; these tests pin that the sender a contract sees, the
estimate and an explicit ``from`` are exactly what web3's EthereumTesterProvider gives on the same chain.
"""

from __future__ import annotations

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from devnet.indexed_backend import IndexedBackend
from devnet.embedded_provider import EmbeddedProvider, embedded_web3

# Init code that returns msg.sender as one 32-byte word: CALLER PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN.
# eth_call without ``to`` runs it and answers what it returns, so the call shows the sender it ran as.
RETURN_CALLER = "0x3360005260206000f3"


def _tester(accounts: int = 3) -> EthereumTester:
    return EthereumTester(IndexedBackend(genesis_parameters=PyEVMBackend.generate_genesis_params(),
                                         genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=accounts)))


def _sender(w3: Web3, tx: dict[str, str]) -> str:
    return Web3.to_checksum_address(bytes(w3.eth.call(tx))[-20:])  # type: ignore[arg-type]


def test_a_call_without_from_runs_as_the_first_account_like_web3s_provider() -> None:
    tester = _tester()
    ours, stock = embedded_web3(tester), Web3(EthereumTesterProvider(tester))
    first, second = stock.eth.accounts[:2]
    assert _sender(ours, {"data": RETURN_CALLER}) == _sender(stock, {"data": RETURN_CALLER}) == first
    assert _sender(ours, {"data": RETURN_CALLER}) == first  # read once, the same on every call
    assert _sender(ours, {"data": RETURN_CALLER, "from": second}) == second  # an explicit from is kept
    tx = {"to": second, "value": 1}
    assert ours.eth.estimate_gas(tx) == stock.eth.estimate_gas(tx) == 21_000  # type: ignore[arg-type]
    assert isinstance(ours.provider, EmbeddedProvider)


def test_a_tester_without_accounts_fills_none_until_it_has_one() -> None:
    tester = _tester()
    key = tester.backend.account_keys[1]
    tester.backend.account_keys = ()  # no accounts: web3's provider fills from = None
    provider = EmbeddedProvider(tester)
    assert provider.first_account() is None
    tester.add_account(key.to_hex())
    assert provider.first_account() == tester.get_accounts()[0] == Web3.to_checksum_address(key.public_key.to_address())
