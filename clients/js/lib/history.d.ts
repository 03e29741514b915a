import type { Turn } from "./cxdb.js";
export declare const ROOT_TURN_ID = "0";
/** What a history check reads of a turn (getTurns with view "raw" or "both" answers it). */
export type HistoryTurn = Pick<Turn, "turn_id" | "parent_turn_id" | "depth" | "declared_type" | "turn_hash" | "content_hash_b3" | "encoding" | "bytes_b64">;
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
