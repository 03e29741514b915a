import { showVerification } from "./show.js";

const section = document.getElementById("verification");
const verdict = document.getElementById("verdict");
async function run() {
  verdict.textContent = "Verifying…";
  try {
    const answer = await fetch(section.dataset.receipt, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`the ledger answered ${answer.status}`);
    await showVerification(await answer.json(), document.getElementById("pinned"), verdict);
  } catch (error) {
    verdict.className = "failed";
    verdict.textContent = `Could not verify: ${error.message}`;
  }
}
document.getElementById("verify").addEventListener("click", run);
run();
