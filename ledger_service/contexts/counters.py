"""The per-tenant counters row: the lock every context write takes, the ids it hands out, the totals stats read."""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import Connection, Row, select

from ledger_service.contexts.tables import ContextCounters
from ledger_service.db import insert_statement

__all__ = ["lock_counters", "counters"]


def lock_counters(conn: Connection, tenant_id: str) -> Row[Any]:
    """The tenant's counters row, created on first use, locked until the transaction ends: one tenant's
    context writes are serialized, and never wait on another tenant's."""
    conn.execute(insert_statement(conn, ContextCounters).values(tenant_id=tenant_id, next_context_id=1, next_turn_id=1, blobs=0, storage_bytes=0)
                 .on_conflict_do_nothing(index_elements=["tenant_id"]))  # fmt: skip
    return conn.execute(select(ContextCounters).where(ContextCounters.tenant_id == tenant_id).with_for_update()).one()


def counters(conn: Connection, tenant_id: str) -> Optional[Row[Any]]:
    return conn.execute(select(ContextCounters).where(ContextCounters.tenant_id == tenant_id)).first()
