"""Signing in to the console with an API key that never appears in a URL, a log line or a page: the key is posted
once, checked, and only its hash is kept, in a session the browser holds by a random token in a cookie (HttpOnly,
Secure, SameSite=Strict, path /console). Every request re-checks the key, so revoking it ends its sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import Engine, delete, insert, select

from ledger_service import auth
from ledger_service.console.tables import ConsoleSession
from ledger_service.db import read_connection, write_transaction
from ledger_service.errors import Unauthorized
from xase.evidence import format_timestamp

__all__ = ["COOKIE", "LIFETIME", "ConsoleUser", "csrf_holds", "end", "start", "user_of"]

COOKIE = "xase_console"
LIFETIME = timedelta(hours=8)


@dataclass(frozen=True)
class ConsoleUser(auth.Principal):
    """A signed-in console user: the principal of the key, and the session's CSRF token."""

    csrf: str = ""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(engine: Engine, api_key: str) -> str:
    """A new session for this key (Unauthorized if it is not a valid key); the token for the cookie."""
    with read_connection(engine) as conn:
        principal = auth.authenticate(conn, api_key)
    token = secrets.token_urlsafe(32)
    expires = format_timestamp(datetime.now(timezone.utc) + LIFETIME)
    with write_transaction(engine) as conn:
        conn.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < format_timestamp(datetime.now(timezone.utc))))
        conn.execute(insert(ConsoleSession).values(token_hash=_hash(token), tenant_id=principal.tenant_id, key_hash=auth.hash_secret(api_key),
                                                   csrf=secrets.token_urlsafe(32), expires_at=expires))  # fmt: skip
    return token


def user_of(engine: Engine, token: Optional[str]) -> Optional[ConsoleUser]:
    """The session's user, or None: no cookie, an unknown or expired session, or a key revoked since."""
    if not token:
        return None
    with read_connection(engine) as conn:
        row = conn.execute(select(ConsoleSession).where(ConsoleSession.token_hash == _hash(token))).first()
        if row is None or row.expires_at < format_timestamp(datetime.now(timezone.utc)):
            return None
        try:
            principal = auth.authenticate_hash(conn, row.key_hash)
        except Unauthorized:
            return None
    return ConsoleUser(tenant_id=principal.tenant_id, key_id=principal.key_id, scopes=principal.scopes, csrf=row.csrf)


def csrf_holds(user: ConsoleUser, presented: Optional[str]) -> bool:
    return bool(presented) and hmac.compare_digest(user.csrf.encode(), str(presented).encode())


def end(engine: Engine, token: Optional[str]) -> None:
    if token:
        with write_transaction(engine) as conn:
            conn.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))
