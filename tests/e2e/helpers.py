"""Shared pieces of the dispute end-to-end tests: a trainer that commits through the bindings,
0600 key files, and the ENERGY audit every scenario ends with.

The audit rebuilds every ENERGY balance from the token's Transfer logs (mints come from the
zero address, burns go to it), compares each with ``balanceOf`` and the sum with
``totalSupply``, and then checks the protocol's conservation rules (docs/PROTOCOL.md §7):
the ledger holds exactly the escrow of committed and disputed windows, the dispute game
exactly the open bonds, stakes and unclaimed credits, and every burn is a finalized window.
It also follows the game's own flows (§5-6): every stake is what its validator registered minus
what ``ValidatorSlashed`` took from it, and every resolved dispute credited exactly its bond,
plus the window's escrow when it diverged, plus the stakes it slashed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.bindings import ChainBeasts, Outcome, WindowStatus
from kernel.params import KernelParams
from kernel.payload import FLAG_LOSS_DROPPED, Payload
from kernel.sources import PublicSource
from kernel.state import ZERO32, KernelState, genesis
from kernel.train import train_window
from bench.cluster import EXAMPLE_CSV, mine, write_key_file  # noqa: F401 - re-exported for the e2e tests

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def chain_params(chain: ChainBeasts) -> KernelParams:
    """Kernel parameters of the chain's season (what the node trains with)."""
    return chain.kernel_params()


@dataclass
class BindingTrainer:
    """A trainer that trains real kernel windows and commits them with the bindings.

    ``commit_next(tamper=...)`` lets a test commit a word the kernel did not compute (the
    cheating trainer of scenario 2); the local state then keeps the honest result, as a
    trainer that skipped the work would have nothing else.
    """

    chain: ChainBeasts
    account: LocalAccount
    beast_id: int
    state: KernelState
    source: Any = field(default_factory=PublicSource)
    words: list[bytes] = field(default_factory=list)
    states: list[KernelState] = field(default_factory=list)  # checkpoints 0, 1, ... as trained

    @classmethod
    def hatch(cls, chain: ChainBeasts, account: LocalAccount, *, dataset: bytes | None = None,
              secret: bytes | None = None) -> BindingTrainer:
        from kernel.hashing import keccak256

        c_data = keccak256(dataset) if dataset else ZERO32
        c_secret = keccak256(secret) if secret else ZERO32
        records = ZERO32
        if dataset and chain.spec_version() >= 2:
            from curriculum import decode_dataset
            from curriculum.records import records_root

            records = records_root(decode_dataset(dataset))
        beast_id = chain.hatch(account, c_data, c_secret, records)
        hatch = chain.hatch_data(beast_id)
        state = genesis(hatch.seed_core, chain_params(chain), dataset_commitment=hatch.dataset_root,
                        spec_version=hatch.spec_version)
        source: Any = PublicSource()
        if dataset:
            from curriculum import PrivateDatasetSource, decode_dataset

            assert secret is not None
            source = PrivateDatasetSource(decode_dataset(dataset), secret, spec_version=hatch.spec_version)
        return cls(chain, account, beast_id, state, source, states=[state])

    def commit_next(self, *, tamper: str | None = None) -> bytes:
        """Train and commit the next window; ``tamper``: None, "h128" or "loss-flag" (claims the opposite
        LOSS_DROPPED flag: a lie only a replay finds, unlike energyBurn, which the ledger checks since 1.3.0)."""
        epoch = self.state.global_step // self.state.params.epoch_steps
        seed = self.chain.ensure_epoch_seed(self.account, self.beast_id, epoch)  # sealed first when the epoch is new
        result = train_window(self.state, self.source, epoch_seed=seed)
        p = result.payload
        if tamper == "h128":
            p = Payload(bytes(b ^ 0xA5 for b in p.h128), p.global_step, p.energy_burn, p.active_mask, p.lr_shift, p.flags)
        elif tamper == "loss-flag":
            p = Payload(p.h128, p.global_step, p.energy_burn, p.active_mask, p.lr_shift, p.flags ^ FLAG_LOSS_DROPPED)
        elif tamper == "reserved-flag":
            word = (p.to_int() | 0x8000).to_bytes(32, "big")  # a flag bit the spec reserves: not a legal word
            self.chain.commit(self.account, self.beast_id, word)
            self.state = result.state
            self.states.append(result.state)
            self.words.append(word)
            return word
        elif tamper is not None:
            raise ValueError(f"unknown tamper {tamper!r}")
        word = p.pack()
        self.chain.commit(self.account, self.beast_id, word)
        self.state = result.state
        self.states.append(result.state)
        self.words.append(word)
        return word


@dataclass
class Audit:
    """What the ENERGY audit found."""

    balances: dict[str, int]
    total_supply: int
    minted: int
    burned: int
    burned_since: int
    minted_since: int


def _logs(chain: ChainBeasts, contract: Any, event: str, from_block: int = 0) -> list[Any]:
    ev = getattr(contract.events, event)()
    logs = chain.w3.eth.get_logs({"address": contract.address, "fromBlock": from_block, "toBlock": "latest",
                                  "topics": [ev.topic]})
    return [ev.process_log(log) for log in logs]


