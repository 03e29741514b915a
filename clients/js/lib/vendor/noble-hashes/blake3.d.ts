/** Blake3 hash. Can be used as MAC and KDF. */
export class BLAKE3 extends BLAKE2 {
    constructor(opts?: {}, flags?: number);
    chunkPos: number;
    chunksDone: number;
    flags: number;
    stack: any[];
    posOut: number;
    bufferOut32: Uint32Array<ArrayBuffer>;
    chunkOut: number;
    enableXOF: boolean;
    IV: Uint32Array<any>;
    state: Uint32Array<ArrayBuffer>;
    bufferOut: Uint8Array<any>;
    get(): never[];
    set(): void;
    b2Compress(counter: any, flags: any, buf: any, bufPos?: number): void;
    compress(buf: any, bufPos?: number, isLast?: boolean): void;
    destroy(): void;
    b2CompressOut(): void;
    finish(): void;
    writeInto(out: any): any;
    xofInto(out: any): any;
    xof(bytes: any): any;
    digestInto(out: any): any;
    digest(): any;
}
export function blake3(msg: any, opts: any): any;
export namespace blake3 { }
import { BLAKE2 } from "./blake2.js";
