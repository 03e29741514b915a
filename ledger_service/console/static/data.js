// Each dataset's newest accesses with their receipts (the evidence lives in the consumer's chain, and its receipt
// verifies anywhere): verified here, one by one, against the keys the receipts name.
import { api, code, el, problem, row, say } from "./dom.js";
import { verifyReceipt } from "./lib/evidence.js";

for (const card of document.querySelectorAll("section.dataset")) {
  const button = card.querySelector("button.verify-accesses");
  if (!button) continue;
  button.addEventListener("click", async () => {
    const verdict = card.querySelector(".verdict");
    const table = card.querySelector("table.accesses");
    say(verdict, "Fetching the accesses and verifying their receipts…", "verdict");
    try {
      const page = await api.listAccesses(card.dataset.dataset, { limit: 50 });
      let verified = 0;
      const rows = [];
      for (const entry of page.accesses) {
        const result = entry.receipt ? await verifyReceipt(entry.receipt) : { ok: false, step: "receipt", message: "none yet" };
        verified += result.ok ? 1 : 0;
        rows.push(row(entry.accessed_at, code(entry.tenant_id), entry.action, entry.purpose, String(entry.record_ids?.length ?? 0),
          el("span", { class: result.ok ? "ok" : "failed" }, result.ok ? `verified (record ${result.seq})` : `FAILED at step ${result.step}`)));
      }
      table.tBodies[0].replaceChildren(...rows);
      table.hidden = false;
      say(verdict, `${verified} of ${page.accesses.length} receipt(s) verified in this browser (integrity: pin the ledger's key on a decision's page to check origin).` +
        (page.has_more ? " Older accesses are not shown." : ""), verified === page.accesses.length ? "verdict ok" : "verdict failed");
    } catch (error) {
      say(verdict, `Could not verify: ${problem(error)}`, "verdict failed");
    }
  });
}
