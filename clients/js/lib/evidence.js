// Verify a Xase receipt (docs/evidence-format.md, section 5) with nothing but WebCrypto: in the auditor's own
// browser, or in Node 20+. The steps, their order and their names are those of `xase verify`
// (xase/evidence.py): format, record_hash, position, inclusion_proof, block_hash, public_key, signature, and for a
// receipt with a `tlog` member (format v2), tlog.
//
//   import { verifyReceipt } from "@xase/evidence";
//   const result = await verifyReceipt(receipt, { trustedKeyIds: ["sha256:..."] });
//   // { ok: true } or { ok: false, step: "signature", message: "..." }
import { ECDSA, LogError, derToRaw, fromBase64, leafHash, openNote, parseNote, parseVkey, verifyInclusion as verifyLogInclusion } from "./tlog.js";
const subtle = globalThis.crypto.subtle; // browsers, Node 20+
const encoder = new TextEncoder();
const ALGORITHM = "ECDSA_P256_SHA256";
const RECORD_FIELDS = ["v", "tenant_id", "seq", "prev_hash", "transaction_id", "policy_id", "policy_version", "decision_type", "confidence",
    "processing_time_ms", "input_hash", "output_hash", "context_hash", "commitment", "payload_ref", "recorded_at"];
const BLOCK_FIELDS = ["v", "tenant_id", "block_seq", "prev_block_hash", "first_seq", "last_seq", "merkle_root", "head_record_hash", "sealed_at",
    "key_id", "algorithm"];
