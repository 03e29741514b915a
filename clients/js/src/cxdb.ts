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
  provenance?: { client_tag: string | null; created_by_key_id: string; base_turn_id: string; created_at: string };
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
  declared_type: { type_id: string; type_version: number };
  turn_hash: string;
  decoded_as?: { type_id: string; type_version: number } | null;
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

export class XaseApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details: unknown) {
    super(`${status} ${code}: ${message}`);
    this.name = "XaseApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

type Query = Record<string, string | number | boolean | undefined>;

const DEFAULT_TIMEOUT_MS = 30_000;
const RECORDS = "/api/xase/v1";

/** `path` with each `{}` replaced by the next id, escaped: an id can never reach another route. */
function route(path: string, ...ids: string[]): string {
  let at = 0;
  return path.replace(/\{\}/g, () => encodeURIComponent(String(ids[at++])));
}

function withQuery(path: string, query: Query = {}): string {
  const pairs = Object.entries(query).filter((pair): pair is [string, string | number | boolean] => pair[1] !== undefined);
  return pairs.length ? `${path}?${new URLSearchParams(pairs.map(([name, value]) => [name, String(value)])).toString()}` : path;
}

export class CxdbClient {
  readonly baseUrl: string;
  private readonly options: ClientOptions;

  /** `baseUrl` is the ledger's origin (the console passes "/console/api", its same-origin bridge). */
  constructor(baseUrl: string, options: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.options = options;
  }

  private async request(method: string, path: string, body?: unknown, accept = "application/json"): Promise<Response> {
    const headers: Record<string, string> = { Accept: accept };
    if (this.options.apiKey) headers["X-API-Key"] = this.options.apiKey;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const answer = await (this.options.fetch ?? fetch)(this.baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: this.options.credentials ?? "omit",
      redirect: "error",
      signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    if (!answer.ok) throw await apiError(answer);
    return answer;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }

  // ---------------------------------------------------------------- contexts

  createContext(options: { base_turn_id?: string; tag?: string } = {}): Promise<ContextHead> {
    return this.json("POST", "/cxdb/v1/contexts/create", { base_turn_id: options.base_turn_id ?? "0", ...(options.tag ? { tag: options.tag } : {}) });
  }

  /** A new context whose history starts at `baseTurnId` (a turn of any context): the fork shares the turns below it. */
  fork(baseTurnId: string, options: { tag?: string } = {}): Promise<ContextHead> {
    return this.json("POST", "/cxdb/v1/contexts/fork", { base_turn_id: baseTurnId, ...(options.tag ? { tag: options.tag } : {}) });
  }

  getContext(contextId: string, query: { include_provenance?: boolean; include_lineage?: boolean } = {}): Promise<ContextInfo> {
    return this.json("GET", withQuery(route("/cxdb/v1/contexts/{}", contextId), query));
  }

  listContexts(query: { limit?: number; tag?: string; before_context_id?: string; include_provenance?: boolean; include_lineage?: boolean } = {}): Promise<{ contexts: ContextInfo[]; total: number }> {
    return this.json("GET", withQuery("/cxdb/v1/contexts", query));
  }

  children(contextId: string, query: { recursive?: boolean; limit?: number; include_provenance?: boolean; include_lineage?: boolean } = {}): Promise<{ context_id: string; children: ContextInfo[] }> {
    return this.json("GET", withQuery(route("/cxdb/v1/contexts/{}/children", contextId), query));
  }

  // ---------------------------------------------------------------- turns

  appendTurn(contextId: string, turn: TurnInput): Promise<AppendedTurn> {
    return this.json("POST", route("/cxdb/v1/contexts/{}/append", contextId), turn);
  }

  /** Several turns, each on the previous one, all or none. */
  async appendTurns(contextId: string, turns: TurnInput[]): Promise<AppendedTurn[]> {
    return (await this.json<{ turns: AppendedTurn[] }>("POST", route("/cxdb/v1/contexts/{}/append_batch", contextId), { turns })).turns;
  }

  /** One page of a context's history (the newest turns, oldest first); `next_before_turn_id` asks for the page below. */
  getTurns(contextId: string, query: TurnQuery = {}): Promise<TurnPage> {
    return this.json("GET", withQuery(route("/cxdb/v1/contexts/{}/turns", contextId), query as Query));
  }

  /** Every turn from `turnId` (or the head) down to depth 1, oldest first, page by page; at most `maxTurns`. */
  async history(contextId: string, options: { turnId?: string; view?: "raw" | "both"; maxTurns?: number } = {}): Promise<Turn[]> {
    const pages: Turn[][] = [];
    const limit = options.maxTurns ?? 100_000;
    let count = 0;
    let where: TurnQuery = options.turnId === undefined ? {} : { from_turn_id: options.turnId };
    for (;;) {
      const page = await this.getTurns(contextId, { ...where, view: options.view ?? "raw", limit: 256 });
      pages.unshift(page.turns);  // a page is oldest first, and each page is older than the last
      count += page.turns.length;
      if (!page.turns.length || page.next_before_turn_id === null) break;
      if (count >= limit) throw new Error(`the history is longer than ${limit} turns`);
      where = { before_turn_id: page.next_before_turn_id };
    }
    return pages.flat();
  }

  // ---------------------------------------------------------------- blobs and registry

  async getBlob(contentHash: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request("GET", route("/cxdb/v1/blobs/{}", contentHash), undefined, "application/octet-stream")).arrayBuffer());
  }

