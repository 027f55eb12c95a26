"""The Tavern in a real headless browser: Debian's chromium driven by Selenium through Debian's chromedriver.

A real `cb-node run --http` trains and commits windows on its embedded devnet and serves the Tavern;
the page must show the beast, update as windows commit (no reload), draw the loss and held-out curves,
list disputes, and play a battle on the 8x8 board: the board drawn is the battle the API serves (every
cell's tile colour, each creature on its square) at its last turn and, moved back with the slider, at
its start. A second test shows a bisection game on a real RPC devnet in the disputes view of `cb-node
tavern`, updated in place as it is played and when it ends. A screenshot of each view is kept under
tests/artifacts/tavern/ (ignored by git; the path is printed). Without chromium, chromedriver or selenium
the test is skipped with the reason (.ci/run installs the Debian packages chromium and chromium-driver).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.node.test_cli import ROOT, init_node
from tests.engines import fastest_engine

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
ARTIFACTS = ROOT / "tests" / "artifacts" / "tavern"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--window-size=1280,1000")


def _missing() -> str | None:
    if CHROMIUM is None:
        return "chromium not installed (apt-get install chromium chromium-driver)"
    if CHROMEDRIVER is None:
        return "chromedriver not installed (apt-get install chromium-driver)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium not installed (pip install -c constraints.txt -e '.[test]')"
    return None


pytestmark = [pytest.mark.skipif(_missing() is not None, reason=str(_missing())), pytest.mark.timeout(600)]


@contextmanager
def _process(args: list[str], out: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(out, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "node.cli", *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def _browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="tavern-chromium-") as profile:
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
        try:
            yield driver
        finally:
            driver.quit()


def _wait(what: str, check: Callable[[], Any], timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except Exception:  # noqa: BLE001 - the element may be replaced mid-read by the page's own refresh
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def _latest_window(driver: Any) -> int:
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, "#beasts-table tbody tr[data-beast='1'] td")
    return int(cells[1].text) if len(cells) > 1 and cells[1].text.isdigit() else -1


def test_dashboard_loads_updates_while_windows_commit_and_plays_a_battle(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    node, pw = init_node(tmp_path)
    toml = node / "node.toml"
    toml.write_text(toml.read_text().replace("\neval_every = 8\n", "\neval_every = 4\n"))
    assert "\neval_every = 4\n" in toml.read_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nTavern screenshots: {ARTIFACTS}")
    run_log, ready = tmp_path / "run.log", tmp_path / "ready.json"
    # the node serves the Tavern itself (`cb-node run --http`) while it trains and commits on its embedded devnet
    with _process(["run", "--node-dir", str(node), "--password-file", str(pw), "--hatch", "1", "--until-window", "200",
                   "--http", "127.0.0.1:0", "--ready-file", str(ready)], run_log) as run, _browser() as driver:
        port = _wait("the ready file", lambda: (ready.exists() and json.loads(ready.read_text()).get("httpPort"))
                     or (run.poll() is not None and "exited"), 120)
        assert isinstance(port, int), run_log.read_text()[-2000:]
        url = f"http://127.0.0.1:{port}/"
        assert f"Tavern dashboard at {url}" in run_log.read_text()
        driver.get(url)
        assert driver.title == "ChainBeasts Tavern"
        driver.execute_script("document.documentElement.dataset.probe = 'loaded once';")  # gone if the page reloads

        # Beasts view: the beast appears, then its latest window grows while the page stays loaded.
        first = _wait("beast 1 with a committed window", lambda: _latest_window(driver) >= 1 and _latest_window(driver))
        assert run.poll() is None, run_log.read_text()[-2000:]
        _wait("the page to show a newer window", lambda: _latest_window(driver) > first)
        _wait("a third window", lambda: _latest_window(driver) > first + 1)  # it keeps updating, not once
        assert driver.execute_script(  # updated in place by its own polling: the same document, never reloaded
            "return [document.documentElement.dataset.probe, performance.getEntriesByType('navigation').length]"
        ) == ["loaded once", 1]
        row = driver.find_element(By.CSS_SELECTOR, "#beasts-table tbody tr[data-beast='1']").text
        assert "ENERGY" in row and "0x" in row
        _wait("the windows table", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#windows-table tbody tr")) >= 2)
        rows = {int(r.find_element(By.CSS_SELECTOR, "td:nth-child(1)").text):
                r.find_element(By.CSS_SELECTOR, "td:nth-child(2)").text
                for r in driver.find_elements(By.CSS_SELECTOR, "#windows-table tbody tr")}
        assert set(rows.values()) & {"committed", "finalized"}, rows
        if 0 in rows:
            assert rows[0] == "genesis", rows
        else:  # the page shows the latest 50 windows: a fast node is past window 49 by now (a clean run was)
            assert len(rows) == 50 and min(rows) > 0, rows
            first = driver.execute_async_script(  # the page's own API, as the table reads it
                "const done = arguments[arguments.length - 1];"
                "fetch('/api/beasts/1/windows?start=0&limit=1').then((r) => r.json()).then((d) => done(d.windows[0]));")
            assert (first["window"], first["status"]) == (0, "genesis"), first
        assert "running" in driver.find_element(By.ID, "node-line").text
        driver.save_screenshot(str(ARTIFACTS / "beasts.png"))

        # Curves view: an SVG polyline through one point per window, more as windows commit.
        driver.find_element(By.CSS_SELECTOR, "nav a[data-view='curves']").click()
        points = int(_wait("loss points", lambda: int(driver.find_element(By.ID, "loss-chart").get_attribute("data-points") or 0) >= 2
                           and driver.find_element(By.ID, "loss-chart").get_attribute("data-points")))
        _wait("a loss point more", lambda: int(driver.find_element(By.ID, "loss-chart").get_attribute("data-points") or 0) > points)
        assert driver.find_elements(By.CSS_SELECTOR, "#loss-chart svg polyline.series")
        # held-out figures the node records every eval_every windows (node.toml: 4 here) are drawn as they come
        _wait("held-out points", lambda: int(driver.find_element(By.ID, "acc-chart").get_attribute("data-points") or 0) >= 3)
        names = {e.get_attribute("data-name") for e in driver.find_elements(By.CSS_SELECTOR, "#acc-chart svg polyline.series")}
        assert {"move accuracy", "battles won vs. untrained"} <= names
        driver.save_screenshot(str(ARTIFACTS / "curves.png"))

        # Disputes view: nobody disputed this node's windows.
        driver.find_element(By.CSS_SELECTOR, "nav a[data-view='disputes']").click()
        _wait("the disputes note", lambda: "No disputes" in driver.find_element(By.ID, "disputes-note").text)
        driver.save_screenshot(str(ARTIFACTS / "disputes.png"))

        # Battle view: battle 2 of the latest window is drawn turn by turn on the 8x8 canvas.
        driver.find_element(By.CSS_SELECTOR, "nav a[data-view='battle']").click()
        idx = driver.find_element(By.ID, "battle-index")
        idx.clear()
        idx.send_keys("2")
        driver.find_element(By.CSS_SELECTOR, "#battle-form button[type='submit']").click()
        canvas = driver.find_element(By.ID, "battle-board")
        _wait("the board to be drawn", lambda: canvas.get_attribute("data-drawn") == "1")
        _wait("a played turn", lambda: int(canvas.get_attribute("data-turn") or 0) >= 2)
        # The canvas holds the arena: tiles and both creatures' colours (trained blue, untrained red).
        colours = driver.execute_script("""
            const c = document.getElementById('battle-board'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const seen = {};
            for (let i = 0; i < d.length; i += 4) seen[d[i] + ',' + d[i + 1] + ',' + d[i + 2]] = 1;
            return Object.keys(seen);""")
        assert {"29,79,145", "176,0,32", "239,230,207"} <= set(colours), sorted(colours)[:20]
        caption = driver.find_element(By.ID, "battle-turn").text
        assert "battle 2" in caption
        assert driver.find_elements(By.CSS_SELECTOR, "#battle-log li")
        # ... and it is *this* battle's board: each of the 8x8 cells in its tile's colour, each creature on its
        # square, at the last turn once played through and at the start when the slider is moved back to 0
        battle = _get_json(f"{url}api/beasts/1/battle?battle=2&window={caption.split(',')[0].split()[-1]}")
        assert battle["size"] == 8 and len(battle["tiles"]) == 64 and battle["turns"]
        _wait("the battle played to its end", lambda: int(canvas.get_attribute("data-turn") or 0) == len(battle["turns"]))
        _assert_board(driver, battle, battle["turns"][-1]["creatures"])
        driver.save_screenshot(str(ARTIFACTS / "battle-end.png"))
        driver.execute_script("const s = document.getElementById('battle-slider'); s.value = '0';"
                              "s.dispatchEvent(new Event('input'));")
        assert canvas.get_attribute("data-turn") == "0"
        _assert_board(driver, battle, battle["start"])
        assert len(driver.find_elements(By.CSS_SELECTOR, "#battle-log li")) == 0
        driver.save_screenshot(str(ARTIFACTS / "battle.png"))
        assert driver.find_element(By.ID, "error").text == ""
    for name in ("beasts", "curves", "disputes", "battle", "battle-end"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000


TILE_RGB = {0: (239, 230, 207), 1: (74, 74, 74), 2: (224, 138, 60)}  # app.js TILE_COLOURS
SIDE_RGB = {"trained": (29, 79, 145), "untrained": (176, 0, 32)}  # app.js SIDE_COLOURS


def _get_json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def _assert_board(driver: Any, battle: dict[str, Any], creatures: list[dict[str, int]]) -> None:
    """The canvas shows ``battle``'s 8x8 tiles and ``creatures`` (one per side) where they stand."""
    n = battle["size"]
    # per cell: a point near its lower-left corner (off the grid lines, the creature disc and the hp bar)
    # and, for a creature's cell, a point inside its disc below the letter
    points = [[(i % n) + 0.08, (i // n) + 0.92] for i in range(n * n)]
    points += [[c["x"] + 0.5, c["y"] + 0.8] for c in creatures]
    rgb = driver.execute_script("""
        const c = document.getElementById('battle-board'), ctx = c.getContext('2d'), cell = c.width / arguments[1];
        const at = ([x, y]) => ctx.getImageData(Math.floor(x * cell), Math.floor(y * cell), 1, 1).data;
        return arguments[0].map((p) => Array.from(at(p).slice(0, 3)));
        """, points, n)
    for i, tile in enumerate(battle["tiles"]):
        assert tuple(rgb[i]) == TILE_RGB[tile], (i, tile, rgb[i])
    for k, c in enumerate(creatures):
        assert tuple(rgb[n * n + k]) == SIDE_RGB[battle["sides"][k]], (c, rgb[n * n + k])


def test_disputes_view_shows_a_bisection_game_as_it_is_played(tmp_path: Path) -> None:
    """A node on a real RPC devnet; another account opens a bisection game on its first window; `cb-node tavern`
    shows the game in the browser -- state, side to move, step range, moves, clocks -- and updates it in place as
    the sides move and when it ends."""
    import devnet
    from devnet.launch import launch
    from selenium.webdriver.common.by import By

    from tests.node.tavern_helpers import rpc_node_with_two_windows

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with launch(fastest_engine(), port=0, run_dir=tmp_path / "devnet", accounts=4) as net:
        root = rpc_node_with_two_windows(tmp_path, net)
        cb = devnet.connect(tmp_path / "devnet" / "deployments.json")
        challenger, defender = cb.accounts[2], cb.accounts[1]
        cb.commit_challenge(challenger, 1, 0, b"\x33" * 32)
        gid = cb.challenge(challenger, 1, 0, b"\x33" * 32)
        log = tmp_path / "tavern.log"
        with _process(["tavern", "--node-dir", str(root), "--http", "127.0.0.1:0"], log), _browser() as driver:
            url = _wait("the Tavern's address", lambda: next((w for w in log.read_text().split() if w.startswith("http://")),
                                                            None), 120)
            driver.get(url + "#disputes")

            def row() -> list[str]:
                cells = driver.find_elements(By.CSS_SELECTOR, f"#disputes-table tbody tr[data-game='{gid}'] td")
                return [c.text for c in cells]

            first = _wait("the open game", lambda: (r := row()) and r[3] == "open" and r)
            assert first[:7] == [str(gid), "1", "1", "open", "defender", "0..128", "0"], first
            left = [int(x) for x in first[7].split(" / ")]  # defender / challenger blocks left, out of the clock
            assert left[1] == cb.clock_blocks() and 0 < left[0] <= cb.clock_blocks() and first[8].endswith(" ENERGY")
            driver.execute_script("document.documentElement.dataset.probe = 'loaded once';")
            driver.save_screenshot(str(ARTIFACTS / "disputes-game.png"))
            cb.bisect(defender, gid, b"\x44" * 16)
            cb.respond(challenger, gid, True)
            moved = _wait("the two moves", lambda: (r := row()) and r[6] == "2" and r)
            assert moved[4:6] == ["defender", "64..128"], moved
            cb.mine(cb.clock_blocks() + 1)
            cb.timeout(challenger, gid)
            ended = _wait("the game's end", lambda: (r := row()) and r[3] != "open" and r)
            assert ended[3] == "challenger won (timeout)" and ended[4] == ended[7] == "–", ended
            assert driver.execute_script("return document.documentElement.dataset.probe") == "loaded once"
            driver.save_screenshot(str(ARTIFACTS / "disputes-game-ended.png"))
            assert driver.find_element(By.ID, "error").text == ""
    for name in ("disputes-game", "disputes-game-ended"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000
