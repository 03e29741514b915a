// The verifier against the format's own vectors (tests/vectors/evidence-v1.json): every receipt verifies, and a
// change to any part of one fails at the step `xase verify` names.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { canonicalize, keyFingerprint, verifyReceipt } from "../lib/evidence.js";

const vectors = JSON.parse(readFileSync(new URL("../../../tests/vectors/evidence-v1.json", import.meta.url)));

test("JCS vectors canonicalize as the format says", () => {
  for (const vector of vectors.jcs) assert.equal(canonicalize(vector.value), vector.canonical);
});

test("the test key's fingerprint is its key id", async () => {
  assert.equal(await keyFingerprint(vectors.test_key.public_pem), vectors.test_key.key_id);
});

test("every vector receipt verifies, pinned or not", async () => {
  for (const receipt of vectors.receipts) {
    assert.deepEqual((await verifyReceipt(receipt)).ok, true);
    assert.equal((await verifyReceipt(receipt, { trustedKeyIds: [vectors.test_key.key_id] })).ok, true);
  }
});

test("a change to any part fails at its step", async () => {
  const cases = [
    [(r) => { r.record.policy_id += "x"; }, "record_hash"],
    [(r) => { r.record.confidence = 2; }, "format"],
    [(r) => { r.chain_position = r.chain_position === "genesis" ? "chained" : "genesis"; }, "position"],
    [(r) => { r.block.merkle_root = "0".repeat(64); }, "inclusion_proof"],
    [(r) => { r.block.sealed_at += "x"; }, "block_hash"],
    [(r) => { r.public_key.key_id = "sha256:" + "0".repeat(64); }, "public_key"],
    [(r) => { r.block.signature = "MEQCIB" + r.block.signature.slice(6); }, "signature"],
  ];
  for (const [change, step] of cases) {
    const receipt = structuredClone(vectors.receipts[1]);
    change(receipt);
    assert.equal((await verifyReceipt(receipt)).step, step, step);
  }
  assert.equal((await verifyReceipt(vectors.receipts[0], { trustedKeyIds: ["sha256:" + "1".repeat(64)] })).step, "public_key");
});
