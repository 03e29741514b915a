export { CxdbClient, XaseApiError } from "./cxdb.js";
export type { AppendedTurn, ClientOptions, ContextHead, ContextInfo, RecordPage, Turn, TurnInput, TurnPage, TurnQuery } from "./cxdb.js";
export { contentHash, turnHash, verifyHistory } from "./history.js";
export type { HistoryTurn, HistoryVerdict } from "./history.js";
export { canonicalize, keyFingerprint, verifyReceipt, VerificationError } from "./evidence.js";
export { LogError, openNote, parseNote, parseVkey, verifyConsistency, verifyInclusion } from "./tlog.js";
export type { Checkpoint, NoteSignature, Vkey } from "./tlog.js";
