"""RPC faults: the chain endpoint goes away mid-run and comes back; the node waits and loses nothing.

A real `cb-devnet up --engine pyevm` process serves JSON-RPC; the node reaches it only
through a TCP proxy on 127.0.0.1 that the test stops (dropping every open connection and
refusing new ones) for longer than the node's retry budget, then restarts on the same port.
`cb-node run` must ride out the outage, reconcile, and finish its windows: the chain and the
local index then hold exactly the same windows, each the reference lineage.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from collections.abc import Iterator

import pytest

import devnet
from tests.node.test_crash import ROOT, Devnet, cb_devnet_up, check_agreement, make_node
import contextlib

TARGET = 8
OUTAGE_S = 9.0  # longer than ChainClient's retries (about 6 s with the default backoff)


class Proxy:
    """A TCP forwarder 127.0.0.1:port -> 127.0.0.1:target that can be cut and restored."""

    def __init__(self, target: int) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and drop every open one."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _windows(cb: devnet.ChainBeasts) -> int:
    """Windows committed for beast 1 (0 before it is hatched)."""
    try:
        return cb.window_count(1)
    except devnet.LedgerError:
        return 0


@pytest.fixture
def devnet_behind_proxy(tmp_path: Path) -> Iterator[tuple[Devnet, Proxy]]:
    with cb_devnet_up(tmp_path / "devnet", 3) as net:
        proxy = Proxy(int(net.url.rsplit(":", 1)[1].split("/")[0]))
        proxy.start()
        try:
            yield net, proxy
        finally:
            proxy.stop()


def test_node_rides_out_an_rpc_outage(devnet_behind_proxy: tuple[Devnet, Proxy], tmp_path: Path) -> None:
    net, proxy = devnet_behind_proxy
    via_proxy = replace(net, url=f"http://127.0.0.1:{proxy.port}")
    node = make_node(via_proxy, tmp_path / "node", account=1)
    log = tmp_path / "node.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file",
                                 str(node / "password"), "--grpc", "127.0.0.1:0", "--hatch", "1",
                                 "--until-window", str(TARGET)], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        cb = devnet.connect(net.deployments)  # the test's own view of the chain, not through the proxy
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _windows(cb) < 2:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        proxy.stop()
        time.sleep(OUTAGE_S)
        during = cb.window_count(1)
        proxy.start()
        rc = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert rc == 0, text[-3000:]
    assert "chain unreachable" in text and "reachable again" in text, text[-3000:]
    assert during < TARGET  # the outage really interrupted the run
    check_agreement(net, node, TARGET)
