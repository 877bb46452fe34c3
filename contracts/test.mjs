// Contract tests against the pinned npm anvil, using the committed artifacts.
//
//   node --test contracts/test.mjs
//
// One anvil on a free 127.0.0.1 port for the whole file, killed in `after`
// (and on exit); every test has a 30 s timeout and the file a 120 s guard.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { getAddress, keccak256, ZeroAddress, ZeroHash } from "ethers";
import { artifact, startAnvil, sendTx, call, deploy } from "./lib.mjs";

const T = { timeout: 30_000 };
const BASE_URI = "https://leadex.example/v1/nft/";
const ROYALTY_BPS = 250n;

const nft = artifact("LeadNFT");
const escrow = artifact("Escrow");
const usdc = artifact("TestUSDC");

let anvil;
let rpc;
let owner, minter, outsider, buyer, operator, royalty;
let nftAddr, escrowAddr, usdcAddr;

const guard = setTimeout(() => {
  console.error("test.mjs: 120 s guard reached, stopping anvil");
  anvil?.stop();
  process.exit(1);
}, 120_000);
guard.unref();

const randomAddress = () => getAddress("0x" + crypto.randomBytes(20).toString("hex"));
const randomLeadId = () => "0x" + crypto.randomBytes(16).toString("hex");
const tokenId = (leadId) => BigInt(keccak256(leadId));

function request(to, overrides = {}) {
  return {
    leadId: randomLeadId(),
    to,
    verticalId: 7,
    score: 8_650,
    priceMicros: 42_500_000n,
    soldAt: 1_767_225_600,
    ...overrides,
  };
}

/** Sends `fn(args)` on `contract` from `from`; asserts success; returns the receipt. */
async function exec(from, contractAddr, { iface }, fn, args) {
  const data = iface.encodeFunctionData(fn, args);
  const receipt = await sendTx(rpc, { from, to: contractAddr, data, gas: 10_000_000 });
  assert.equal(receipt.status, "0x1", `${fn} should succeed`);
  return receipt;
}

/** Asserts that `fn(args)` from `from` reverts with custom error `errorName`; returns its args. */
async function expectRevert(from, contractAddr, { iface }, fn, args, errorName) {
  const data = iface.encodeFunctionData(fn, args);
  return expectRawRevert(from, contractAddr, iface, data, errorName);
}

