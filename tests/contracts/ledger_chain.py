"""The ledger contracts on an in-process py-evm chain, deployed by the ledger/beast tests themselves.

Why not ``devnet.start``: the ledger and Beast tests (test_chain_ledger.py, test_chain_beast.py)
check the contracts, not the Python bindings, and must run whatever state devnet's bindings are
in. :class:`LedgerChain` deploys Energy, Beast, SeasonRegistry and CheckpointLedger from the
committed artifacts (contracts/build, the real bytecode) and binds as the ledger's game a
``LedgerGameStub`` (tests/contracts/solidity/, compiled here with the project's pinned solc): it
forwards whatever a test asks it to call, so a test plays the bisection game's side of
beginGame / endGame and decides who won. Transactions are signed locally and decoded with
devnet.tx.Sender and devnet.errors.ErrorDecoder (generic plumbing, no contract knowledge).
"""

from __future__ import annotations

import enum
import json
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from collections.abc import Iterator, Mapping, Sequence

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
from devnet.errors import ErrorDecoder, revert_data
from devnet.season import initial_values
from devnet.tx import Sender

HERE = Path(__file__).resolve().parent
CONTRACTS = HERE.parents[1] / "contracts"
ZERO32 = b"\x00" * 32
MAX_UINT = 2**256 - 1
GAME_CLOCK = 40  # the stub game's clockBlocks
CHALLENGE_PERIOD = 20  # devnet season default
ENERGY_EACH = 10**24
GAS = 8_000_000
LEDGER_CONTRACTS = ("Energy", "Beast", "SeasonRegistry", "CheckpointLedger")


class Status(enum.IntEnum):
    """CheckpointLedger.WindowStatus (3.0.0)."""

    NONE = 0
    COMMITTED = 1
    FINALIZED = 2
    VOIDED = 3
    SLASHED = 4
    CHALLENGED = 5


def ev(args: dict[str, Any], **expected: Any) -> None:
    """An event's arguments hold ``expected`` (addresses compared without their checksum case); the others are not read."""
    for k, v in expected.items():
        got = args[k]
        if isinstance(got, str) and isinstance(v, str):
            assert got.lower() == v.lower(), f"{k}: {got} != {v}"
        else:
            assert got == v, f"{k}: {got!r} != {v!r}"


@cache
def compile_stub() -> dict[str, Any]:
    """ABI and bytecode of LedgerGameStub, compiled by contracts/node_modules' pinned solc."""
    src = (HERE / "solidity" / "LedgerGameStub.sol").read_text()
    script = (
        "const solc=require('solc');const src=require('fs').readFileSync(0,'utf8');"
        "const input={language:'Solidity',sources:{'Stub.sol':{content:src}},"
        "settings:{optimizer:{enabled:true,runs:200},evmVersion:'prague',"
        "outputSelection:{'*':{'*':['abi','evm.bytecode.object']}}}};"
        "const out=JSON.parse(solc.compile(JSON.stringify(input)));"
        "if((out.errors||[]).some(e=>e.severity==='error')){console.error(JSON.stringify(out.errors));process.exit(1)}"
        "const c=out.contracts['Stub.sol'].LedgerGameStub;"
        "process.stdout.write(JSON.stringify({abi:c.abi,bytecode:'0x'+c.evm.bytecode.object}))"
    )
    proc = subprocess.run(["node", "-e", script], cwd=CONTRACTS, input=src, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


@dataclass
class Tx:
    """A mined transaction: its block, gas and decoded events (name, args) in log order."""

    block_number: int
    gas_used: int
    events: list[tuple[str, dict[str, Any]]]

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.events]

    def all(self, name: str) -> list[dict[str, Any]]:
        return [a for n, a in self.events if n == name]

    def event(self, name: str) -> dict[str, Any]:
        found = self.all(name)
        assert len(found) == 1, f"{name}: {len(found)} events in {self.names}"
        return found[0]


