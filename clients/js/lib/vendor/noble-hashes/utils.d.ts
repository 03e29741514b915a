/** Checks if something is Uint8Array. Be careful: nodejs Buffer will return true. */
export function isBytes(a: any): boolean;
/** Asserts something is positive integer. */
export function anumber(n: any): void;
/** Asserts something is Uint8Array. */
export function abytes(b: any, ...lengths: any[]): void;
/** Asserts something is hash */
export function ahash(h: any): void;
/** Asserts a hash instance has not been destroyed / finished */
export function aexists(instance: any, checkFinished?: boolean): void;
/** Asserts output is properly-sized byte array */
export function aoutput(out: any, instance: any): void;
/** Cast u8 / u16 / u32 to u8. */
export function u8(arr: any): Uint8Array<any>;
/** Cast u8 / u16 / u32 to u32. */
export function u32(arr: any): Uint32Array<any>;
/** Zeroize a byte array. Warning: JS provides no guarantees. */
export function clean(...arrays: any[]): void;
/** Create DataView of an array for easy byte-level manipulation. */
export function createView(arr: any): DataView<any>;
/** The rotate right (circular right shift) operation for uint32 */
export function rotr(word: any, shift: any): number;
/** The rotate left (circular left shift) operation for uint32 */
export function rotl(word: any, shift: any): number;
/** The byte swap operation for uint32 */
export function byteSwap(word: any): number;
/** In place byte swap for Uint32Array */
export function byteSwap32(arr: any): any;
/**
 * Convert byte array to hex string. Uses built-in function, when available.
 * @example bytesToHex(Uint8Array.from([0xca, 0xfe, 0x01, 0x23])) // 'cafe0123'
 */
export function bytesToHex(bytes: any): any;
/**
 * Convert hex string to byte array. Uses built-in function, when available.
 * @example hexToBytes('cafe0123') // Uint8Array.from([0xca, 0xfe, 0x01, 0x23])
 */
export function hexToBytes(hex: any): any;
/** Returns control to thread each 'tick' ms to avoid blocking. */
export function asyncLoop(iters: any, tick: any, cb: any): Promise<void>;
/**
 * Converts string to bytes using UTF8 encoding.
 * @example utf8ToBytes('abc') // Uint8Array.from([97, 98, 99])
 */
export function utf8ToBytes(str: any): Uint8Array<ArrayBuffer>;
/**
 * Converts bytes to string using UTF8 encoding.
 * @example bytesToUtf8(Uint8Array.from([97, 98, 99])) // 'abc'
 */
export function bytesToUtf8(bytes: any): string;
/**
 * Normalizes (non-hex) string or Uint8Array to Uint8Array.
 * Warning: when Uint8Array is passed, it would NOT get copied.
 * Keep in mind for future mutable operations.
 */
export function toBytes(data: any): any;
/**
 * Helper for KDFs: consumes uint8array or string.
 * When string is passed, does utf8 decoding, using TextDecoder.
 */
export function kdfInputToBytes(data: any): any;
/** Copies several Uint8Arrays into one. */
export function concatBytes(...arrays: any[]): Uint8Array<ArrayBuffer>;
export function checkOpts(defaults: any, opts: any): any;
/** Wraps hash function, creating an interface on top of it */
export function createHasher(hashCons: any): {
    (msg: any): any;
    outputLen: any;
    blockLen: any;
    create(): any;
};
export function createOptHasher(hashCons: any): {
    (msg: any, opts: any): any;
    outputLen: any;
    blockLen: any;
    create(opts: any): any;
};
export function createXOFer(hashCons: any): {
    (msg: any, opts: any): any;
    outputLen: any;
    blockLen: any;
    create(opts: any): any;
};
/** Cryptographically secure PRNG. Uses internal OS-level `crypto.getRandomValues`. */
export function randomBytes(bytesLength?: number): Uint8Array<ArrayBuffer>;
/** Is current platform little-endian? Most are. Big-Endian platform: IBM */
export const isLE: boolean;
export function swap8IfBE(n: any): any;
export function byteSwapIfBE(n: any): any;
/** In place byte swap for Uint32Array */
export function swap32IfBE(arr: any): any;
export function nextTick(): Promise<void>;
/** For runtime check if class implements interface */
export class Hash {
}
/** Wraps hash function, creating an interface on top of it */
export function wrapConstructor(hashCons: any): {
    (msg: any): any;
    outputLen: any;
    blockLen: any;
    create(): any;
};
export function wrapConstructorWithOpts(hashCons: any): {
    (msg: any, opts: any): any;
    outputLen: any;
    blockLen: any;
    create(opts: any): any;
};
export function wrapXOFConstructorWithOpts(hashCons: any): {
    (msg: any, opts: any): any;
    outputLen: any;
    blockLen: any;
    create(opts: any): any;
};
