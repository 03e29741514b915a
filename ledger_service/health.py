"""GET /health (no auth): is the database reachable, and which key signs. GET /metrics: Prometheus metrics."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response
from sqlalchemy import text

from ledger_service import __version__
from ledger_service.errors import Unauthorized
from ledger_service.evidence import current_ledger
from ledger_service.web import PREFIX, bearer_token, json_response, reading, state

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


@blueprint.get("/metrics")
def metrics() -> Response:
    """The Prometheus text format, summed over every worker process. Open unless XASE_METRICS_TOKEN is set;
    then a scraper sends `Authorization: Bearer <token>`. No metric names a tenant."""
    token = state().settings.metrics_token
    if token is not None:
        if not hmac.compare_digest((bearer_token() or "").encode(), token.encode()):
            raise Unauthorized("GET /metrics needs Authorization: Bearer <XASE_METRICS_TOKEN>")
    body, content_type = state().metrics.exposition()
    return Response(body, mimetype=None, content_type=content_type)
