// The turn DAG of one context as SVG: its turns (oldest at the top), where it was forked from, and the contexts
// forked from its turns, each a link. Built with DOM calls: every label is text.
const NS = "http://www.w3.org/2000/svg";
const STEP = 34, X = 24, LABEL = 300, BRANCH = 190, LONGEST = 36;

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function label(turn) {
  const type = turn.declared_type.type_id.length > LONGEST ? `${turn.declared_type.type_id.slice(0, LONGEST - 1)}…` : turn.declared_type.type_id;
  return `turn ${turn.turn_id} · ${type} v${turn.declared_type.type_version}`;
}

/** `turns` any order; `context` with lineage; `forks` the child contexts (with lineage). */
export function drawDag(context, turns, forks) {
  const ordered = [...turns].sort((a, b) => a.depth - b.depth);
  const rowOf = new Map();
  const lead = ordered.length && ordered[0].depth > 1 ? 1 : 0;  // a row for the turns below this page
  ordered.forEach((turn, index) => rowOf.set(turn.turn_id, index + lead));
  const atTurn = new Map();
  const elsewhere = [];
  for (const fork of forks) {
    const base = fork.lineage?.forked_from_turn_id;
    if (rowOf.has(base)) atTurn.set(base, [...(atTurn.get(base) ?? []), fork]);
    else elsewhere.push(fork);
  }
  const widest = Math.max(0, ...[...atTurn.values()].map((list) => list.length));
  const height = (ordered.length + lead) * STEP + 16;
  const width = X + LABEL + 40 + widest * BRANCH;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "group",
    "aria-labelledby": "dag-title", class: "dag" });
  const parent = context.lineage?.parent_context_id;
  root.append(svg("title", { id: "dag-title" }, `The turns of context ${context.context_id}` + (parent ? `, forked from context ${parent}` : "") +
    `, and ${forks.length} fork${forks.length === 1 ? "" : "s"} from them`));
  const y = (rowNumber) => 16 + rowNumber * STEP;
  if (ordered.length > 1 || lead) root.append(svg("line", { x1: X, y1: y(0), x2: X, y2: y(ordered.length + lead - 1), class: "edge" }));
  if (lead) root.append(svg("text", { x: X + 14, y: y(0) + 4, class: "muted" }, `… ${ordered[0].depth - 1} older turn(s)`));
  for (const turn of ordered) {
    const rowY = y(rowOf.get(turn.turn_id));
    const isBase = parent && turn.turn_id === context.lineage.forked_from_turn_id;
    const isHead = turn.turn_id === context.head_turn_id;
    root.append(svg("circle", { cx: X, cy: rowY, r: isHead ? 7 : 5, class: isHead ? "head" : isBase ? "base" : "turn" }));
    const note = isBase ? ` (forked from context ${parent} here)` : isHead ? " (head)" : "";
    root.append(svg("text", { x: X + 14, y: rowY + 4 }, label(turn) + note));
    (atTurn.get(turn.turn_id) ?? []).forEach((fork, index) => {  // a fork: a dashed branch from this turn, past its label
      const x = X + LABEL + 40 + index * BRANCH;
      root.append(svg("path", { d: `M ${X + 7} ${rowY} Q ${X + 30} ${rowY + STEP / 2} ${X + 60} ${rowY + STEP / 2} L ${x} ${rowY + STEP / 2}`,
        class: "edge fork" }));
      const anchor = svg("a", { href: `/console/contexts/${encodeURIComponent(fork.context_id)}` });
      anchor.append(svg("rect", { x: x - 4, y: rowY + STEP / 2 - 11, width: BRANCH - 20, height: 22, rx: 4, class: "forkbox" }),
        svg("text", { x: x + 4, y: rowY + STEP / 2 + 4 }, `context ${fork.context_id} · depth ${fork.head_depth}`));
      root.append(anchor);
    });
  }
  return { svg: root, elsewhere };
}
