/** RFC 8785 (JCS): ECMAScript number and string serialization, members sorted by UTF-16 code units. */
export function canonicalize(value: any): any;
/** The key id of a public key PEM: "sha256:" + hex(H(DER SubjectPublicKeyInfo)). */
export function keyFingerprint(pem: any): Promise<string>;
/**
 * Verify a receipt: `{ ok: true }`, or `{ ok: false, step, message }` naming the first step that failed.
 * `trustedKeyIds`: the key ids ("sha256:...") the user pins; without them the receipt's own key is used, which
 * proves integrity, not origin.
 */
export function verifyReceipt(receipt: any, { trustedKeyIds }?: {}): Promise<{
    ok: boolean;
    transactionId: any;
    seq: any;
    keyId: any;
    logSize: number | null;
    step?: undefined;
    message?: undefined;
} | {
    ok: boolean;
    step: any;
    message: string;
    transactionId?: undefined;
    seq?: undefined;
    keyId?: undefined;
    logSize?: undefined;
}>;
export class VerificationError extends Error {
    constructor(step: any, message: any);
    step: any;
}
