"""cb-dispute check/open/status/claim in process against the py-evm devnet behind its JSON-RPC server.

A real chain (py-evm with the contracts, reached over HTTP like any other process would), a
trainer committing real kernel windows through the bindings (one of them tampered), three
staked validators that replay with the validator library and vote, and the CLI's ``main``
called with argv. Every test ends with the ENERGY audit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devnet.bindings import ChainBeasts, Outcome, WindowStatus
from devnet.launch import RunningDevnet, launch
from tests.e2e.helpers import BindingTrainer, audit_energy, mine, write_key_file
from validator import dispute_cli
from validator.dispute import read_window, check_window

STAKE = 100 * 10**18
PARAMS = {"challenge_period": 200, "voting_period": 8, "validator_quorum": 2}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevnet]:
    run = tmp_path_factory.mktemp("devnet")
    n = launch("pyevm", port=0, run_dir=run, accounts=8, params=PARAMS)
    try:
        for v in n.accounts[4:7]:
            n.chain.register_validator(v, STAKE)
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


def vote_by_replay(net: RunningDevnet, dispute_id: int, validators: list[Any], *, wrong: set[int] = frozenset()) -> None:
    """Each validator replays the disputed window (validator library) and votes the word it computed."""
    chain = net.chain
    info = chain.dispute(dispute_id)
    w = read_window(chain, info.beast_id, info.index + 1)
    r = check_window(chain, w, None)
    for i, v in enumerate(validators):
        word = r.computed_word if i not in wrong else bytes(32 - 1) + b"\x01"
        chain.vote(v, dispute_id, word)


def test_check_open_status_claim_on_a_tampered_window(net: RunningDevnet, deployments: Path, challenger_key: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    chain: ChainBeasts = net.chain
    since = chain.block_number()
    trainer = BindingTrainer.hatch(chain, net.accounts[1])
    trainer.commit_next()
    trainer.commit_next()
    trainer.commit_next(tamper="h128")
    b = trainer.beast_id
    common = ["--deployments", deployments, "--json"]

    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 2, *common)
    assert code == 0 and out["verdict"] == "match" and out["startState"].startswith("rebuilt from genesis")
    bond = int(out["bond"])
    assert bond == 2 * int.from_bytes(trainer.words[1][20:28], "big")

    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 3, *common)
    assert code == 1 and out["verdict"] == "diverged" and out["mismatchedFields"] == ["h128"]

    # An honest window: refused unless --force, nothing sent.
    before = chain.balance_of(net.accounts[2])
    code, _, err = cli(capsys, "open", "--beast", b, "--window", 2, "--yes", "--private-key-file", challenger_key, *common)
    assert code == 1 and "replays to its committed word" in err
    # No TTY and no --yes: refused.
    code, _, err = cli(capsys, "open", "--beast", b, "--window", 3, "--private-key-file", challenger_key, *common)
    assert code == 1 and "--yes" in err
    assert chain.balance_of(net.accounts[2]) == before and chain.window_status(b, 2) == WindowStatus.COMMITTED

    code, out, _ = cli(capsys, "open", "--beast", b, "--window", 3, "--yes", "--private-key-file", challenger_key, *common)
    assert code == 0, out
    did = out["disputeId"]
    escrow = int.from_bytes(trainer.words[2][20:28], "big")
    assert chain.balance_of(net.accounts[2]) == before - 2 * escrow
    assert chain.window_status(b, 2) == WindowStatus.DISPUTED

    code, out, _ = cli(capsys, "status", did, *common)
    assert code == 0 and out["outcome"] == "open" and out["agree"] == 0 and not out["resolvable"]
    code, _, err = cli(capsys, "claim", did, "--private-key-file", challenger_key, *common)
    assert code == 1 and "still open" in err

    validators = net.accounts[4:7]
    vote_by_replay(net, did, validators, wrong={2})
    code, out, _ = cli(capsys, "status", did, *common)
    assert out["against"] == 3 and out["resolvable"]  # the wrong word also votes against the trainer

    code, out, _ = cli(capsys, "claim", did, "--private-key-file", challenger_key, *common)
    assert code == 0 and out["resolvedNow"] == "diverged"
    share = escrow // 2 // 3
    assert int(out["amount"]) == 2 * escrow + escrow - 3 * share
    assert chain.balance_of(net.accounts[2]) == before + escrow - 3 * share
    assert chain.window_status(b, 2) == WindowStatus.SLASHED
    for v in validators:
        assert chain.credit_of(v) == share

    code, _, err = cli(capsys, "claim", "--private-key-file", challenger_key, *common)
    assert code == 1 and "nothing to claim" in err
    a = audit_energy(chain, since)
    assert a.minted_since == 0 and a.burned_since == 0


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
    code, _, err = cli(capsys, "open", "--beast", b, "--window", 2, "--dataset", dataset, "--secret-file", wrong_path,
                       "--yes", *key, *common)
    assert code == 1 and "secret commitment" in err, err
    assert wrong.reveal().hex() not in err and secret.reveal().hex() not in err
    other = tmp_path / "other.cbd.zst"
    other.write_bytes(encode_dataset(read_csv(EXAMPLE_CSV)[:50]))
    code, _, err = cli(capsys, "open", "--beast", b, "--window", 2, "--dataset", other, "--secret-file", secret_path,
                       "--yes", *key, *common)
    assert code == 1 and "C_dataset" in err
    assert chain.balance_of(net.accounts[2]) == before

    code, out, _ = cli(capsys, "check", "--beast", b, "--window", 2, "--dataset", dataset, "--secret-file", secret_path, *common)
    assert code == 1 and out["mismatchedFields"] == ["flags"]
    code, out, _ = cli(capsys, "open", "--beast", b, "--window", 2, "--dataset", dataset, "--secret-file", secret_path,
                       "--yes", *key, *common)
    assert code == 0
    did = out["disputeId"]
    # The dataset and secret went on chain in the calldata, as validators need them.
    data, s = chain.dispute_dataset(did)
    assert data == dataset.read_bytes() and s == secret.reveal()

    # Nobody votes: after the voting period the dispute resolves as NoQuorum and the bond comes back.
    mine(net.url, PARAMS["voting_period"] + 1)
    code, out, _ = cli(capsys, "claim", did, *key, *common)
    assert code == 0 and out["resolvedNow"] == "no_quorum"
    assert chain.balance_of(net.accounts[2]) == before
    assert chain.dispute(did).outcome == Outcome.NO_QUORUM
    assert chain.window_status(b, 1) == WindowStatus.FINALIZED
    audit_energy(chain)


def test_usage_errors(deployments: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], net: RunningDevnet) -> None:
    loose = tmp_path / "loose.key"
    loose.write_text("0x" + bytes(net.accounts[2].key).hex())
    loose.chmod(0o644)
    code, _, err = cli(capsys, "claim", "--private-key-file", loose, "--deployments", deployments)
    assert code == 2 and "chmod 600" in err and bytes(net.accounts[2].key).hex() not in err
    code, _, err = cli(capsys, "claim", "--deployments", deployments)
    assert code == 2 and "--keystore" in err
    code, _, err = cli(capsys, "status", 1, "--deployments", tmp_path / "missing.json")
    assert code == 2
    code, _, err = cli(capsys, "status", 999, "--deployments", deployments)
    assert code == 4 and "DisputeNotFound" in err  # the chain says no: a chain error
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
    code, _, err = cli(capsys, "claim", "--keystore", ks, "--password-file", pw, "--deployments", deployments)
    assert code == 1 and acct.address in err and "nothing to claim" in err
    monkeypatch.setenv("CB_DISPUTE_PASSWORD", "wrong")
    code, _, err = cli(capsys, "claim", "--keystore", ks, "--deployments", deployments)
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
    code, _, err = cli(capsys, "open", "--beast", b, "--window", 2, "--private-key-file", challenger_key, *common)
    assert code == 1 and "not confirmed" in err and "[y/N]" in err
    assert chain.balance_of(net.accounts[2]) == before
    # Without an allowance the tool approves exactly the bond first.
    game = chain.addresses["DisputeGame"]
    chain.sender.resync(net.accounts[2].address)
    chain.approve(net.accounts[2], game, 0)
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = cli(capsys, "open", "--beast", b, "--window", 2, "--private-key-file", challenger_key, *common)
    assert code == 0 and chain.dispute(out["disputeId"]).outcome == Outcome.OPEN
    assert out["gas"]["approve"] > 0 and chain.allowance(net.accounts[2].address, game) == 0
    chain.sender.resync(net.accounts[2].address)
    chain.approve(net.accounts[2], game)
    mine(net.url, PARAMS["voting_period"] + 1)
    code, out, _ = cli(capsys, "claim", "--beast", b, "--window", 2, "--private-key-file", challenger_key, *common)
    assert code == 0 and out["resolvedNow"] == "no_quorum"
    audit_energy(chain)


@pytest.mark.parametrize("command", [[], ["check"], ["open"], ["status"], ["claim"]])
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
    code, _, err = cli(capsys, "open", "--beast", b, "--window", 3, "--yes", "--private-key-file", challenger_key, *common)
    assert code == 1 and "dispute window 2 instead" in err
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


def test_which_dispute_arguments_are_checked_before_connecting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nowhere = tmp_path / "nowhere.json"  # never read: the arguments are refused first
    key = tmp_path / "k"
    key.write_text("0x" + "11" * 32)
    key.chmod(0o600)
    for argv, message in ((["status"], "give a dispute ID"),
                          (["status", "1", "--beast", "1", "--window", "1"], "not both"),
                          (["claim", "--beast", "1", "--private-key-file", key], "go together"),
                          (["status", "1", "--resolve", "--private-key-file", key], "--resolve only works with --watch")):
        code, _, err = cli(capsys, *argv, "--deployments", nowhere)
        assert code == 2 and message in err, (argv, err)


@pytest.mark.parametrize("fault", ["invalid file", "records root"])
def test_a_beast_committed_to_an_invalid_dataset_checks_diverged(net: RunningDevnet, deployments: Path, challenger_key: Path,
                                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                                 fault: str) -> None:
    """Issue 14 item 5: a trainer hatched with the keccak of a file that is not a valid dataset. The
    challenger holds exactly that file: check says diverged (SPEC §10.6, the trainer's fault) and open
    proceeds without --force, instead of refusing on a replay error. The same for a spec version 2
    beast hatched with a valid file but another recordsRoot than the file's (SPEC §10.2)."""
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
    if fault == "invalid file":
        junk.write_bytes(b"CBDS" + bytes(range(1, 256)) * 8)
    else:
        write_dataset(junk, read_csv(EXAMPLE_CSV))  # a valid file: only its records root is wrong
    secret_path = tmp_path / "owner.secret"
    secret = new_secret_file(secret_path)
    # Beast.hatch cannot see the file: any non-zero recordsRoot passes, the owner's own fault.
    b = chain.hatch(net.accounts[3], keccak(junk.read_bytes()), secret.commitment, keccak(b"not this file's records"))
    hatch = LedgerChainReader(chain).beast_commitments(b)
    chain.commit(net.accounts[3], b, train_window(genesis(hatch.seed_core, hatch.params, spec_version=hatch.spec_version),
                                                  PublicSource(), epoch_seed=hatch.seed_core).payload.pack())
    common = ["--deployments", deployments, "--json"]
    files = ["--dataset", junk, "--secret-file", secret_path]
    code, out, err = cli(capsys, "check", "--beast", b, "--window", 1, *files, *common)
    why = "not a valid dataset file" if fault == "invalid file" else "not the hatch's recordsRoot"
    assert code == 1 and out["verdict"] == "diverged" and why in out["reason"] and "SPEC §10.6" in out["reason"], (out, err)
    code, out, err = cli(capsys, "open", "--beast", b, "--window", 1, *files, "--yes", "--private-key-file", challenger_key, *common)
    assert code == 0, err
    assert secret.reveal().hex() not in err
    assert chain.dispute(out["disputeId"]).outcome == Outcome.OPEN
    mine(net.url, PARAMS["voting_period"] + 1)  # nobody votes here (tests/validator/test_chain.py has the watcher's vote)
    assert cli(capsys, "claim", out["disputeId"], "--private-key-file", challenger_key, *common)[0] == 0
    audit_energy(chain)
