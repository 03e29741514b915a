"""Provisioning a tenant: its row (shared layer) and what each subsystem keeps per tenant.

The admin API and `xase-ledger create-api-key` create tenants only through here,
so a new tenant always has a chain to append to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ledger_service import auth, evidence

__all__ = ["create_tenant", "get_or_create_tenant"]


def create_tenant(conn: Connection, name: str) -> dict[str, Any]:
    tenant = auth.create_tenant(conn, name)
    evidence.open_chain(conn, tenant["id"])
    return tenant


def get_or_create_tenant(conn: Connection, name: str) -> dict[str, Any]:
    return auth.find_tenant(conn, name) or create_tenant(conn, name)
