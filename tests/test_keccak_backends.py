"""The suite hashes with safe-pysha3 (tests/conftest.py); users get eth-hash's default, pycryptodome.
Both must give the same keccak256, or a green suite would say nothing about the default install."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sha3")

from eth_hash.backends.pycryptodome import backend as pycryptodome  # noqa: E402
from eth_hash.backends.pysha3 import backend as pysha3  # noqa: E402


def test_known_digests() -> None:
    empty = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")  # keccak256("")
    for backend in (pycryptodome, pysha3):
        assert backend.keccak256(b"") == empty
    assert pysha3.keccak256(b"x" * 136) == pycryptodome.keccak256(b"x" * 136)  # one full rate block


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600))
def test_backends_agree(data: bytes) -> None:
    assert pysha3.keccak256(data) == pycryptodome.keccak256(data)
    pre = pysha3.preimage(data[:7])
    pre.update(data[7:])
    assert pre.digest() == pycryptodome.keccak256(data)
