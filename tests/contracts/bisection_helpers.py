"""The bisection game (docs/PROTOCOL.md §10) on a py-evm chain the tests deploy, and Python players for it.

``start_game_net()`` starts py-evm in-process and deploys the committed artifacts of Energy, Beast,
SeasonRegistry, CheckpointLedger and BisectionGame itself (not through devnet.start, so the game's
tests do not depend on the devnet's deployment choices), binds the game and funds, approves and
stakes the test accounts. ``verifier="StepVerifier"`` deploys the real one-step verifier (its
committed artifact), which test_bisection_real.py plays against with kernel.step states. The logic
tests (clocks, bonds, fifty sybils, the state machine) deploy ``ToyStepVerifier`` instead
(tests/contracts/solidity/, compiled here with the project's pinned solc): a stand-in transition
``toy_step`` on 32-byte states that the players compute in microseconds, so hundreds of games fit
the CI budget. Everything else is the real thing in both: the committed BisectionGame and
CheckpointLedger artifacts, a spec-version-2 deployment, real stakes, bonds, rewards and clocks.
"""

from __future__ import annotations

import json
import random
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract

from devnet import artifacts
from devnet.indexed_backend import IndexedBackend
from devnet.embedded_provider import embedded_web3
from devnet.bindings import WindowStatus
from devnet.errors import ContractError, ErrorDecoder
from devnet.records import HatchData, Param
from devnet.season import initial_values
from devnet.tx import Sender
from kernel.board import ACT_NONE, EMPTY, Board, Creature, encode_record
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
STAKE = 1000 * BURN  # staked by every test account at the start (commits need stake >= energyBurn)
MAX_UINT = 2**256 - 1
SPEC_LEDGER = ("Energy", "Beast", "SeasonRegistry", "CheckpointLedger")


# The ledger's window statuses the games move through, and BisectionGame's outcomes.
COMMITTED, FINALIZED, SLASHED, CHALLENGED = (WindowStatus.COMMITTED, WindowStatus.FINALIZED, WindowStatus.SLASHED,
                                             WindowStatus.CHALLENGED)
VOIDED = 3  # WindowStatus 3: Voided (CheckpointLedger 3.0.0; was Disputed)
OPEN, DEFENDER_WON, CHALLENGER_WON = 0, 1, 2
ONE_STEP, WORD_LIE, TIMEOUT = 0, 1, 2


