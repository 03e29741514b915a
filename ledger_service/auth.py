"""Tenants, API keys and the admin key: who may call, on whose chain, with which scopes.

Secrets are shown once at creation and stored only as SHA-256 hashes; the
comparison that accepts a key is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import Connection, insert, select, update

from ledger_service.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from ledger_service.tables import ApiKey, LedgerMeta, Tenant
from xase.evidence import format_timestamp
from xase.wire import is_label

__all__ = [
    "SCOPES",
    "DEFAULT_SCOPES",
    "Principal",
    "authenticate",
    "authenticate_hash",
    "create_tenant",
    "create_api_key",
]

SCOPES = frozenset({"records:write", "records:read", "payloads:erase", "sessions", "knowledge", "contexts", "admin"})
DEFAULT_SCOPES = ("records:write", "records:read")
KEY_PREFIX = "xase_pk_"
ADMIN_KEY_PREFIX = "xase_admin_"
_ADMIN_META = "admin_key_hash"


@dataclass(frozen=True)
class Principal:
    """The caller behind an API key."""

    tenant_id: str
    key_id: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        """Whether the key has `scope` (the admin scope has every scope)."""
        return scope in self.scopes or "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.may(scope):
            raise Forbidden(f"this API key lacks the {scope!r} scope", {"required_scope": scope})


def now() -> str:
    return format_timestamp(datetime.now(timezone.utc))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


# ---------------------------------------------------------------- tenants


def create_tenant(conn: Connection, name: str) -> dict[str, Any]:
    """The tenant's row only: callers use `ledger_service.tenants.create_tenant`, which also opens its chain."""
    name = name.strip() if isinstance(name, str) else ""
    if not is_label(name, 200):
        raise ValidationFailed("tenant name must be a non-empty string of at most 200 characters, without control characters", {"field": "name"})
    if conn.execute(select(Tenant.id).where(Tenant.name == name)).first():
        raise Conflict(f"tenant {name!r} already exists", {"name": name})
    tenant = {"id": _new_id("ten"), "name": name, "created_at": now()}
    conn.execute(insert(Tenant).values(**tenant))
    return tenant


def find_tenant(conn: Connection, id_or_name: str) -> Optional[dict[str, Any]]:
    row = conn.execute(select(Tenant).where((Tenant.id == id_or_name) | (Tenant.name == id_or_name))).mappings().first()
    return dict(row) if row else None


def list_tenants(conn: Connection) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(select(Tenant).order_by(Tenant.created_at)).mappings()]


# ---------------------------------------------------------------- API keys


def _check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(scopes))
    unknown = [scope for scope in chosen if scope not in SCOPES]
    if unknown or not chosen:
        raise ValidationFailed(f"scopes must be a non-empty subset of {sorted(SCOPES)}", {"unknown_scopes": unknown})
    return chosen


def _public_key_view(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "tenant_id": row["tenant_id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "scopes": row["scopes"].split(),
        "created_at": row["created_at"],
        "revoked_at": row["revoked_at"],
    }


def create_api_key(conn: Connection, tenant_id: str, name: str = "", scopes: Iterable[str] = DEFAULT_SCOPES) -> dict[str, Any]:
    """Create a key; the returned dict holds `secret`, which is never retrievable again."""
    if not conn.execute(select(Tenant.id).where(Tenant.id == tenant_id)).first():
        raise NotFound(f"tenant {tenant_id!r} not found")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = {
        "id": _new_id("key"),
        "tenant_id": tenant_id,
        "name": str(name or "")[:200],
        "prefix": secret[: len(KEY_PREFIX) + 4],
        "key_hash": hash_secret(secret),
        "scopes": " ".join(_check_scopes(scopes)),
        "created_at": now(),
        "revoked_at": None,
    }
    conn.execute(insert(ApiKey).values(**row))
    return {**_public_key_view(row), "secret": secret}


def list_api_keys(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)).mappings()
    return [_public_key_view(row) for row in rows]


def revoke_api_key(conn: Connection, key_id: str) -> dict[str, Any]:
    row = conn.execute(select(ApiKey).where(ApiKey.id == key_id)).mappings().first()
    if row is None:
        raise NotFound(f"API key {key_id!r} not found")
    if row["revoked_at"] is None:
        conn.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=now()))
    return _public_key_view(conn.execute(select(ApiKey).where(ApiKey.id == key_id)).mappings().one())


def authenticate(conn: Connection, secret: Optional[str]) -> Principal:
    if not secret:
        raise Unauthorized("Missing X-API-Key header (or Authorization: Bearer)")
    return authenticate_hash(conn, hash_secret(secret))


def authenticate_hash(conn: Connection, presented: str) -> Principal:
    """The caller behind the key of this hash (a console session keeps the hash, never the key)."""
    row = conn.execute(select(ApiKey.id, ApiKey.tenant_id, ApiKey.key_hash, ApiKey.scopes, ApiKey.revoked_at).where(ApiKey.key_hash == presented)).first()
    # The lookup is by hash; the explicit constant-time check keeps the accept path free of early exits.
    if row is None or not hmac.compare_digest(row.key_hash, presented):
        raise Unauthorized("Invalid API key")
    if row.revoked_at is not None:
        raise Unauthorized("API key has been revoked")
    return Principal(tenant_id=row.tenant_id, key_id=row.id, scopes=frozenset(row.scopes.split()))


# ---------------------------------------------------------------- the admin key


def ensure_admin_key(conn: Connection) -> Optional[str]:
    """Create the admin key if none is stored; returns the new secret, or None if one existed."""
    if conn.execute(select(LedgerMeta.value).where(LedgerMeta.key == _ADMIN_META)).first():
        return None
    secret = ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(insert(LedgerMeta).values(key=_ADMIN_META, value=hash_secret(secret)))
    return secret


def check_admin_key(conn: Connection, presented: Optional[str], configured: Optional[str]) -> None:
    """Accept the XASE_ADMIN_KEY value or the key `xase-ledger init` created."""
    if not presented:
        raise Unauthorized("Missing X-Admin-Key header")
    if configured is not None:
        if hmac.compare_digest(presented.encode(), configured.encode()):
            return
        raise Unauthorized("Invalid admin key")
    stored = conn.execute(select(LedgerMeta.value).where(LedgerMeta.key == _ADMIN_META)).scalar()
    if stored is None:
        raise Forbidden("no admin key is configured: set XASE_ADMIN_KEY or run `xase-ledger init`")
    if not hmac.compare_digest(hash_secret(presented), stored):
        raise Unauthorized("Invalid admin key")
