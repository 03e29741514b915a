"""Whether an organisation's log is open to everyone, read-only: private unless the organisation opens it.

Opening or closing it is a change with its evidence: the setting and a record the ledger writes into the
organisation's chain (policy `xase.log`, transaction id `lgv_...`) commit in one transaction.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger_service.auth import Principal, now
from ledger_service.evidence.ledger import Ledger
from ledger_service.evidence.tables import LogSetting

__all__ = ["POLICY", "is_public", "set_public"]

POLICY = "xase.log"


def is_public(conn: Connection, tenant_id: str) -> bool:
    return bool(conn.execute(select(LogSetting.public).where(LogSetting.tenant_id == tenant_id)).scalar())


def set_public(conn: Connection, ledger: Ledger, caller: Principal, public: bool) -> dict[str, Any]:
    """Open (`public`) or close the caller's log, in the write transaction `conn`, with its record."""
    transaction_id = "lgv_" + secrets.token_hex(12)
    ledger.record(caller.tenant_id, {
        "policy_id": POLICY,
        "decision_type": "log.visibility",
        "transaction_id": transaction_id,
        "input": {"public": public, "key_id": caller.key_id},
        "output": {"public": public},
    }, within=conn)  # fmt: skip
    values = {"public": public, "changed_at": now(), "transaction_id": transaction_id}
    if conn.execute(update(LogSetting).where(LogSetting.tenant_id == caller.tenant_id).values(**values)).rowcount == 0:
        conn.execute(insert(LogSetting).values(tenant_id=caller.tenant_id, **values))
    return {"public": public, "changed_at": values["changed_at"], "transaction_id": transaction_id}