def compile_toy(name: str = "ToyStepVerifier") -> dict[str, Any]:
    """ABI and bytecode of a test contract (tests/contracts/solidity/<name>.sol: ToyStepVerifier,
    GameCaller), compiled by contracts/node_modules' pinned solc."""
    src = json.dumps({"toy": (HERE / "solidity" / f"{name}.sol").read_text(), "name": name,
                      "iface": (CONTRACTS / "src" / "IStepVerifier.sol").read_text()})
    script = (
        "const solc=require('solc');const src=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "const input={language:'Solidity',sources:{'Toy.sol':{content:src.toy},'IStepVerifier.sol':{content:src.iface}},"
        "settings:{optimizer:{enabled:true,runs:200},"
        "evmVersion:'prague',outputSelection:{'*':{'*':['abi','evm.bytecode.object']}}}};"
        "const out=JSON.parse(solc.compile(JSON.stringify(input)));"
        "if((out.errors||[]).some(e=>e.severity==='error')){console.error(JSON.stringify(out.errors));process.exit(1)}"
        "const c=out.contracts['Toy.sol'][src.name];"
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


def commitment(challenger: str, beast: int, k: int, salt: bytes) -> bytes:
    """commitChallenge's argument: keccak256(abi.encode(challenger, beastId, index, salt))."""
    return keccak(abi_encode(["address", "uint256", "uint256", "bytes32"], [challenger, beast, k, salt]))


# ---------------------------------------------------------------------- the chain


@dataclass
class Receipt:
    gas: int
    block: int
    events: list[tuple[str, dict[str, Any]]]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [a for n, a in self.events if n == name]


class Chain:
    """The deployed contracts and the few ledger/beast/token calls the game tests make."""

    def __init__(self, w3: Web3, addresses: Mapping[str, str], extra_abis: Sequence[Any]) -> None:
        self.w3 = w3
        self.addresses = dict(addresses)
        arts = {n: artifacts.load(n) for n in (*SPEC_LEDGER, "BisectionGame")}
        self.decoder = ErrorDecoder([*(a.abi for a in arts.values()), *extra_abis])
        self.sender = Sender(w3, self.decoder)
        self.energy = w3.eth.contract(address=addresses["Energy"], abi=arts["Energy"].abi)
        self.beast = w3.eth.contract(address=addresses["Beast"], abi=arts["Beast"].abi)
        self.registry = w3.eth.contract(address=addresses["SeasonRegistry"], abi=arts["SeasonRegistry"].abi)
        self.ledger = w3.eth.contract(address=addresses["CheckpointLedger"], abi=arts["CheckpointLedger"].abi)

    def send(self, acct: LocalAccount, contract: Contract, fn: str, args: Sequence[Any], gas: int | None = 300_000) -> Any:
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args)).removeprefix("0x"))
        return self.sender.send(acct, contract.address, data, gas=gas)

    def call(self, contract: Contract, fn: str, *args: Any) -> Any:
        """A view call; a revert raises its decoded contract error: the bindings' own path
        (devnet.bindings.ChainBeasts._call, which needs only the ``decoder`` this chain holds)."""
        from devnet.bindings import ChainBeasts

        return ChainBeasts._call(self, contract, fn, *args)  # type: ignore[arg-type]

    # token
    def balance_of(self, address: str) -> int:
        return int(self.energy.functions.balanceOf(address).call())

    def total_supply(self) -> int:
        return int(self.energy.functions.totalSupply().call())

    def transfer(self, acct: LocalAccount, to: str, amount: int) -> Any:
        return self.send(acct, self.energy, "transfer", [to, amount], 120_000)

    def approve(self, acct: LocalAccount, spender: str, amount: int = MAX_UINT) -> Any:
        return self.send(acct, self.energy, "approve", [spender, amount], 120_000)

    # registry
    def param(self, p: Param | int) -> int:
        return int(self.registry.functions.value(int(p)).call())

    # beasts
    def hatch(self, owner: LocalAccount, dataset: bytes = ZERO32, secret: bytes = ZERO32, records_root: bytes = ZERO32) -> int:
        r = self.send(owner, self.beast, "hatch", [dataset, secret, records_root], 400_000)
        ev = self.beast.events.HatchRequested().process_receipt(r)
        beast_id = int(ev[0]["args"]["beastId"])
        self.send(owner, self.beast, "finalizeHatch", [beast_id], 400_000)
        return beast_id

    def hatch_data(self, beast: int) -> HatchData:
        return HatchData.from_abi(self.beast.functions.hatchData(beast).call())

    def transfer_beast(self, acct: LocalAccount, from_: str, to: str, beast: int) -> Any:
        return self.send(acct, self.beast, "transferFrom", [from_, to, beast], 400_000)

    def authorize_trainer(self, owner: LocalAccount, beast: int, trainer: str) -> Any:
        return self.send(owner, self.beast, "authorizeTrainer", [beast, trainer], 400_000)

    def revoke_trainer(self, owner: LocalAccount, beast: int) -> Any:
        return self.send(owner, self.beast, "revokeTrainer", [beast], 400_000)

    # ledger
    def commit(self, acct: LocalAccount, beast: int, word: bytes) -> Any:
        return self.send(acct, self.ledger, "commit", [beast, word], 400_000)

    def finalize(self, acct: LocalAccount, beast: int, k: int) -> Any:
        return self.send(acct, self.ledger, "finalize", [beast, k], 400_000)

    def stake(self, acct: LocalAccount, amount: int) -> Any:
        return self.send(acct, self.ledger, "stake", [amount], 150_000)

    def stake_of(self, address: str) -> tuple[int, int, int]:
        s, u, b = self.ledger.functions.stakeOf(address).call()
        return int(s), int(u), int(b)

    def committer_of(self, beast: int, k: int) -> tuple[str, int, bool]:
        c, b, t = self.call(self.ledger, "committerOf", beast, k)
        return str(c), int(b), bool(t)

    def stored_of(self, beast: int, k: int) -> int:
        """The raw stored slot of window k (read from storage: the ledger keeps no getter for it)."""
        slot = artifacts.load("CheckpointLedger").slot("_words")
        base = int.from_bytes(keccak(abi_encode(["uint256", "uint256"], [beast, slot])), "big")
        return int.from_bytes(self.w3.eth.get_storage_at(self.ledger.address, base + k), "big")

    def window_status(self, beast: int, k: int) -> int:
        return int(self.ledger.functions.windowStatus(beast, k).call())

    def epoch_seed(self, beast: int, epoch: int) -> bytes:
        return bytes(self.call(self.ledger, "epochSeed", beast, epoch))

    def ensure_epoch_seed(self, acct: LocalAccount, beast: int, epoch: int) -> bytes:
        if epoch > 0:
            try:
                return self.epoch_seed(beast, epoch)
            except ContractError as exc:
                if exc.name != "LedgerEpochSeedUnknown":
                    raise
            self.send(acct, self.ledger, "sealEpochSeeds", [[beast], [epoch]], 200_000)
        return self.epoch_seed(beast, epoch)


