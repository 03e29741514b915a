/** Polyfill for Safari 14. https://caniuse.com/mdn-javascript_builtins_dataview_setbiguint64 */
export function setBigUint64(view: any, byteOffset: any, value: any, isLE: any): any;
/** Choice: a ? b : c */
export function Chi(a: any, b: any, c: any): number;
/** Majority function, true if any two inputs is true. */
export function Maj(a: any, b: any, c: any): number;
/**
 * Merkle-Damgard hash construction base class.
 * Could be used to create MD5, RIPEMD, SHA1, SHA2.
 */
export class HashMD extends Hash {
    constructor(blockLen: any, outputLen: any, padOffset: any, isLE: any);
    finished: boolean;
    length: number;
    pos: number;
    destroyed: boolean;
    blockLen: any;
    outputLen: any;
    padOffset: any;
    isLE: any;
    buffer: Uint8Array<any>;
    view: DataView<any>;
    update(data: any): this;
    digestInto(out: any): void;
    digest(): Uint8Array<ArrayBuffer>;
    _cloneInto(to: any): any;
    clone(): any;
}
/**
 * Initial SHA-2 state: fractional parts of square roots of first 16 primes 2..53.
 * Check out `test/misc/sha2-gen-iv.js` for recomputation guide.
 */
/** Initial SHA256 state. Bits 0..32 of frac part of sqrt of primes 2..19 */
export const SHA256_IV: Uint32Array<ArrayBuffer>;
/** Initial SHA224 state. Bits 32..64 of frac part of sqrt of primes 23..53 */
export const SHA224_IV: Uint32Array<ArrayBuffer>;
/** Initial SHA384 state. Bits 0..64 of frac part of sqrt of primes 23..53 */
export const SHA384_IV: Uint32Array<ArrayBuffer>;
/** Initial SHA512 state. Bits 0..64 of frac part of sqrt of primes 2..19 */
export const SHA512_IV: Uint32Array<ArrayBuffer>;
import { Hash } from "./utils.js";
