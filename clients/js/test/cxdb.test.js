// The seed's client against a real ledger: tests/console/test_js_client.py starts one and runs this file with
// XASE_URL (the ledger's origin) and XASE_API_KEY (a key with records:read, records:write and contexts).
// Without them these tests skip.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CxdbClient, XaseApiError, canonicalize, openNote, parseNote, parseVkey, verifyConsistency, verifyHistory, verifyReceipt } from "../lib/index.js";
import { fromBase64 } from "../lib/tlog.js";

const url = process.env.XASE_URL;
const apiKey = process.env.XASE_API_KEY;
const skip = url && apiKey ? false : "set XASE_URL and XASE_API_KEY to run against a ledger";
const client = new CxdbClient(url ?? "http://127.0.0.1:9", { apiKey });
const message = (text) => ({ type_id: "com.example.Message", type_version: 1, data: { role: "user", text } });

test("the seed's flow: createContext, appendTurn, getTurns", { skip }, async () => {
  const ctx = await client.createContext();
  assert.equal(ctx.head_turn_id, "0");
  const turn = await client.appendTurn(ctx.context_id, message("Hello!"));
  assert.equal(turn.depth, 1);
  const page = await client.getTurns(ctx.context_id, { limit: 10 });
  assert.deepEqual(page.turns.map((t) => t.data), [{ role: "user", text: "Hello!" }]);
});

test("a fork shares the history below its turn, and each history verifies where it is read", { skip }, async () => {
  const ctx = await client.createContext({ tag: "node-test" });
  const [first, second] = await client.appendTurns(ctx.context_id, [message("one"), message("two")]);
  const branch = await client.fork(first.turn_id, { tag: "node-branch" });
  const third = await client.appendTurn(branch.context_id, message("three"));
  assert.equal(third.depth, 2);
  const info = await client.getContext(branch.context_id, { include_lineage: true });
  assert.equal(info.lineage.parent_context_id, ctx.context_id);
  assert.equal(info.lineage.forked_from_turn_id, first.turn_id);
  assert.deepEqual((await client.children(ctx.context_id)).children.map((c) => c.context_id), [branch.context_id]);
  const history = await client.history(branch.context_id);
  assert.deepEqual(history.map((t) => t.turn_id), [first.turn_id, third.turn_id]);
  assert.deepEqual(await verifyHistory(history, { headTurnHash: info.head_turn_hash }).then((v) => v.ok), true);
  const main = await client.history(ctx.context_id, { turnId: second.turn_id });
  assert.equal((await verifyHistory(main, { headTurnHash: second.turn_hash })).ok, true);
  const listed = await client.listContexts({ tag: "node-branch" });
  assert.deepEqual(listed.contexts.map((c) => c.context_id), [branch.context_id]);
});

test("blobs and the registry", { skip }, async () => {
  const ctx = await client.createContext();
  const turn = await client.appendTurn(ctx.context_id, message("a blob"));
  const blob = await client.getBlob(turn.content_hash);
  const [raw] = (await client.getTurns(ctx.context_id, { view: "raw" })).turns;
  assert.equal(Buffer.from(blob).toString("base64"), raw.bytes_b64);
  const bundle = {
    registry_version: 1, bundle_id: "node-2026-12-07",
    types: { "com.example.Message": { versions: { 1: { fields: { 1: { name: "role", type: "string" }, 2: { name: "text", type: "string" } } } } } },
  };
  assert.equal(await client.putBundle("node-2026-12-07", bundle), true);
  assert.equal(await client.putBundle("node-2026-12-07", bundle), false);
  assert.equal((await client.getType("com.example.Message", 1)).type_id, "com.example.Message");
  assert.ok((await client.listTypes()).types.some((t) => t.type_id === "com.example.Message"));
  assert.ok((await client.stats()).turns >= 1);
});

test("decisions and their receipts, verified here", { skip }, async () => {
  const id = `node_${Date.now()}`;
  await client.record({ transaction_id: id, policy_id: "node_policy", input: { a: 1 }, output: { ok: true } });
  const page = await client.listRecords({ policy_id: "node_policy" });
  assert.ok(page.records.some((r) => r.transaction_id === id));
  assert.equal((await client.getRecord(id)).transaction_id, id);
  let receipt;
  for (let attempt = 0; attempt < 100 && !receipt; attempt++) {  // the record is in a signed block within the seal interval
    try { receipt = await client.getReceipt(id); } catch (error) { if (!(error instanceof XaseApiError) || error.status !== 404) throw error; }
    if (!receipt) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal((await verifyReceipt(receipt)).ok, true);
  assert.match(await client.getTlogProof(id), /^c2sp\.org\/tlog-proof@v1\n/);
});

test("errors keep the ledger's status and code; ids are escaped into URLs", { skip }, async () => {
  await assert.rejects(client.getContext("999999999"), (error) => error instanceof XaseApiError && error.status === 404 && error.code === "NOT_FOUND");
  await assert.rejects(client.getRecord("../../admin/tenants"), (error) => error instanceof XaseApiError && error.status === 404);
  await assert.rejects(new CxdbClient(url, { apiKey: "xase_pk_wrong" }).stats(), (error) => error.status === 401);
  assert.equal(canonicalize({ b: 1, a: [true, null] }), '{"a":[true,null],"b":1}');
});

async function checkpointAbove(size) {
  for (let attempt = 0; attempt < 150; attempt++) {  // one is signed within XASE_CHECKPOINT_INTERVAL (1 s) of an append
    try {
      const checkpoint = parseNote(await client.getCheckpoint());
      if (checkpoint.size > size) return checkpoint;
    } catch (error) {
      if (!(error instanceof XaseApiError) || error.status !== 404) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no checkpoint above ${size}`);
}

test("the log: checkpoints signed by the log's keys, a newer one consistent with an older one", { skip }, async () => {
  await client.record({ policy_id: "node_log", input: { a: 1 }, output: { ok: true } });
  const older = await checkpointAbove(0);
  await client.record({ policy_id: "node_log", input: { a: 2 }, output: { ok: true } });
  const newer = await checkpointAbove(older.size);
  const keys = await Promise.all((await client.getLogKeys()).vkeys.map(parseVkey));
  assert.equal((await openNote(newer, keys)).length, 2);  // the Ed25519 line and the ECDSA line
  const { proof } = await client.getConsistencyProof(older.size, newer.size);
  const hashes = proof.map((entry) => fromBase64(entry, "proof"));
  await verifyConsistency(older.size, newer.size, older.root, newer.root, hashes);
  const forged = Uint8Array.from(newer.root);
  forged[0] ^= 1;
  await assert.rejects(verifyConsistency(older.size, newer.size, older.root, forged, hashes), /root/);
});