@dataclass
class Raw:
    """The chain: web3, the py-evm tester (snapshots, mining; None on anvil) and the funded accounts."""

    w3: Web3
    tester: EthereumTester | None
    accounts: list[LocalAccount]

    def mine(self, n: int = 1) -> int:
        if n > 0 and self.tester is not None:
            self.tester.mine_blocks(n)
        elif n > 0:
            self.w3.provider.make_request("anvil_mine", [hex(n)])
        return int(self.w3.eth.block_number)


@dataclass
class GameNet:
    """A spec-version-2 py-evm chain with the ledger and the BisectionGame deployed and bound."""

    raw: Raw
    cb: Chain
    game: Contract
    toy_address: str
    clock: int
    gas: dict[str, list[int]] = field(default_factory=dict)
    salts: dict[tuple[str, int, int], bytes] = field(default_factory=dict)

    @property
    def a(self) -> list[LocalAccount]:
        return self.raw.accounts

    def mine(self, n: int) -> int:
        return self.raw.mine(n)

    def block(self) -> int:
        return int(self.raw.w3.eth.block_number)

    def _send(self, acct: LocalAccount, contract: Contract, fn: str, args: list[Any], gas: int, tag: str | None = None) -> Receipt:
        data = bytes.fromhex(contract.encode_abi(fn, args=args).removeprefix("0x"))
        return self.send_raw(acct, contract.address, data, gas, tag or fn)

    def send_raw(self, acct: LocalAccount, to: str, data: bytes, gas: int, tag: str) -> Receipt:
        r = self.cb.sender.send(acct, to, data, gas=gas)
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
        self.gas.setdefault(tag, []).append(rec.gas)
        return rec

    # moves
    def commit_challenge(self, acct: LocalAccount, beast: int, k: int, salt: bytes | None = None) -> Receipt:
        """commitChallenge for (beast, k) with a fresh (or the given) salt, remembered for challenge()."""
        salt = salt if salt is not None else keccak(random.randbytes(32))
        self.salts[(acct.address, beast, k)] = salt
        return self._send(acct, self.game, "commitChallenge", [commitment(acct.address, beast, k, salt)], GAS_MOVE)

    def reveal(self, acct: LocalAccount, beast: int, k: int, salt: bytes | None = None) -> int:
        """challenge(): reveal the commitment made earlier; returns the game id."""
        salt = salt if salt is not None else self.salts.pop((acct.address, beast, k))
        r = self._send(acct, self.game, "challenge", [beast, k, salt], GAS_MOVE)
        return int(r.named("GameOpened")[0]["gameId"])

    def challenge(self, acct: LocalAccount, beast: int, k: int) -> int:
        """Commit, mine a block, reveal: a whole challenge; returns the game id."""
        self.commit_challenge(acct, beast, k)
        return self.reveal(acct, beast, k)

    def bisect(self, acct: LocalAccount, gid: int, h: bytes) -> Receipt:
        return self._send(acct, self.game, "bisect", [gid, h], GAS_MOVE)

    def respond(self, acct: LocalAccount, gid: int, agree: bool) -> Receipt:
        return self._send(acct, self.game, "respond", [gid, agree], GAS_MOVE)

    def prove_step(self, acct: LocalAccount, gid: int, pre: bytes, sample: tuple[Any, ...] | None = None,
                   tag: str | None = None, gas: int = GAS_PROVE) -> Receipt:
        return self._send(acct, self.game, "proveStep", [gid, pre, sample or empty_sample()], gas, tag)

    def prove_word_lie(self, acct: LocalAccount, gid: int, state: bytes) -> Receipt:
        return self._send(acct, self.game, "proveWordLie", [gid, state], GAS_PROVE)

    def timeout(self, acct: LocalAccount, gid: int) -> Receipt:
        return self._send(acct, self.game, "timeout", [gid], GAS_MOVE)

    def claim_reward(self, acct: LocalAccount, beast: int, k: int, stored: int) -> Receipt:
        return self._send(acct, self.game, "claimReward", [beast, k, stored], GAS_MOVE)

    # views
    def game_of(self, gid: int) -> dict[str, Any]:
        names = ["beastId", "challenger", "index", "lo", "hi", "challengerToMove", "outcome", "commitmentBlock",
                 "defender", "defenderClock", "challengerClock", "lastMove", "loHash", "hiHash", "midHash", "bond",
                 "stored"]
        return dict(zip(names, self.cb.call(self.game, "gameOf", gid), strict=True))

    def pot_of(self, beast: int, k: int, stored: int) -> dict[str, Any]:
        names = ["reward", "open", "bestCommitment", "bestGame", "claimed"]
        return dict(zip(names, self.game.functions.potOf(beast, k, stored).call(), strict=True))

    def genesis_h128(self, beast: int) -> bytes:
        return bytes(self.game.functions.genesisH128(beast).call())

    def epoch_seed(self, beast: int, k: int) -> bytes:
        e = (STEPS * k) % 2**32 // int(self.cb.ledger.functions.epochSteps().call())
        return bytes(self.cb.ledger.functions.epochSeed(beast, e).call())

    def status(self, beast: int, k: int) -> int:
        return self.cb.window_status(beast, k)

    def held_by_game(self) -> int:
        return self.cb.balance_of(self.game.address)

    def bond(self) -> int:
        return self.cb.param(Param.BOND_MULTIPLIER) * BURN


