"""create_app(config) -> Flask: wires settings, database, rate limiter, and each subsystem with its routes.

Every failure leaves as the JSON error body of ARCHITECTURE.md, from one
handler; a client never sees a stack trace.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any, Optional, Union

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import StatementError
from werkzeug.exceptions import HTTPException

from ledger_service import access, admin_api, console, contexts, evidence, explanations, health, knowledge, oversight, reports, verification
from ledger_service.config import Settings
from ledger_service.db import make_engine, migrate
from ledger_service.errors import LedgerError, TooManyFailures
from ledger_service.evidence.signing import Signer, signer_for
from ledger_service.metrics import Metrics
from ledger_service.web import (
    AppState,
    FailedAuthentication,
    drain_unread_body,
    error_response,
    presented_api_key,
    rate_limit_details,
    refuse_nul_in_url,
    refuse_untrusted_host,
)
from xase.wire import is_decimal

__all__ = ["create_app"]

log = logging.getLogger("xase.ledger")

_HTTP_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMIT_EXCEEDED",
}


def _rate_limit_key() -> str:
    # Hash of the presented key: buckets per key without a database lookup, secrets never stored. Only the key
    # the route authenticates with counts: the knowledge admin plane's X-Xtrace-Key there (a junk X-API-Key beside
    # it would otherwise open a fresh bucket per request), X-API-Key or Bearer everywhere else.
    # The console holds no key: its requests count in their session's bucket.
    if request.path.startswith("/console"):
        kind, secret = "console:", request.cookies.get(console.COOKIE)
    else:
        admin_plane = request.path.startswith(knowledge.ADMIN_PATHS)
        kind, secret = "key:", request.headers.get("X-Xtrace-Key") if admin_plane else presented_api_key()
    return kind + hashlib.sha256(secret.encode()).hexdigest()[:32] if secret else "ip:" + get_remote_address()


def _install_error_handlers(app: Flask, metrics: Metrics) -> None:
    @app.errorhandler(LedgerError)
    def _ledger_error(error: LedgerError) -> Response:
        if isinstance(error, TooManyFailures):
            metrics.rate_limited.labels("failed_authentication").inc()
        retry_after = getattr(error, "retry_after", None)
        return error_response(error.status, error.code, error.message, error.details, {"Retry-After": str(retry_after)} if retry_after else None)

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded) -> Response:
        metrics.rate_limited.labels("api_key").inc()
        limit = error.limit.limit
        current = app.extensions["xase_limiter"].current_limit
        reset_at = float(current.reset_at) if current is not None else time.time() + limit.get_expiry()
        details, retry_after = rate_limit_details(limit, reset_at)
        return error_response(429, "RATE_LIMIT_EXCEEDED", f"Rate limit exceeded: {limit}", details, {"Retry-After": str(retry_after)})

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "HTTP_ERROR")
        headers = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else None  # type: ignore[attr-defined]
        return error_response(status, code, error.description or error.name, None, headers)

    @app.errorhandler(UnicodeEncodeError)
    @app.errorhandler(StatementError)
    def _not_unicode(error: Exception) -> Response:
        # A lone surrogate (JSON allows "\ud800") that a database driver cannot encode: nothing was stored.
        if isinstance(error, UnicodeEncodeError) or isinstance(getattr(error, "orig", None), UnicodeEncodeError):
            return error_response(400, "VALIDATION_ERROR", "strings must be valid Unicode: a lone surrogate cannot be stored")
        return _unexpected(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error in request %s", getattr(g, "request_id", "?"))
        return error_response(500, "INTERNAL_ERROR", "The ledger hit an internal error; the request was not applied.")


def create_app(config: Union[Settings, Mapping[str, Any], None] = None, *, signer: Optional[Signer] = None) -> Flask:
    """Build the ledger app. `config` is a Settings, or overrides applied on top of XASE_* variables."""
    settings = config if isinstance(config, Settings) else Settings.from_env(config)
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous, statement_timeout_ms=settings.statement_timeout_ms)
    migrate(engine)
    metrics = Metrics()
    ledger = evidence.Ledger.start(settings, engine, signer or signer_for(settings.kms_key_id, settings.signing_key_path), metrics)

    app = Flask("ledger_service", static_folder=None)  # an API: no static files to serve
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes

    @app.before_request
    def _request_id() -> None:
        g.request_id = "req_" + secrets.token_hex(8)
        g.started = time.perf_counter()

    app.after_request(drain_unread_body)
    app.before_request(refuse_untrusted_host)
    app.before_request(refuse_nul_in_url)

    @app.after_request
    def _tag_response(response: Response) -> Response:
        response.headers["X-Request-Id"] = getattr(g, "request_id", "")
        # Flask-Limiter rewrites Retry-After as whole seconds left, truncated: under a per-second limit, 0, which
        # invites a retry at once. Registered before the limiter, this runs after its rewrite.
        retry_after = response.headers.get("Retry-After", "")
        if response.status_code == 429 and is_decimal(retry_after) and int(retry_after) < 1:
            response.headers["Retry-After"] = "1"
        _observe(metrics, response)
        return response

    # After the request-id hook, so throttled responses carry a request id too.
    limiter = Limiter(
        _rate_limit_key,
        app=app,
        application_limits=[settings.rate_limit] if settings.rate_limit else [],  # one budget per key across routes
        storage_uri=settings.rate_limit_storage,
        headers_enabled=True,
        strategy="moving-window",
    )

    # A CORS preflight carries no key (browsers never send one): limited, it drew on its address's budget, shared by
    # every browser behind one proxy, and the page's next real request failed as a CORS error.
    limiter.request_filter(lambda: request.method == "OPTIONS")
    app.extensions["xase_limiter"] = limiter
    guard = FailedAuthentication(settings.auth_failure_limit, limiter.limiter) if settings.auth_failure_limit else None
    app.extensions["xase"] = AppState(settings=settings, engine=engine, metrics=metrics, failed_authentication=guard)
    evidence.install(app, ledger)
    access.install(app)
    knowledge.install(app)
    contexts.install(app)
    oversight.install(app)
    if settings.console:
        console.install(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(verification.blueprint)
    app.register_blueprint(explanations.blueprint)
    app.register_blueprint(reports.blueprint)
    app.register_blueprint(admin_api.blueprint)
    limiter.exempt(health.blueprint)
    limiter.exempt(admin_api.blueprint)  # the operator's API, guarded by a 256-bit admin key
    _install_error_handlers(app, metrics)
    return app


def _observe(metrics: Metrics, response: Response) -> None:
    """Count and time the request by its route template (never the raw path: label values stay few)."""
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    metrics.http_requests.labels(request.method, route, str(response.status_code)).inc()
    started = getattr(g, "started", None)
    if started is not None:
        metrics.http_latency.labels(request.method, route).observe(time.perf_counter() - started)
