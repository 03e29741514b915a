"""Erasing a stored payload (EVIDENCE-FORMAT.md section 7), e.g. for a GDPR request.

Only the payload blob goes: the record, its commitments, its block and every
receipt stay as they were and still verify; the receipt then says when the
payload was erased. The erasure itself is evidence: a record the ledger writes
in the tenant's chain (policy `xase.erasure`), whose transaction id is derived
from the payload's address, so a retried or concurrent erasure replays that
record instead of writing a second one, and `erased_at` is its `recorded_at`.

Payloads are stored once per content address, so every record of the tenant with
the same payload loses it, and the same payload recorded again later stays erased.
Where the bytes go: SQLite zeroes them in the file (secure_delete) and the log is
flushed; PostgreSQL keeps the old row version until VACUUM reclaims it (autovacuum,
or `VACUUM payloads` for an immediate purge).
"""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import Engine, update

from ledger_service.db import flush_sqlite_log, read_connection, write_transaction
from ledger_service.errors import NotFound, ValidationFailed
from ledger_service.evidence import audit
from ledger_service.evidence.ledger import Ledger
from ledger_service.evidence.tables import Payload
from xase.wire import UNPRINTABLE

__all__ = ["ERASURE_POLICY", "MAX_REASON", "erase_payload"]

ERASURE_POLICY = "xase.erasure"
MAX_REASON = 1000


def _reason(value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_REASON or UNPRINTABLE.search(value):
        raise ValidationFailed(f"reason: a string of 1-{MAX_REASON} printable characters (it stays in the chain: no personal data)",
                               {"field": "reason"})  # fmt: skip
    return value


def _payload_ref(engine: Engine, tenant_id: str, transaction_id: str) -> str:
    with read_connection(engine) as conn:
        payload_ref = audit.record_row(conn, tenant_id, transaction_id).payload_ref
    if payload_ref is None:
        raise NotFound(f"record {transaction_id!r} has no stored payload (it was recorded without store_payload)")
    return str(payload_ref)


def erase_payload(engine: Engine, ledger: Ledger, tenant_id: str, transaction_id: str, reason: Any = None) -> dict[str, Any]:
    """Erase the payload stored for `transaction_id` (and for every record of this tenant with the same payload)."""
    reason = _reason(reason)
    payload_ref = _payload_ref(engine, tenant_id, transaction_id)
    with write_transaction(engine) as conn:  # the erasure and its evidence commit together
        erasure = ledger.record(tenant_id, {
            "policy_id": ERASURE_POLICY, "decision_type": "payload.erase", "transaction_id": "era_" + payload_ref,
            "input": {"payload_ref": payload_ref}, "output": {"erased": True},
            "context": {"requested_for": transaction_id, "reason": reason},
        }, within=conn)  # fmt: skip
        conn.execute(
            update(Payload)
            .where(Payload.tenant_id == tenant_id, Payload.payload_ref == payload_ref, Payload.erased_at.is_(None))
            .values(body=None, erased_at=erasure["timestamp"])
        )
    flush_sqlite_log(engine)  # SQLite's secure_delete zeroed the bytes in the file; now in its log too
    return {"transaction_id": transaction_id, "payload_ref": payload_ref, "erased_at": erasure["timestamp"],
            "erasure_transaction_id": erasure["transaction_id"]}  # fmt: skip
