export interface ClientOptions {
    /** The API key, sent as X-API-Key. Leave it out in the console, whose session cookie authenticates instead. */
    apiKey?: string;
    /** "same-origin" in the console (its session cookie); "omit" by default. */
    credentials?: RequestCredentials;
    /** Per request, in milliseconds (default 30 000). */
    timeoutMs?: number;
    /** A fetch to use instead of the global one. */
    fetch?: typeof fetch;
}
export interface ContextHead {
    context_id: string;
    head_turn_id: string;
    head_depth: number;
    head_turn_hash: string;
}
export interface ContextInfo extends ContextHead {
    created_at: string;
    provenance?: {
        client_tag: string | null;
        created_by_key_id: string;
        base_turn_id: string;
        created_at: string;
    };
    lineage?: {
        parent_context_id: string | null;
        root_context_id: string;
        forked_from_turn_id: string | null;
        children: string[];
        child_count: number;
    };
}
export interface TurnInput {
    type_id: string;
    type_version: number;
    data: Record<string, unknown>;
    parent_turn_id?: string;
    idempotency_key?: string;
}
export interface AppendedTurn {
    context_id: string;
    turn_id: string;
    parent_turn_id: string;
    depth: number;
    content_hash: string;
    turn_hash: string;
}
export interface Turn {
    turn_id: string;
    parent_turn_id: string;
    depth: number;
    declared_type: {
        type_id: string;
        type_version: number;
    };
    turn_hash: string;
    decoded_as?: {
        type_id: string;
        type_version: number;
    } | null;
    data?: unknown;
    content_hash_b3?: string;
    encoding?: number;
    compression?: number;
    uncompressed_len?: number;
    bytes_b64?: string | null;
}
export interface TurnPage {
    meta: Record<string, unknown>;
    turns: Turn[];
    next_before_turn_id: string | null;
}
export interface TurnQuery {
    limit?: number;
    before_turn_id?: string;
    from_turn_id?: string;
    view?: "typed" | "raw" | "both";
    type_hint_mode?: "inherit" | "latest" | "explicit";
    as_type_id?: string;
    as_type_version?: number;
    include_unknown?: boolean;
    bytes_render?: string;
    u64_format?: string;
    enum_render?: string;
    time_render?: string;
}
export interface RecordPage {
    records: Array<Record<string, unknown>>;
    next_cursor: number | null;
}
export declare class XaseApiError extends Error {
    readonly status: number;
    readonly code: string;
    readonly details: unknown;
    constructor(status: number, code: string, message: string, details: unknown);
}
export declare class CxdbClient {
    readonly baseUrl: string;
    private readonly options;
    /** `baseUrl` is the ledger's origin (the console passes "/console/api", its same-origin bridge). */
    constructor(baseUrl: string, options?: ClientOptions);
    private request;
    private json;
    createContext(options?: {
        base_turn_id?: string;
        tag?: string;
    }): Promise<ContextHead>;
    /** A new context whose history starts at `baseTurnId` (a turn of any context): the fork shares the turns below it. */
    fork(baseTurnId: string, options?: {
        tag?: string;
    }): Promise<ContextHead>;
    getContext(contextId: string, query?: {
        include_provenance?: boolean;
        include_lineage?: boolean;
    }): Promise<ContextInfo>;
    listContexts(query?: {
        limit?: number;
        tag?: string;
        before_context_id?: string;
        include_provenance?: boolean;
        include_lineage?: boolean;
    }): Promise<{
        contexts: ContextInfo[];
        total: number;
    }>;
    children(contextId: string, query?: {
        recursive?: boolean;
        limit?: number;
        include_provenance?: boolean;
        include_lineage?: boolean;
    }): Promise<{
        context_id: string;
        children: ContextInfo[];
    }>;
    appendTurn(contextId: string, turn: TurnInput): Promise<AppendedTurn>;
    /** Several turns, each on the previous one, all or none. */
    appendTurns(contextId: string, turns: TurnInput[]): Promise<AppendedTurn[]>;
    /** One page of a context's history (the newest turns, oldest first); `next_before_turn_id` asks for the page below. */
    getTurns(contextId: string, query?: TurnQuery): Promise<TurnPage>;
    /** Every turn from `turnId` (or the head) down to depth 1, oldest first, page by page; at most `maxTurns`. */
    history(contextId: string, options?: {
        turnId?: string;
        view?: "raw" | "both";
        maxTurns?: number;
    }): Promise<Turn[]>;
    getBlob(contentHash: string): Promise<Uint8Array>;
    /** Publish a type bundle: true if it was new, false if the same bundle was there already. */
    putBundle(bundleId: string, bundle: Record<string, unknown>): Promise<boolean>;
    getBundle(bundleId: string): Promise<Record<string, unknown>>;
    getType(typeId: string, typeVersion: number): Promise<Record<string, unknown>>;
    listTypes(): Promise<{
        types: Array<Record<string, unknown>>;
    }>;
    stats(): Promise<{
        contexts: number;
        turns: number;
        blobs: number;
        storage_bytes: number;
        dedup_hit_rate: number;
    }>;
    /** One decision record; the ledger answers 201 (or 200 for a replay of the same idempotency key). */
    record(decision: Record<string, unknown>, idempotencyKey?: string): Promise<Record<string, unknown>>;
    /** The organisation's chain: records, blocks, head record hash, when the last block was sealed. */
    ledgerStats(): Promise<{
        tenant_id: string;
        records: number;
        blocks: number;
        head_record_hash: string;
        last_sealed_at: string | null;
    }>;
    /** A page of records in chain order; pass the answer's `next_cursor` as `cursor` for the next. */
    listRecords(query?: {
        cursor?: number;
        limit?: number;
        policy_id?: string;
    }): Promise<RecordPage>;
    getRecord(transactionId: string): Promise<Record<string, unknown>>;
    /** The JSON receipt (verify it with `verifyReceipt` from "@xase/evidence"). */
    getReceipt(transactionId: string): Promise<Record<string, unknown>>;
    /** The receipt as a C2SP tlog-proof@v1 text. */
    getTlogProof(transactionId: string): Promise<string>;
    /** The consumer's sessions, newest first (at most 100). */
    listSessions(query?: {
        limit?: number;
    }): Promise<{
        sessions: Array<Record<string, unknown>>;
    }>;
    /** A page of a dataset's access log, newest first, each entry with its receipt unless `receipts` is false. */
    listAccesses(datasetRef: string, query?: {
        limit?: number;
        cursor?: string;
        since?: string;
        session_id?: string;
        receipts?: boolean;
    }): Promise<{
        accesses: Array<Record<string, unknown> & {
            receipt?: Record<string, unknown>;
        }>;
        has_more: boolean;
        next_cursor: string | null;
    }>;
    /** The newest signed checkpoint (a C2SP signed note, with any witnesses' cosignatures). */
    getCheckpoint(): Promise<string>;
    getLogKeys(): Promise<{
        origin: string;
        vkeys: string[];
    }>;
    getConsistencyProof(old: number, size: number): Promise<{
        old: number;
        size: number;
        old_root: string;
        root: string;
        proof: string[];
    }>;
    getInclusionProof(index: number, size: number): Promise<{
        index: number;
        size: number;
        leaf_hash: string;
        root: string;
        proof: string[];
    }>;
}
