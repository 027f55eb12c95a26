"""Shared pieces of the dispute end-to-end tests: a trainer that commits through the bindings,
0600 key files, and the ENERGY audit every scenario ends with.

The audit rebuilds every ENERGY balance from the token's Transfer logs (mints come from the
zero address, burns go to it), compares each with ``balanceOf`` and the sum with
``totalSupply``, and then checks the protocol's conservation rules (docs/PROTOCOL.md §10):
the ledger holds exactly the escrow of the windows in its slots plus every deposit, stake and
unbonding stake; the bisection game exactly the bonds of open games and the unclaimed rewards;
and every burn is the escrow of a finalized, slashed or cleared voided window.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet.bindings import ChainBeasts, GameInfo, Pot, WindowStatus
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
    commit_blocks: list[int] = field(default_factory=list)  # the block each window was committed in

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
            self.commit_blocks.append(self.chain.commit(self.account, self.beast_id, word).block_number)
            self.state = result.state
            self.states.append(result.state)
            self.words.append(word)
            return word
        elif tamper is not None:
            raise ValueError(f"unknown tamper {tamper!r}")
        word = p.pack()
        self.commit_blocks.append(self.chain.commit(self.account, self.beast_id, word).block_number)
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


def _logs(chain: ChainBeasts, contract: Any, event: str, from_block: int = 0, to_block: int | str = "latest") -> list[Any]:
    ev = getattr(contract.events, event)()
    logs = chain.w3.eth.get_logs({"address": contract.address, "fromBlock": from_block, "toBlock": to_block,
                                  "topics": [ev.topic]})
    return [ev.process_log(log) for log in logs]


def audit_energy(chain: ChainBeasts, since_block: int = 0) -> Audit:
    """Rebuild ENERGY balances from Transfer logs and check the conservation rules; asserts on failure.

    Other processes (nodes, watchers) keep sending transactions while the audit reads, so every
    log and every view is read as of one block."""
    at = chain.block_number()
    energy, ledger, game = chain.energy.functions, chain.ledger.functions, chain.game.functions

    def view(fn: Any) -> Any:
        return fn.call(block_identifier=at)

    balances: dict[str, int] = defaultdict(int)
    minted = burned = minted_since = burned_since = 0
    for e in _logs(chain, chain.energy, "Transfer", to_block=at):
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
    total = int(view(energy.totalSupply()))
    # Nothing created, nothing lost: every balance is what its transfers say, and they add up.
    for address, expected in balances.items():
        assert int(view(energy.balanceOf(checksum(address)))) == expected, f"balance of {address} differs from its transfers"
    assert sum(balances.values()) == total, "balances do not add up to totalSupply"
    assert total == minted - burned, "totalSupply is not minted - burned"

    # Every burn is an escrow the protocol burns: a finalized window's, a slashed window's, or a
    # voided window's once cleared (docs/PROTOCOL.md §10).
    escrow_burned = sum(int(e["args"]["burned"]) for e in _logs(chain, chain.ledger, "WindowFinalized", to_block=at))
    escrow_burned += sum(int(e["args"]["amount"]) for e in _logs(chain, chain.ledger, "WindowSlashed", to_block=at))
    escrow_burned += sum(int(e["args"]["burned"]) for e in _logs(chain, chain.ledger, "WindowVoided", to_block=at))
    assert burned == escrow_burned, f"burned {burned} but finalized, slashed and voided windows account for {escrow_burned}"

    # The ledger holds the escrow of the windows still in a slot (committed, challenged, or voided
    # and not cleared yet) plus every account's deposit, stake and unbonding stake.
    latest: dict[tuple[int, int], bytes] = {}
    for e in _logs(chain, chain.ledger, "CheckpointCommitted", to_block=at):
        latest[(int(e["args"]["beastId"]), int(e["args"]["index"]))] = bytes(e["args"]["word"])
    live = (WindowStatus.COMMITTED, WindowStatus.CHALLENGED, WindowStatus.VOIDED)
    held = 0
    for (b, k), word in latest.items():
        if WindowStatus(int(view(ledger.windowStatus(b, k)))) in live:
            held += int.from_bytes(word[20:28], "big")
    for a in balances:
        if a != ZERO_ADDRESS:
            staked, unbonding, _ = view(ledger.stakeOf(checksum(a)))
            held += int(view(ledger.depositOf(checksum(a)))) + int(staked) + int(unbonding)
    assert balances[chain.addresses["CheckpointLedger"]] == held, \
        "ledger balance is not the live escrow plus deposits and stakes"

    # The game holds the bonds of open games and the rewards not yet claimed.
    in_game = 0
    pots = set()
    for g in range(1, int(view(game.gameCount())) + 1):
        info = GameInfo.from_abi(g, view(game.gameOf(g)), chain._game_fields)
        if info.is_open:
            in_game += info.bond
        pots.add((info.beast_id, info.index, info.stored))
    for b, k, stored in pots:
        pot = Pot(*view(game.potOf(b, k, stored)))
        if not pot.claimed:
            in_game += pot.reward
    assert balances[chain.addresses["BisectionGame"]] == in_game, "game balance is not open bonds + unclaimed rewards"
    # Rewards come only from committers' stakes, each slash at most the window's escrow.
    for e in _logs(chain, chain.ledger, "WindowSlashed", to_block=at):
        assert 0 <= int(e["args"]["reward"]) <= int(e["args"]["amount"]), "a slash rewarded more than the window's escrow"
    return Audit(dict(balances), total, minted, burned, burned_since, minted_since)


def honest_cost(trainer: BindingTrainer) -> int:
    """ENERGY an honest trainer's committed windows cost it: their escrow (burned at finalize)."""
    return sum(int.from_bytes(w[20:28], "big") for w in trainer.words)


def _parses(word: bytes) -> bool:
    try:
        Payload.unpack(word)
    except Exception:  # noqa: BLE001 - a tampered word may not parse
        return False
    return True


def checksum(address: str) -> str:
    return Web3.to_checksum_address(address)
