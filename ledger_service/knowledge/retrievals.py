"""Evidence of knowledge use: every retrieval and every change is a record in the organisation's chain.

A retrieval (encrypted Hamming distances, a metadata search, a fetch) commits to the base, the
execution context, what was asked (the query ciphertexts' hash, the filter) and the exact chunk ids
answered; a change to the ids it touched, in the change's own transaction (`within`), so that the
change and its evidence commit together or not at all. The answer carries the record's transaction id in
EVIDENCE_HEADER, so a decision can cite what it retrieved:
`XaseClient.record({..., "context": {"retrieval": evidence_id}})`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, Optional

from sqlalchemy import Connection

from ledger_service.auth import Principal
from ledger_service.errors import Conflict
from ledger_service.evidence import Ledger
from xase import evidence

__all__ = ["EVIDENCE_HEADER", "RETRIEVAL_POLICY", "CHANGE_POLICY", "MAX_LISTED_IDS", "record", "replay"]

EVIDENCE_HEADER = "X-Evidence-Id"  # as a session's record read names its evidence
RETRIEVAL_POLICY = "xase.retrieval"
CHANGE_POLICY = "xase.knowledge"
RETRIEVALS = frozenset({"compute_hamming", "meta_search", "meta_search_page", "fetch"})
MAX_LISTED_IDS = 10_000  # beyond, the record holds the ids' hash and count; the answer holds the ids


def record(ledger: Ledger, caller: Principal, action: str, kb_id: Optional[str], context_id: Optional[str], request: dict[str, Any],
           chunk_ids: Sequence[int], *, within: Optional[Connection] = None, idempotency_key: Optional[str] = None) -> str:  # fmt: skip
    """Append the evidence of one knowledge operation (in the transaction `within`, for a change); its transaction id.
    `idempotency_key`: the client's, for a change it may send again (see `replay`)."""
    transaction_id = "ret_" + secrets.token_hex(12)
    ids = list(chunk_ids)
    output: dict[str, Any] = {"chunk_count": len(ids), "chunk_ids_sha256": evidence.commitment(ids)}
    if len(ids) <= MAX_LISTED_IDS:
        output["chunk_ids"] = ids
    ledger.record(caller.tenant_id, {
        "policy_id": RETRIEVAL_POLICY if action in RETRIEVALS else CHANGE_POLICY,
        "decision_type": f"knowledge.{action}",
        "transaction_id": transaction_id,
        "input": {"kb_id": kb_id, "context_id": context_id, "action": action, "key_id": caller.key_id, "request": request},
        "output": output,
        "store_payload": True,
        **({"idempotency_key": idempotency_key} if idempotency_key else {}),
    }, within=within)  # fmt: skip
    return transaction_id


def replay(ledger: Ledger, conn: Connection, caller: Principal, action: str, idempotency_key: str) -> Optional[tuple[str, list[int]]]:
    """(evidence id, chunk ids) of the change `action` already made under this idempotency key, or None if there is
    none. The key used for anything else (another action, a client's own record) is a Conflict."""
    prior = ledger.recorded(conn, caller.tenant_id, idempotency_key)
    if prior is None:
        return None
    payload = prior.get("payload") or {}
    made = payload.get("input", {}).get("action") if prior["record"]["policy_id"] == CHANGE_POLICY else None
    if made != action or "chunk_ids" not in payload.get("output", {}):
        raise Conflict("this Idempotency-Key was already used for another request", {"idempotency_key": idempotency_key})
    return prior["transaction_id"], list(payload["output"]["chunk_ids"])
