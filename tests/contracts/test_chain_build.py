"""The committed artifacts are exactly what the pinned compiler produces from the sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from devnet import artifacts
from devnet.season import SPEC_VERSIONS

from ledger_chain import LedgerChain

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
needs_npm = pytest.mark.skipif(
    not (CONTRACTS / "node_modules" / "solc").exists() or shutil.which("node") is None,
    reason="contracts/node_modules missing: run `cd contracts && npm ci` (CI does)",
)


@needs_npm
def test_artifacts_rebuild_byte_for_byte() -> None:
    proc = subprocess.run(["node", "compile.js", "--check"], cwd=CONTRACTS, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "6 artifacts match" in proc.stdout  # the four ledger contracts, BisectionGame and the StepVerifier
    assert not (CONTRACTS / "build" / "DisputeGame.json").exists()  # the vote game is gone (issue 13)


def test_artifacts_pin_compiler_and_settings() -> None:
    pkg = json.loads((CONTRACTS / "package.json").read_text())
    assert pkg["dependencies"] == {"@openzeppelin/contracts": "5.7.0", "solc": "0.8.37"}
    assert pkg["devDependencies"] == {"@foundry-rs/anvil": "1.7.1"}
    for name in ("Energy", "Beast", "SeasonRegistry", "CheckpointLedger", "BisectionGame", "StepVerifier"):
        raw = json.loads((CONTRACTS / "build" / f"{name}.json").read_text())
        assert raw["compiler"]["version"].startswith("0.8.37+")
        assert raw["compiler"]["settings"]["evmVersion"] == "prague"
        assert raw["compiler"]["settings"]["optimizer"]["enabled"] is True
        assert raw["compiler"]["settings"]["optimizer"]["runs"] >= 10_000
        assert raw["sourceHash"].startswith("0x") and len(raw["sourceHash"]) == 66
        # EIP-170: deployed code must stay under 24,576 bytes.
        assert 0 < (len(raw["deployedBytecode"]) - 2) // 2 < 24_576


@pytest.fixture(scope="module")
def chains() -> dict[int, LedgerChain]:
    return {v: LedgerChain.start(accounts=2, spec_version=v) for v in SPEC_VERSIONS}


def test_every_contract_has_a_version(chains: dict[int, LedgerChain]) -> None:
    ch = chains[SPEC_VERSIONS[-1]]
    expected = {"Energy": "1.0.0", "Beast": "4.1.0", "SeasonRegistry": "1.4.0", "CheckpointLedger": "3.2.0"}
    for name, version in expected.items():
        assert ch.call(ch.c[name], "version") == version, name


@pytest.mark.parametrize("version", SPEC_VERSIONS)
def test_deployed_code_matches_artifacts(chains: dict[int, LedgerChain], version: int) -> None:
    """Beast's runtime code is the artifact's, except the immutable SPEC_VERSION the constructor
    filled in: each byte that differs is the last byte of a 32-byte word that is zero in the
    artifact and holds the deployment's spec version on chain."""
    ch = chains[version]
    art = bytes.fromhex(artifacts.load("Beast").deployed_bytecode.removeprefix("0x"))
    code = bytes(ch.w3.eth.get_code(ch.beast.address))
    assert len(code) == len(art)
    diff = [i for i in range(len(code)) if code[i] != art[i]]
    assert diff, "SPEC_VERSION is an immutable: its value is in the deployed code"
    for i in diff:
        assert i >= 31 and art[i - 31:i + 1] == bytes(32), i
        assert int.from_bytes(code[i - 31:i + 1], "big") == version, i
