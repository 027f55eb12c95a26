"""cb-dispute check/challenge/play/status/claim in process against a devnet behind its JSON-RPC server.

A real chain (anvil where it is installed, else the py-evm engine: tests/engines.py; with the contracts,
reached over HTTP like any other process would), a
trainer committing real kernel windows through the bindings (one of them tampered) and defending
them with the bisection player (``validator.bisection.play_defender`` in a thread, its honest step
states), and the CLI's ``main`` called with argv: it checks the window, commits and reveals the
challenge, plays the game to the end and claims the reward.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.bindings import ChainBeasts, WindowStatus
from devnet.launch import RunningDevnet, launch
from tests.e2e.helpers import BindingTrainer, mine, write_key_file
from tests.engines import fastest_engine
from validator import dispute_cli

PARAMS = {"challenge_period": 400}
CLOCK = 40  # blocks per side: a game of 17 blocks fits in it while a second game on its window waits


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevnet]:
    run = tmp_path_factory.mktemp("devnet")
    n = launch(fastest_engine(), port=0, run_dir=run, accounts=8, params=PARAMS, game_clock_blocks=CLOCK)
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def deployments(net: RunningDevnet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from devnet.connect import write_deployments

    path = tmp_path_factory.mktemp("deploy") / "deployments.json"
    write_deployments(path, net.deployments)
    return path


@pytest.fixture(scope="module")
def challenger_key(net: RunningDevnet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_key_file(tmp_path_factory.mktemp("keys") / "challenger.key", net.accounts[2])


def cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, Any, str]:
    """Run cb-dispute in process; returns (exit code, parsed JSON stdout or text, stderr)."""
    code = dispute_cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    try:
        parsed: Any = json.loads(out)
    except ValueError:
        parsed = out
    return code, parsed, err


class Defender:
    """The trainer defending window ``k`` of its beast with its honest step states, in a thread
    (``validator.bisection.play_defender``, one move whenever it is the defender's).

    New games are found in the GameOpened logs of the blocks mined since the last poll (none can
    open before the window's commit): the py-evm server's ``eth_getLogs`` reads every receipt of
    its block range, so scanning from the deployment at every poll would cost more with every
    block the module's chain has mined."""

    def __init__(self, trainer: BindingTrainer, k: int, *, silent: bool = False, mine_url: str | None = None) -> None:
        from kernel.step import window_step_states
        from validator.bisection import StatesSource, window_start

        chain = trainer.chain
        word = chain.word(trainer.beast_id, k - 1)
        seed = chain.epoch_seed(trainer.beast_id, trainer.states[k - 1].params.epoch_of_window(k))
        # the defender only claims hashes (the challenger proves): no sample needed
        self.source = StatesSource(window_step_states(trainer.states[k - 1], trainer.source, window_start(word, seed)))
        self.trainer, self.k, self.silent, self.mine_url = trainer, k, silent, mine_url
        self.stop = threading.Event()
        self.moves = 0
        self.games: list[int] = []
        self.next_block = trainer.commit_blocks[k - 1]  # the first block not yet scanned for GameOpened
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        from devnet.errors import LedgerError
        from validator.bisection import play_defender, read_game

        chain = self.trainer.chain
        while not self.stop.wait(0.05):
            if self.mine_url:
                mine(self.mine_url, 1)  # the clock runs on a quiet devnet
            if self.silent:
                continue
            latest = chain.block_number()
            if latest >= self.next_block:  # anvil refuses a range that starts after its head
                found = chain.games_of_window(self.trainer.beast_id, self.k - 1, from_block=self.next_block)
                self.games += [g for g in found if g not in self.games]
                self.next_block = latest + 1  # blocks after ``latest`` may be scanned twice, none is skipped
            for gid in self.games:
                try:
                    if read_game(chain, gid).open and play_defender(chain, self.trainer.account, gid, self.source):
                        self.moves += 1
                except LedgerError:
                    chain.sender.resync(self.trainer.account.address)  # raced the challenger: next poll

    def __enter__(self) -> Defender:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def test_check_challenge_play_claim_on_a_tampered_window(net: RunningDevnet, deployments: Path, challenger_key: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    chain: ChainBeasts = net.chain
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next()
    trainer.commit_next()
    trainer.commit_next(tamper="h128")
    b = trainer.beast_id
    common = ["--deployments", deployments, "--json"]
    key = ["--private-key-file", challenger_key]

    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 2, *common)
    assert code == 0 and out["verdict"] == "match" and out["startState"].startswith("rebuilt from genesis")
    bond = int(out["bond"])
    assert bond == 2 * int.from_bytes(trainer.words[1][20:28], "big") and out["challengeable"]

    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 3, *common)
    assert code == 1 and out["verdict"] == "diverged" and out["mismatchedFields"] == ["h128"]

    # An honest window: refused unless --force, nothing sent.
    before = chain.balance_of(net.accounts[2])
    code, _, err = cli(capsys, "challenge", "--beast", b, "--window", 2, "--yes", *key, *common)
    assert code == 1 and "replays to its committed word" in err
    # No TTY and no --yes: refused.
    code, _, err = cli(capsys, "challenge", "--beast", b, "--window", 3, *key, *common)
    assert code == 1 and "--yes" in err
    assert chain.balance_of(net.accounts[2]) == before and chain.window_status(b, 2) == WindowStatus.COMMITTED

    with Defender(trainer, 3) as defender:
        code, out, err = cli(capsys, "challenge", "--beast", b, "--window", 3, "--yes", "--interval", "0.05", *key, *common)
    assert code == 0, err
    gid = out["gameId"]
    assert out["game"]["outcome"] == "challenger_won" and (out["game"]["lo"], out["game"]["hi"]) == (127, 128)
    assert defender.moves == 7 and [m["move"] for m in out["moves"]] == ["respond"] * 7 + ["prove_step"]
    assert set(out["gas"]) >= {"commitChallenge", "challenge"}
    reward = int(out["claim"]["amount"])
    assert reward > 0 and out["claim"]["to"] == net.accounts[2].address
    assert chain.balance_of(net.accounts[2]) == before + reward  # the bond came back, the reward came on top
    assert chain.window_status(b, 2) == WindowStatus.SLASHED

    code, out, _ = cli(capsys, "status", "--beast", b, "--window", 3, *common)
    assert code == 0 and [g["gameId"] for g in out["games"]] == [gid]
    game = out["games"][0]
    assert game["outcome"] == "challenger_won" and game["toMove"] is None and game["pot"]["claimed"]
    events = [m["event"] for m in game["moves"]]
    assert events == ["GameOpened"] + ["Bisected", "Responded"] * 7 + ["StepProved", "GameEnded"], events
    code, text, _ = cli(capsys, "status", gid, "--deployments", deployments)
    assert code == 0 and f"game {gid}: beast {b} window 3  challenger_won" in text

    code, _, err = cli(capsys, "claim", gid, *key, *common)
    assert code == 1 and "claimed already" in err


def test_private_beast_commitments_checked_before_spending(net: RunningDevnet, deployments: Path, challenger_key: Path,
                                                           capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from curriculum import encode_dataset, new_secret_file
    from curriculum.importers import read_csv
    from tests.e2e.helpers import EXAMPLE_CSV

    chain = net.chain
    dataset = tmp_path / "battles.cbd.zst"
    dataset.write_bytes(encode_dataset(read_csv(EXAMPLE_CSV)))
    secret_path, wrong_path = tmp_path / "owner.secret", tmp_path / "wrong.secret"
    secret, wrong = new_secret_file(secret_path), new_secret_file(wrong_path)
    trainer = BindingTrainer.hatch(chain, net.accounts[3], dataset=dataset.read_bytes(), secret=secret.reveal())
    trainer.commit_next()
    trainer.commit_next(tamper="loss-flag")
    b = trainer.beast_id
    common = ["--deployments", deployments, "--json"]
    key = ["--private-key-file", challenger_key]
    before = chain.balance_of(net.accounts[2])

    code, _, err = cli(capsys, "check", "--beast", b, "--window", 1, *common)
    assert code == 2 and "--dataset" in err
    code, _, err = cli(capsys, "challenge", "--beast", b, "--window", 2, "--dataset", dataset, "--secret-file", wrong_path,
                       "--yes", *key, *common)
    assert code == 1 and "secret commitment" in err, err
    assert wrong.reveal().hex() not in err and secret.reveal().hex() not in err
    other = tmp_path / "other.cbd.zst"
    other.write_bytes(encode_dataset(read_csv(EXAMPLE_CSV)[:50]))
    code, _, err = cli(capsys, "challenge", "--beast", b, "--window", 2, "--dataset", other, "--secret-file", secret_path,
                       "--yes", *key, *common)
    assert code == 1 and "C_dataset" in err
    assert chain.balance_of(net.accounts[2]) == before

    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 2, "--dataset", dataset, "--secret-file", secret_path, *common)
    assert code == 1 and out["mismatchedFields"] == ["flags"]
    # The word's h128 is right, its LOSS_DROPPED flag is not: the final state proves it at once, no defender needed.
    code, out, err = cli(capsys, "challenge", "--beast", b, "--window", 2, "--dataset", dataset, "--secret-file", secret_path,
                         "--yes", *key, *common)
    assert code == 0, err
    assert [m["move"] for m in out["moves"]] == ["prove_word_lie"] and out["game"]["outcome"] == "challenger_won"
    assert secret.reveal().hex() not in json.dumps(out) + err
    assert chain.balance_of(net.accounts[2]) == before + int(out["claim"]["amount"])
    assert chain.window_status(b, 1) == WindowStatus.SLASHED


def test_usage_errors(deployments: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], net: RunningDevnet) -> None:
    loose = tmp_path / "loose.key"
    loose.write_text("0x" + bytes(net.accounts[2].key).hex())
    loose.chmod(0o644)
    code, _, err = cli(capsys, "claim", "1", "--private-key-file", loose, "--deployments", deployments)
    assert code == 2 and "chmod 600" in err and bytes(net.accounts[2].key).hex() not in err
    code, _, err = cli(capsys, "claim", "1", "--deployments", deployments)
    assert code == 2 and "--keystore" in err
    code, _, err = cli(capsys, "status", 1, "--deployments", tmp_path / "missing.json")
    assert code == 2
    code, _, err = cli(capsys, "status", 999, "--deployments", deployments)
    assert code == 4 and "GameNotFound" in err  # the chain says no: a chain error
    code, _, err = cli(capsys, "check", "--beast", 1, "--window", 99, "--deployments", deployments)
    assert code == 4 and "not committed" in err
    with pytest.raises(SystemExit) as e:
        dispute_cli.main(["check", "--beast", "0", "--window", "1"])
    assert e.value.code == 2


