import { showVerification } from "./show.js";

const verdict = document.getElementById("verdict");
document.getElementById("verify").addEventListener("click", async () => {
  let receipt;
  try {
    receipt = JSON.parse(document.getElementById("receipt").value);
  } catch (error) {
    verdict.className = "failed";
    verdict.textContent = `Not JSON: ${error.message}`;
    return;
  }
  await showVerification(receipt, document.getElementById("pinned"), verdict);
});
