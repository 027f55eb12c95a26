"""The StepVerifier on a chain, and the reference it must agree with (kernel.step.micro_step).

``VerifierChain`` deploys the committed StepVerifier artifact on an in-process py-evm chain (eth-tester,
Prague) and calls ``step`` two ways: ``call`` executes the call message directly in py-evm's state (the
same interpreter and code as a transaction, without web3's per-call layers, so a thousand cases fit a CI
run) and ``transact`` sends a real transaction and returns its receipt's gasUsed. ``AnvilVerifier`` does
the same on an anvil process. ``Case`` is one generated input with the reference's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import eth_abi
from eth.vm.message import Message
from eth_tester import EthereumTester, PyEVMBackend
from eth_utils import keccak, to_canonical_address
from web3 import Web3

from curriculum.dataset import Dataset
from curriculum.source import PrivateDatasetSource
from devnet.artifacts import build_dir
from devnet.indexed_backend import IndexedBackend
from devnet.embedded_provider import embedded_web3
from kernel.errors import KernelError
from kernel.sources import PublicSource
from kernel.state import KernelState, from_bytes
from kernel.step import IllegalTransition, WindowStart, micro_step

STEP_TYPES = ["bytes", "(uint8,uint8,bytes32)", "(bytes32,uint32,bytes32,bytes,bytes32[])"]
STEP_SELECTOR = keccak(b"step(bytes,(uint8,uint8,bytes32),(bytes32,uint32,bytes32,bytes,bytes32[]))")[:4]
NO_SAMPLE: tuple[bytes, int, bytes, bytes, list[bytes]] = (bytes(32), 0, bytes(32), b"", [])
CALL_GAS = 60_000_000


def error_selector(signature: str) -> bytes:
    """The 4-byte selector of a custom error."""
    return keccak(signature.encode())[:4]


MALFORMED = error_selector("MalformedState(uint256)")
ROOT_MISMATCH = error_selector("DatasetRootMismatch()")
EMPTY_DATASET = error_selector("EmptyDataset()")
INVALID_RECORD = error_selector("InvalidRecord()")
BAD_PROOF = error_selector("BadMerkleProof()")


def encode_step(pre: bytes, w: WindowStart, sample: tuple[Any, ...] = NO_SAMPLE) -> bytes:
    """Calldata of step(pre, w, sample)."""
    return STEP_SELECTOR + eth_abi.encode(STEP_TYPES, [pre, (w.active_mask, w.lr_shift, w.epoch_seed), sample])


@dataclass
class Outcome:
    """What one execution of step returned: (preHash, postHash), or the revert data."""

    ok: bool
    pre_hash: bytes = b""
    post_hash: bytes = b""
    revert: bytes = b""
    gas: int = 0

    @classmethod
    def from_output(cls, ok: bool, output: bytes, gas: int) -> Outcome:
        if not ok:
            return cls(False, revert=bytes(output), gas=gas)
        a, b = eth_abi.decode(["bytes16", "bytes16"], bytes(output))
        return cls(True, a, b, gas=gas)


class VerifierChain:
    """A py-evm chain with the StepVerifier deployed from its committed artifact."""

    def __init__(self) -> None:
        artifact = json.loads((build_dir() / "StepVerifier.json").read_text())
        genesis = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": 60_000_000})
        self.backend = IndexedBackend(genesis_parameters=genesis)
        self.w3 = embedded_web3(EthereumTester(self.backend))
        self.sender = self.w3.eth.accounts[0]
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": self.sender, "gas": 8_000_000}))
        self.address = receipt.contractAddress
        self.contract = self.w3.eth.contract(address=self.address, abi=artifact["abi"])
        self.deployed_code = bytes(self.w3.eth.get_code(self.address))

    def call_data(self, data: bytes) -> Outcome:
        """Execute a call with raw calldata in the chain's latest state (nothing is committed)."""
        state = self.backend.chain.get_vm().state
        to = to_canonical_address(self.address)
        sender = to_canonical_address(self.sender)
        msg = Message(gas=CALL_GAS, to=to, sender=sender, value=0, data=data, code=self.deployed_code)
        tx_context = state.get_transaction_context_class()(gas_price=0, origin=sender)
        comp = state.computation_class.apply_computation(state, msg, tx_context)
        gas = CALL_GAS - comp.get_gas_remaining()
        return Outcome.from_output(comp.is_success, comp.output, gas)

    def call(self, pre: bytes, w: WindowStart, sample: tuple[Any, ...] = NO_SAMPLE) -> Outcome:
        """step(pre, w, sample) as a call."""
        return self.call_data(encode_step(pre, w, sample))

    def transact(self, pre: bytes, w: WindowStart, sample: tuple[Any, ...] = NO_SAMPLE) -> int:
        """step(pre, w, sample) as a mined transaction; returns its gasUsed (the whole transaction)."""
        tx = {"from": self.sender, "to": self.address, "data": encode_step(pre, w, sample), "gas": CALL_GAS}
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))
        assert receipt.status == 1
        return int(receipt.gasUsed)


