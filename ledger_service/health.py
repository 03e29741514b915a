"""GET /health (no auth): is the database reachable, and which key signs."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text

from ledger_service import __version__
from ledger_service.evidence import current_ledger
from ledger_service.web import PREFIX, json_response, reading, state

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
            "database_backend": state().engine.dialect.name, "key_id": current_ledger().signer.key_id}  # fmt: skip
    return json_response(body, status)
