"""The dispute path end to end with real processes on 127.0.0.1 (tests/e2e/cluster.py).

One cluster serves every scenario: anvil through ``cb-devnet up``, a ``cb-node`` that trained
two windows of six beasts and now only serves checkpoints, three ``cb-validator watch``
processes (quorum 2) and a fourth staked validator the tests drive by hand (the one that
votes wrong). Each scenario disputes its own beast, so the scenarios do not depend on each
other; the order matters only for the processes they stop (the node in scenario 5, the
watchers in scenario 6). Every scenario ends with the ENERGY audit (helpers.audit_energy):
balances rebuilt from Transfer logs, nothing minted, burns only for finalized windows, and the
ledger and the game holding exactly what the protocol says.

What the protocol says (docs/PROTOCOL.md §5-6) and the scenarios check:
* Upheld: half the bond to the agreeing voters, the rest to the owner; the window finalizes.
* Diverged: half the escrow to the voters against, bond + the rest to the challenger.
* NoQuorum (nobody voted in time): the bond back to the challenger; the window finalizes.
* A vote of 0x0 (start state unavailable) counts against the trainer.
* A validator on the losing side of a decided dispute loses WrongVoteSlashBps (10 %) of its
  stake, which the winners share on top of the half of the bond or escrow; it gains nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devnet.bindings import Outcome, Param, Vote, WindowStatus
from bench.cluster import BIN, Cluster, commit_window3, start_cluster, wait_until
from tests.e2e.helpers import audit_energy
from validator.node_client import NodeClient

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CATCH_HEADING = "## Catch a cheating trainer"
VOTE_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from devnet.anvil import find_anvil
    from devnet.errors import ConfigError

    try:
        find_anvil()
    except ConfigError as exc:
        pytest.skip(f"anvil is not installed: {exc}")
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield c
    finally:
        c.close()


# ---------------------------------------------------------------------------------------
# helpers


def wait_votes(c: Cluster, dispute_id: int, n: int, timeout: float = VOTE_TIMEOUT) -> None:
    def enough() -> bool:
        d = c.cb.dispute(dispute_id)
        return d.agree + d.against >= n or d.outcome != Outcome.OPEN

    wait_until(enough, timeout, f"{n} votes on dispute {dispute_id}", interval=0.3)


def watch_and_resolve(c: Cluster, dispute_id: int) -> None:
    """``cb-dispute status ID --watch --resolve`` until the dispute is resolved."""
    code, _, err = c.dispute("status", dispute_id, "--watch", "--resolve", "--private-key-file", c.challenger_key,
                             "--interval", "0.3", "--timeout", str(VOTE_TIMEOUT), timeout=VOTE_TIMEOUT + 30)
    assert code == 0, err


def open_dispute(c: Cluster, beast: int, window: int, *extra: str | Path) -> int:
    code, out, err = c.dispute("open", "--beast", beast, "--window", window, "--yes",
                               "--private-key-file", c.challenger_key, *extra)
    assert code == 0, f"open exited {code}: {err}"
    return int(out["disputeId"])


# ---------------------------------------------------------------------------------------
# 1. honest trainer, frivolous dispute


def test_1_honest_trainer_frivolous_dispute(cluster: Cluster) -> None:
    c = cluster
    beast, window = c.public_beasts[0], 2
    since = c.cb.block_number()
    escrow = int.from_bytes(c.cb.word(beast, window - 1)[20:28], "big")
    code, out, _ = c.dispute("check", "--beast", beast, "--window", window, "--node", c.node_addr)
    assert code == 0 and out["verdict"] == "match"
    bond = int(out["bond"])
    assert bond == 2 * escrow

    # The tool refuses to throw the bond away unless told to.
    code, _, err = c.dispute("open", "--beast", beast, "--window", window, "--node", c.node_addr, "--yes",
                             "--private-key-file", c.challenger_key)
    assert code == 1 and "replays to its committed word" in err
    before = {a.address: c.cb.balance_of(a) for a in [c.challenger, c.trainer, *c.validators]}
    did = open_dispute(c, beast, window, "--node", c.node_addr, "--force")
    assert c.cb.balance_of(c.challenger) == before[c.challenger.address] - bond

    watch_and_resolve(c, did)
    d = c.cb.dispute(did)
    assert d.outcome == Outcome.UPHELD and d.agree >= 2 and d.against == 0
    assert c.cb.window_status(beast, window - 1) == WindowStatus.FINALIZED
    share = bond // 2 // d.agree

    code, _, err = c.dispute("claim", did, "--private-key-file", c.challenger_key)
    assert code == 1 and "nothing to claim" in err  # the bond is forfeited
    code, out, _ = c.dispute("claim", did, "--private-key-file", c.trainer_key)
    assert code == 0 and int(out["amount"]) == bond - share * d.agree
    claimed = c.claim_validators(did)
    for v in c.validators:
        expected = share if c.cb.vote_of(did, v.address) == Vote.AGREE else 0
        assert claimed[v.address] == expected
        assert c.cb.balance_of(v) == before[v.address] + expected
    assert c.cb.balance_of(c.challenger) == before[c.challenger.address] - bond
    assert c.cb.balance_of(c.trainer) == before[c.trainer.address] + bond - share * d.agree
    a = audit_energy(c.cb, since)
    assert a.minted_since == 0 and a.burned_since == escrow  # the window finalized: its escrow burned as its cost


# ---------------------------------------------------------------------------------------
# 2. dishonest trainer: the commands of the README's "Catch a cheating trainer"


def catch_section() -> str:
    """The README's "Catch a cheating trainer" section with its commands."""
    for path in (REPO / "README.md",):
        if path.exists() and CATCH_HEADING in path.read_text():
            text = path.read_text().split(CATCH_HEADING, 1)[1]
            section = re.split(r"\n## ", text, maxsplit=1)[0]
            if "```sh" in section and "cb-dispute" in section:
                return section
    raise AssertionError(f"no {CATCH_HEADING!r} section in README.md")