def _create(sender: Sender, deployer: LocalAccount, bytecode: str, types: Sequence[str], args: Sequence[Any]) -> str:
    data = bytes.fromhex(bytecode.removeprefix("0x")) + abi_encode(list(types), list(args))
    receipt = sender.send(deployer, None, data, gas=None)
    return Web3.to_checksum_address(receipt["contractAddress"])


def deploy_game(cb: Chain, deployer: LocalAccount, verifier: str, clock: int) -> str:
    """Deploy BisectionGame(ledger, verifier, clock) from its committed artifact; returns its address."""
    return _create(cb.sender, deployer, artifacts.load("BisectionGame").bytecode, ["address", "address", "uint32"],
                   [cb.addresses["CheckpointLedger"], verifier, clock])


def deploy_caller(gn: GameNet, owner: LocalAccount) -> Contract:
    """A GameCaller contract (tests/contracts/solidity), funded with ENERGY and approving the game."""
    art = compile_toy("GameCaller")
    address = _create(gn.cb.sender, owner, art["bytecode"], [], [])
    caller = gn.raw.w3.eth.contract(address=address, abi=art["abi"])
    gn.cb.transfer(owner, address, 10**21)
    gn.cb.send(owner, caller, "approve", [gn.cb.energy.address, gn.game.address, MAX_UINT], 200_000)
    return caller


