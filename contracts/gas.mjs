// Gas per mint of LeadNFT.mintBatch, from receipts, on the pinned npm anvil.
//
//   node contracts/gas.mjs [--json] [--breakdown]
//
// Starts anvil on a free 127.0.0.1 port, deploys LeadNFT from the committed
// artifact, and mints batches of 1, 10, 20 and 50 (3 transactions each) for
// three kinds of recipients:
//   repeat   — the batch goes to 5 buyers who already hold tokens (cycled);
//   existing — every token to a different address that already holds one;
//   new      — every token to an address that holds nothing yet.
// Prints a markdown table of gasUsed / n (the 21 000 base cost and calldata
// included) and checks SPEC §14's targets at n = 50: ≤ 30 000 per mint when
// recipients already hold tokens (the repeat case), ≤ 50 000 when all are new.
// Exits 1 when a target is missed. Bounded to 120 s; always kills anvil.
// --breakdown adds, per case, the opcode-level cost of one mint in a batch of
// 50 from debug_traceTransaction (SSTORE, SLOAD, LOG4, KECCAK256, the rest)
// and the intrinsic cost (21 000 + calldata) per request.
import crypto from "node:crypto";
import { getAddress } from "ethers";
import { artifact, startAnvil, sendTx, deploy, deadline } from "./lib.mjs";

const SIZES = [1, 10, 20, 50];
const REPS = 3;
const TARGETS = { repeat: 30_000, new: 50_000 };
const json = process.argv.includes("--json");
const breakdown = process.argv.includes("--breakdown");

const randomAddress = () => getAddress("0x" + crypto.randomBytes(20).toString("hex"));
const randomLeadId = () => "0x" + crypto.randomBytes(16).toString("hex");

// A realistic request: vertical 1..50, score 0..10 000, price 5..500 USDC.
function request(to) {
  return {
    leadId: randomLeadId(),
    to,
    verticalId: 1 + crypto.randomInt(50),
    score: crypto.randomInt(10_001),
    priceMicros: BigInt(5_000_000 + crypto.randomInt(495_000_000)),
    soldAt: Math.floor(Date.now() / 1000),
  };
}

