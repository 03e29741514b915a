export function compress(s: any, offset: any, msg: any, rounds: any, v0: any, v1: any, v2: any, v3: any, v4: any, v5: any, v6: any, v7: any, v8: any, v9: any, v10: any, v11: any, v12: any, v13: any, v14: any, v15: any): {
    v0: any;
    v1: any;
    v2: any;
    v3: any;
    v4: any;
    v5: any;
    v6: any;
    v7: any;
    v8: any;
    v9: any;
    v10: any;
    v11: any;
    v12: any;
    v13: any;
    v14: any;
    v15: any;
};
/** Class, from which others are subclassed. */
export class BLAKE2 extends Hash {
    constructor(blockLen: any, outputLen: any);
    finished: boolean;
    destroyed: boolean;
    length: number;
    pos: number;
    blockLen: any;
    outputLen: any;
    buffer: Uint8Array<any>;
    buffer32: Uint32Array<any>;
    update(data: any): this;
    digestInto(out: any): void;
    digest(): Uint8Array<ArrayBuffer>;
    _cloneInto(to: any): any;
    clone(): any;
}
export class BLAKE2b extends BLAKE2 {
    constructor(opts?: {});
    v0l: number;
    v0h: number;
    v1l: number;
    v1h: number;
    v2l: number;
    v2h: number;
    v3l: number;
    v3h: number;
    v4l: number;
    v4h: number;
    v5l: number;
    v5h: number;
    v6l: number;
    v6h: number;
    v7l: number;
    v7h: number;
    get(): number[];
    set(v0l: any, v0h: any, v1l: any, v1h: any, v2l: any, v2h: any, v3l: any, v3h: any, v4l: any, v4h: any, v5l: any, v5h: any, v6l: any, v6h: any, v7l: any, v7h: any): void;
    compress(msg: any, offset: any, isLast: any): void;
    destroy(): void;
}
export function blake2b(msg: any, opts: any): any;
export namespace blake2b { }
export class BLAKE2s extends BLAKE2 {
    constructor(opts?: {});
    v0: number;
    v1: number;
    v2: number;
    v3: number;
    v4: number;
    v5: number;
    v6: number;
    v7: number;
    get(): number[];
    set(v0: any, v1: any, v2: any, v3: any, v4: any, v5: any, v6: any, v7: any): void;
    compress(msg: any, offset: any, isLast: any): void;
    destroy(): void;
}
export function blake2b(msg: any, opts: any): any;
export namespace blake2b { }
import { Hash } from "./utils.js";
