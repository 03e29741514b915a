"""GET /health (no auth) and GET /stats (the caller's chain)."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text

from ledger_service import __version__, audit
from ledger_service.api.common import PREFIX, json_response, principal, reading, state

blueprint = Blueprint("health", __name__, url_prefix=PREFIX)


@blueprint.get("/health")
def health() -> Response:
    try:
        with reading() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unavailable"
    status = 200 if database == "ok" else 503
    body = {"status": "ok" if status == 200 else "degraded", "version": __version__, "database": database,
            "database_backend": state().engine.dialect.name, "key_id": state().signer.key_id}  # fmt: skip
    return json_response(body, status)


@blueprint.get("/stats")
def stats() -> Response:
    caller = principal("records:read")
    with reading() as conn:
        return json_response(audit.stats(conn, caller.tenant_id))
