// Compiles contracts/src/*.sol with the pinned npm solc (standard-JSON) and
// writes one deterministic artifact per contract:
//   <outDir>/<Name>.json = { abi, bytecode: {object}, deployedBytecode: {object},
//                            methodIdentifiers, compiler: {version, settings} }
// Keys are sorted at every level and nothing time- or path-dependent is
// written, so two builds are byte-identical.
//
// Usage: node build.mjs [outDir]   (default: ./artifacts)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.argv[2] ?? path.join(here, "artifacts"));

// The contracts we ship, by source file. Anything else the compiler sees
// (Solady) is a dependency and gets no artifact.
const CONTRACTS = {
  "src/LeadNFT.sol": "LeadNFT",
  "src/Escrow.sol": "Escrow",
  "src/TestUSDC.sol": "TestUSDC",
};

const SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  // No IPFS/Swarm hash of the metadata in the bytecode: the CBOR trailer then
  // only carries the compiler version and the bytecode depends on nothing but
  // the sources and these settings.
  metadata: { bytecodeHash: "none" },
  remappings: ["solady/=node_modules/solady/src/"],
};

const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    Object.keys(CONTRACTS).map((file) => [file, { content: fs.readFileSync(path.join(here, file), "utf8") }]),
  ),
  settings: {
    ...SETTINGS,
    outputSelection: {
      "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "evm.methodIdentifiers"] },
    },
  },
};

// Imports resolve inside this directory only (src/ and node_modules/solady).
function findImports(unit) {
  const full = path.resolve(here, unit);
  if (!full.startsWith(here + path.sep)) return { error: `import outside contracts/: ${unit}` };
  try {
    return { contents: fs.readFileSync(full, "utf8") };
  } catch (e) {
    return { error: `cannot read ${unit}: ${e.message}` };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

// Errors anywhere and warnings in our own sources are printed; warnings in
// dependencies (Solady's deprecated natspec annotations under 0.8.37) are
// only counted.
let failed = false;
let dependencyWarnings = 0;
for (const err of output.errors ?? []) {
  const text = err.formattedMessage ?? err.message;
  const file = err.sourceLocation?.file ?? "";
  if (err.severity === "error") failed = true;
  else if (!file.startsWith("src/")) {
    dependencyWarnings++;
    continue;
  }
  process.stderr.write(text.endsWith("\n") ? text : text + "\n");
}
if (dependencyWarnings > 0) process.stderr.write(`(${dependencyWarnings} warnings in dependencies not shown)\n`);
if (failed) {
  process.stderr.write("solc: compilation failed\n");
  process.exit(1);
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}

const hex = (s) => (s.startsWith("0x") ? s : "0x" + s);

fs.mkdirSync(outDir, { recursive: true });
for (const [file, name] of Object.entries(CONTRACTS)) {
  const c = output.contracts?.[file]?.[name];
  if (!c) {
    process.stderr.write(`solc produced no ${name} in ${file}\n`);
    process.exit(1);
  }
  const artifact = sortKeys({
    abi: c.abi,
    bytecode: { object: hex(c.evm.bytecode.object) },
    deployedBytecode: { object: hex(c.evm.deployedBytecode.object) },
    methodIdentifiers: c.evm.methodIdentifiers,
    compiler: { version: solc.version(), settings: SETTINGS },
  });
  fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + "\n");
  const size = (c.evm.deployedBytecode.object.length / 2) | 0;
  process.stdout.write(`${name}: ${size} bytes deployed -> ${path.relative(process.cwd(), path.join(outDir, name + ".json")) || name + ".json"}\n`);
}
