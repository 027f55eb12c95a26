"""Suite-wide set-up: the keccak implementation every py-evm chain of the suite hashes with.

eth-hash picks pycryptodome first, whose Python wrapper costs about 9 us a digest against 1 us for
safe-pysha3 (a test dependency); py-evm hashes every trie node, account, header and transaction it
touches, so on the embedded devnets most of a test's time was keccak. Set here, before any
digest, and inherited by the processes the tests start (cb-devnet, cb-node, cb-validator): the
same digests (tests/test_keccak_backends.py checks the two implementations agree), faster.
``ETH_HASH_BACKEND`` already set is left as it is; without safe-pysha3 nothing changes.
"""

from __future__ import annotations

import importlib.util
import os

if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