def start_chain(accounts: int, params: dict[str, int] | None = None, spec_version: int = 2,
                on: tuple[Web3, list[LocalAccount]] | None = None) -> tuple[Raw, Chain, LocalAccount]:
    """py-evm (or ``on`` = an anvil connection and its funded keys) with Energy, Beast,
    SeasonRegistry and CheckpointLedger deployed from their committed artifacts."""
    tester: EthereumTester | None = None
    if on is None:
        gen = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": 60_000_000})
        state = PyEVMBackend.generate_genesis_state(num_accounts=accounts)
        backend = IndexedBackend(genesis_parameters=gen, genesis_state=state)
        tester = EthereumTester(backend)
        w3 = embedded_web3(tester)
        keys = [Account.from_key(k.to_bytes()) for k in backend.account_keys][:accounts]
    else:
        w3, keys = on
    deployer = keys[0]
    sender = Sender(w3, ErrorDecoder([artifacts.load(n).abi for n in SPEC_LEDGER]))
    initial = initial_values(params)
    energy = _create(sender, deployer, artifacts.load("Energy").bytecode, ["address"], [deployer.address])
    beast = _create(sender, deployer, artifacts.load("Beast").bytecode, ["uint16"], [spec_version])
    registry = _create(sender, deployer, artifacts.load("SeasonRegistry").bytecode,
                       ["address", "uint64", f"uint96[{len(Param)}]"], [deployer.address, 10, initial])
    ledger = _create(sender, deployer, artifacts.load("CheckpointLedger").bytecode, ["address", "address", "address"],
                     [energy, beast, registry])
    return Raw(w3, tester, list(keys)), Chain(w3, {"Energy": energy, "Beast": beast, "SeasonRegistry": registry,
                                             "CheckpointLedger": ledger}, []), deployer


def start_game_net(accounts: int = 10, clock: int = CLOCK, params: dict[str, int] | None = None,
                   verifier: str = "toy", spec_version: int = 2, stake: int = STAKE,
                   on: tuple[Web3, list[LocalAccount]] | None = None) -> GameNet:
    """A spec-version-2 chain (py-evm, or ``on`` an anvil connection), the verifier (the stand-in,
    or ``"StepVerifier"`` from its committed artifact) and the game, bound to the ledger. Every
    account holds ENERGY and has approved the ledger and the game; accounts 1..9 staked ``stake``."""
    raw, cb, deployer = start_chain(accounts, params, spec_version, on)
    ver = compile_toy() if verifier == "toy" else {"abi": artifacts.load(verifier).abi,
                                                   "bytecode": artifacts.load(verifier).bytecode}
    ver_address = _create(cb.sender, deployer, ver["bytecode"], [], [])
    game_addr = deploy_game(cb, deployer, ver_address, clock)
    game = raw.w3.eth.contract(address=game_addr, abi=artifacts.load("BisectionGame").abi)
    cb.addresses["BisectionGame"] = game_addr
    cb.decoder = ErrorDecoder([*(artifacts.load(n).abi for n in (*SPEC_LEDGER, "BisectionGame")), ver["abi"]])
    cb.sender.decoder = cb.decoder
    cb.send(deployer, cb.ledger, "bindBisectionGame", [game_addr], 200_000)
    for i, acct in enumerate(raw.accounts):
        cb.send(deployer, cb.energy, "mint", [acct.address, ENERGY], 120_000)
        cb.approve(acct, cb.ledger.address)
        cb.approve(acct, game_addr)
        if 1 <= i <= 9 and stake:
            cb.stake(acct, stake)
    return GameNet(raw, cb, game, ver_address, clock)


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

    def rewind(self, k: int) -> None:
        """Forget windows k.. (the ledger voided them after a slash of window k)."""
        del self.windows[k:]