async function main() {
  // Step tracing (for --breakdown) records opcodes; it does not change gas.
  const anvil = await startAnvil(breakdown ? ["--steps-tracing"] : []);
  try {
    const { rpc, accounts } = anvil;
    const [owner, minter] = accounts;
    const nft = artifact("LeadNFT");
    const address = await deploy(rpc, owner, "LeadNFT", [owner, "https://leadex.example/v1/nft/", owner, 250]);
    await sendTx(rpc, { from: owner, to: address, data: nft.iface.encodeFunctionData("setMinter", [minter, true]) });

    const mint = async (requests) => {
      const data = nft.iface.encodeFunctionData("mintBatch", [requests]);
      const r = await sendTx(rpc, { from: minter, to: address, data, gas: 15_000_000 });
      if (r.status !== "0x1") throw new Error(`mintBatch of ${requests.length} reverted`);
      return Number(BigInt(r.gasUsed));
    };

    // Holders: 50 addresses with one token each, 5 repeat buyers likewise.
    const holders = Array.from({ length: 50 }, randomAddress);
    const buyers = Array.from({ length: 5 }, randomAddress);
    await mint(holders.map(request));
    await mint(buyers.map(request));

    const cases = {
      repeat: (i) => buyers[i % buyers.length],
      existing: (i) => holders[i],
      new: () => randomAddress(),
    };
    const results = {};
    for (const [name, pick] of Object.entries(cases)) {
      results[name] = {};
      for (const n of SIZES) {
        let total = 0;
        for (let rep = 0; rep < REPS; rep++) {
          total += await mint(Array.from({ length: n }, (_, i) => request(pick(i))));
        }
        const tx = total / REPS;
        results[name][n] = { tx: Math.round(tx), perMint: Math.round(tx / n) };
      }
    }

    const node = await rpc("anvil_nodeInfo", []).catch(() => ({}));

    const breakdowns = {};
    if (breakdown) {
      for (const [name, pick] of Object.entries(cases)) {
        const n = 50;
        const data = nft.iface.encodeFunctionData("mintBatch", [Array.from({ length: n }, (_, i) => request(pick(i)))]);
        const receipt = await sendTx(rpc, { from: minter, to: address, data, gas: 15_000_000 });
        const trace = await rpc("debug_traceTransaction", [
          receipt.transactionHash,
          { disableStack: true, disableStorage: true, enableMemory: false },
        ]);
        const byOp = {};
        let execution = 0;
        for (const step of trace.structLogs) {
          if (step.depth !== 1) continue;
          const key = ["SSTORE", "SLOAD", "LOG4", "KECCAK256"].includes(step.op) ? step.op : "other";
          byOp[key] = (byOp[key] ?? 0) + step.gasCost;
          execution += step.gasCost;
        }
        const bytes = Buffer.from(data.slice(2), "hex");
        const zero = bytes.filter((b) => b === 0).length;
        const calldataGas = 16 * (bytes.length - zero) + 4 * zero;
        breakdowns[name] = {
          gasUsed: Number(BigInt(receipt.gasUsed)),
          perMint: Object.fromEntries(Object.entries(byOp).map(([k, v]) => [k, Math.round(v / n)])),
          calldataPerMint: Math.round(calldataGas / n),
          intrinsic: Number(BigInt(receipt.gasUsed)) - execution,
        };
      }
    }
    const checks = Object.entries(TARGETS).map(([name, max]) => ({
      name,
      max,
      got: results[name][50].perMint,
      ok: results[name][50].perMint <= max,
    }));

    if (json) {
      console.log(JSON.stringify({ hardfork: node.hardFork ?? null, results, checks, breakdowns }, null, 2));
    } else {
      console.log(`LeadNFT.mintBatch — gas per mint (receipt gasUsed / n, mean of ${REPS} txs), anvil 1.7.1` +
        (node.hardFork ? `, hardfork ${node.hardFork}` : "") + ", solc 0.8.37 optimizer 200 runs\n");
      console.log("| recipients | n = 1 | n = 10 | n = 20 | n = 50 | marginal mint |");
      console.log("|---|---:|---:|---:|---:|---:|");
      const label = {
        repeat: "5 buyers who already hold tokens",
        existing: "each a different address already holding",
        new: "each a new address",
      };
      for (const [name, row] of Object.entries(results)) {
        const marginal = Math.round((row[50].tx - row[1].tx) / 49);
        console.log(`| ${label[name]} | ${SIZES.map((n) => row[n].perMint.toLocaleString("en-US")).join(" | ")} | ${marginal.toLocaleString("en-US")} |`);
      }
      console.log("\n(marginal mint = (tx gas at 50 − tx gas at 1) / 49: one more token in a batch)\n");
      if (breakdown) {
        console.log("Per mint in a batch of 50, from debug_traceTransaction (top-level frame):\n");
        console.log("| recipients | SSTORE | SLOAD | LOG4 | KECCAK256 | other opcodes | calldata | tx gasUsed / 50 |");
        console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (const [name, b] of Object.entries(breakdowns)) {
          const p = b.perMint;
          console.log(`| ${name} | ${p.SSTORE ?? 0} | ${p.SLOAD ?? 0} | ${p.LOG4 ?? 0} | ${p.KECCAK256 ?? 0} | ${p.other ?? 0} | ${b.calldataPerMint} | ${Math.round(b.gasUsed / 50)} |`);
        }
        console.log("\n(intrinsic gas of the 50-mint transaction = 21 000 + calldata; calldata per mint includes the 4-byte selector and array head / 50)\n");
      }
      for (const c of checks) {
        console.log(`${c.ok ? "ok  " : "MISS"} ${c.name}: ${c.got} gas/mint at n = 50 (target ≤ ${c.max})`);
      }
    }
    return checks.every((c) => c.ok) ? 0 : 1;
  } finally {
    await anvil.stop();
  }
}

const limit = deadline(120_000, "gas.mjs");
Promise.race([main(), limit.promise]).then(
  (code) => {
    limit.cancel();
    process.exit(code);
  },
  (err) => {
    console.error(err.stack ?? String(err));
    process.exit(2);
  },
);