def test_keystore_with_password_file(deployments: Path, tmp_path: Path, net: RunningDevnet,
                                     capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from eth_account import Account

    acct = net.accounts[7]
    ks = tmp_path / "ks.json"
    ks.write_text(json.dumps(Account.encrypt(acct.key, "hunter2", iterations=2)))
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    pw.chmod(0o600)
    code, _, err = cli(capsys, "claim", "999", "--keystore", ks, "--password-file", pw, "--deployments", deployments)
    assert code == 4 and "GameNotFound" in err  # the key loaded; the chain has no such game
    monkeypatch.setenv("CB_DISPUTE_PASSWORD", "wrong")
    code, _, err = cli(capsys, "claim", "999", "--keystore", ks, "--deployments", deployments)
    assert code == 2 and "wrong password" in err and "hunter2" not in err


def test_check_through_a_validator_service_and_confirmation_prompt(
        net: RunningDevnet, deployments: Path, challenger_key: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from validator.service import create_server

    chain = net.chain
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next()
    trainer.commit_next(tamper="loss-flag")
    b = trainer.beast_id
    common = ["--deployments", deployments, "--json"]
    server, port = create_server("127.0.0.1:0", "numpy", max_concurrent=1)
    try:
        code, out, _ = cli(capsys, "check", "--beast", b, "--window", 1, "--validator", f"127.0.0.1:{port}", *common)
        assert code == 0 and out["verdict"] == "match" and out["replayedBy"].startswith("validator 127.0.0.1")
        code, out, _ = cli(capsys, "check", "--beast", b, "--window", 2, "--validator", f"127.0.0.1:{port}", *common)
        assert code == 1 and out["mismatchedFields"] == ["flags"]
    finally:
        server.stop(0.5)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    before = chain.balance_of(net.accounts[2])
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, _, err = cli(capsys, "challenge", "--beast", b, "--window", 2, "--private-key-file", challenger_key, *common)
    assert code == 1 and "not confirmed" in err and "[y/N]" in err
    assert chain.balance_of(net.accounts[2]) == before
    # Without an allowance the tool approves exactly the bond first; --no-play opens the game and stops.
    game = chain.addresses["BisectionGame"]
    chain.sender.resync(net.accounts[2].address)
    chain.approve(net.accounts[2], game, 0)
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = cli(capsys, "challenge", "--beast", b, "--window", 2, "--no-play", "--private-key-file", challenger_key,
                       *common)
    assert code == 0 and chain.game_of(out["gameId"]).is_open
    assert out["gas"]["approve"] > 0 and chain.allowance(net.accounts[2].address, game) == 0
    chain.sender.resync(net.accounts[2].address)
    chain.approve(net.accounts[2], game)
    code, out, _ = cli(capsys, "play", out["gameId"], "--no-claim", "--private-key-file", challenger_key, *common)
    assert code == 0 and out["game"]["outcome"] == "challenger_won" and out["claim"] is None
    code, out, _ = cli(capsys, "claim", "--beast", b, "--window", 2, "--private-key-file", challenger_key, *common)
    assert code == 0 and int(out["amount"]) > 0


def test_a_silent_defender_loses_on_time_and_a_lost_game_exits_1(net: RunningDevnet, deployments: Path,
                                                                  challenger_key: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    chain = net.chain
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next(tamper="h128")
    trainer.commit_next()
    b = trainer.beast_id
    common = ["--deployments", deployments, "--json", "--private-key-file", challenger_key, "--interval", "0.05"]
    with Defender(trainer, 1, silent=True, mine_url=net.url):
        code, out, err = cli(capsys, "challenge", "--beast", b, "--window", 1, "--yes", *common)
    assert code == 0, err
    assert [m["move"] for m in out["moves"]] == ["timeout"] and out["game"]["outcome"] == "challenger_won"
    # Window 2 is honest on top of the slashed window 1: it was voided with the rewind.
    assert chain.window_status(b, 1) == WindowStatus.VOIDED
    # Off the lineage (window count 0) but not cleared yet: the slashed window still reads, and checks diverged.
    assert chain.window_count(b) == 0
    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 1, "--deployments", deployments, "--json")
    assert code == 1 and out["status"] == "slashed" and not out["challengeable"]
    # A challenge of an honest window (--force) loses to the honest defender: exit 1, the bond is the defender's.
    honest = BindingTrainer.hatch(chain, net.accounts[3])
    honest.commit_next()
    before = chain.balance_of(net.accounts[2])
    with Defender(honest, 1):
        code, out, err = cli(capsys, "challenge", "--beast", honest.beast_id, "--window", 1, "--yes", "--force", *common)
    assert code == 1 and out["game"]["outcome"] == "defender_won", err
    assert chain.balance_of(net.accounts[2]) == before - int(out["bond"])


def test_play_stops_at_its_timeout_and_resumes(net: RunningDevnet, deployments: Path, challenger_key: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    chain = net.chain
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next(tamper="h128")
    b = trainer.beast_id
    common = ["--deployments", deployments, "--json", "--private-key-file", challenger_key]
    code, out, _ = cli(capsys, "challenge", "--beast", b, "--window", 1, "--yes", "--no-play", *common)
    assert code == 0
    gid = out["gameId"]
    # The defender has not moved yet: nothing to send; the tool gives up at --timeout, the game still open.
    code, out, err = cli(capsys, "play", gid, "--timeout", "0.3", "--interval", "0.1", *common)
    assert code == 4 and out["game"]["outcome"] == "open" and out["moves"] == [], err
    code, out, _ = cli(capsys, "status", gid, *common)
    assert code == 0 and out["toMove"] == "defender" and out["blocksLeft"] > 0
    with Defender(trainer, 1):
        code, out, err = cli(capsys, "play", gid, "--interval", "0.05", *common)
    assert code == 0 and out["game"]["outcome"] == "challenger_won", err
    code, out, _ = cli(capsys, "play", gid, *common)  # a finished game: nothing to play, the reward was claimed
    assert code == 0 and out["moves"] == [] and "claimed already" in out["claim"]["refused"]


def test_a_second_game_on_a_window_another_game_slashed_plays_on(net: RunningDevnet, deployments: Path,
                                                                  challenger_key: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Two challengers on one wrong window: the first to commit wins the reward; the second's game goes on
    after the slash took the window off the lineage, and wins its bond back only."""
    chain = net.chain
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next(tamper="h128")
    b = trainer.beast_id
    second_key = write_key_file(tmp_path / "second.key", net.accounts[5])
    first, second = (["--deployments", deployments, "--json", "--private-key-file", k, "--interval", "0.05"]
                     for k in (challenger_key, second_key))
    ids = []
    for common in (first, second):
        code, out, err = cli(capsys, "challenge", "--beast", b, "--window", 1, "--yes", "--no-play", *common)
        assert code == 0, err
        ids.append(out["gameId"])
    before = chain.balance_of(net.accounts[5])
    with Defender(trainer, 1):
        code, out, err = cli(capsys, "play", ids[0], "--no-claim", *first)
        assert code == 0 and out["game"]["outcome"] == "challenger_won", err
        assert chain.window_status(b, 0) == WindowStatus.SLASHED and chain.window_count(b) == 0
        code, out, err = cli(capsys, "play", ids[1], *second)  # the window is off the lineage; the game is not
    assert code == 0 and out["game"]["outcome"] == "challenger_won", err
    reward = int(out["claim"]["amount"])
    assert out["claim"]["to"] == net.accounts[2].address  # the earliest commitment's challenger, not the second
    assert chain.balance_of(net.accounts[5]) == before + int(out["game"]["bond"]) and reward > 0  # its bond back only


@pytest.mark.parametrize("command", [[], ["check"], ["challenge"], ["play"], ["status"], ["claim"]])
def test_help_documents_exit_codes(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        dispute_cli.main([*command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "divergence found" in out
    if command:
        assert "--deployments" in out and "--private-key-file" in out and "--keystore" in out


def test_state_file_malformed_word_and_earlier_divergence(net: RunningDevnet, deployments: Path, tmp_path: Path,
                                                          challenger_key: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kernel.state import encode_state_blob

    chain = net.chain
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next()
    trainer.commit_next(tamper="reserved-flag")
    trainer.commit_next()
    b = trainer.beast_id
    common = ["--deployments", deployments, "--json"]

    good = tmp_path / "w1.cbs.zst"
    good.write_bytes(encode_state_blob(trainer.states[1]))
    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 2, "--state-file", good, *common)
    assert code == 1 and out["startState"] == f"state file {good}" and "malformed" in out["reason"]
    # A checkpoint of another window is refused as data that does not belong to the chain.
    code, _, err = cli(capsys, "check", "--beast", b, "--window", 2, "--state-file", tmp_path / "missing", *common)
    assert code == 3 and "cannot open state file" in err  # an unreadable data file: a data error
    wrong = tmp_path / "w0.cbs.zst"
    wrong.write_bytes(encode_state_blob(trainer.states[0]))
    code, _, err = cli(capsys, "check", "--beast", b, "--window", 2, "--state-file", wrong, *common)
    assert code == 3 and "hashes to" in err and "window 1" in err, err

    # Window 3 cannot be checked from the chain's lineage: window 2 is the one to dispute.
    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 3, *common)
    assert code == 1 and out["divergentWindow"] == 2 and "dispute window 2" in out["reason"]
    code, _, err = cli(capsys, "challenge", "--beast", b, "--window", 3, "--yes", "--private-key-file", challenger_key, *common)
    assert code == 1 and "challenge window 2 instead" in err
    # An unreachable node is not fatal for the challenger: the start state is rebuilt from genesis.
    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 1, "--node", "127.0.0.1:9", *common)
    assert code == 0 and out["verdict"] == "match"


def test_rebuild_across_an_epoch_boundary(net: RunningDevnet, deployments: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = net.chain
    epoch_windows = chain.params()["epoch_steps"] // 128
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    for _ in range(epoch_windows + 1):
        trainer.commit_next()
    trainer.commit_next(tamper="h128")
    b, last = trainer.beast_id, epoch_windows + 2
    assert chain.epoch_seed(b, 1) != chain.epoch_seed(b, 0)
    for k in (epoch_windows, epoch_windows + 1):  # the last window of epoch 0, the first of epoch 1
        code, out, _ = cli(capsys, "check", "--beast", b, "--window", k, "--deployments", deployments, "--json")
        assert code == 0 and out["verdict"] == "match", out
    code, out, _ = cli(capsys, "check", "--beast", b, "--window", last, "--deployments", deployments, "--json")
    assert code == 1 and out["divergentWindow"] == last and out["mismatchedFields"] == ["h128"]
    assert out["startState"] == f"rebuilt from genesis ({last - 1} windows replayed)"


def test_which_game_arguments_are_checked_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = tmp_path / "nowhere.json"  # never read: the arguments are refused first
    key = tmp_path / "k"
    key.write_text("0x" + "11" * 32)
    key.chmod(0o600)
    for argv, message in ((["status"], "give a game ID"),
                          (["status", "1", "--beast", "1", "--window", "1"], "not both"),
                          (["claim", "--beast", "1", "--private-key-file", key], "go together"),
                          (["claim", "--private-key-file", key], "give a game ID")):
        code, _, err = cli(capsys, *argv, "--deployments", nowhere)
        assert code == 2 and message in err, (argv, err)


@pytest.mark.parametrize("fault", ["invalid file", "records root", "invalid record"])
def test_a_beast_committed_to_an_invalid_dataset_checks_diverged(net: RunningDevnet, deployments: Path, challenger_key: Path,
                                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                 fault: str) -> None:
    """Issue 14 item 5: a trainer hatched with the keccak of a file that is not a valid dataset. The
    challenger holds exactly that file: check says diverged (SPEC §10.6, the trainer's fault). The same
    for a spec version 2 beast hatched with a valid file but another recordsRoot than the file's (SPEC
    §10.2). ``challenge`` has no step states to play with and refuses before spending anything. A file whose
    records open the recordsRoot but one of which is no board is provable on chain: ``challenge`` wins at
    once with proveInvalidDataset."""
    from eth_utils import keccak

    from curriculum import new_secret_file, write_dataset
    from curriculum.importers import read_csv
    from kernel.sources import PublicSource
    from kernel.state import genesis
    from kernel.train import train_window
    from node.demo import EXAMPLE_CSV
    from validator.chain import LedgerChainReader

    chain = net.chain
    assert chain.spec_version() == 2  # the devnet's default season
    junk = tmp_path / "junk.cbd.zst"
    records_root = keccak(b"not this file's records")
    if fault == "invalid file":
        junk.write_bytes(b"CBDS" + bytes(range(1, 256)) * 8)
    elif fault == "invalid record":
        from tests.validator.bisection_lineages import invalid_dataset

        data, records_root = invalid_dataset(bad_at=2)
        junk.write_bytes(data)
    else:
        write_dataset(junk, read_csv(EXAMPLE_CSV))  # a valid file: only its records root is wrong
    secret_path = tmp_path / "owner.secret"
    secret = new_secret_file(secret_path)
    # Beast.hatch cannot see the file: any non-zero recordsRoot passes, the owner's own fault.
    b = chain.hatch(net.accounts[3], keccak(junk.read_bytes()), secret.commitment, records_root)
    hatch = LedgerChainReader(chain).beast_commitments(b)
    chain.commit(net.accounts[3], b, train_window(genesis(hatch.seed_core, hatch.params, spec_version=hatch.spec_version),
                                                  PublicSource(), epoch_seed=hatch.seed_core).payload.pack())
    common = ["--deployments", deployments, "--json"]
    files = ["--dataset", junk, "--secret-file", secret_path]
    code, out, err = cli(capsys, "check", "--beast", b, "--window", 1, *files, *common)
    why = "not the hatch's recordsRoot" if fault == "records root" else "not a valid dataset file"
    assert ("a challenge wins with proveInvalidDataset" in out["reason"]) is (fault == "invalid record")
    assert code == 1 and out["verdict"] == "diverged" and why in out["reason"] and "SPEC §10.6" in out["reason"], (out, err)
    # No step state of a window trained on a file that is no dataset (or not the committed records) exists:
    # there is nothing to play the game with, and nothing is spent.
    before = chain.balance_of(net.accounts[2])
    code, out, err = cli(capsys, "challenge", "--beast", b, "--window", 1, *files, "--yes", "--private-key-file",
                         challenger_key, *common)
    if fault == "invalid record":
        assert code == 0 and [m["move"] for m in out["moves"]] == ["prove_invalid_dataset"], (out, err)
        assert out["moves"][0]["recordIndex"] == 2 and out["game"]["outcome"] == "challenger_won"
        assert chain.window_status(b, 0) == WindowStatus.SLASHED and chain.balance_of(net.accounts[2]) > before
        assert secret.reveal().hex() not in err + json.dumps(out)
        return
    assert code in (1, 3) and secret.reveal().hex() not in err, err
    assert chain.balance_of(net.accounts[2]) == before
