// Check an agent context's history where you are (docs/contexts.md sections 1, 2 and 4): each turn's bytes hash
// (BLAKE3) to its content hash, and each turn hash is recomputed (SHA-256 over RFC 8785 JSON) from its parent's,
// from depth 1 up to the head. The steps and their names are those of xase/contexts/history.py:
// format, head, parent, depth, bytes_b64, content_hash_b3, turn_hash.
//
//   const turns = await client.history(contextId, { view: "raw" });
//   const result = await verifyHistory(turns, { headTurnHash: context.head_turn_hash });
//   // { ok: true, head, turns } or { ok: false, subject: "turn 7", step: "content_hash_b3", message: "..." }
import { canonicalize } from "./evidence.js";
import { fromBase64 as decodeBase64, LogError, sha256, toHex } from "./tlog.js";
import { blake3 } from "./vendor/noble-hashes/blake3.js";
export const ROOT_TURN_ID = "0";
const ZERO_HASH = "0".repeat(64);
class HistoryError extends Error {
    subject;
    step;
    constructor(subject, step, message) {
        super(`${subject}: ${step}: ${message}`);
        this.subject = subject;
        this.step = step;
    }
}
export function contentHash(payload) {
    return toHex(blake3(payload));
}
export async function turnHash(parentTurnHash, depth, typeId, typeVersion, contentHashB3, encoding = 1) {
    const body = { v: 1, parent_turn_hash: parentTurnHash ?? ZERO_HASH, depth, type_id: typeId, type_version: typeVersion, encoding,
        content_hash_b3: contentHashB3 };
    return toHex(await sha256(new TextEncoder().encode(canonicalize(body))));
}
function fromBase64(subject, text) {
    try {
        return decodeBase64(text, "bytes_b64");
    }
    catch (error) {
        if (error instanceof LogError)
            throw new HistoryError(subject, "bytes_b64", "not valid base64");
        throw error;
    }
}
function field(subject, turn, name, check, expected) {
    const value = turn[name];
    if (!check(value))
        throw new HistoryError(subject, "format", `${name}: expected ${expected}, got ${JSON.stringify(value)}`);
    return value;
}
const isString = (value) => typeof value === "string";
const isInt = (value) => Number.isInteger(value);
function checkContent(subject, turn, requireBytes) {
    const declared = field(subject, turn, "content_hash_b3", isString, "a string");
    if (turn.bytes_b64 === undefined || turn.bytes_b64 === null) {
        if (requireBytes)
            throw new HistoryError(subject, "bytes_b64", "expected the turn's bytes (view raw or both), got none");
        return declared;
    }
    const actual = contentHash(fromBase64(subject, turn.bytes_b64));
    if (actual !== declared)
        throw new HistoryError(subject, "content_hash_b3", `expected ${declared}, got ${actual}`);
    return declared;
}
/** The chain of turns from the head down to depth 1. */
function chainOf(turns, headTurnId) {
    const byId = new Map();
    for (const turn of turns)
        byId.set(field("history", turn, "turn_id", isString, "a string"), turn);
    if (!byId.size)
        throw new HistoryError("history", "format", "expected at least one turn, got none");
    const headId = headTurnId ?? [...byId.values()].reduce((deepest, turn) => (turn.depth > deepest.depth ? turn : deepest)).turn_id;
    let current = byId.get(headId);
    if (current === undefined)
        throw new HistoryError("history", "head", `expected turn ${headId} among the turns, got none`);
    const chain = [];
    for (;;) {
        chain.push(current);
        const parentId = field(`turn ${current.turn_id}`, current, "parent_turn_id", isString, "a string");
        if (parentId === ROOT_TURN_ID)
            return chain;
        const parent = byId.get(parentId);
        if (parent === undefined || chain.length > byId.size) {
            throw new HistoryError(`turn ${current.turn_id}`, "parent", `expected parent turn ${parentId} among the turns, got none`);
        }
        current = parent;
    }
}
/** Verify `turns` (as getTurns with view "raw" or "both" answers them, any order) as one history from
 * `headTurnId` (default: the deepest turn) down to depth 1; with `headTurnHash`, the head's recomputed hash must
 * equal it (a context's head, or the turn a decision names). */
export async function verifyHistory(turns, options = {}) {
    try {
        const chain = chainOf(turns, options.headTurnId);
        let parentHash = null;
        let depth = 0;
        for (const turn of chain.reverse()) {
            const subject = `turn ${turn.turn_id}`;
            depth += 1;
            if (field(subject, turn, "depth", isInt, "an integer") !== depth)
                throw new HistoryError(subject, "depth", `expected ${depth}, got ${turn.depth}`);
            const declared = turn.declared_type;
            if (declared === null || typeof declared !== "object")
                throw new HistoryError(subject, "format", "declared_type: expected an object");
            const actual = await turnHash(parentHash, depth, field(subject, declared, "type_id", isString, "a string"), field(subject, declared, "type_version", isInt, "an integer"), checkContent(subject, turn, options.requireBytes ?? true), field(subject, turn, "encoding", isInt, "an integer"));
            if (turn.turn_hash !== actual)
                throw new HistoryError(subject, "turn_hash", `expected ${actual}, got ${turn.turn_hash}`);
            parentHash = actual;
        }
        const head = chain[chain.length - 1];
        if (options.headTurnHash !== undefined && head.turn_hash !== options.headTurnHash) {
            throw new HistoryError(`turn ${head.turn_id}`, "turn_hash", `expected the head's ${options.headTurnHash}, got ${head.turn_hash}`);
        }
        return { ok: true, head, turns: chain.length };
    }
    catch (error) {
        if (error instanceof HistoryError)
            return { ok: false, subject: error.subject, step: error.step, message: error.message };
        throw error;
    }
}
