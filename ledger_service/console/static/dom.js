// Building the console's pages from the API's answers: every value goes in as text (never as HTML), so a turn, a
// tag or a policy name an attacker chose is shown, never run.
import { CxdbClient } from "./lib/cxdb.js";

export const api = new CxdbClient("/console/api", { credentials: "same-origin" });

/** An element with text or children; attributes by name (never event handlers: the CSP forbids them anyway). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

export const link = (href, text) => el("a", { href }, text);
export const code = (text) => el("code", {}, text);
export const row = (...cells) => el("tr", {}, ...cells.map((cell) => el("td", {}, cell)));

export function say(node, text, kind = "") {
  node.className = kind;
  node.textContent = text;
}

/** The error a page shows when the ledger refused or could not be reached. */
export const problem = (error) => (error && error.status ? `the ledger answered ${error.status} ${error.code}: ${error.message}` : String(error?.message ?? error));
