"""Scenario 2 (a dishonest trainer slashed) on the py-evm engine: ``cb-devnet up --engine pyevm``.

The same processes as tests/e2e/test_scenarios.py on the in-process py-evm chain behind the
devnet's JSON-RPC bridge, smaller (one public beast, two watchers, quorum 2): the dispute tool,
the node and the validators must not depend on anvil.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devnet.bindings import Outcome, WindowStatus
from bench.cluster import Cluster, commit_window3, start_cluster
from tests.e2e.helpers import audit_energy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pyevm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("pyevm"), engine="pyevm", public_beasts=1, validators=2, private=False)
    try:
        yield c
    finally:
        c.close()


def test_dishonest_trainer_slashed_on_pyevm(pyevm_cluster: Cluster) -> None:
    c = pyevm_cluster
    since = c.cb.block_number()
    w3 = commit_window3(c, c.public_beasts[0], "h128")
    before = c.cb.balance_of(c.challenger)
    args = ["--beast", w3.beast, "--window", 3]
    code, out, _ = c.dispute("check", *args, "--node", c.node_addr)
    assert code == 1 and out["mismatchedFields"] == ["h128"]
    code, out, err = c.dispute("open", *args, "--node", c.node_addr, "--yes", "--private-key-file", c.challenger_key)
    assert code == 0, err
    did = int(out["disputeId"])
    code, _, err = c.dispute("status", *args, "--watch", "--resolve", "--private-key-file", c.challenger_key,
                             "--interval", "0.3", "--timeout", "90", timeout=120)
    assert code == 0, err
    d = c.cb.dispute(did)
    assert d.outcome == Outcome.DIVERGED and d.against == 2
    assert c.cb.window_status(w3.beast, 2) == WindowStatus.SLASHED
    code, out, _ = c.dispute("claim", *args, "--private-key-file", c.challenger_key)
    share = w3.escrow // 2 // 2
    assert code == 0 and int(out["amount"]) == 3 * w3.escrow - 2 * share
    assert c.cb.balance_of(c.challenger) == before + w3.escrow - 2 * share
    a = audit_energy(c.cb, since)
    assert a.minted_since == 0 and a.burned_since == 0
