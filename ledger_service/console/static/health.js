// The health page: the organisation's counts and the service's totals, polled every few seconds while the page
// is visible (rates are the difference of two polls), and a live feed of new decisions and moved context heads.
import { api, code, el, link, problem, say } from "./dom.js";

const EVERY_MS = 3000, FEED_MAX = 50;
const withContexts = document.getElementById("health").dataset.contexts === "yes";
const feed = document.getElementById("feed");
const refreshed = document.getElementById("refreshed");
let previous = null, cursor = null, heads = null;

const set = (id, text) => { const node = document.getElementById(id); if (node) node.textContent = text; };
const perSecond = (now, then, pick) => (then ? ` (${((pick(now) - pick(then)) / Math.max(now.at - then.at, 0.001)).toFixed(1)}/s)` : "");
const ms = (seconds) => (seconds === null ? "no requests yet" : `≤ ${Math.round(seconds * 1000)} ms`);

function announce(...parts) {
  feed.prepend(el("li", {}, new Date().toLocaleTimeString(), " ", ...parts));
  while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
}

async function organisation() {
  const stats = await api.ledgerStats();
  set("records", String(stats.records));
  set("blocks", String(stats.blocks));
  set("sealed", stats.last_sealed_at ?? "none yet");
  if (cursor === null) cursor = Math.max(stats.records - 11, -1);  // the last ten records, then whatever is new
  for (let pages = 0; pages < 5; pages++) {
    const page = await api.listRecords({ limit: 100, ...(cursor >= 0 ? { cursor } : {}) });
    for (const record of page.records) {
      announce("decision ", link(`/console/decisions/${encodeURIComponent(record.transaction_id)}`, record.transaction_id), ` · ${record.record.policy_id}`);
      cursor = record.record.seq;
    }
    if (page.next_cursor === null) break;
  }
  if (!withContexts) return;
  const [counts, listed] = await Promise.all([api.stats(), api.listContexts({ limit: 50 })]);
  set("contexts", String(counts.contexts));
  set("turns", String(counts.turns));
  const now = new Map(listed.contexts.map((context) => [context.context_id, context]));
  if (heads !== null) {
    for (const [id, context] of now) {
      if (heads.get(id) !== context.head_turn_id) {
        announce("context ", link(`/console/contexts/${encodeURIComponent(id)}`, id), " → turn ", code(context.head_turn_id), ` (depth ${context.head_depth})`);
      }
    }
  }
  heads = new Map([...now].map(([id, context]) => [id, context.head_turn_id]));
}

async function service() {
  const answer = await fetch("/console/health.json", { credentials: "same-origin", redirect: "error" });
  if (!answer.ok) throw new Error(`the ledger answered ${answer.status}`);
  const now = await answer.json();
  if (now.service === null) {
    set("rate", "shown to admin keys only (XASE_METRICS_TOKEN is set)");
    return;
  }
  const figures = { ...now.service, at: now.at };
  set("rate", `${figures.requests}${perSecond(figures, previous, (f) => f.requests)}`);
  set("client-errors", `${figures.client_errors}${perSecond(figures, previous, (f) => f.client_errors)}`);
  set("server-errors", `${figures.server_errors}${perSecond(figures, previous, (f) => f.server_errors)}`);
  set("limited", String(figures.rate_limited));
  set("ingest", `${figures.records.appended ?? 0}${perSecond(figures, previous, (f) => f.records.appended ?? 0)}`);
  set("latency", `p50 ${ms(figures.latency_seconds.p50)}, p99 ${ms(figures.latency_seconds.p99)}`);
  previous = figures;
}

async function poll() {
  if (document.visibilityState === "visible") {
    try {
      await Promise.all([organisation(), service()]);
      say(refreshed, `Refreshed at ${new Date().toLocaleTimeString()}; every ${EVERY_MS / 1000} seconds while this page is shown.`, "hint");
    } catch (error) {
      say(refreshed, `Could not refresh: ${problem(error)}`, "failed");
    }
  }
  setTimeout(poll, EVERY_MS);
}
poll();