async function expectRawRevert(from, contractAddr, iface, data, errorName) {
  let error;
  try {
    await rpc("eth_call", [{ from, to: contractAddr, data, gas: "0x989680" }, "latest"]);
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a revert with ${errorName}`);
  const revertData = typeof error.rpc?.data === "string" ? error.rpc.data : error.rpc?.data?.data;
  assert.ok(revertData, `revert without data: ${error.message}`);
  const parsed = iface.parseError(revertData);
  assert.equal(parsed?.name, errorName, `expected ${errorName}, got ${parsed?.name ?? revertData}`);
  return parsed.args;
}

function logsOf(receipt, contractAddr, { iface }, eventName) {
  return receipt.logs
    .filter((l) => getAddress(l.address) === contractAddr)
    .map((l) => iface.parseLog(l))
    .filter((p) => p && p.name === eventName);
}

before(async () => {
  anvil = await startAnvil();
  rpc = anvil.rpc;
  [owner, minter, outsider, buyer, operator, royalty] = anvil.accounts;
  nftAddr = await deploy(rpc, owner, "LeadNFT", [owner, BASE_URI, royalty, ROYALTY_BPS]);
  usdcAddr = await deploy(rpc, owner, "TestUSDC");
  escrowAddr = await deploy(rpc, owner, "Escrow", [owner, usdcAddr]);
  await exec(owner, nftAddr, nft, "setMinter", [minter, true]);
  await exec(owner, escrowAddr, escrow, "setOperator", [operator, true]);
});

after(async () => {
  await anvil?.stop();
});

describe("LeadNFT", () => {
  it("mintBatch mints each token to its own buyer with its metadata", T, async () => {
    const buyers = [randomAddress(), randomAddress(), randomAddress()];
    const reqs = [
      request(buyers[0], { verticalId: 1, score: 0, priceMicros: 1n, soldAt: 1 }),
      request(buyers[1], { verticalId: 65_535, score: 10_000, priceMicros: 123_456_789n }),
      request(buyers[2]),
    ];
    const receipt = await exec(minter, nftAddr, nft, "mintBatch", [reqs]);
    const transfers = logsOf(receipt, nftAddr, nft, "Transfer");
    assert.equal(transfers.length, 3);
    for (const [i, r] of reqs.entries()) {
      const id = tokenId(r.leadId);
      assert.equal((await call(rpc, nft.iface, nftAddr, "tokenIdOf", [r.leadId]))[0], id);
      assert.equal((await call(rpc, nft.iface, nftAddr, "ownerOf", [id]))[0], r.to);
      assert.equal((await call(rpc, nft.iface, nftAddr, "balanceOf", [r.to]))[0], 1n);
      assert.equal((await call(rpc, nft.iface, nftAddr, "exists", [id]))[0], true);
      assert.deepEqual(
        [...(await call(rpc, nft.iface, nftAddr, "metadata", [id]))],
        [r.to, BigInt(r.verticalId), BigInt(r.score), BigInt(r.priceMicros), BigInt(r.soldAt)],
      );
      const t = transfers[i].args;
      assert.deepEqual([t.from, t.to, t.id], [ZeroAddress, r.to, id]);
    }
  });

  it("a buyer's balance counts every token it receives, also within one batch", T, async () => {
    const b = randomAddress();
    await exec(minter, nftAddr, nft, "mintBatch", [[request(b), request(b)]]);
    await exec(minter, nftAddr, nft, "mintBatch", [[request(b)]]);
    assert.equal((await call(rpc, nft.iface, nftAddr, "balanceOf", [b]))[0], 3n);
  });

  it("rejects an already minted lead, across and within batches, atomically", T, async () => {
    const first = request(randomAddress());
    await exec(minter, nftAddr, nft, "mintBatch", [[first]]);
    const fresh = request(randomAddress());
    const again = { ...request(randomAddress()), leadId: first.leadId };
    const [id] = await expectRevert(minter, nftAddr, nft, "mintBatch", [[fresh, again]], "AlreadyMinted");
    assert.equal(id, tokenId(first.leadId));
    const dup = request(randomAddress());
    await expectRevert(minter, nftAddr, nft, "mintBatch", [[dup, { ...dup }]], "AlreadyMinted");
    // The reverted batches left nothing behind.
    assert.equal((await call(rpc, nft.iface, nftAddr, "exists", [tokenId(fresh.leadId)]))[0], false);
    assert.equal((await call(rpc, nft.iface, nftAddr, "exists", [tokenId(dup.leadId)]))[0], false);
    assert.equal((await call(rpc, nft.iface, nftAddr, "ownerOf", [tokenId(first.leadId)]))[0], first.to);
  });

  it("only authorized minters may mint; only the owner manages minters", T, async () => {
    await expectRevert(outsider, nftAddr, nft, "mintBatch", [[request(randomAddress())]], "NotMinter");
    await expectRevert(outsider, nftAddr, nft, "setMinter", [outsider, true], "Unauthorized");
    const receipt = await exec(owner, nftAddr, nft, "setMinter", [outsider, true]);
    assert.deepEqual([...logsOf(receipt, nftAddr, nft, "MinterSet")[0].args], [outsider, true]);
    await exec(outsider, nftAddr, nft, "mintBatch", [[request(randomAddress())]]);
    await exec(owner, nftAddr, nft, "setMinter", [outsider, false]);
    await expectRevert(outsider, nftAddr, nft, "mintBatch", [[request(randomAddress())]], "NotMinter");
    assert.equal((await call(rpc, nft.iface, nftAddr, "isMinter", [minter]))[0], true);
    assert.equal((await call(rpc, nft.iface, nftAddr, "isMinter", [outsider]))[0], false);
  });

  it("validates requests: zero recipient, score range, dirty fields; saturates the price", T, async () => {
    await expectRevert(minter, nftAddr, nft, "mintBatch", [[request(ZeroAddress)]], "TransferToZeroAddress");
    await expectRevert(minter, nftAddr, nft, "mintBatch", [[request(randomAddress(), { score: 10_001 })]], "ScoreOutOfRange");
    // verticalId with a bit above uint16: hand-edit the ABI encoding.
    const ok = request(randomAddress());
    let data = nft.iface.encodeFunctionData("mintBatch", [[request(randomAddress()), ok]]);
    // selector(4) + offset(32) + length(32) + request 0 (192) + leadId, to of request 1 (64)
    const at = 2 + 2 * (4 + 32 + 32 + 192 + 64);
    data = data.slice(0, at) + "00".repeat(29) + "010007" + data.slice(at + 64);
    const [index] = await expectRawRevert(minter, nftAddr, nft.iface, data, "InvalidRequest");
    assert.equal(index, 1n);
    const big = request(randomAddress(), { priceMicros: 2n ** 40n });
    await exec(minter, nftAddr, nft, "mintBatch", [[big]]);
    const max = (await call(rpc, nft.iface, nftAddr, "MAX_PRICE_MICROS", []))[0];
    assert.equal(max, 2n ** 34n - 1n);
    assert.equal((await call(rpc, nft.iface, nftAddr, "metadata", [tokenId(big.leadId)]))[3], max);
  });

  it("tokenURI is the base URI followed by the decimal token id", T, async () => {
    const r = request(randomAddress());
    await exec(minter, nftAddr, nft, "mintBatch", [[r]]);
    const id = tokenId(r.leadId);
    assert.equal((await call(rpc, nft.iface, nftAddr, "tokenURI", [id]))[0], BASE_URI + id.toString(10));
    await expectRevert(outsider, nftAddr, nft, "tokenURI", [tokenId(randomLeadId())], "TokenDoesNotExist");
    const receipt = await exec(owner, nftAddr, nft, "setBaseURI", ["https://other.example/v1/nft/"]);
    assert.equal(logsOf(receipt, nftAddr, nft, "BatchMetadataUpdate").length, 1);
    assert.equal((await call(rpc, nft.iface, nftAddr, "tokenURI", [id]))[0], "https://other.example/v1/nft/" + id);
    await expectRevert(outsider, nftAddr, nft, "setBaseURI", ["x"], "Unauthorized");
    await exec(owner, nftAddr, nft, "setBaseURI", [BASE_URI]);
    assert.equal((await call(rpc, nft.iface, nftAddr, "name", []))[0], "leadex Lead");
    assert.equal((await call(rpc, nft.iface, nftAddr, "symbol", []))[0], "LEAD");
  });

  it("royaltyInfo pays the receiver its basis points; interfaces are advertised", T, async () => {
    const r = request(randomAddress());
    await exec(minter, nftAddr, nft, "mintBatch", [[r]]);
    const [receiver, amount] = await call(rpc, nft.iface, nftAddr, "royaltyInfo", [tokenId(r.leadId), 1_000_000n]);
    assert.equal(receiver, royalty);
    assert.equal(amount, (1_000_000n * ROYALTY_BPS) / 10_000n);
    for (const iid of ["0x01ffc9a7", "0x80ac58cd", "0x5b5e139f", "0x2a55205a", "0x49064906"]) {
      assert.equal((await call(rpc, nft.iface, nftAddr, "supportsInterface", [iid]))[0], true, iid);
    }
    assert.equal((await call(rpc, nft.iface, nftAddr, "supportsInterface", ["0xffffffff"]))[0], false);
  });

  it("a transfer (custody claim) moves the token and keeps its metadata", T, async () => {
    const r = request(buyer, { score: 9_999, priceMicros: 77_000_000n });
    await exec(minter, nftAddr, nft, "mintBatch", [[r]]);
    const id = tokenId(r.leadId);
    const before = [...(await call(rpc, nft.iface, nftAddr, "metadata", [id]))];
    await exec(buyer, nftAddr, nft, "transferFrom", [buyer, outsider, id]);
    const after = [...(await call(rpc, nft.iface, nftAddr, "metadata", [id]))];
    assert.deepEqual(after, [outsider, ...before.slice(1)]);
  });
});

describe("Escrow and TestUSDC", () => {
  const ref = () => "0x" + crypto.randomBytes(32).toString("hex");
  const bal = async (who) => (await call(rpc, usdc.iface, usdcAddr, "balanceOf", [who]))[0];

  it("TestUSDC has 6 decimals and an open mint", T, async () => {
    assert.equal((await call(rpc, usdc.iface, usdcAddr, "decimals", []))[0], 6n);
    await exec(outsider, usdcAddr, usdc, "mint", [buyer, 1_000_000_000n]);
    assert.equal(await bal(buyer), 1_000_000_000n);
  });

  it("deposit pulls approved USDC and emits Deposited with the account reference", T, async () => {
    // A leadex account UUID, left-aligned in the bytes32.
    const account = "0x0190b3c2d4e5f60718293a4b5c6d7e8f" + "00".repeat(16);
    const before = await bal(buyer);
    await exec(buyer, usdcAddr, usdc, "approve", [escrowAddr, 250_000_000n]);
    const receipt = await exec(buyer, escrowAddr, escrow, "deposit", [250_000_000n, account]);
    const [ev] = logsOf(receipt, escrowAddr, escrow, "Deposited");
    assert.deepEqual([...ev.args], [buyer, account, 250_000_000n]);
    assert.equal(await bal(buyer), before - 250_000_000n);
    assert.equal(await bal(escrowAddr), 250_000_000n);
    assert.equal((await call(rpc, escrow.iface, escrowAddr, "reserves", []))[0], 250_000_000n);
    await expectRevert(buyer, escrowAddr, escrow, "deposit", [1n, account], "TransferFromFailed");
    await expectRevert(buyer, escrowAddr, escrow, "deposit", [0n, account], "ZeroAmount");
  });

  it("payoutBatch pays every seller once per ref, by operators only", T, async () => {
    const sellers = [randomAddress(), randomAddress(), randomAddress()];
    const amounts = [10_000_000n, 20_000_000n, 30_000_000n];
    const r = ref();
    await expectRevert(outsider, escrowAddr, escrow, "payoutBatch", [sellers, amounts, r], "NotOperator");
    await expectRevert(owner, escrowAddr, escrow, "payoutBatch", [sellers, amounts, r], "NotOperator");
    const reserves = await bal(escrowAddr);
    const receipt = await exec(operator, escrowAddr, escrow, "payoutBatch", [sellers, amounts, r]);
    const paid = logsOf(receipt, escrowAddr, escrow, "PaidOut").map((l) => [...l.args]);
    assert.deepEqual(paid, sellers.map((s, i) => [r, s, amounts[i]]));
    for (const [i, s] of sellers.entries()) assert.equal(await bal(s), amounts[i]);
    assert.equal(await bal(escrowAddr), reserves - 60_000_000n);
    assert.equal((await call(rpc, escrow.iface, escrowAddr, "refUsed", [r]))[0], true);
    await expectRevert(operator, escrowAddr, escrow, "payoutBatch", [sellers, amounts, r], "RefAlreadyUsed");
    await expectRevert(operator, escrowAddr, escrow, "payoutBatch", [sellers, amounts.slice(1), ref()], "LengthMismatch");
    await expectRevert(operator, escrowAddr, escrow, "payoutBatch", [[], [], ref()], "EmptyBatch");
    await expectRevert(operator, escrowAddr, escrow, "payoutBatch", [sellers, amounts, ZeroHash], "ZeroRef");
    await expectRevert(operator, escrowAddr, escrow, "payoutBatch", [[ZeroAddress], [1n], ref()], "ZeroAddress");
    await expectRevert(operator, escrowAddr, escrow, "payoutBatch", [[sellers[0]], [10n ** 15n], ref()], "TransferFailed");
  });

  it("withdrawTo sends a buyer's withdrawal once, by operators only", T, async () => {
    const to = randomAddress();
    const r = ref();
    await expectRevert(buyer, escrowAddr, escrow, "withdrawTo", [to, 5_000_000n, r], "NotOperator");
    const reserves = await bal(escrowAddr);
    const receipt = await exec(operator, escrowAddr, escrow, "withdrawTo", [to, 5_000_000n, r]);
    assert.deepEqual([...logsOf(receipt, escrowAddr, escrow, "Withdrawn")[0].args], [r, to, 5_000_000n]);
    assert.equal(await bal(to), 5_000_000n);
    assert.equal(await bal(escrowAddr), reserves - 5_000_000n);
    await expectRevert(operator, escrowAddr, escrow, "withdrawTo", [to, 5_000_000n, r], "RefAlreadyUsed");
    await expectRevert(operator, escrowAddr, escrow, "withdrawTo", [to, 0n, ref()], "ZeroAmount");
  });

  it("only the owner manages operators", T, async () => {
    await expectRevert(outsider, escrowAddr, escrow, "setOperator", [outsider, true], "Unauthorized");
    const receipt = await exec(owner, escrowAddr, escrow, "setOperator", [outsider, true]);
    assert.deepEqual([...logsOf(receipt, escrowAddr, escrow, "OperatorSet")[0].args], [outsider, true]);
    await exec(owner, escrowAddr, escrow, "setOperator", [outsider, false]);
    assert.equal((await call(rpc, escrow.iface, escrowAddr, "isOperator", [outsider]))[0], false);
    assert.equal((await call(rpc, escrow.iface, escrowAddr, "token", []))[0], usdcAddr);
  });
});
