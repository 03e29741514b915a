import { api, link, problem, row, say } from "./dom.js";

const PAGE = 100;
const params = new URLSearchParams(location.search);
const tag = params.get("tag") || undefined;
const search = (params.get("q") || "").trim();
const before = params.get("before") || undefined;
const summary = document.getElementById("summary");
const table = document.getElementById("contexts");

function matches(context) {
  if (!search) return true;
  return context.context_id === search || (context.provenance?.client_tag ?? "").includes(search);
}

async function show() {
  if (/^[0-9]{1,19}$/.test(search) && !tag) {  // an id: go straight to it
    location.assign(`/console/contexts/${encodeURIComponent(search)}`);
    return;
  }
  try {
    const page = await api.listContexts({ limit: PAGE, tag, include_provenance: true, include_lineage: true, before_context_id: before });
    const shown = page.contexts.filter(matches);
    for (const context of shown) {
      const lineage = context.lineage;
      table.tBodies[0].append(row(link(`/console/contexts/${encodeURIComponent(context.context_id)}`, context.context_id),
        context.provenance?.client_tag ?? "", context.head_turn_id, context.head_depth,
        lineage.parent_context_id ? `context ${lineage.parent_context_id} at turn ${lineage.forked_from_turn_id}` : "",
        lineage.child_count, context.created_at));
    }
    table.hidden = shown.length === 0;
    say(summary, `${page.total} context${page.total === 1 ? "" : "s"}${tag ? ` tagged ${tag}` : ""}; ${shown.length} shown here` +
      (search ? ` matching “${search}” (a search looks through this page)` : "") + ".");
    if (page.contexts.length === PAGE) {
      const older = document.getElementById("older");
      const next = new URLSearchParams(params);
      next.set("before", page.contexts[page.contexts.length - 1].context_id);
      older.href = `/console/contexts?${next}`;
      older.hidden = false;
    }
  } catch (error) {
    say(summary, `Could not list contexts: ${problem(error)}`, "failed");
  }
}
show();