def audit_energy(chain: ChainBeasts, since_block: int = 0) -> Audit:
    """Rebuild ENERGY balances from Transfer logs and check the conservation rules; asserts on failure."""
    balances: dict[str, int] = defaultdict(int)
    minted = burned = minted_since = burned_since = 0
    for e in _logs(chain, chain.energy, "Transfer"):
        a = e["args"]
        src, dst, value = a["from"], a["to"], int(a["value"])
        if src == ZERO_ADDRESS:
            minted += value
            minted_since += value if e["blockNumber"] >= since_block else 0
        else:
            balances[src] -= value
        if dst == ZERO_ADDRESS:
            burned += value
            burned_since += value if e["blockNumber"] >= since_block else 0
        else:
            balances[dst] += value
    total = int(chain.energy.functions.totalSupply().call())
    # Nothing created, nothing lost: every balance is what its transfers say, and they add up.
    for address, expected in balances.items():
        assert chain.balance_of(address) == expected, f"balance of {address} differs from its transfers"
    assert sum(balances.values()) == total, "balances do not add up to totalSupply"
    assert total == minted - burned, "totalSupply is not minted - burned"

    # Every burn is a finalized window's escrow (finalize or a dispute that upheld / found no quorum).
    finalized = sum(int(e["args"]["burned"]) for e in _logs(chain, chain.ledger, "WindowFinalized"))
    assert burned == finalized, f"burned {burned} but finalized windows account for {finalized}"

    # The ledger holds the escrow of committed and disputed windows.
    escrow = 0
    for e in _logs(chain, chain.ledger, "CheckpointCommitted"):
        b, k, word = int(e["args"]["beastId"]), int(e["args"]["index"]), bytes(e["args"]["word"])
        if chain.window_status(b, k) in (WindowStatus.COMMITTED, WindowStatus.DISPUTED):
            escrow += Payload.unpack(word).energy_burn if _parses(word) else int.from_bytes(word[20:28], "big")
    # Ledgers from version 1.1 also hold the committers' prepaid deposits.
    if any(item.get("name") == "depositOf" for item in chain.ledger.abi):
        escrow += sum(int(chain.ledger.functions.depositOf(checksum(a)).call()) for a in balances
                      if a != ZERO_ADDRESS)
    assert chain.balance_of(chain.addresses["CheckpointLedger"]) == escrow, \
        "ledger balance is not the open escrow (plus deposits)"

    # The game holds open bonds, validator stakes and unclaimed credits.
    held = 0
    for d in range(1, chain.dispute_count() + 1):
        info = chain.dispute(d)
        if info.outcome == Outcome.OPEN:
            held += info.bond
    accounts = {a for a in balances if a not in (chain.addresses["CheckpointLedger"], chain.addresses["DisputeGame"])}
    for e in _logs(chain, chain.game, "ValidatorRegistered"):
        accounts.add(e["args"]["validator"])
    for a in accounts:
        held += chain.validator(a).stake + chain.credit_of(a)
    assert chain.balance_of(chain.addresses["DisputeGame"]) == held, "game balance is not bonds + stakes + credits"
    _audit_game_flows(chain)
    return Audit(dict(balances), total, minted, burned, burned_since, minted_since)


def _audit_game_flows(chain: ChainBeasts) -> None:
    """Stakes move only by registration, slashing and withdrawal; credits only by resolve and claim."""
    flows = sorted((e for name in ("ValidatorRegistered", "ValidatorSlashed", "ValidatorWithdrawn")
                    for e in _logs(chain, chain.game, name)), key=lambda e: (e["blockNumber"], e["logIndex"]))
    stakes: dict[str, int] = defaultdict(int)
    slashed: dict[int, int] = defaultdict(int)
    for e in flows:
        a = e["args"]
        if e["event"] == "ValidatorRegistered":
            assert stakes[a["validator"]] == 0, f"{a['validator']} registered twice"
            stakes[a["validator"]] = int(a["stake"])
        elif e["event"] == "ValidatorSlashed":
            assert 0 < int(a["amount"]) < stakes[a["validator"]], "a slash took nothing, or the whole stake"
            stakes[a["validator"]] -= int(a["amount"])
            slashed[int(a["disputeId"])] += int(a["amount"])
        else:
            assert int(a["stake"]) == stakes[a["validator"]], f"{a['validator']} withdrew another stake than it had"
            stakes[a["validator"]] = 0
    for validator, stake in stakes.items():
        assert chain.validator(validator).stake == stake, f"stake of {validator} is not registered - slashed"

    credited: dict[int, int] = defaultdict(int)
    for e in _logs(chain, chain.game, "Credited"):
        credited[int(e["args"]["disputeId"])] += int(e["args"]["amount"])
    escrow = {(int(e["args"]["beastId"]), int(e["args"]["index"])): int(e["args"]["amount"])
              for e in _logs(chain, chain.ledger, "WindowSlashed")}
    for d in range(1, chain.dispute_count() + 1):
        info = chain.dispute(d)
        if info.outcome == Outcome.OPEN:
            assert credited[d] == slashed[d] == 0
            continue
        assert (info.outcome in (Outcome.UPHELD, Outcome.DIVERGED)) or slashed[d] == 0, "NoQuorum slashed a stake"
        won = escrow[(info.beast_id, info.index)] if info.outcome == Outcome.DIVERGED else 0
        assert credited[d] == info.bond + won + slashed[d], f"dispute {d} credited {credited[d]}"
    claimed = sum(int(e["args"]["amount"]) for e in _logs(chain, chain.game, "Claimed"))
    unclaimed = sum(chain.credit_of(a) for a in {e["args"]["account"] for e in _logs(chain, chain.game, "Credited")})
    assert sum(credited.values()) == claimed + unclaimed, "credits claimed + unclaimed differ from credits given"


def _parses(word: bytes) -> bool:
    try:
        Payload.unpack(word)
    except Exception:  # noqa: BLE001 - a tampered word may not parse
        return False
    return True


def checksum(address: str) -> str:
    return Web3.to_checksum_address(address)