  /** Publish a type bundle: true if it was new, false if the same bundle was there already. */
  async putBundle(bundleId: string, bundle: Record<string, unknown>): Promise<boolean> {
    return (await this.request("PUT", route("/cxdb/v1/registry/bundles/{}", bundleId), bundle)).status === 201;
  }

  getBundle(bundleId: string): Promise<Record<string, unknown>> {
    return this.json("GET", route("/cxdb/v1/registry/bundles/{}", bundleId));
  }

  getType(typeId: string, typeVersion: number): Promise<Record<string, unknown>> {
    return this.json("GET", route("/cxdb/v1/registry/types/{}/versions/{}", typeId, String(typeVersion)));
  }

  listTypes(): Promise<{ types: Array<Record<string, unknown>> }> {
    return this.json("GET", "/cxdb/v1/registry/types");
  }

  stats(): Promise<{ contexts: number; turns: number; blobs: number; storage_bytes: number; dedup_hit_rate: number }> {
    return this.json("GET", "/cxdb/v1/stats");
  }

  // ---------------------------------------------------------------- decisions and receipts

  /** One decision record; the ledger answers 201 (or 200 for a replay of the same idempotency key). */
  record(decision: Record<string, unknown>, idempotencyKey?: string): Promise<Record<string, unknown>> {
    return idempotencyKey === undefined
      ? this.json("POST", `${RECORDS}/records`, decision)
      : this.json("POST", `${RECORDS}/records`, { ...decision, idempotency_key: idempotencyKey });
  }

  /** The organisation's chain: records, blocks, head record hash, when the last block was sealed. */
  ledgerStats(): Promise<{ tenant_id: string; records: number; blocks: number; head_record_hash: string; last_sealed_at: string | null }> {
    return this.json("GET", `${RECORDS}/stats`);
  }

  /** A page of records in chain order; pass the answer's `next_cursor` as `cursor` for the next. */
  listRecords(query: { cursor?: number; limit?: number; policy_id?: string } = {}): Promise<RecordPage> {
    return this.json("GET", withQuery(`${RECORDS}/records`, query));
  }

  getRecord(transactionId: string): Promise<Record<string, unknown>> {
    return this.json("GET", route(`${RECORDS}/records/{}`, transactionId));
  }

  /** The JSON receipt (verify it with `verifyReceipt` from "@xase/evidence"). */
  getReceipt(transactionId: string): Promise<Record<string, unknown>> {
    return this.json("GET", route(`${RECORDS}/receipts/{}`, transactionId));
  }

  /** The receipt as a C2SP tlog-proof@v1 text. */
  async getTlogProof(transactionId: string): Promise<string> {
    return (await this.request("GET", withQuery(route(`${RECORDS}/receipts/{}`, transactionId), { format: "tlog-proof" }), undefined, "text/plain")).text();
  }

  // ---------------------------------------------------------------- governed data access

  /** The consumer's sessions, newest first (at most 100). */
  listSessions(query: { limit?: number } = {}): Promise<{ sessions: Array<Record<string, unknown>> }> {
    return this.json("GET", withQuery(`${RECORDS}/sessions`, query));
  }

  /** A page of a dataset's access log, newest first, each entry with its receipt unless `receipts` is false. */
  listAccesses(datasetRef: string, query: { limit?: number; cursor?: string; since?: string; session_id?: string; receipts?: boolean } = {}):
    Promise<{ accesses: Array<Record<string, unknown> & { receipt?: Record<string, unknown> }>; has_more: boolean; next_cursor: string | null }> {
    return this.json("GET", withQuery(route(`${RECORDS}/datasets/{}/accesses`, datasetRef), query));
  }

  // ---------------------------------------------------------------- the organisation's log (format v2)

  /** The newest signed checkpoint (a C2SP signed note, with any witnesses' cosignatures). */
  async getCheckpoint(): Promise<string> {
    return (await this.request("GET", `${RECORDS}/log/checkpoint`, undefined, "text/plain")).text();
  }

  getLogKeys(): Promise<{ origin: string; vkeys: string[] }> {
    return this.json("GET", `${RECORDS}/log/keys`);
  }

  getConsistencyProof(old: number, size: number): Promise<{ old: number; size: number; old_root: string; root: string; proof: string[] }> {
    return this.json("GET", withQuery(`${RECORDS}/log/proof/consistency`, { old, size }));
  }

  getInclusionProof(index: number, size: number): Promise<{ index: number; size: number; leaf_hash: string; root: string; proof: string[] }> {
    return this.json("GET", withQuery(`${RECORDS}/log/proof/inclusion`, { index, size }));
  }
}

async function apiError(answer: Response): Promise<XaseApiError> {
  let body: unknown;
  try {
    body = await answer.json();
  } catch {
    return new XaseApiError(answer.status, "HTTP_ERROR", answer.statusText || "the ledger's answer was not JSON", null);
  }
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  return new XaseApiError(answer.status, typeof error?.code === "string" ? error.code : "HTTP_ERROR",
    typeof error?.message === "string" ? error.message : answer.statusText, error?.details ?? null);
}
