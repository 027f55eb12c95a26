"""The Tavern's HTTP side against a real node directory (a real `cb-node run` on its embedded devnet).

Endpoints answer bounded JSON with clear errors, /metrics is Prometheus text agreeing with them, the
battle endpoint replays exactly the battles kernel.evaluate.win_rate counts, and the server refuses what
it must: other Host headers (DNS rebinding), writes, path tricks, oversized parameters, and a
non-loopback bind unless asked for.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.evaluate import logits, win_rate
from kernel.rules import appendage, battle
from node.config import load_config
from node.store import BeastStore, beast_dir
from node.tavern.battle import battle_setup, battle_turns
from node.tavern.data import MAX_WINDOWS, energy_text
from node.tavern.server import TavernServer, make_server, serve_in_thread
from tests.node.test_cli import ROOT, init_node
from tests.engines import fastest_engine

WINDOWS = 4


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node directory whose beast 1 trained and committed WINDOWS windows (the daemon has exited)."""
    tmp = tmp_path_factory.mktemp("tavern")
    node, pw = init_node(tmp)
    done = subprocess.run([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file", str(pw),
                           "--hatch", "1", "--until-window", str(WINDOWS), "--quiet"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return node


@pytest.fixture(scope="module")
def server(node: Path) -> Iterator[TavernServer]:
    srv = make_server(load_config(node), "127.0.0.1", 0)
    serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()
    srv.data.close()


def request(srv: TavernServer, path: str, *, method: str = "GET", host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    port = srv.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def get_json(srv: TavernServer, path: str, status: int = 200) -> Any:
    code, headers, body = request(srv, path)
    assert code == status, body[:300]
    assert headers["content-type"] == "application/json"
    return json.loads(body)


def test_page_and_assets_are_served_from_the_package_with_a_strict_policy(server: TavernServer) -> None:
    code, headers, body = request(server, "/")
    assert code == 200 and b"<title>ChainBeasts Tavern</title>" in body
    assert "script-src 'self'" in headers["content-security-policy"] and headers["cache-control"] == "no-store"
    assets = [a for a in re.findall(rb'(?:src|href)="([^"]+)"', body) if not a.startswith(b"#")]
    assert sorted(assets) == [b"/static/app.js", b"/static/style.css"]  # nothing from outside this server
    for a in assets:
        code, _, content = request(server, a.decode())
        assert code == 200 and content == (ROOT / "node" / "tavern" / "static" / Path(a.decode()).name).read_bytes()
        assert b"http://" not in content.replace(b"http://www.w3.org/2000/svg", b"") and b"https://" not in content


def test_overview_windows_and_curves_match_the_node_store(server: TavernServer, node: Path) -> None:
    cfg = load_config(node)
    store = BeastStore(beast_dir(cfg.data_dir, 1), 1, readonly=True)
    try:
        rows = store.rows()
    finally:
        store.close()
    ov = get_json(server, "/api/overview")
    (b,) = ov["beasts"]
    assert b["beastId"] == 1 and b["latestWindow"] == WINDOWS and b["latestH128"] == "0x" + rows[-1].h128.hex()
    spent = sum(r.energy_burn for r in rows if r.window > 0)
    assert spent > 0 and b["energySpentWei"] == str(spent) == ov["energySpentWei"] and b["energySpent"] == energy_text(spent)
    assert ov["daemon"]["running"] is False
    doc = get_json(server, "/api/beasts/1/windows?start=1&limit=2")
    assert [w["window"] for w in doc["windows"]] == [1, 2]
    assert doc["windows"][0]["h128"] == "0x" + rows[1].h128.hex() and doc["windows"][0]["status"] == rows[1].status
    assert doc["windows"][0]["energyBurn"] == str(rows[1].energy_burn)  # a string: browsers lose digits past 2^53
    curves = get_json(server, "/api/beasts/1/curves")
    assert [(p["window"], p["lossSum"]) for p in curves["loss"]] == [(r.window, r.loss_sum) for r in rows[1:]]


def test_metrics_is_prometheus_text_agreeing_with_the_json(server: TavernServer) -> None:
    code, headers, body = request(server, "/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    ov = get_json(server, "/api/overview")
    assert f'chainbeasts_beast_latest_window{{beast="1"}} {WINDOWS}\n' in text
    assert f'chainbeasts_beast_windows{{beast="1",status="committed"}} {ov["beasts"][0]["windows"]["committed"]}\n' in text
    assert f"chainbeasts_node_energy_spent_wei {ov['energySpentWei']}\n" in text
    assert "chainbeasts_node_daemon_running 0\n" in text
    for line in text.splitlines():  # every line is a comment or NAME{labels} VALUE
        assert line.startswith("# ") or re.fullmatch(r"[a-z_]+(\{[^}]*\})? -?[0-9.e+]+", line), line


def test_battle_endpoint_replays_the_win_rate_battles_turn_by_turn(server: TavernServer, node: Path) -> None:
    cfg = load_config(node)
    store = BeastStore(beast_dir(cfg.data_dir, 1), 1, readonly=True)
    try:
        trained, untrained = store.load_state(WINDOWS), store.load_state(0)
    finally:
        store.close()
    n = 6
    replays = [battle_turns(trained, untrained, i) for i in range(n)]
    # the viewer's winners are the battles win_rate counts (same seeds, same alternation of sides)
    assert sum(r["winner"] == "trained" for r in replays) / n == win_rate(trained, untrained, n)
    for i, r in enumerate(replays):
        start, crit = battle_setup(i)
        players = [trained, untrained] if i % 2 == 0 else [untrained, trained]
        assert r["sides"] == (["trained", "untrained"] if i % 2 == 0 else ["untrained", "trained"])
        res = battle(start, lambda b, s=players[0]: appendage(b, logits(s, b)),
                     lambda b, s=players[1]: appendage(b, logits(s, b)), crit.next)
        last = r["turns"][-1]["creatures"]
        assert len(r["turns"]) == res.turns and [last[0]["pos"], last[1]["pos"]] == [res.final.self_pos, res.final.enemy_pos]
        assert [last[0]["hp"], last[1]["hp"]] == [res.final.me.hp, res.final.enemy.hp]
    doc = get_json(server, "/api/beasts/1/battle?battle=3&window=2")
    assert doc["window"] == 2 and doc["index"] == 3 and len(doc["tiles"]) == 64 and doc["size"] == 8
    assert doc["turns"] and {"kind"} <= set(doc["turns"][0]["actions"][0])
    assert get_json(server, "/api/beasts/1/battle?battle=3&window=2") == doc  # seeded: the same battle again


@pytest.mark.parametrize(("path", "status", "needle"), [
    ("/api/beasts/7/curves", 404, "no beast 7"),
    ("/api/beasts/abc/windows", 400, "beast id must be"),
    ("/api/beasts/1/windows?limit=0", 400, f"limit must be 1..{MAX_WINDOWS}"),
    (f"/api/beasts/1/windows?limit={MAX_WINDOWS + 1}", 400, "limit must be"),
    ("/api/beasts/1/windows?start=-1", 400, "start must be a non-negative integer"),
    ("/api/beasts/1/battle?battle=1000", 400, "battle must be 0..999"),
    ("/api/beasts/1/battle?window=99", 404, "no stored window 99"),
    ("/api/beasts/1/battle?window=99999999999999999999", 400, "window must be a non-negative integer"),
    ("/api/nothing", 404, "no such endpoint"),
    ("/static/../node.toml", 404, "no such endpoint"),
    ("/static/%2e%2e/keystore.json", 404, "no such endpoint"),
    ("/api/overview?" + "a=1&" * 300, 414, "query string over"),
    ("/api/overview?" + "a=1&" * 20, 400, "bad request"),
])
def test_bad_requests_get_clear_json_errors(server: TavernServer, path: str, status: int, needle: str) -> None:
    doc = get_json(server, path, status)
    assert doc["status"] == status and needle in doc["error"]


def test_read_only_and_only_for_its_own_loopback_host(server: TavernServer) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        code, headers, body = request(server, "/api/overview", method=method)
        assert code == 405 and headers["allow"] == "GET, HEAD" and b"read-only" in body
    port = server.server_address[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1:1", ""):  # DNS rebinding: another name, same IP
        code, _, body = request(server, "/api/overview", host=host)
        assert code == 403 and b"loopback" in body
    assert request(server, "/api/overview", host=f"localhost:{port}")[0] == 200
    code, headers, body = request(server, "/", method="HEAD")
    assert code == 200 and body == b"" and int(headers["content-length"]) > 0


def test_cb_node_tavern_refuses_a_public_address_without_allow_remote(node: Path) -> None:
    for address, needle in (("0.0.0.0:0", "loopback only unless --allow-remote"), ("nowhere", "--http wants HOST:PORT"),
                            ("127.0.0.1:70000", "--http wants HOST:PORT")):
        done = subprocess.run([sys.executable, "-m", "node.cli", "tavern", "--node-dir", str(node), "--http", address],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and needle in done.stderr, done.stderr


def test_cb_node_tavern_serves_the_node_until_sigterm(node: Path, tmp_path: Path) -> None:
    log = tmp_path / "tavern.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "node.cli", "tavern", "--node-dir", str(node), "--http", "127.0.0.1:0"],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (m := re.search(r"at http://127\.0\.0\.1:(\d+)/", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=30)
        conn.request("GET", "/api/overview")
        resp = conn.getresponse()
        assert resp.status == 200 and json.loads(resp.read())["beasts"][0]["latestWindow"] == WINDOWS
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 130


def test_cb_node_run_refuses_a_public_http_address_before_signing_anything(node: Path, tmp_path: Path) -> None:
    pw = node.parent / "n.password"
    done = subprocess.run([sys.executable, "-m", "node.cli", "run", "--node-dir", str(node), "--password-file", str(pw),
                           "--http", "0.0.0.0:0", "--until-window", str(WINDOWS + 1)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "loopback only unless --allow-remote" in done.stderr
    store = BeastStore(beast_dir(load_config(node).data_dir, 1), 1, readonly=True)
    try:
        assert store.latest().window == WINDOWS  # nothing trained
    finally:
        store.close()


def test_disputes_on_a_chain_are_shown_with_their_state(tmp_path: Path) -> None:
    """A node on a real RPC devnet; another account opens a bisection game on its first window; the Tavern
    shows the game from the chain -- state, side to move, step range, moves and both clocks -- as it is played
    and when it ends."""
    import devnet
    from devnet.launch import launch
    from node.tavern.data import TavernData
    from tests.node.tavern_helpers import rpc_node_with_two_windows

    with launch(fastest_engine(), port=0, run_dir=tmp_path / "devnet", accounts=4) as net:
        root = rpc_node_with_two_windows(tmp_path, net)
        data = TavernData(load_config(root))

        def games() -> list[dict[str, Any]]:
            data._chain_checked = 0.0  # the next answer asks the chain again instead of waiting CHAIN_REFRESH_S
            doc = data.disputes()["chain"]
            assert doc["note"] == "", doc
            return doc["games"]

        try:
            assert games() == []
            cb = devnet.connect(tmp_path / "devnet" / "deployments.json")
            challenger, defender = cb.accounts[2], cb.accounts[1]  # the node's key committed the window
            cb.commit_challenge(challenger, 1, 0, b"\x11" * 32)
            gid = cb.challenge(challenger, 1, 0, b"\x11" * 32)
            clock = cb.clock_blocks()
            (g,) = games()
            assert (g["gameId"], g["beastId"], g["window"], g["state"], g["toMove"]) == (gid, 1, 1, "open", "defender")
            assert (g["lo"], g["hi"], g["moves"], g["reason"]) == (0, 128, 0, None)
            assert g["challenger"] == challenger.address and g["defender"] == defender.address
            assert int(g["bondWei"]) == cb.game_of(gid).bond > 0 and g["bond"].endswith(" ENERGY")
            assert g["challengerBlocksLeft"] == clock and 0 <= clock - g["defenderBlocksLeft"] <= 2
            cb.bisect(defender, gid, b"\x22" * 16)  # a move each: the range halves, the clock passes
            cb.respond(challenger, gid, True)
            (g,) = games()
            assert (g["state"], g["toMove"], g["moves"], g["lo"], g["hi"]) == ("open", "defender", 2, 64, 128)
            cb.mine(clock + 1)  # the defender lets its clock run out
            (g,) = games()
            assert g["defenderBlocksLeft"] == 0 and g["toMove"] == "defender"
            cb.timeout(challenger, gid)
            (g,) = games()
            assert (g["state"], g["reason"], g["winner"], g["toMove"]) == ("challenger won", "timeout",
                                                                         challenger.address, None)
            assert g["defenderBlocksLeft"] is None and g["challengerBlocksLeft"] is None  # its clocks stopped
        finally:
            data.close()
