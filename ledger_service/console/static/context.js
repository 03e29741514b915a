import { drawDag } from "./dag.js";
import { api, code, el, link, problem, row, say } from "./dom.js";
import { verifyHistory } from "./lib/history.js";

const PAGE = 64, MAX_FORKS = 100;
const holder = document.getElementById("context");
const contextId = holder.dataset.contextId;
const summary = document.getElementById("summary");
const tbody = document.querySelector("#turns tbody");
const older = document.getElementById("older");
const viewSelect = document.getElementById("view");
let context, forks = [], turns = [], nextBefore = null;

function content(turn) {
  if (viewSelect.value === "raw") {
    return el("span", {}, "content_hash_b3 ", code(turn.content_hash_b3), ` · ${turn.uncompressed_len} bytes, encoding ${turn.encoding}` +
      (turn.compression ? ", zstd at rest" : ""));
  }
  return turn.data === null || turn.data === undefined ? el("span", { class: "hint" }, "no projection") : el("pre", {}, JSON.stringify(turn.data, null, 2));
}

function typeOf(turn) {
  const declared = `${turn.declared_type.type_id} v${turn.declared_type.type_version}`;
  const decoded = turn.decoded_as ? `${turn.decoded_as.type_id} v${turn.decoded_as.type_version}` : null;
  return decoded && decoded !== declared ? `${declared} (shown as ${decoded})` : declared;
}

function render() {
  tbody.replaceChildren(...[...turns].sort((a, b) => b.depth - a.depth).map((turn) => row(code(turn.turn_id), turn.depth, typeOf(turn), content(turn))));
  const { svg, elsewhere } = drawDag(context, turns, forks);
  const dag = document.getElementById("dag");
  dag.replaceChildren(svg);
  if (elsewhere.length) {
    dag.append(el("p", {}, "Forked from older turns: ", ...elsewhere.flatMap((fork) => [link(`/console/contexts/${encodeURIComponent(fork.context_id)}`,
      `context ${fork.context_id} (at turn ${fork.lineage.forked_from_turn_id})`), " "])));
  }
  const lineage = context.lineage;
  say(summary, `Head turn ${context.head_turn_id} at depth ${context.head_depth}; ${turns.length} turn(s) shown` +
    (lineage.parent_context_id ? `; forked from context ${lineage.parent_context_id} at turn ${lineage.forked_from_turn_id}` : "") +
    `; ${lineage.child_count} fork(s)` + (lineage.child_count > forks.length ? ` (the first ${forks.length} drawn)` : "") + ".");
  older.hidden = nextBefore === null || turns.some((turn) => turn.depth === 1);
}

async function loadTurns(before) {
  const page = await api.getTurns(contextId, { limit: PAGE, view: viewSelect.value === "raw" ? "raw" : "typed", before_turn_id: before ?? undefined });
  nextBefore = page.next_before_turn_id;
  return page.turns;
}

/** The newest page of turns again, drawn. */
async function reload() {
  turns = context.head_turn_id === "0" ? [] : await loadTurns(null);
  render();
}

async function start() {
  try {
    [context, { children: forks }] = await Promise.all([
      api.getContext(contextId, { include_lineage: true, include_provenance: true }),
      api.children(contextId, { limit: MAX_FORKS, include_lineage: true }),
    ]);
    await reload();
  } catch (error) {
    say(summary, `Could not load the context: ${problem(error)}`, "failed");
  }
}

older.addEventListener("click", async () => {
  try {
    turns = turns.concat(await loadTurns(nextBefore));
    render();
  } catch (error) {
    say(summary, `Could not load older turns: ${problem(error)}`, "failed");
  }
});

viewSelect.addEventListener("change", async () => {
  try {
    await reload();
  } catch (error) {
    say(summary, `Could not load the turns: ${problem(error)}`, "failed");
  }
});

document.getElementById("verify").addEventListener("click", async () => {
  const verdict = document.getElementById("verdict");
  const chosen = document.getElementById("turn").value.trim();
  if (chosen && !/^[1-9][0-9]{0,18}$/.test(chosen)) return say(verdict, "A turn id is a positive whole number.", "failed");
  if (!chosen && (!context || context.head_turn_id === "0")) return say(verdict, "The context has no turns to verify.", "");
  say(verdict, "Fetching the history and verifying it…");
  try {
    const history = await api.history(contextId, { turnId: chosen || context.head_turn_id, view: "raw" });
    const result = await verifyHistory(history, chosen ? { headTurnId: chosen } : { headTurnId: context.head_turn_id, headTurnHash: context.head_turn_hash });
    if (result.ok) {
      say(verdict, `History verified in this browser: ${result.turns} turn(s) from depth 1 to turn ${result.head.turn_id}, every content hash ` +
        `and turn hash recomputed` + (chosen ? "" : "; the head's hash is the context's") + `. Turn hash ${result.head.turn_hash}.`, "ok");
    } else {
      say(verdict, `Verification FAILED at ${result.subject}, step ${result.step}: ${result.message}`, "failed");
    }
  } catch (error) {
    say(verdict, `Could not verify: ${problem(error)}`, "failed");
  }
});
start();
