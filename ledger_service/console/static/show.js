// One way to show a verification result, for both pages: the step that failed, as `xase verify` names it.
import { verifyReceipt } from "./lib/evidence.js";

export async function showVerification(receipt, pinnedInput, verdict) {
  const pinned = pinnedInput.value.trim();
  const result = await verifyReceipt(receipt, pinned ? { trustedKeyIds: [pinned] } : {});
  verdict.className = result.ok ? "ok" : "failed";
  verdict.textContent = result.ok
    ? `Receipt verified: record ${result.seq} (${result.transactionId}), signed by ${result.keyId}${pinned ? " (the key you trust)" : "; no key pinned: this shows integrity, not origin"}.`
    : `Verification FAILED at step ${result.step}: ${result.message}`;
}
