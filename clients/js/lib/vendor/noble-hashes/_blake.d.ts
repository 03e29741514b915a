export function G1s(a: any, b: any, c: any, d: any, x: any): {
    a: any;
    b: any;
    c: any;
    d: any;
};
export function G2s(a: any, b: any, c: any, d: any, x: any): {
    a: any;
    b: any;
    c: any;
    d: any;
};
/**
 * Internal blake variable.
 * For BLAKE2b, the two extra permutations for rounds 10 and 11 are SIGMA[10..11] = SIGMA[0..1].
 */
export const BSIGMA: Uint8Array<ArrayBuffer>;