def catch_commands() -> list[tuple[str, int]]:
    """The cb-dispute command lines of the "Catch a cheating trainer" section with the exit code each expects."""
    text = catch_section()
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if "cb-dispute" in b]
    assert len(blocks) == 1, "the section needs exactly one ```sh block of cb-dispute commands"
    out = []
    for line in blocks[0].splitlines():
        if not line.startswith("cb-dispute"):
            continue
        m = re.search(r"#\s*exit\s+(\d)", line)
        out.append((line.split("#")[0].strip(), int(m.group(1)) if m else 0))
    assert [cmd.split()[1] for cmd, _ in out] == ["check", "open", "status", "claim"]
    return out


def test_2_dishonest_trainer_is_slashed_with_the_readme_commands(cluster: Cluster) -> None:
    c = cluster
    since = c.cb.block_number()
    w3 = commit_window3(c, c.public_beasts[1], "h128")
    before = {a.address: c.cb.balance_of(a) for a in [c.challenger, c.trainer, *c.validators]}
    env = dict(c.env, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", BEAST=str(w3.beast), WINDOW="3",
               NODE=c.node_addr)
    results = []
    for cmd, expected in catch_commands():
        cp = subprocess.run(["bash", "-c", cmd], cwd=c.root, env=env, capture_output=True, text=True,
                            timeout=VOTE_TIMEOUT + 60, stdin=subprocess.DEVNULL)
        results.append(cp)
        assert cp.returncode == expected, f"{cmd}\nexit {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    assert "DIVERGED" in results[0].stdout and "h128" in results[0].stdout
    did = int(re.search(r"dispute (\d+) opened", results[1].stdout).group(1))  # type: ignore[union-attr]
    assert "diverged" in results[2].stdout

    d = c.cb.dispute(did)
    assert d.outcome == Outcome.DIVERGED and d.against >= 2 and d.agree == 0
    assert c.cb.window_status(w3.beast, 2) == WindowStatus.SLASHED
    share = w3.escrow // 2 // d.against
    bond = 2 * w3.escrow
    assert c.cb.balance_of(c.challenger) == before[c.challenger.address] + w3.escrow - share * d.against
    assert f"claimed {_energy(bond + w3.escrow - share * d.against)}" in results[3].stdout
    claimed = c.claim_validators(did)
    for v in c.validators:
        expected = share if c.cb.vote_of(did, v.address) == Vote.AGAINST else 0
        assert claimed[v.address] == expected
    assert c.cb.balance_of(c.trainer) == before[c.trainer.address]  # its escrow left it at commit time
    a = audit_energy(c.cb, since)
    assert a.minted_since == 0 and a.burned_since == 0


def _energy(wei: int) -> str:
    from validator.dispute import format_energy

    return format_energy(wei)


# ---------------------------------------------------------------------------------------
# 3. private curriculum