def play_defender(gn: GameNet, acct: LocalAccount, gid: int, states: list[bytes], g: dict[str, Any] | None = None) -> None:
    """One move of a defender that claims ``states`` (honest when they are the true ones)."""
    g = g or gn.game_of(gid)
    gn.bisect(acct, gid, h16(states[(g["lo"] + g["hi"]) // 2]))


def play_challenger(gn: GameNet, acct: LocalAccount, gid: int, truth: list[bytes], sample: tuple[Any, ...] | None = None,
                    g: dict[str, Any] | None = None) -> None:
    """One move of an honest challenger that knows the true states."""
    g = g or gn.game_of(gid)
    lo, hi = g["lo"], g["hi"]
    if hi - lo == 1:
        gn.prove_step(acct, gid, truth[lo], sample)
    else:
        gn.respond(acct, gid, bytes(g["midHash"]) == h16(truth[(lo + hi) // 2]))


def play_out(gn: GameNet, gid: int, defender: tuple[LocalAccount, list[bytes]] | None,
             challenger: tuple[LocalAccount, list[bytes] | None] | None, rng: random.Random | None = None,
             sample: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """Play a game to its end: the defender claims its states (None: absent); the challenger plays
    honestly from its states, at random when they are None (``rng``; at the last step it proves
    the pre-state it was shown, or stays away when it has none), or is absent (None). A side whose
    clock ran out (while other games were played) is timed out instead of moving."""
    while (g := gn.game_of(gid))["outcome"] == OPEN:
        left = g["challengerClock"] if g["challengerToMove"] else g["defenderClock"]
        if gn.block() + 1 - g["lastMove"] > left:
            gn.timeout(gn.a[0], gid)
            continue
        if g["challengerToMove"]:
            if challenger is None:
                gn.mine(gn.clock + 1)
                gn.timeout(gn.a[0], gid)
                continue
            acct, truth = challenger
            if truth is not None:
                play_challenger(gn, acct, gid, truth, sample, g)
            elif g["hi"] - g["lo"] == 1:
                gn.mine(gn.clock + 1)  # no data to prove anything: it times out
                gn.timeout(gn.a[0], gid)
            else:
                assert rng is not None
                gn.respond(acct, gid, rng.random() < 0.5)
        elif defender is None:
            gn.mine(gn.clock + 1)
            gn.timeout(gn.a[0], gid)
        else:
            play_defender(gn, defender[0], gid, defender[1], g)
    return g


def each_test_reverted(net: GameNet) -> Iterator[GameNet]:
    """Body of a per-test fixture over a module's GameNet: every test starts from the same chain snapshot."""
    tester = net.raw.tester
    snap = tester.take_snapshot()
    net.cb.sender._nonces.clear()
    net.salts.clear()
    yield net
    tester.revert_to_snapshot(snap)
    net.cb.sender._nonces.clear()


def try_call(fn: Any, *args: Any) -> Exception | None:
    """Call ``fn(*args)``; the exception it raised (what the chain said), or None when it went through."""
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - report what the chain said
        return exc
    return None


def same_block(gn: GameNet, txs: Sequence[tuple[LocalAccount, Contract, str, list[Any]]]) -> list[int]:
    """Send (account, contract, fn, args) transactions into one block (several per sender allowed); their statuses."""
    w3, tester = gn.raw.w3, gn.raw.tester
    hashes = []
    nonces: dict[str, int] = {}
    tester.disable_auto_mine_transactions()
    try:
        for acct, contract, fn, args in txs:
            nonce = nonces.get(acct.address, w3.eth.get_transaction_count(acct.address))
            nonces[acct.address] = nonce + 1
            tx = {"chainId": w3.eth.chain_id, "gas": 600_000, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 1,
                  "to": contract.address, "nonce": nonce,
                  "data": contract.encode_abi(fn, args=args)}
            hashes.append(w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction))
        tester.mine_blocks(1)
    finally:
        tester.enable_auto_mine_transactions()
    gn.cb.sender._nonces.clear()
    receipts = [w3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    return [int(r["status"]) for r in receipts]


def board_record(seed: int) -> bytes:
    """A valid 28-byte board record (SPEC §2.3), different for each small seed."""
    me = Creature(hp=1 + seed % 200, stamina=seed % 16, defense=7, temp_def=0, crit=0, last_action=ACT_NONE)
    foe = Creature(hp=50, stamina=3, defense=9, temp_def=32, crit=1, last_action=ACT_NONE)
    return encode_record(Board(tiles=(EMPTY,) * 64, self_pos=seed % 32, enemy_pos=63, me=me, enemy=foe))


def invalid_record(record: bytes) -> bytes:
    """``record`` with its own creature's hp set to 0: not a valid board record (SPEC §2.3)."""
    return record[:18] + b"\x00" + record[19:]
