"""A zygote for crash tests: one Python process imports a tool's modules once and forks a child per run.

Each crash (``os._exit(137)`` at a named point, validator.crash) is then a real process death without
paying the ~2 s of imports (web3, eth-account, the kernel) again. Its protocol: one JSON request line
(argv, the crash variable and value, the log path), one exit-code line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from validator.crash import CRASH_ENV

ROOT = Path(__file__).resolve().parents[2]

_ZYGOTE = r"""
import importlib, json, os, signal, sys
main = importlib.import_module(sys.argv[1]).main
for name in sys.argv[2:]:
    importlib.import_module(name)
print("ready", flush=True)
for line in sys.stdin:
    argv, crash, log = json.loads(line)
    pid = os.fork()
    if pid == 0:
        signal.alarm(120)  # a child that hangs dies (SIGALRM) instead of hanging the test
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.environ[crash[0]] = crash[1]
        os._exit(main(argv))
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


class Zygote:
    """Runs ``module.main(argv)`` in forked children that die at a crash point (``preload``: more modules
    to import once, those the run would import lazily)."""

    def __init__(self, module: str, preload: list[str]) -> None:
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "proto"), os.environ.get("PYTHONPATH", "")])}
        env.pop(CRASH_ENV, None)
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE, module, *preload], env=env, cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.ready = False  # it imports while the devnet starts

    def run(self, argv: list[str], crash: str, log: Path) -> tuple[int, str]:
        """``main(argv)`` in a forked child dying at ``crash``; (exit code, its stdout and stderr)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if not self.ready:
            assert self.proc.stdout.readline() == "ready\n", "the zygote did not start"
            self.ready = True
        self.proc.stdin.write(json.dumps([argv, [CRASH_ENV, crash], str(log)]) + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline()), log.read_text()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)


# What a challenge killed at each point of validator.challenge_salt leaves (the tools share these points;
# each adds its reveal's): (record status the child left, was the commitment mined, does a game exist).
COMMIT_POINTS = {
    "salt_recorded": ("committing", False, False),
    "commitment_mined": ("committing", True, False),
    "commitment_recorded": ("committed", True, False),
}
REVEALED = ("challenging", True, True)  # killed after its reveal was mined


def zygote_of(module: str, preload: list[str]) -> Iterator[Zygote]:
    """A module fixture's body: a Zygote of ``module``, closed at the end."""
    z = Zygote(module, preload)
    try:
        yield z
    finally:
        z.close()


def crash_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A module fixture's body: a devnet in another process (the children reach it over JSON-RPC)."""
    from devnet.launch import launch
    from tests.engines import fastest_engine

    n = launch(fastest_engine(), port=0, run_dir=tmp_path_factory.mktemp("devnet"), accounts=6,
               params={"challenge_period": 400})
    try:
        yield n
    finally:
        n.stop()