class AnvilVerifier:
    """The StepVerifier deployed on an anvil process (Prague); ``call`` and ``transact`` as VerifierChain's."""

    def __init__(self, run_dir: str) -> None:
        from devnet.anvil import AnvilProcess

        artifact = json.loads((build_dir() / "StepVerifier.json").read_text())
        self.process = AnvilProcess(run_dir).start()
        self.w3 = Web3(Web3.HTTPProvider(self.process.url, request_kwargs={"timeout": 120}))
        self.sender = self.w3.eth.accounts[0]
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": self.sender, "gas": 8_000_000}))
        self.address = receipt.contractAddress

    def stop(self) -> None:
        self.process.stop()

    def call_data(self, data: bytes) -> Outcome:
        """eth_call with raw calldata; a revert comes back as its data."""
        resp = self.w3.provider.make_request("eth_call", [{"from": self.sender, "to": self.address, "data": "0x" + data.hex(),
                                                           "gas": hex(CALL_GAS)}, "latest"])
        if "error" in resp:
            raw = resp["error"].get("data") or "0x"
            return Outcome(False, revert=bytes.fromhex(raw[2:]) if isinstance(raw, str) else b"")
        return Outcome.from_output(True, bytes.fromhex(resp["result"][2:]), 0)

    def call(self, pre: bytes, w: WindowStart, sample: tuple[Any, ...] = NO_SAMPLE) -> Outcome:
        return self.call_data(encode_step(pre, w, sample))

    def transact(self, pre: bytes, w: WindowStart, sample: tuple[Any, ...] = NO_SAMPLE) -> int:
        tx = {"from": self.sender, "to": self.address, "data": encode_step(pre, w, sample), "gas": CALL_GAS}
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_transaction(tx))
        assert receipt.status == 1
        return int(receipt.gasUsed)


@dataclass
class Case:
    """One verifier input: the pre-state bytes, the window start and the beast's sample source."""

    pre: bytes
    w: WindowStart
    source: Any = field(default_factory=PublicSource)  # PublicSource or a v2 PrivateDatasetSource
    secret: bytes = bytes(32)  # S_owner of a private beast (revealed in the PrivateSample)

    @property
    def state(self) -> KernelState:
        return from_bytes(self.pre)

    def sample(self) -> tuple[Any, ...]:
        """The PrivateSample argument: the secret and the record the step samples, with its proof."""
        if not isinstance(self.source, PrivateDatasetSource):
            return NO_SAMPLE
        st = self.state
        proof = self.source.proof(st.seed_core, st.global_step)
        return (self.secret, proof.dataset_len, proof.merkle_root, proof.record, list(proof.path))

    def expected(self) -> bytes:
        """The reference's post-state h128, or bytes(16) for an illegal window start."""
        try:
            return micro_step(self.state, self.source, self.w).post_h128
        except IllegalTransition:
            return bytes(16)


def private_source(records: list[bytes], secret: bytes) -> PrivateDatasetSource:
    """A v2 private source over ``records`` (the dataset commitment is not used by a step)."""
    return PrivateDatasetSource(Dataset(keccak(b"".join(records)), b"".join(records)), secret, spec_version=2)


__all__ = ["AnvilVerifier", "Case", "KernelError", "Outcome", "VerifierChain", "encode_step", "private_source"]