def test_3_private_curriculum_dataset_and_secret_from_the_challenger(cluster: Cluster) -> None:
    from curriculum import new_secret_file

    c = cluster
    since = c.cb.block_number()
    wrong_path = c.root / "not-the-owner.secret"
    wrong = new_secret_file(wrong_path)
    w3 = commit_window3(c, c.private_beast, "secret", private_secret=wrong.reveal())
    beast = w3.beast
    args = ["--beast", beast, "--window", 3, "--node", c.node_addr]

    code, _, err = c.dispute("check", *args)
    assert code == 2 and "--dataset" in err
    code, _, err = c.dispute("check", *args, "--dataset", c.dataset, "--secret-file", wrong_path)
    assert code == 1 and "secret commitment" in err and wrong.reveal().hex() not in err
    code, out, _ = c.dispute("check", *args, "--dataset", c.dataset, "--secret-file", c.secret)
    assert code == 1 and out["verdict"] == "diverged" and "h128" in out["mismatchedFields"]
    assert out["computedWord"] == "0x" + w3.honest.pack().hex()

    before = c.cb.balance_of(c.challenger)
    did = open_dispute(c, beast, 3, "--node", c.node_addr, "--dataset", c.dataset, "--secret-file", c.secret)
    dataset, secret = c.cb.dispute_dataset(did)
    assert dataset == c.dataset.read_bytes()
    watch_and_resolve(c, did)
    d = c.cb.dispute(did)
    assert d.outcome == Outcome.DIVERGED
    # The validators replayed with the dataset and secret from the calldata and computed the honest word.
    for v in c.validators:
        if c.cb.vote_of(did, v.address) == Vote.AGAINST:
            votes = [e for e in _vote_events(c, did) if e["validator"] == v.address]
            assert votes and bytes(votes[0]["computedWord"]) == w3.honest.pack()
    code, out, _ = c.dispute("claim", did, "--private-key-file", c.challenger_key)
    share = w3.escrow // 2 // d.against
    assert code == 0 and int(out["amount"]) == 2 * w3.escrow + w3.escrow - share * d.against
    assert c.cb.balance_of(c.challenger) == before + w3.escrow - share * d.against
    c.claim_validators(did)
    a = audit_energy(c.cb, since)
    assert a.minted_since == 0 and a.burned_since == 0


def _dispute_events(c: Cluster, name: str, dispute_id: int) -> list[dict]:  # type: ignore[type-arg]
    ev = getattr(c.cb.game.events, name)()
    logs = c.cb.w3.eth.get_logs({"address": c.cb.game.address, "fromBlock": 0, "toBlock": "latest",
                                 "topics": [ev.topic, "0x" + dispute_id.to_bytes(32, "big").hex()]})
    return [dict(ev.process_log(log)["args"]) for log in logs]


def _vote_events(c: Cluster, dispute_id: int) -> list[dict]:  # type: ignore[type-arg]
    return _dispute_events(c, "VoteCast", dispute_id)


def _slash_events(c: Cluster, dispute_id: int) -> list[tuple[str, int]]:
    return [(e["validator"], int(e["amount"])) for e in _dispute_events(c, "ValidatorSlashed", dispute_id)]


# ---------------------------------------------------------------------------------------
# 4. a validator offline and one voting wrong


