"""A dishonest trainer caught on the py-evm engine: ``cb-devnet up --engine pyevm``.

The same processes as tests/e2e/test_scenarios.py on the in-process py-evm chain behind the
devnet's JSON-RPC bridge, smaller (one public beast, one watcher): the node, the watcher and the
game must not depend on anvil. The cheater lies in a word's field rather than a micro-step
(``--dishonest word``), so the watcher wins with ``proveWordLie`` at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.cluster import Cluster, start_cluster, wait_until
from devnet.bindings import Outcome
from tests.e2e.helpers import audit_energy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pyevm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("pyevm"), engine="pyevm", public_beasts=1, watchers=1, private=False)
    try:
        yield c
    finally:
        c.close()


def test_dishonest_word_slashed_on_pyevm(pyevm_cluster: Cluster) -> None:
    c = pyevm_cluster
    since = c.cb.block_number()
    cheat = c.start_cheater(6, "word", from_window=2, until_window=2)
    c.watch_also(cheat.beast)
    gid = wait_until(lambda: (c.cb.games_of_window(cheat.beast, 1) or [0])[0], 120, "the watcher's game", interval=0.3)
    g = wait_until(lambda: (lambda x: None if x.is_open else x)(c.cb.game_of(gid)), 120, "the game to end", interval=0.3)
    assert g.outcome == Outcome.CHALLENGER_WON and g.challenger == c.watcher_keys[0].address
    # Slashed (the cheater's node may have rewound and cleared the slot by now: the log says it).
    assert c.cb.events("CheckpointLedger", "WindowSlashed", cheat.beast, 1, from_block=since)
    audit_energy(c.cb, since)
