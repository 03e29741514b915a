// The organisation's append-only log where you are (docs/evidence-format.md, "Evidence format v2"): RFC 9162
// inclusion and consistency proofs, C2SP signed notes (Ed25519 0x01, ECDSA P-256 0x02) and witness cosignatures
// (cosignature/v1, 0x04), with WebCrypto. The same rules as xase/tlog.py and xase/note.py.
//
//   const checkpoint = parseNote(await (await fetch(".../log/checkpoint")).text());
//   await verifyNote(checkpoint, parseVkey(vkey));                      // throws LogError unless the key signed it
//   await verifyConsistency(old.size, checkpoint.size, old.root, checkpoint.root, proof);
export class LogError extends Error {
    constructor(message) {
        super(message);
        this.name = "LogError";
    }
}
export const ED25519 = 0x01, ECDSA = 0x02, COSIGNATURE_V1 = 0x04;
const HASH_SIZE = 32;
const encoder = new TextEncoder();
const subtle = () => globalThis.crypto.subtle;
export const toHex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
export function fromBase64(text, what) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0)
        throw new LogError(`${what}: not valid base64`);
    return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}
export function concat(...parts) {
    const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
    let at = 0;
    for (const part of parts) {
        out.set(part, at);
        at += part.length;
    }
    return out;
}
const equal = (a, b) => a.length === b.length && a.every((byte, index) => byte === b[index]);
export const sha256 = async (data) => new Uint8Array(await subtle().digest("SHA-256", data));
export const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));
function checkHashes(named) {
    for (const [name, value] of named)
        if (value.length !== HASH_SIZE)
            throw new LogError(`${name}: expected ${HASH_SIZE} bytes, got ${value.length}`);
}
function checkSize(name, value) {
    if (!Number.isSafeInteger(value) || value < 0)
        throw new LogError(`${name}: expected a whole number up to 2^53, got ${value}`);
}
/** RFC 9162 section 2.1.3.2: `leaf` (a leaf hash) is entry `index` of the tree of `size` whose root is `root`. */
export async function verifyInclusion(index, size, leaf, proof, root) {
    checkSize("index", index);
    checkSize("size", size);
    if (index >= size)
        throw new LogError(`index: expected 0..${size - 1}, got ${index}`);
    checkHashes([["leaf", leaf], ["root", root], ...proof.map((entry) => ["proof entry", entry])]);
    let running = leaf;
    let fn = index, sn = size - 1;
    for (const sibling of proof) {
        if (sn === 0)
            throw new LogError(`proof: expected fewer entries, got ${proof.length}`);
        if (fn % 2 === 1 || fn === sn) {
            running = await nodeHash(sibling, running);
            while (fn % 2 === 0 && fn !== 0) {
                fn = Math.floor(fn / 2);
                sn = Math.floor(sn / 2);
            }
        }
        else {
            running = await nodeHash(running, sibling);
        }
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
    }
    if (sn !== 0)
        throw new LogError(`proof: expected more entries, got ${proof.length}`);
    if (!equal(running, root))
        throw new LogError(`root: expected ${toHex(root)}, got ${toHex(running)}`);
}
function isPowerOfTwo(value) {
    while (value > 1 && value % 2 === 0)
        value /= 2;
    return value === 1;
}
/** RFC 9162 section 2.1.4.2: the tree of `old` leaves (root `oldRoot`) is a prefix of the tree of `size` (`root`). */
export async function verifyConsistency(old, size, oldRoot, root, proof) {
    checkSize("old", old);
    checkSize("size", size);
    if (old > size)
        throw new LogError(`old size: expected 0..${size}, got ${old}`);
    checkHashes([["old root", oldRoot], ["root", root], ...proof.map((entry) => ["proof entry", entry])]);
    if (old === size) {
        if (proof.length)
            throw new LogError(`proof: expected no entries between equal sizes, got ${proof.length}`);
        if (!equal(oldRoot, root))
            throw new LogError(`root: expected ${toHex(oldRoot)} at the same size, got ${toHex(root)}`);
        return;
    }
    if (old === 0) {
        if (proof.length)
            throw new LogError(`proof: expected no entries from the empty tree, got ${proof.length}`);
        return;
    }
    const path = [...proof];
    if (isPowerOfTwo(old))
        path.unshift(oldRoot);
    if (!path.length)
        throw new LogError("proof: expected entries, got none");
    let fn = old - 1, sn = size - 1;
    while (fn % 2 === 1) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
    }
    let first = path[0], second = path[0];
    for (const entry of path.slice(1)) {
        if (sn === 0)
            throw new LogError(`proof: expected fewer entries, got ${proof.length}`);
        if (fn % 2 === 1 || fn === sn) {
            first = await nodeHash(entry, first);
            second = await nodeHash(entry, second);
            while (fn % 2 === 0 && fn !== 0) {
                fn = Math.floor(fn / 2);
                sn = Math.floor(sn / 2);
            }
        }
        else {
            second = await nodeHash(second, entry);
        }
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
    }
    if (sn !== 0)
        throw new LogError(`proof: expected more entries, got ${proof.length}`);
    if (!equal(first, oldRoot))
        throw new LogError(`old root: expected ${toHex(oldRoot)}, got ${toHex(first)}`);
    if (!equal(second, root))
        throw new LogError(`root: expected ${toHex(root)}, got ${toHex(second)}`);
}
const SIGNATURE_LINE = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/;
/** A checkpoint note: origin, decimal size, base64 root, a blank line, then `— name base64(keyID || signature)` lines. */
export function parseNote(note) {
    const split = note.indexOf("\n\n");
    if (split < 0 || !note.endsWith("\n"))
        throw new LogError("note: expected text, a blank line and signature lines");
    const text = note.slice(0, split + 1);
    const [origin, sizeLine, rootLine] = text.slice(0, -1).split("\n");
    if (!origin || !/^[0-9]{1,16}$/.test(sizeLine ?? "") || rootLine === undefined)
        throw new LogError("checkpoint: expected origin, size and root lines");
    const size = Number(sizeLine);
    checkSize("size", size);
    const root = fromBase64(rootLine, "root");
    checkHashes([["root", root]]);
    const signatures = note.slice(split + 2, -1).split("\n").map((line) => {
        const match = SIGNATURE_LINE.exec(line);
        if (!match)
            throw new LogError(`signature line: malformed ${JSON.stringify(line.slice(0, 80))}`);
        const bytes = fromBase64(match[2], "signature");
        if (bytes.length < 5)
            throw new LogError("signature: too short");
        return { name: match[1], keyId: toHex(bytes.slice(0, 4)), signature: bytes.slice(4) };
    });
    return { text, origin, size, root, signatures };
}
async function keyIdOf(name, type, key) {
    const digest = type === ECDSA ? await sha256(key) : await sha256(concat(encoder.encode(`${name}\n`), Uint8Array.of(type), key));
    return toHex(digest.slice(0, 4));
}
/** `name+hex(key ID)+base64(type || key)`, its key ID checked. */
export async function parseVkey(vkey) {
    const [name, keyId] = vkey.split("+", 2); // the key's base64 may itself hold "+"
    const encoded = vkey.slice(`${name}+${keyId}+`.length);
    if (!name || !/^[0-9a-f]{8}$/.test(keyId ?? "") || !encoded)
        throw new LogError(`vkey: expected name+id+key, got ${JSON.stringify(vkey.slice(0, 80))}`);
    const bytes = fromBase64(encoded, "vkey");
    const parsed = { name, keyId, type: bytes[0], key: bytes.slice(1) };
    if ((await keyIdOf(name, parsed.type, parsed.key)) !== keyId)
        throw new LogError(`vkey ${name}: its key ID does not match its key`);
    return parsed;
}
/** A DER ECDSA signature as the 64 bytes r || s that WebCrypto verifies; null when it is no such DER. */
export function derToRaw(der) {
    if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2)
        return null;
    const out = new Uint8Array(64);
    let at = 2;
    for (const offset of [0, 32]) {
        if (der[at] !== 0x02)
            return null;
        const length = der[at + 1];
        let value = der.slice(at + 2, at + 2 + length);
        at += 2 + length;
        while (value.length > 32 && value[0] === 0)
            value = value.slice(1);
        if (value.length > 32 || value.length === 0)
            return null;
        out.set(value, offset + 32 - value.length);
    }
    return at === der.length ? out : null;
}
async function signatureHolds(vkey, text, signature) {
    try {
        if (vkey.type === ED25519 || vkey.type === COSIGNATURE_V1) {
            const key = await subtle().importKey("raw", vkey.key, { name: "Ed25519" }, false, ["verify"]);
            if (vkey.type === ED25519)
                return await subtle().verify({ name: "Ed25519" }, key, signature, encoder.encode(text));
            if (signature.length !== 8 + 64)
                return false;
            const message = encoder.encode(`cosignature/v1\ntime ${cosignedAt(signature)}\n${text}`);
            return await subtle().verify({ name: "Ed25519" }, key, signature.slice(8), message);
        }
        if (vkey.type === ECDSA) {
            const raw = derToRaw(signature);
            const key = await subtle().importKey("spki", vkey.key, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
            return raw !== null && (await subtle().verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, encoder.encode(text)));
        }
    }
    catch {
        return false;
    }
    return false;
}
/** The POSIX time a cosignature states: its first 8 bytes, big-endian. */
export function cosignedAt(signature) {
    return Number(new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0));
}
/** The line `vkey` signed, verified: throws LogError when there is none or it does not verify. Returns the line. */
export async function verifyNote(checkpoint, vkey) {
    const line = checkpoint.signatures.find((signature) => signature.name === vkey.name && signature.keyId === vkey.keyId);
    if (line === undefined)
        throw new LogError(`no signature by ${vkey.name} (key ${vkey.keyId})`);
    if (!(await signatureHolds(vkey, checkpoint.text, line.signature)))
        throw new LogError(`the signature by ${vkey.name} (key ${vkey.keyId}) does not verify`);
    return line;
}
/** The known keys that signed the note: at least one must have, and none of theirs may fail (C2SP signed-note). */
export async function openNote(checkpoint, known) {
    const signed = [];
    for (const line of checkpoint.signatures) {
        for (const vkey of known.filter((candidate) => candidate.name === line.name && candidate.keyId === line.keyId)) {
            if (!(await signatureHolds(vkey, checkpoint.text, line.signature)))
                throw new LogError(`the signature by ${vkey.name} (key ${vkey.keyId}) does not verify`);
            signed.push(vkey);
        }
    }
    if (!signed.length)
        throw new LogError("note: expected a signature by a trusted key, found none");
    return signed;
}