const HEX64 = /^[0-9a-f]{64}$/;
export class VerificationError extends Error {
    constructor(step, message) {
        super(`${step}: ${message}`);
        this.step = step;
    }
}
/** RFC 8785 (JCS): ECMAScript number and string serialization, members sorted by UTF-16 code units. */
export function canonicalize(value) {
    if (value === null || typeof value !== "object") {
        if (typeof value === "number" && !Number.isFinite(value))
            throw new TypeError("JCS: no NaN or Infinity");
        return JSON.stringify(value);
    }
    if (Array.isArray(value))
        return `[${value.map(canonicalize).join(",")}]`;
    return `{${Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalize(value[key])}`).join(",")}}`;
}
const hex = (bytes) => Array.from(new Uint8Array(bytes), (byte) => byte.toString(16).padStart(2, "0")).join("");
const fromHex = (text) => Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
const sha256 = async (bytes) => new Uint8Array(await subtle.digest("SHA-256", bytes));
const isInt = (value) => Number.isInteger(value);
const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const isHex64 = (value) => typeof value === "string" && HEX64.test(value);
function checkMembers(obj, fields) {
    if (obj === null || typeof obj !== "object" || Array.isArray(obj))
        throw new VerificationError("format", "expected a JSON object");
    const keys = Object.keys(obj);
    if (keys.length !== fields.length || !fields.every((field) => Object.prototype.hasOwnProperty.call(obj, field))) {
        throw new VerificationError("format", `expected members ${fields.join(", ")}`);
    }
    if (obj.v !== 1)
        throw new VerificationError("format", `v: expected 1, got ${JSON.stringify(obj.v)}`);
}
const RECORD_RULES = [
    ["seq", (v) => isInt(v) && v >= 0], ["tenant_id", (v) => typeof v === "string"], ["transaction_id", (v) => typeof v === "string"],
    ["policy_id", (v) => typeof v === "string"], ["policy_version", (v) => v === null || typeof v === "string"],
    ["decision_type", (v) => v === null || typeof v === "string"], ["confidence", (v) => v === null || (isNumber(v) && v >= 0 && v <= 1)],
    ["processing_time_ms", (v) => v === null || (isNumber(v) && v >= 0)], ["prev_hash", isHex64], ["input_hash", isHex64],
    ["output_hash", isHex64], ["context_hash", isHex64], ["commitment", (v) => v === "sha256" || v === "hmac-sha256"],
    ["payload_ref", (v) => v === null || isHex64(v)], ["recorded_at", (v) => typeof v === "string"],
];
function checkRecord(record) {
    checkMembers(record, RECORD_FIELDS);
    for (const [member, valid] of RECORD_RULES) {
        if (!valid(record[member]))
            throw new VerificationError("format", `${member}: invalid value ${JSON.stringify(record[member])}`);
    }
}
function signingBody(block) {
    const body = { ...block };
    delete body.block_hash;
    delete body.signature;
    return body;
}
function checkBlock(block) {
    if (block === null || typeof block !== "object" || Array.isArray(block))
        throw new VerificationError("format", "expected a JSON object");
    checkMembers(signingBody(block), BLOCK_FIELDS);
    if (!["block_seq", "first_seq", "last_seq"].every((m) => isInt(block[m]) && block[m] >= 0) || block.last_seq < block.first_seq) {
        throw new VerificationError("format", "block_seq, first_seq, last_seq: expected integers with first <= last");
    }
    for (const member of ["prev_block_hash", "merkle_root", "head_record_hash"]) {
        if (!isHex64(block[member]))
            throw new VerificationError("format", `${member}: invalid value`);
    }
    if (block.algorithm !== ALGORITHM)
        throw new VerificationError("format", `algorithm: expected ${ALGORITHM}`);
    for (const member of ["tenant_id", "sealed_at", "key_id"]) {
        if (typeof block[member] !== "string")
            throw new VerificationError("format", `${member}: invalid value`);
    }
}
function checkPosition(receipt, record, block) {
    const seq = record.seq;
    if (record.tenant_id !== block.tenant_id)
        throw new VerificationError("position", `block tenant_id: expected ${record.tenant_id}`);
    if (!(block.first_seq <= seq && seq <= block.last_seq))
        throw new VerificationError("position", `expected seq within block [${block.first_seq}, ${block.last_seq}], got ${seq}`);
    if (receipt.chain_position !== (seq === 0 ? "genesis" : "chained"))
        throw new VerificationError("position", "chain_position does not match seq");
    const proof = receipt.inclusion_proof;
    if (proof === null || typeof proof !== "object" || Array.isArray(proof))
        throw new VerificationError("position", "inclusion_proof: expected an object, got none");
    const expected = { leaf_index: seq - block.first_seq, tree_size: block.last_seq - block.first_seq + 1 };
    for (const [member, value] of Object.entries(expected)) {
        if (proof[member] !== value || !isInt(proof[member]))
            throw new VerificationError("position", `${member}: expected ${value}, got ${JSON.stringify(proof[member])}`);
    }
    return proof;
}
/** RFC 9162 section 2.1.3.2 (tlog.ts), over the leaf H(0x00 || record hash), in the block's tree. */
async function verifyInclusion(recordHash, index, size, auditPath, root) {
    try {
        await verifyLogInclusion(index, size, await leafHash(fromHex(recordHash)), auditPath.map(fromHex), fromHex(root));
    }
    catch (error) {
        if (error instanceof LogError)
            throw new VerificationError("inclusion_proof", error.message);
        throw error;
    }
}
function pemBody(pem) {
    // The first PEM block, text around it ignored, as OpenSSL (and so xase verify) reads it.
    const match = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/.exec(pem);
    if (!match)
        throw new VerificationError("public_key", "expected an ECDSA P-256 PEM, got an unreadable key");
    return Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (char) => char.charCodeAt(0));
}
/** The key id of a public key PEM: "sha256:" + hex(H(DER SubjectPublicKeyInfo)). */
export async function keyFingerprint(pem) {
    return `sha256:${hex(await sha256(pemBody(pem)))}`;
}
async function checkKey(receipt, block, trustedKeyIds) {
    const publicKey = receipt.public_key;
    if (publicKey === null || typeof publicKey !== "object" || typeof publicKey.pem !== "string") {
        throw new VerificationError("public_key", "expected an object with key_id and pem, got none");
    }
    const der = pemBody(publicKey.pem);
    const actual = `sha256:${hex(await sha256(der))}`;
    if (publicKey.key_id !== actual)
        throw new VerificationError("public_key", `key_id: expected ${actual}, got ${publicKey.key_id}`);
    if (block.key_id !== actual)
        throw new VerificationError("public_key", `block key_id: expected ${actual}, got ${block.key_id}`);
    if (trustedKeyIds && !trustedKeyIds.includes(actual))
        throw new VerificationError("public_key", `expected one of the trusted keys, got ${actual}`);
    try {
        return await subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    }
    catch {
        throw new VerificationError("public_key", "expected an ECDSA P-256 PEM, got an unreadable key");
    }
}
/** Step 8 (format v2): the record is entry `seq` of the organisation's log, in a checkpoint signed by the block's
 * key (ECDSA line) and, when no key is pinned, the receipt's own vkeys, which proves integrity, not origin. */
async function checkTlog(tlog, record, recordHash, der, pinned) {
    try {
        if (tlog === null || typeof tlog !== "object" || !isInt(tlog.index) || typeof tlog.checkpoint !== "string") {
            throw new LogError("expected an object with index, inclusion_proof and checkpoint");
        }
        const nodes = tlog.inclusion_proof;
        if (!Array.isArray(nodes) || nodes.length > 63 || !nodes.every((node) => typeof node === "string"))
            throw new LogError("inclusion_proof: expected a list of base64 hashes");
        const proof = nodes.map((node) => fromBase64(node, "inclusion_proof"));
        if (tlog.index !== record.seq)
            throw new LogError(`index: expected the record's seq ${record.seq}, got ${tlog.index}`);
        const checkpoint = parseNote(tlog.checkpoint);
        const known = [{ name: checkpoint.origin, keyId: hex(await sha256(der)).slice(0, 8), type: ECDSA, key: der }];
        if (!pinned)
            for (const vkey of tlog.vkeys || [])
                known.push(await parseVkey(String(vkey)));
        await openNote(checkpoint, known);
        await verifyLogInclusion(record.seq, checkpoint.size, await leafHash(fromHex(recordHash)), proof, checkpoint.root);
        return checkpoint.size;
    }
    catch (error) {
        if (error instanceof LogError)
            throw new VerificationError("tlog", error.message);
        throw error;
    }
}
/**
 * Verify a receipt: `{ ok: true }`, or `{ ok: false, step, message }` naming the first step that failed.
 * `trustedKeyIds`: the key ids ("sha256:...") the user pins; without them the receipt's own key is used, which
 * proves integrity, not origin.
 */