def test_4_offline_and_wrong_validators_quorum_still_decides(cluster: Cluster) -> None:
    c = cluster
    since = c.cb.block_number()
    w3 = commit_window3(c, c.public_beasts[2], "skipped")
    c.stop_watcher(2)  # offline for this dispute
    try:
        code, out, _ = c.dispute("check", "--beast", w3.beast, "--window", 3, "--node", c.node_addr)
        assert code == 1 and out["mismatchedFields"] == ["h128"]
        rogue_before = c.cb.validator(c.rogue.address)
        did = open_dispute(c, w3.beast, 3, "--node", c.node_addr)
        # The wrong validator votes for the trainer without replaying (it agrees with the committed word).
        c.cb.vote(c.rogue, did, w3.word)
        watch_and_resolve(c, did)
        d = c.cb.dispute(did)
        assert d.outcome == Outcome.DIVERGED and d.agree == 1 and d.against == 2
        assert c.cb.vote_of(did, c.validators[2].address) == Vote.NONE
        # The wrong voter loses WrongVoteSlashBps of its stake (floor) and gains nothing; it stays
        # a validator with the rest, free of this dispute. The two right voters share S on top.
        bps = c.cb.param(Param.WRONG_VOTE_SLASH_BPS)
        assert bps == 1000
        penalty = rogue_before.stake * bps // 10_000
        assert _slash_events(c, did) == [(c.rogue.address, penalty)]
        assert c.cb.credit_of(c.rogue.address) == 0
        rogue_after = c.cb.validator(c.rogue.address)
        assert rogue_after.stake == rogue_before.stake - penalty > 0 and rogue_after.open_votes == 0
        assert c.cb.is_active_validator(c.rogue.address)
        share = (w3.escrow // 2 + penalty) // 2
        for v in c.validators[:2]:
            assert c.cb.credit_of(v.address) == share
        code, out, _ = c.dispute("claim", did, "--private-key-file", c.challenger_key)
        assert code == 0 and int(out["amount"]) == 3 * w3.escrow + penalty - 2 * share
    finally:
        c.start_watcher(2)
    # The watcher that was offline comes back, sees the dispute is over and does not vote.
    wait_until(lambda: any(e.get("event") == "closed" for e in c.watcher_events(2, did)), 30,
               "the restarted watcher to see the dispute is over")
    assert c.cb.vote_of(did, c.validators[2].address) == Vote.NONE
    c.claim_validators(did)
    a = audit_energy(c.cb, since)
    assert a.minted_since == 0 and a.burned_since == 0


# ---------------------------------------------------------------------------------------
# 5. the trainer's node is down when the validators need the start state


def test_5_trainer_node_down_counts_against_the_trainer(cluster: Cluster) -> None:
    c = cluster
    beast, window = c.public_beasts[3], 2
    since = c.cb.block_number()
    escrow = int.from_bytes(c.cb.word(beast, window - 1)[20:28], "big")
    c.stop_node()
    # The challenger does not need the node: the start state is rebuilt from genesis.
    code, out, _ = c.dispute("check", "--beast", beast, "--window", window)
    assert code == 0 and out["verdict"] == "match" and out["startState"].startswith("rebuilt from genesis")
    before = c.cb.balance_of(c.challenger)
    did = open_dispute(c, beast, window, "--force")
    d = c.cb.dispute(did)
    # Validators retry while the deadline is far; nobody can vote yet.
    wait_until(lambda: all(any(e.get("event") == "retry" for e in c.watcher_events(i, did))
                           for i in range(len(c.watchers))), 30, "every watcher to retry the unavailable start state")
    assert c.cb.dispute(did).agree + c.cb.dispute(did).against == 0
    # Near the deadline they vote STATE_UNAVAILABLE (0x0), which counts against the trainer.
    c.mine(d.voting_deadline - c.cb.block_number() - 2)
    wait_votes(c, did, 2)
    watch_and_resolve(c, did)
    d = c.cb.dispute(did)
    assert d.outcome == Outcome.DIVERGED and d.against >= 2
    assert all(bytes(e["computedWord"]) == bytes(32) for e in _vote_events(c, did))
    assert c.cb.window_status(beast, window - 1) == WindowStatus.SLASHED
    # Nothing stuck: every voter's stake is unlocked, the challenger is paid.
    for v in c.validators:
        assert c.cb.validator(v.address).open_votes == 0
    code, out, _ = c.dispute("claim", did, "--private-key-file", c.challenger_key)
    share = escrow // 2 // d.against
    assert code == 0 and c.cb.balance_of(c.challenger) == before + escrow - share * d.against
    c.claim_validators(did)
    a = audit_energy(c.cb, since)
    assert a.minted_since == 0 and a.burned_since == 0
    # The trainer's node comes back for this beast (reconciling with the slashed window) and serves
    # again. (Its other beasts got windows committed behind its back by the cheating scenarios, which
    # it rightly refuses to reconcile, so the operator limits it to this one in node.toml.)
    toml = c.node_dir / "node.toml"
    toml.write_text(re.sub(r"(?m)^beasts = \[\]$", f"beasts = [{beast}]", toml.read_text()))
    c.start_node()
    client = NodeClient()
    try:
        assert client.get_state(c.node_addr, beast, window - 1)
    finally:
        client.close()


# ---------------------------------------------------------------------------------------
# 6. no votes at all


def test_6_no_votes_resolves_after_the_voting_period(cluster: Cluster) -> None:
    c = cluster
    beast, window = c.public_beasts[4], 2
    since = c.cb.block_number()
    escrow = int.from_bytes(c.cb.word(beast, window - 1)[20:28], "big")
    for i in range(len(c.watchers)):
        c.stop_watcher(i)
    before = c.cb.balance_of(c.challenger)
    did = open_dispute(c, beast, window, "--no-check")
    d = c.cb.dispute(did)
    assert c.cb.balance_of(c.challenger) == before - d.bond
    code, _, err = c.dispute("claim", did, "--private-key-file", c.challenger_key)
    assert code == 1 and "still open" in err
    c.mine(d.voting_deadline - c.cb.block_number() + 1)
    code, out, _ = c.dispute("status", did)
    assert code == 0 and out["outcome"] == "open" and out["resolvable"] and out["votes"] == []
    code, out, _ = c.dispute("claim", did, "--private-key-file", c.challenger_key)
    assert code == 0 and out["resolvedNow"] == "no_quorum" and int(out["amount"]) == d.bond
    assert c.cb.balance_of(c.challenger) == before
    assert c.cb.window_status(beast, window - 1) == WindowStatus.FINALIZED
    a = audit_energy(c.cb, since)
    assert a.minted_since == 0 and a.burned_since == escrow
