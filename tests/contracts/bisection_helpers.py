"""The bisection game (docs/PROTOCOL.md §10) on the embedded devnet, and Python players for it.

``start_game_net(verifier="StepVerifier")`` deploys the real one-step verifier (its committed
artifact), which test_bisection_real.py plays against with kernel.step states. The logic tests
(clocks, bonds, fifty sybils, the state machine) deploy ``ToyStepVerifier`` instead
(tests/contracts/solidity/, compiled here with the project's pinned solc): a stand-in transition
``toy_step`` on 32-byte states that the players compute in microseconds, so hundreds of games fit
the CI budget. Everything else is the real thing in both: the committed BisectionGame and
CheckpointLedger artifacts, a spec-version-2 deployment, real bonds and clocks.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract

import devnet
from devnet import artifacts
from devnet.deploy import _create, fund
from devnet.bindings import WindowStatus
from devnet.errors import ErrorDecoder
from kernel.params import DEFAULT_PARAMS
from kernel.payload import Payload
from kernel.state import genesis

HERE = Path(__file__).resolve().parent
CONTRACTS = HERE.parents[1] / "contracts"
ZERO32 = b"\x00" * 32
STEPS = 128
CLOCK = 40  # blocks per side in the tests
MASK = 0b0011
LR_SHIFT = 6
BURN = DEFAULT_PARAMS.window_energy_burn(MASK, spurt=False)
GAS_MOVE = 600_000
GAS_PROVE = 12_000_000
ENERGY = 10**24


# The ledger's window statuses the games move through, and BisectionGame's outcomes.
COMMITTED, FINALIZED, SLASHED, CHALLENGED = (WindowStatus.COMMITTED, WindowStatus.FINALIZED, WindowStatus.SLASHED,
                                             WindowStatus.CHALLENGED)
OPEN, DEFENDER_WON, CHALLENGER_WON = 0, 1, 2


def compile_toy() -> dict[str, Any]:
    """ABI and bytecode of ToyStepVerifier, compiled by contracts/node_modules' pinned solc."""
    src = json.dumps({"toy": (HERE / "solidity" / "ToyStepVerifier.sol").read_text(),
                      "iface": (CONTRACTS / "src" / "IStepVerifier.sol").read_text()})
    script = (
        "const solc=require('solc');const src=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "const input={language:'Solidity',sources:{'Toy.sol':{content:src.toy},'IStepVerifier.sol':{content:src.iface}},"
        "settings:{optimizer:{enabled:true,runs:200},"
        "evmVersion:'prague',outputSelection:{'*':{'*':['abi','evm.bytecode.object']}}}};"
        "const out=JSON.parse(solc.compile(JSON.stringify(input)));"
        "if((out.errors||[]).some(e=>e.severity==='error')){console.error(JSON.stringify(out.errors));process.exit(1)}"
        "const c=out.contracts['Toy.sol'].ToyStepVerifier;"
        "process.stdout.write(JSON.stringify({abi:c.abi,bytecode:'0x'+c.evm.bytecode.object}))"
    )
    proc = subprocess.run(["node", "-e", script], cwd=CONTRACTS, input=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# ---------------------------------------------------------------------- the stand-in transition


def h16(state: bytes) -> bytes:
    """h128 of a state's bytes."""
    return keccak(state)[:16]


def toy_step(pre: bytes, mask: int, lr_shift: int, epoch_seed: bytes, s_owner: bytes = ZERO32) -> bytes:
    """ToyStepVerifier's successor state (32 bytes)."""
    return keccak(abi_encode(["bytes32", "uint8", "uint8", "bytes32", "bytes32"],
                             [keccak(pre), mask, lr_shift, epoch_seed, s_owner]))


def window_states(start: bytes, epoch_seed: bytes, *, mask: int = MASK, lr_shift: int = LR_SHIFT,
                  s_owner: bytes = ZERO32, lie_at: int | None = None) -> list[bytes]:
    """The 129 step states of a toy window; ``lie_at = j`` replaces state j by garbage (a trainer
    that gets exactly step j-1 -> j wrong and continues honestly from there)."""
    states = [start]
    for j in range(STEPS):
        nxt = toy_step(states[-1], mask, lr_shift, epoch_seed, s_owner)
        if lie_at is not None and j + 1 == lie_at:
            nxt = keccak(b"lie" + nxt)
        states.append(nxt)
    return states


def genesis_v2_bytes(seed_core: bytes, records_root: bytes = ZERO32) -> bytes:
    """The kernel's version-2 genesis bytes (SPEC §6.3-6.4) of a beast with this hatch data."""
    return genesis(seed_core, DEFAULT_PARAMS, dataset_commitment=records_root, spec_version=2).to_bytes()


def word_for(k: int, h128: bytes, *, mask: int = MASK, lr_shift: int = LR_SHIFT, flags: int = 0, burn: int = BURN) -> bytes:
    """The checkpoint word of ledger window k with this h128."""
    return Payload(h128, (STEPS * (k + 1)) % 2**32, burn, mask, lr_shift, flags).pack()


def empty_sample(s_owner: bytes = ZERO32) -> tuple[Any, ...]:
    """A PrivateSample tuple (the toy reads only sOwner)."""
    return (s_owner, 0, ZERO32, b"", [])


# ---------------------------------------------------------------------- the game on chain


@dataclass
class Receipt:
    gas: int
    block: int
    events: list[tuple[str, dict[str, Any]]]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [a for n, a in self.events if n == name]


@dataclass
class GameNet:
    """An embedded spec-version-2 devnet with the BisectionGame deployed and bound."""

    raw: devnet.EmbeddedDevnet
    game: Contract
    toy_address: str
    clock: int
    gas: dict[str, list[int]] = field(default_factory=dict)

    @property
    def cb(self) -> devnet.ChainBeasts:
        return self.raw.chain

    @property
    def a(self) -> list[LocalAccount]:
        return self.raw.accounts

    def mine(self, n: int) -> int:
        return self.raw.mine(n)

    def block(self) -> int:
        return int(self.raw.w3.eth.block_number)

    def _send(self, acct: LocalAccount, contract: Contract, fn: str, args: list[Any], gas: int, tag: str | None = None) -> Receipt:
        data = bytes.fromhex(contract.encode_abi(fn, args=args).removeprefix("0x"))
        r = self.cb.sender.send(acct, contract.address, data, gas=gas)
        events: list[tuple[str, dict[str, Any]]] = []
        for log in r["logs"]:
            addr = Web3.to_checksum_address(log["address"])
            c = self.game if addr == self.game.address else self.cb.ledger if addr == self.cb.ledger.address else None
            if c is None:
                continue
            for ev in c.events:
                try:
                    d = ev.process_log(log)
                except Exception:  # noqa: BLE001 - not this event
                    continue
                events.append((d["event"], dict(d["args"])))
                break
        rec = Receipt(int(r["gasUsed"]), int(r["blockNumber"]), events)
        self.gas.setdefault(tag or fn, []).append(rec.gas)
        return rec

    # moves
    def challenge(self, acct: LocalAccount, beast: int, k: int) -> int:
        r = self._send(acct, self.game, "challenge", [beast, k], GAS_MOVE)
        return int(r.named("GameOpened")[0]["gameId"])

    def bisect(self, acct: LocalAccount, gid: int, h: bytes) -> Receipt:
        r = self._send(acct, self.game, "bisect", [gid, h], GAS_MOVE, "bisect")
        if r.named("DefenderJoined"):  # file the first move under its own name
            self.gas["bisect"].pop()
            self.gas.setdefault("bisect (joining)", []).append(r.gas)
        return r

    def respond(self, acct: LocalAccount, gid: int, agree: bool) -> Receipt:
        return self._send(acct, self.game, "respond", [gid, agree], GAS_MOVE)

    def prove_step(self, acct: LocalAccount, gid: int, pre: bytes, sample: tuple[Any, ...] | None = None,
                   tag: str | None = None) -> Receipt:
        return self._send(acct, self.game, "proveStep", [gid, pre, sample or empty_sample()], GAS_PROVE, tag)

    def prove_word_lie(self, acct: LocalAccount, gid: int, state: bytes) -> Receipt:
        return self._send(acct, self.game, "proveWordLie", [gid, state], GAS_PROVE)

    def timeout(self, acct: LocalAccount, gid: int) -> Receipt:
        return self._send(acct, self.game, "timeout", [gid], GAS_MOVE)

    # views
    def game_of(self, gid: int) -> dict[str, Any]:
        names = ["beastId", "challenger", "index", "lo", "hi", "challengerToMove", "outcome", "defender",
                 "defenderClock", "challengerClock", "lastMove", "loHash", "hiHash", "midHash", "bond", "word"]
        return dict(zip(names, self.game.functions.gameOf(gid).call(), strict=True))

    def genesis_h128(self, beast: int) -> bytes:
        return bytes(self.game.functions.genesisH128(beast).call())

    def epoch_seed(self, beast: int, k: int) -> bytes:
        e = (STEPS * k) % 2**32 // int(self.cb.ledger.functions.epochSteps().call())
        return bytes(self.cb.ledger.functions.epochSeed(beast, e).call())

    def status(self, beast: int, k: int) -> int:
        return int(self.cb.ledger.functions.windowStatus(beast, k).call())

    def held_by_game(self) -> int:
        return self.cb.balance_of(self.game.address)


def start_game_net(accounts: int = 10, clock: int = CLOCK, params: dict[str, int] | None = None,
                   verifier: str = "toy", spec_version: int = 2) -> GameNet:
    """A spec-version-2 embedded devnet, the verifier (the stand-in, or ``"StepVerifier"`` from its
    committed artifact) and the game, bound to the ledger."""
    # Accounts 0..9 get ENERGY and every approval; the rest (sybils) ENERGY and the game's approval.
    raw = devnet.start(accounts=accounts, spec_version=spec_version, params=params, energy_per_account=0, approve=False)
    cb = raw.chain
    deployer = raw.accounts[0]
    fund(cb, deployer, raw.accounts[:10], ENERGY)
    fund(cb, deployer, raw.accounts[10:], ENERGY, approve=False)
    toy = compile_toy() if verifier == "toy" else {"abi": artifacts.load(verifier).abi,
                                                    "bytecode": artifacts.load(verifier).bytecode}
    receipt = cb.sender.send(deployer, None, bytes.fromhex(toy["bytecode"][2:]), gas=None)
    toy_address = Web3.to_checksum_address(receipt["contractAddress"])
    game_addr = _create(cb.sender, deployer, "BisectionGame", ["address", "address", "uint32"],
                        [cb.addresses["CheckpointLedger"], toy_address, clock])
    art = artifacts.load("BisectionGame")
    game = raw.w3.eth.contract(address=game_addr, abi=art.abi)
    cb.sender.decoder = ErrorDecoder([*(a.abi for a in artifacts.load_all().values()), art.abi, toy["abi"]])
    data = bytes.fromhex(cb.ledger.encode_abi("bindBisectionGame", args=[game_addr]).removeprefix("0x"))
    cb.sender.send(deployer, cb.ledger.address, data, gas=200_000)
    for acct in raw.accounts:
        cb.approve(acct, game_addr)
    return GameNet(raw, game, toy_address, clock)


# ---------------------------------------------------------------------- players


@dataclass
class Lineage:
    """A beast's toy lineage as its trainer computed it: per ledger window, its 129 states."""

    beast: int
    windows: list[list[bytes]] = field(default_factory=list)

    def start_state(self, gn: GameNet) -> bytes:
        if not self.windows:
            hd = gn.cb.hatch_data(self.beast)
            return genesis_v2_bytes(bytes(hd.seed_core), bytes(hd.records_root))
        return self.windows[-1][-1]

    def commit(self, gn: GameNet, trainer: LocalAccount, *, lie_at: int | None = None, s_owner: bytes = ZERO32,
               honest_view: list[list[bytes]] | None = None) -> int:
        """Train (toy) and commit the next window; returns its index. ``honest_view`` collects the
        true states (what an honest challenger computes) next to the trainer's own."""
        k = len(self.windows)
        e = (STEPS * k) % 2**32 // int(gn.cb.ledger.functions.epochSteps().call())
        seed = gn.cb.ensure_epoch_seed(trainer, self.beast, e)  # sealed before training on it
        start = self.start_state(gn)
        states = window_states(start, seed, s_owner=s_owner, lie_at=lie_at)
        if honest_view is not None:
            honest_view.append(window_states(start, seed, s_owner=s_owner))
        gn.cb.commit(trainer, self.beast, word_for(k, h16(states[-1])))
        self.windows.append(states)
        return k


def play_defender(gn: GameNet, acct: LocalAccount, gid: int, states: list[bytes], sample: tuple[Any, ...] | None = None,
                  g: dict[str, Any] | None = None) -> None:
    """One move of a defender that claims ``states`` (honest when they are the true ones)."""
    g = g or gn.game_of(gid)
    lo, hi = g["lo"], g["hi"]
    if hi - lo == 1:
        gn.prove_step(acct, gid, states[lo], sample)
    else:
        gn.bisect(acct, gid, h16(states[(lo + hi) // 2]))


def play_challenger(gn: GameNet, acct: LocalAccount, gid: int, truth: list[bytes], sample: tuple[Any, ...] | None = None,
                    g: dict[str, Any] | None = None) -> None:
    """One move of an honest challenger that knows the true states."""
    g = g or gn.game_of(gid)
    lo, hi = g["lo"], g["hi"]
    if g["challengerToMove"]:
        gn.respond(acct, gid, bytes(g["midHash"]) == h16(truth[(lo + hi) // 2]))
    else:
        gn.prove_step(acct, gid, truth[lo], sample)


def play_out(gn: GameNet, gid: int, defender: tuple[LocalAccount, list[bytes]] | None,
             challenger: tuple[LocalAccount, list[bytes] | None], rng: random.Random | None = None,
             sample: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """Play a game to its end: the defender claims its states; the challenger plays honestly
    from its states, or at random when they are None (``rng``). Returns the final record."""
    while (g := gn.game_of(gid))["outcome"] == 0:
        if g["challengerToMove"]:
            acct, truth = challenger
            if truth is None:
                assert rng is not None
                gn.respond(acct, gid, rng.random() < 0.5)
            else:
                play_challenger(gn, acct, gid, truth, sample, g)
        elif defender is None:
            gn.mine(gn.clock + 1)
            gn.timeout(gn.a[0], gid)
        else:
            play_defender(gn, defender[0], gid, defender[1], sample, g)
    return g


def each_test_reverted(net: GameNet) -> Iterator[GameNet]:
    """Body of a per-test fixture over a module's GameNet: every test starts from the same chain snapshot."""
    tester = net.raw.tester
    snap = tester.take_snapshot()
    net.cb.sender._nonces.clear()
    yield net
    tester.revert_to_snapshot(snap)
    net.cb.sender._nonces.clear()