export async function verifyReceipt(receipt, { trustedKeyIds } = {}) {
    try {
        if (receipt === null || typeof receipt !== "object" || receipt.receipt_version !== 1)
            throw new VerificationError("format", "receipt_version: expected 1");
        const { record, block } = receipt;
        checkRecord(record);
        const recordHash = hex(await sha256(encoder.encode(canonicalize(record))));
        if (receipt.record_hash !== recordHash)
            throw new VerificationError("record_hash", `expected ${recordHash}, got ${receipt.record_hash}`);
        checkBlock(block);
        const proof = checkPosition(receipt, record, block);
        if (!Array.isArray(proof.audit_path) || !proof.audit_path.every(isHex64))
            throw new VerificationError("inclusion_proof", "audit_path: expected a list of 64-hex hashes");
        await verifyInclusion(recordHash, proof.leaf_index, proof.tree_size, proof.audit_path, block.merkle_root);
        const signed = encoder.encode(canonicalize(signingBody(block)));
        const blockHash = hex(await sha256(signed));
        if (block.block_hash !== blockHash)
            throw new VerificationError("block_hash", `expected ${blockHash}, got ${block.block_hash}`);
        const key = await checkKey(receipt, block, trustedKeyIds);
        let raw = null;
        try {
            raw = typeof block.signature === "string" ? derToRaw(Uint8Array.from(atob(block.signature), (char) => char.charCodeAt(0))) : null;
        }
        catch {
            raw = null;
        }
        if (raw === null || !(await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, signed))) {
            throw new VerificationError("signature", `expected a valid ${ALGORITHM} signature by ${block.key_id}, got one that does not verify`);
        }
        const logSize = receipt.tlog === undefined ? null : await checkTlog(receipt.tlog, record, recordHash, pemBody(receipt.public_key.pem), Boolean(trustedKeyIds));
        return { ok: true, transactionId: record.transaction_id, seq: record.seq, keyId: block.key_id, logSize };
    }
    catch (error) {
        if (error instanceof VerificationError)
            return { ok: false, step: error.step, message: error.message };
        throw error;
    }
}
