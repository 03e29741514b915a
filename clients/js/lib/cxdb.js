// The agent context store (seed 003, CXDB's API) and the evidence chain's decisions and receipts, over HTTP, in a
// browser or Node 18+. Mirrors the seed's client: `new CxdbClient(url, { apiKey })`, `createContext`,
// `appendTurn`, `getTurns`, and beside them forks, the type registry, blobs, and records with their receipts.
//
//   const client = new CxdbClient("https://ledger.example", { apiKey: process.env.XASE_API_KEY });
//   const ctx = await client.createContext();
//   await client.appendTurn(ctx.context_id, { type_id: "com.example.Message", type_version: 1, data: { role: "user", text: "Hello!" } });
//   const { turns } = await client.getTurns(ctx.context_id, { limit: 10 });
//
// Bodies and answers are the API's own JSON (snake_case, ids as decimal strings), so the seed's examples read the
// same here. Every id is escaped into its URL, redirects are refused (a key is never sent to another place), and an
// error answer becomes an XaseApiError with the ledger's status, code and details.
export class XaseApiError extends Error {
    status;
    code;
    details;
    constructor(status, code, message, details) {
        super(`${status} ${code}: ${message}`);
        this.name = "XaseApiError";
        this.status = status;
        this.code = code;
        this.details = details;
    }
}
const DEFAULT_TIMEOUT_MS = 30_000;
const RECORDS = "/api/xase/v1";
/** `path` with each `{}` replaced by the next id, escaped: an id can never reach another route. */
function route(path, ...ids) {
    let at = 0;
    return path.replace(/\{\}/g, () => encodeURIComponent(String(ids[at++])));
}
function withQuery(path, query = {}) {
    const pairs = Object.entries(query).filter((pair) => pair[1] !== undefined);
    return pairs.length ? `${path}?${new URLSearchParams(pairs.map(([name, value]) => [name, String(value)])).toString()}` : path;
}
export class CxdbClient {
    baseUrl;
    options;
    /** `baseUrl` is the ledger's origin (the console passes "/console/api", its same-origin bridge). */
    constructor(baseUrl, options = {}) {
        this.baseUrl = baseUrl.replace(/\/+$/, "");
        this.options = options;
    }
    async request(method, path, body, accept = "application/json") {
        const headers = { Accept: accept };
        if (this.options.apiKey)
            headers["X-API-Key"] = this.options.apiKey;
        if (body !== undefined)
            headers["Content-Type"] = "application/json";
        const answer = await (this.options.fetch ?? fetch)(this.baseUrl + path, {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            credentials: this.options.credentials ?? "omit",
            redirect: "error",
            signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
        });
        if (!answer.ok)
            throw await apiError(answer);
        return answer;
    }
    async json(method, path, body) {
        return (await (await this.request(method, path, body)).json());
    }
    // ---------------------------------------------------------------- contexts
    createContext(options = {}) {
        return this.json("POST", "/cxdb/v1/contexts/create", { base_turn_id: options.base_turn_id ?? "0", ...(options.tag ? { tag: options.tag } : {}) });
    }
    /** A new context whose history starts at `baseTurnId` (a turn of any context): the fork shares the turns below it. */
    fork(baseTurnId, options = {}) {
        return this.json("POST", "/cxdb/v1/contexts/fork", { base_turn_id: baseTurnId, ...(options.tag ? { tag: options.tag } : {}) });
    }
    getContext(contextId, query = {}) {
        return this.json("GET", withQuery(route("/cxdb/v1/contexts/{}", contextId), query));
    }
    listContexts(query = {}) {
        return this.json("GET", withQuery("/cxdb/v1/contexts", query));
    }
    children(contextId, query = {}) {
        return this.json("GET", withQuery(route("/cxdb/v1/contexts/{}/children", contextId), query));
    }
    // ---------------------------------------------------------------- turns
    appendTurn(contextId, turn) {
        return this.json("POST", route("/cxdb/v1/contexts/{}/append", contextId), turn);
    }
    /** Several turns, each on the previous one, all or none. */
    async appendTurns(contextId, turns) {
        return (await this.json("POST", route("/cxdb/v1/contexts/{}/append_batch", contextId), { turns })).turns;
    }
    /** One page of a context's history (the newest turns, oldest first); `next_before_turn_id` asks for the page below. */
    getTurns(contextId, query = {}) {
        return this.json("GET", withQuery(route("/cxdb/v1/contexts/{}/turns", contextId), query));
    }
    /** Every turn from `turnId` (or the head) down to depth 1, oldest first, page by page; at most `maxTurns`. */
    async history(contextId, options = {}) {
        const pages = [];
        const limit = options.maxTurns ?? 100_000;
        let count = 0;
        let where = options.turnId === undefined ? {} : { from_turn_id: options.turnId };
        for (;;) {
            const page = await this.getTurns(contextId, { ...where, view: options.view ?? "raw", limit: 256 });
            pages.unshift(page.turns); // a page is oldest first, and each page is older than the last
            count += page.turns.length;
            if (!page.turns.length || page.next_before_turn_id === null)
                break;
            if (count >= limit)
                throw new Error(`the history is longer than ${limit} turns`);
            where = { before_turn_id: page.next_before_turn_id };
        }
        return pages.flat();
    }
    // ---------------------------------------------------------------- blobs and registry
    async getBlob(contentHash) {
        return new Uint8Array(await (await this.request("GET", route("/cxdb/v1/blobs/{}", contentHash), undefined, "application/octet-stream")).arrayBuffer());
    }
    /** Publish a type bundle: true if it was new, false if the same bundle was there already. */
    async putBundle(bundleId, bundle) {
        return (await this.request("PUT", route("/cxdb/v1/registry/bundles/{}", bundleId), bundle)).status === 201;
    }
    getBundle(bundleId) {
        return this.json("GET", route("/cxdb/v1/registry/bundles/{}", bundleId));
    }
    getType(typeId, typeVersion) {
        return this.json("GET", route("/cxdb/v1/registry/types/{}/versions/{}", typeId, String(typeVersion)));
    }
    listTypes() {
        return this.json("GET", "/cxdb/v1/registry/types");
    }
    stats() {
        return this.json("GET", "/cxdb/v1/stats");
    }
    // ---------------------------------------------------------------- decisions and receipts
    /** One decision record; the ledger answers 201 (or 200 for a replay of the same idempotency key). */
    record(decision, idempotencyKey) {
        return idempotencyKey === undefined
            ? this.json("POST", `${RECORDS}/records`, decision)
            : this.json("POST", `${RECORDS}/records`, { ...decision, idempotency_key: idempotencyKey });
    }
    /** The organisation's chain: records, blocks, head record hash, when the last block was sealed. */
    ledgerStats() {
        return this.json("GET", `${RECORDS}/stats`);
    }
    /** A page of records in chain order; pass the answer's `next_cursor` as `cursor` for the next. */
    listRecords(query = {}) {
        return this.json("GET", withQuery(`${RECORDS}/records`, query));
    }
    getRecord(transactionId) {
        return this.json("GET", route(`${RECORDS}/records/{}`, transactionId));
    }
    /** The JSON receipt (verify it with `verifyReceipt` from "@xase/evidence"). */
    getReceipt(transactionId) {
        return this.json("GET", route(`${RECORDS}/receipts/{}`, transactionId));
    }
    /** The receipt as a C2SP tlog-proof@v1 text. */
    async getTlogProof(transactionId) {
        return (await this.request("GET", withQuery(route(`${RECORDS}/receipts/{}`, transactionId), { format: "tlog-proof" }), undefined, "text/plain")).text();
    }
    // ---------------------------------------------------------------- governed data access
    /** The consumer's sessions, newest first (at most 100). */
    listSessions(query = {}) {
        return this.json("GET", withQuery(`${RECORDS}/sessions`, query));
    }
    /** A page of a dataset's access log, newest first, each entry with its receipt unless `receipts` is false. */
    listAccesses(datasetRef, query = {}) {
        return this.json("GET", withQuery(route(`${RECORDS}/datasets/{}/accesses`, datasetRef), query));
    }
    // ---------------------------------------------------------------- the organisation's log (format v2)
    /** The newest signed checkpoint (a C2SP signed note, with any witnesses' cosignatures). */
    async getCheckpoint() {
        return (await this.request("GET", `${RECORDS}/log/checkpoint`, undefined, "text/plain")).text();
    }
    getLogKeys() {
        return this.json("GET", `${RECORDS}/log/keys`);
    }
    getConsistencyProof(old, size) {
        return this.json("GET", withQuery(`${RECORDS}/log/proof/consistency`, { old, size }));
    }
    getInclusionProof(index, size) {
        return this.json("GET", withQuery(`${RECORDS}/log/proof/inclusion`, { index, size }));
    }
}
async function apiError(answer) {
    let body;
    try {
        body = await answer.json();
    }
    catch {
        return new XaseApiError(answer.status, "HTTP_ERROR", answer.statusText || "the ledger's answer was not JSON", null);
    }
    const error = body?.error;
    return new XaseApiError(answer.status, typeof error?.code === "string" ? error.code : "HTTP_ERROR", typeof error?.message === "string" ? error.message : answer.statusText, error?.details ?? null);
}
