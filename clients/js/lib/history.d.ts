export declare const ROOT_TURN_ID = "0";
export interface HistoryTurn {
    turn_id: string;
    parent_turn_id: string;
    depth: number;
    declared_type: {
        type_id: string;
        type_version: number;
    };
    turn_hash: string;
    content_hash_b3?: string;
    encoding?: number;
    bytes_b64?: string | null;
}
export type HistoryVerdict = {
    ok: true;
    head: HistoryTurn;
    turns: number;
} | {
    ok: false;
    subject: string;
    step: string;
    message: string;
};
export declare function contentHash(payload: Uint8Array): string;
export declare function turnHash(parentTurnHash: string | null, depth: number, typeId: string, typeVersion: number, contentHashB3: string, encoding?: number): Promise<string>;
/** Verify `turns` (as getTurns with view "raw" or "both" answers them, any order) as one history from
 * `headTurnId` (default: the deepest turn) down to depth 1; with `headTurnHash`, the head's recomputed hash must
 * equal it (a context's head, or the turn a decision names). */
export declare function verifyHistory(turns: HistoryTurn[], options?: {
    headTurnId?: string;
    headTurnHash?: string;
    requireBytes?: boolean;
}): Promise<HistoryVerdict>;
