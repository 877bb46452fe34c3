// Shared by gas.mjs and test.mjs: start/stop the pinned npm anvil on a free
// loopback port, a minimal JSON-RPC client, and deployment from the
// committed artifacts.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Interface, ContractFactory, getAddress } from "ethers";

const here = path.dirname(fileURLToPath(import.meta.url));
export const ANVIL_BIN = path.join(here, "node_modules", "@foundry-rs", "anvil-linux-amd64", "bin", "anvil");

/** The artifact of `name` from contracts/artifacts (as committed). */
export function artifact(name) {
  const a = JSON.parse(fs.readFileSync(path.join(here, "artifacts", `${name}.json`), "utf8"));
  return { ...a, iface: new Interface(a.abi) };
}

/** A free TCP port on 127.0.0.1 (bound once and released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts anvil on 127.0.0.1:<free port> and waits (≤ 15 s) until it answers.
 * Returns { rpc, url, stop, accounts, port }. `stop()` kills exactly this
 * process (also done on exit and on SIGINT/SIGTERM/SIGHUP).
 */
export async function startAnvil(extraArgs = []) {
  if (!fs.existsSync(ANVIL_BIN)) throw new Error(`anvil not installed: run npm ci in contracts/ (${ANVIL_BIN})`);
  const port = await freePort();
  const child = spawn(ANVIL_BIN, ["--host", "127.0.0.1", "--port", String(port), "--quiet", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  let exited = false;
  const exit = new Promise((resolve) => child.on("exit", () => resolve((exited = true))));
  // Kills exactly this anvil; the returned promise resolves once it is reaped.
  const stop = () => {
    if (!exited) child.kill("SIGKILL");
    return exit;
  };
  // Never outlive the script, whatever way it ends.
  process.once("exit", stop);
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
    process.once(sig, () => {
      stop();
      process.exit(code);
    });
  }
  const url = `http://127.0.0.1:${port}`;
  const rpc = makeRpc(url);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) throw new Error(`anvil exited early: ${stderr}`);
    try {
      await rpc("eth_chainId", []);
      break;
    } catch {
      if (Date.now() > deadline) {
        stop();
        throw new Error(`anvil did not answer on ${url} within 15 s: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const accounts = (await rpc("eth_accounts", [])).map((a) => getAddress(a));
  return { rpc, url, stop, accounts, port };
}

let rpcId = 0;
export function makeRpc(url) {
  return async function rpc(method, params) {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.json();
    if (body.error) {
      const err = new Error(`${method}: ${body.error.message}`);
      err.rpc = body.error;
      throw err;
    }
    return body.result;
  };
}

/** Sends a transaction from an unlocked anvil account (automine) and returns its receipt. */
export async function sendTx(rpc, { from, to, data, gas }) {
  const tx = { from, data };
  if (to) tx.to = to;
  if (gas) tx.gas = "0x" + gas.toString(16);
  const hash = await rpc("eth_sendTransaction", [tx]);
  for (let i = 0; i < 200; i++) {
    const receipt = await rpc("eth_getTransactionReceipt", [hash]);
    if (receipt) return receipt;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no receipt for ${hash}`);
}

/** Read-only call; returns the decoded result of `fn` on `iface`. */
export async function call(rpc, iface, to, fn, args = [], from) {
  const data = iface.encodeFunctionData(fn, args);
  const out = await rpc("eth_call", [{ to, data, ...(from ? { from } : {}) }, "latest"]);
  return iface.decodeFunctionResult(fn, out);
}

/** Deploys artifact `name` with constructor `args`; returns its address. */
export async function deploy(rpc, from, name, args = []) {
  const a = artifact(name);
  const factory = new ContractFactory(a.abi, a.bytecode.object);
  const { data } = await factory.getDeployTransaction(...args);
  const receipt = await sendTx(rpc, { from, data });
  if (receipt.status !== "0x1") throw new Error(`deploying ${name} failed`);
  return getAddress(receipt.contractAddress);
}

/** Rejects after `ms` with a message; used to bound every script. */
export function deadline(ms, what) {
  let timer;
  const p = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return { promise: p, cancel: () => clearTimeout(timer) };
}