@dataclass
class LedgerChain:
    """Energy, Beast, SeasonRegistry, CheckpointLedger and the stub game on py-evm; funded accounts."""

    w3: Web3
    tester: EthereumTester | None  # None on anvil (mined through its RPC)
    accounts: list[LocalAccount]
    sender: Sender
    c: dict[str, Contract]
    # (topic0, number of topics) -> the contract and event: ERC-20 and ERC-721 Transfer share topic0.
    _topics: dict[tuple[bytes, int], tuple[Contract, str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ setup

    @classmethod
    def start(cls, *, accounts: int = 8, params: Mapping[str, int] | None = None, spec_version: int = 2,
              clock: int = GAME_CLOCK) -> LedgerChain:
        genesis = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": 60_000_000})
        backend = IndexedBackend(genesis_parameters=genesis, genesis_state=PyEVMBackend.generate_genesis_state(num_accounts=accounts))
        tester = EthereumTester(backend)
        w3 = embedded_web3(tester)
        keys = [Account.from_key(k.to_bytes()) for k in backend.account_keys][:accounts]
        return cls.deploy(w3, keys, tester, params=params, spec_version=spec_version, clock=clock)

    @classmethod
    def deploy(cls, w3: Web3, keys: list[LocalAccount], tester: EthereumTester | None = None, *,
               params: Mapping[str, int] | None = None, spec_version: int = 2, clock: int = GAME_CLOCK) -> LedgerChain:
        """Deploy on any connection whose ``keys`` hold ETH (``keys[0]`` deploys and mints)."""
        stub = compile_stub()
        abis = [artifacts.load(n).abi for n in LEDGER_CONTRACTS] + [stub["abi"]]
        sender = Sender(w3, ErrorDecoder(abis))
        admin = keys[0]

        def create(abi: list[dict[str, Any]], bytecode: str, types: Sequence[str], args: Sequence[object]) -> Contract:
            data = bytes.fromhex(bytecode.removeprefix("0x")) + abi_encode(list(types), list(args))
            receipt = sender.send(admin, None, data, gas=15_000_000)
            return w3.eth.contract(address=receipt["contractAddress"], abi=abi)

        def art(name: str, types: Sequence[str], args: Sequence[object]) -> Contract:
            a = artifacts.load(name)
            return create(a.abi, a.bytecode, types, args)

        energy = art("Energy", ["address"], [admin.address])
        beast = art("Beast", ["uint16"], [spec_version])
        initial = initial_values(params)
        registry = art("SeasonRegistry", ["address", "uint64", f"uint96[{len(initial)}]"], [admin.address, 10, initial])
        ledger = art("CheckpointLedger", ["address", "address", "address"], [energy.address, beast.address, registry.address])
        game = create(stub["abi"], stub["bytecode"], ["uint256"], [clock])
        chain = cls(w3, tester, keys, sender, {"Energy": energy, "Beast": beast, "SeasonRegistry": registry,
                                                "CheckpointLedger": ledger, "Game": game})
        for contract in chain.c.values():
            for item in contract.abi:
                if item["type"] == "event":
                    sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                    n = 1 + sum(1 for i in item["inputs"] if i["indexed"])
                    chain._topics.setdefault((keccak(text=sig), n), (contract, item["name"]))
        chain.send(admin, ledger, "bindBisectionGame", game.address)
        for acct in keys:
            chain.send(admin, energy, "mint", acct.address, ENERGY_EACH)
            chain.send(acct, energy, "approve", ledger.address, MAX_UINT)
        return chain

    def fresh(self) -> Iterator[LedgerChain]:
        """Fixture body: yields this chain and reverts every change the test made."""
        assert self.tester is not None, "snapshots are py-evm's"
        snap = self.tester.take_snapshot()
        self.sender._nonces.clear()
        yield self
        self.tester.revert_to_snapshot(snap)
        self.sender._nonces.clear()

    # ------------------------------------------------------------------ plumbing

    @property
    def energy(self) -> Contract:
        return self.c["Energy"]

    @property
    def beast(self) -> Contract:
        return self.c["Beast"]

    @property
    def registry(self) -> Contract:
        return self.c["SeasonRegistry"]

    @property
    def ledger(self) -> Contract:
        return self.c["CheckpointLedger"]

    @property
    def game(self) -> Contract:
        return self.c["Game"]

    @property
    def admin(self) -> LocalAccount:
        return self.accounts[0]

    def send(self, acct: LocalAccount, contract: Contract, fn: str, *args: Any, gas: int = GAS) -> Tx:
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args)).removeprefix("0x"))
        receipt = self.sender.send(acct, contract.address, data, gas=gas)
        events = []
        for log in receipt["logs"]:
            hit = self._topics.get((bytes(log["topics"][0]), len(log["topics"]))) if log["topics"] else None
            if hit is not None:
                contract_, name = hit
                events.append((name, dict(contract_.events[name]().process_log(log)["args"])))
        return Tx(int(receipt["blockNumber"]), int(receipt["gasUsed"]), events)

    def call(self, contract: Contract, fn: str, *args: Any) -> Any:
        """A view call; a revert raises the decoded custom error (devnet.ContractError)."""
        try:
            return contract.functions[fn](*args).call()
        except Exception as exc:  # noqa: BLE001 - eth-tester and web3 raise their own types
            data = revert_data(exc)
            if data is None or len(data) < 4:
                raise
            raise self.sender.decoder.decode(data) from None

    def mine(self, n: int = 1) -> int:
        if n > 0:
            if self.tester is not None:
                self.tester.mine_blocks(n)
            else:
                resp = self.w3.provider.make_request("anvil_mine", [hex(n)])  # type: ignore[arg-type]
                assert "error" not in resp, resp
        return self.block_number()

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def mine_to(self, block: int) -> None:
        """Mine so that the next transaction runs in block ``block``."""
        self.mine(block - self.block_number() - 1)

    # ------------------------------------------------------------------ Energy and Beast

    def balance(self, who: str | LocalAccount) -> int:
        return int(self.call(self.energy, "balanceOf", _addr(who)))

    def supply(self) -> int:
        return int(self.call(self.energy, "totalSupply"))

    def hatch(self, owner: LocalAccount, dataset: bytes = ZERO32, secret: bytes = ZERO32, records: bytes = ZERO32) -> int:
        """Request and finalize a hatch (two transactions, two blocks); returns the beast id."""
        r = self.send(owner, self.beast, "hatch", dataset, secret, records)
        bid = int(r.event("HatchRequested")["beastId"])
        self.send(owner, self.beast, "finalizeHatch", bid)
        return bid

    def authorize(self, owner: LocalAccount, bid: int, trainer: str | LocalAccount) -> Tx:
        return self.send(owner, self.beast, "authorizeTrainer", bid, _addr(trainer))

    def revoke(self, owner: LocalAccount, bid: int) -> Tx:
        return self.send(owner, self.beast, "revokeTrainer", bid)

    def transfer_beast(self, owner: LocalAccount, bid: int, to: str | LocalAccount) -> Tx:
        return self.send(owner, self.beast, "transferFrom", owner.address, _addr(to), bid)

    def holder_at(self, bid: int, block: int, trainer: bool) -> str:
        return str(self.call(self.beast, "holderAt", bid, block, trainer))

    # ------------------------------------------------------------------ ledger

    def stake(self, acct: LocalAccount, amount: int) -> Tx:
        return self.send(acct, self.ledger, "stake", amount)

    def request_unstake(self, acct: LocalAccount, amount: int) -> Tx:
        return self.send(acct, self.ledger, "requestUnstake", amount)

    def withdraw_stake(self, acct: LocalAccount) -> Tx:
        return self.send(acct, self.ledger, "withdrawStake")

    def stake_of(self, who: str | LocalAccount) -> tuple[int, int, int]:
        return tuple(self.call(self.ledger, "stakeOf", _addr(who)))  # type: ignore[return-value]

    def deposit(self, acct: LocalAccount, amount: int) -> Tx:
        return self.send(acct, self.ledger, "deposit", amount)

    def withdraw_deposit(self, acct: LocalAccount, amount: int) -> Tx:
        return self.send(acct, self.ledger, "withdrawDeposit", amount)

    def deposit_of(self, who: str | LocalAccount) -> int:
        return int(self.call(self.ledger, "depositOf", _addr(who)))

    def commit(self, acct: LocalAccount, bid: int, word: bytes) -> Tx:
        return self.send(acct, self.ledger, "commit", bid, word)

    def commit_many(self, acct: LocalAccount, bids: Sequence[int], words: Sequence[bytes], gas: int = GAS) -> Tx:
        return self.send(acct, self.ledger, "commitMany", list(bids), list(words), gas=gas)

    def finalize(self, acct: LocalAccount, bid: int, k: int) -> Tx:
        return self.send(acct, self.ledger, "finalize", bid, k)

    def finalize_many(self, acct: LocalAccount, bids: Sequence[int], ks: Sequence[int]) -> Tx:
        return self.send(acct, self.ledger, "finalizeMany", list(bids), list(ks))

    def clear_voided(self, acct: LocalAccount, bid: int, count: int) -> Tx:
        return self.send(acct, self.ledger, "clearVoided", bid, count)

    def voided_range(self, bid: int) -> tuple[int, int]:
        return tuple(self.call(self.ledger, "voidedRange", bid))  # type: ignore[return-value]

    def status(self, bid: int, k: int) -> Status:
        return Status(self.call(self.ledger, "windowStatus", bid, k))

    def count(self, bid: int) -> int:
        return int(self.call(self.ledger, "windowCount", bid))

    def word(self, bid: int, k: int) -> bytes:
        return bytes(self.call(self.ledger, "word", bid, k))

    def committer_of(self, bid: int, k: int) -> tuple[str, int, bool]:
        return tuple(self.call(self.ledger, "committerOf", bid, k))  # type: ignore[return-value]

    def stored(self, bid: int, k: int) -> int:
        """The raw stored slot of window k (read from storage at the artifact's layout)."""
        words = artifacts.load("CheckpointLedger").slot("_words")
        base = int.from_bytes(keccak(bid.to_bytes(32, "big") + words.to_bytes(32, "big")), "big")
        return int.from_bytes(self.w3.eth.get_storage_at(self.ledger.address, base + k), "big")  # type: ignore[arg-type]

    # ------------------------------------------------------------------ the game's side (through the stub)

    def game_calls(self, acct: LocalAccount, calls: Sequence[tuple[str, Sequence[Any]]]) -> Tx:
        """Have the stub game call ledger functions ``calls`` = [(name, args)] in one transaction."""
        datas = [bytes.fromhex(self.ledger.encode_abi(fn, args=list(a)).removeprefix("0x")) for fn, a in calls]
        return self.send(acct, self.game, "forward", self.ledger.address, datas)

    def begin_game(self, acct: LocalAccount, bid: int, k: int) -> tuple[Tx, int]:
        """beginGame through the stub; returns the transaction and the window's stored slot."""
        r = self.game_calls(acct, [("beginGame", (bid, k))])
        data = r.event("Returned")["data"]
        return r, int.from_bytes(data[64:96], "big")

    def end_game(self, acct: LocalAccount, bid: int, k: int, stored: int, slash: bool) -> tuple[Tx, int]:
        """endGame through the stub; returns the transaction and the reward the ledger paid."""
        r = self.game_calls(acct, [("endGame", (bid, k, stored, slash))])
        return r, int.from_bytes(r.event("Returned")["data"][:32], "big")

    def slash(self, acct: LocalAccount, bid: int, k: int) -> tuple[Tx, int]:
        """Open a game on window k and end it as a challenger win, in one transaction."""
        stored = self.stored(bid, k)
        r = self.game_calls(acct, [("beginGame", (bid, k)), ("endGame", (bid, k, stored, True))])
        return r, int.from_bytes(r.all("Returned")[1]["data"][:32], "big")

    # ------------------------------------------------------------------ accounting

    def held_by_ledger_expected(self, accounts: Sequence[str | LocalAccount], bids: Sequence[int]) -> int:
        """Deposits + stakes + unbonding of ``accounts`` + the escrow of every window of ``bids``
        that still holds escrow: Committed, Challenged, or Voided and not yet cleared."""
        total = 0
        for a in accounts:
            staked, unbonding, _ = self.stake_of(a)
            total += self.deposit_of(a) + staked + unbonding
        for bid in bids:
            k = 0
            top = max(self.voided_range(bid)[1], self.count(bid))
            while k < top:
                st = self.status(bid, k)
                if st in (Status.COMMITTED, Status.CHALLENGED, Status.VOIDED):
                    total += int.from_bytes(self.word(bid, k)[20:28], "big")
                k += 1
        return total


def _addr(who: str | LocalAccount) -> str:
    return who if isinstance(who, str) else who.address
