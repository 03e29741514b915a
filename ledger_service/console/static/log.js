import { api, say } from "./dom.js";
import { COSIGNATURE_V1, LogError, cosignedAt, fromBase64, openNote, parseNote, parseVkey, verifyConsistency } from "./lib/tlog.js";

const verdict = document.getElementById("verdict");

/** The vkeys pasted into a text area, one a line. */
const pastedKeys = (id) => document.getElementById(id).value.split("\n").map((line) => line.trim()).filter(Boolean);

async function trustedKeys() {
  const pasted = pastedKeys("vkeys");
  const vkeys = pasted.length ? pasted : (await api.getLogKeys()).vkeys;
  return { keys: await Promise.all(vkeys.map(parseVkey)), pinned: pasted.length > 0 };
}

async function check() {
  say(verdict, "Checking…");
  try {
    const notes = [...document.querySelectorAll("pre.note")].slice(0, 2).map((node) => parseNote(node.textContent));
    const { keys, pinned } = await trustedKeys();
    for (const checkpoint of notes) await openNote(checkpoint, keys);
    const done = [`${notes.length === 1 ? "the checkpoint is" : "both checkpoints are"} signed by ${pinned ? "the keys you trust" : "the keys the ledger names (integrity, not origin)"}`];
    if (notes.length === 2) {
      const [newer, older] = notes;
      const proof = await api.getConsistencyProof(older.size, newer.size);
      await verifyConsistency(older.size, newer.size, older.root, newer.root, proof.proof.map((entry) => fromBase64(entry, "proof")));
      done.push(`tree ${older.size} is a prefix of tree ${newer.size} (consistency proof of ${proof.proof.length} hashes verified)`);
    }
    const pastedWitnesses = pastedKeys("witness-keys");
    const witnessKeys = pastedWitnesses.length ? pastedWitnesses : [...document.querySelectorAll("tr.witness")].map((row) => row.dataset.vkey);
    for (const text of witnessKeys) {
      const witness = await parseVkey(text);
      if (witness.type !== COSIGNATURE_V1) throw new LogError(`${witness.name}: not a cosigner key (type 0x04)`);
      const line = notes[0].signatures.find((signature) => signature.name === witness.name && signature.keyId === witness.keyId);
      if (!line) {
        done.push(`${witness.name} has not cosigned tree ${notes[0].size}`);
        continue;
      }
      await openNote(notes[0], [witness]);
      done.push(`${witness.name} cosigned tree ${notes[0].size} at ${new Date(cosignedAt(line.signature) * 1000).toISOString()}` +
        (pastedWitnesses.length ? " (a key you trust)" : ""));
    }
    say(verdict, `Verified in this browser: ${done.join("; ")}.`, "ok");
  } catch (error) {
    say(verdict, error instanceof LogError ? `Check FAILED: ${error.message}` : `Could not check: ${error.message}`, "failed");
  }
}
document.getElementById("verify").addEventListener("click", check);
if (document.querySelector("pre.note")) check();
