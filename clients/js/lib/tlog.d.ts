export declare class LogError extends Error {
    constructor(message: string);
}
export declare const ED25519 = 1, ECDSA = 2, COSIGNATURE_V1 = 4;
export declare const toHex: (bytes: Uint8Array) => string;
export declare function fromBase64(text: string, what: string): Uint8Array;
export declare function concat(...parts: Uint8Array[]): Uint8Array;
export declare const sha256: (data: Uint8Array) => Promise<Uint8Array>;
export declare const leafHash: (entry: Uint8Array) => Promise<Uint8Array>;
/** RFC 9162 section 2.1.3.2: `leaf` (a leaf hash) is entry `index` of the tree of `size` whose root is `root`. */
export declare function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array): Promise<void>;
/** RFC 9162 section 2.1.4.2: the tree of `old` leaves (root `oldRoot`) is a prefix of the tree of `size` (`root`). */
export declare function verifyConsistency(old: number, size: number, oldRoot: Uint8Array, root: Uint8Array, proof: Uint8Array[]): Promise<void>;
export interface NoteSignature {
    name: string;
    keyId: string;
    signature: Uint8Array;
}
export interface Checkpoint {
    text: string;
    origin: string;
    size: number;
    root: Uint8Array;
    signatures: NoteSignature[];
}
export interface Vkey {
    name: string;
    keyId: string;
    type: number;
    key: Uint8Array;
}
/** A checkpoint note: origin, decimal size, base64 root, a blank line, then `— name base64(keyID || signature)` lines. */
export declare function parseNote(note: string): Checkpoint;
/** `name+hex(key ID)+base64(type || key)`, its key ID checked. */
export declare function parseVkey(vkey: string): Promise<Vkey>;
/** A DER ECDSA signature as the 64 bytes r || s that WebCrypto verifies; null when it is no such DER. */
export declare function derToRaw(der: Uint8Array): Uint8Array | null;
/** The POSIX time a cosignature states: its first 8 bytes, big-endian. */
export declare function cosignedAt(signature: Uint8Array): number;
/** The line `vkey` signed, verified: throws LogError when there is none or it does not verify. Returns the line. */
export declare function verifyNote(checkpoint: Checkpoint, vkey: Vkey): Promise<NoteSignature>;
/** The known keys that signed the note: at least one must have, and none of theirs may fail (C2SP signed-note). */
export declare function openNote(checkpoint: Checkpoint, known: Vkey[]): Promise<Vkey[]>;
