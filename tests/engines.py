"""Which devnet engine a test's chain runs on, where the engine is not what the test checks.

anvil interprets the contracts in native code: a StepVerifier proof costs it about 1 ms against about
50 ms on py-evm, and a transaction's round trip a fraction of py-evm's. Tests that check the node, the
validator or a tool (not the engine) run on anvil where it is installed, as in CI (`npm ci` in
contracts/ installs it), and on the py-evm engine otherwise, so they run everywhere and skip nothing.
The py-evm engine keeps its own end-to-end path (tests/e2e/test_scenarios_pyevm.py) and the contract
tests.
"""

from __future__ import annotations


def fastest_engine() -> str:
    """``anvil`` when its binary is installed (devnet.anvil.find_anvil), else ``pyevm``."""
    from devnet.anvil import find_anvil
    from devnet.errors import ConfigError

    try:
        find_anvil()
    except ConfigError:
        return "pyevm"
    return "anvil"
