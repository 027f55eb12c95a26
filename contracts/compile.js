#!/usr/bin/env node
// Compile contracts/src/*.sol through solc's standard-JSON interface and write one artifact per
// contract to contracts/build/<Name>.json (ABI, bytecode, deployed bytecode, storage layout,
// compiler version, source hash). `node compile.js --check` compiles into memory and exits 1 if
// any committed artifact differs by one byte (the test suite runs it).
"use strict";

const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const solc = require("solc");

const ROOT = __dirname;
const SRC = path.join(ROOT, "src");
const BUILD = path.join(ROOT, "build");
const SETTINGS = {
  optimizer: { enabled: true, runs: 20000 },
  evmVersion: "prague",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "storageLayout"] } },
};
// Compilation units: each is compiled on its own and its artifacts carry its own source hash. The
// StepVerifier (spec-version-2 one-step verifier) is a unit of its own so that adding or changing it
// leaves the ledger contracts' artifacts (and the source hash deployments files record) untouched.
const UNITS = [
  { contracts: ["Energy", "Beast", "SeasonRegistry", "CheckpointLedger", "BisectionGame"], files: null, settings: SETTINGS },
  // IStepVerifier.sol is shared: the verifier implements it, BisectionGame calls through it.
  { contracts: ["StepVerifier"], files: ["StepVerifier.sol", "IStepVerifier.sol"], own: ["StepVerifier.sol"], settings: SETTINGS },
];
const OWN_UNIT_FILES = new Set(UNITS.flatMap((u) => u.own || []));

function sources(files) {
  const out = {};
  const all = fs.readdirSync(SRC).filter((f) => f.endsWith(".sol")).sort();
  for (const file of files || all.filter((f) => !OWN_UNIT_FILES.has(f))) {
    out[`src/${file}`] = { content: fs.readFileSync(path.join(SRC, file), "utf8") };
  }
  return out;
}

function findImport(name) {
  const candidates = [path.join(ROOT, "node_modules", name), path.join(ROOT, name)];
  for (const p of candidates) {
    if (fs.existsSync(p)) return { contents: fs.readFileSync(p, "utf8") };
  }
  return { error: `import not found: ${name}` };
}

function compile() {
  const artifacts = {};
  for (const unit of UNITS) Object.assign(artifacts, compileUnit(unit));
  return artifacts;
}

function compileUnit(unit) {
  const SETTINGS = unit.settings;
  const CONTRACTS = unit.contracts;
  const input = { language: "Solidity", sources: sources(unit.files), settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage + "\n");
  if (errors.length) throw new Error(`solc reported ${errors.length} error(s)`);
  // The source hash covers every source unit solc saw (ours and OpenZeppelin's) and the settings.
  const seen = Object.keys(output.sources).sort();
  const h = crypto.createHash("sha256");
  h.update(JSON.stringify(SETTINGS));
  for (const name of seen) {
    const content = name.startsWith("src/") ? input.sources[name].content : findImport(name).contents;
    h.update(name + "\0" + content + "\0");
  }
  const sourceHash = "0x" + h.digest("hex");
  const artifacts = {};
  for (const name of CONTRACTS) {
    const c = output.contracts[`src/${name}.sol`][name];
    artifacts[name] = {
      contractName: name,
      sourceName: `src/${name}.sol`,
      compiler: { name: "solc", version: solc.version(), settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion } },
      sourceHash,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      // Where each state variable lives (inherited ones included), for clients that build
      // EIP-2930 access lists and for the test that pins slots read directly in assembly.
      storage: c.storageLayout.storage.map((v) => ({
        label: v.label,
        slot: Number(v.slot),
        offset: v.offset,
      })),
    };
  }
  return artifacts;
}

function render(artifact) {
  return JSON.stringify(artifact, null, 2) + "\n";
}

function main() {
  const check = process.argv.includes("--check");
  const artifacts = compile();
  let bad = 0;
  if (!check) fs.mkdirSync(BUILD, { recursive: true });
  for (const [name, artifact] of Object.entries(artifacts)) {
    const file = path.join(BUILD, `${name}.json`);
    const text = render(artifact);
    const size = (artifact.deployedBytecode.length - 2) / 2;
    if (check) {
      const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
      if (old !== text) {
        process.stderr.write(`differs: build/${name}.json\n`);
        bad += 1;
      }
    } else {
      fs.writeFileSync(file, text);
      process.stdout.write(`wrote build/${name}.json (${size} bytes deployed)\n`);
    }
  }
  if (check) {
    if (bad) process.exit(1);
    process.stdout.write(`ok: ${Object.keys(artifacts).length} artifacts match\n`);
  }
}

main();
