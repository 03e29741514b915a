"""What every subsystem's routes share: the app's state, authentication, strict JSON bodies and JSON responses."""

from __future__ import annotations

import json
import math
import os
import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, BinaryIO, Optional

import limits
import limits.strategies
import orjson
from flask import Response, current_app, g, request
from sqlalchemy import Connection, Engine
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import wrap_file

from ledger_service import auth
from ledger_service.config import Settings
from ledger_service.db import read_connection
from ledger_service.errors import TooManyFailures, Unauthorized, ValidationFailed
from ledger_service.metrics import Metrics
from xase import evidence
from xase.wire import is_decimal

PREFIX = "/api/xase/v1"


_UNITS = {"second": "s", "minute": "m", "hour": "h", "day": "d", "month": "mo", "year": "y"}


def rate_limit_details(item: limits.RateLimitItem, reset_at: float) -> tuple[dict[str, Any], int]:
    """A 429's `details` as the seed shows them (`limit`, `period`, `reset_at`), and its Retry-After seconds."""
    details = {"limit": item.amount, "period": f"{item.multiples}{_UNITS[item.GRANULARITY.name]}",
               "reset_at": evidence.format_timestamp(datetime.fromtimestamp(reset_at, timezone.utc))}  # fmt: skip
    return details, max(1, math.ceil(reset_at - time.time()))


class FailedAuthentication:
    """Counts, per client address, requests that failed authentication, with the app's rate limiter (its
    storage, so shared across processes through Redis); past the limit, that address's failures are 429s."""

    def __init__(self, limit: str, window: limits.strategies.RateLimiter) -> None:
        self.item = limits.parse(limit)
        self.window = window

    def count_and_check(self, address: str) -> None:
        """Count one failure; past the limit, a 429 with Retry-After replaces the 401."""
        if self.window.hit(self.item, "auth-failures", address):
            return
        details, retry_after = rate_limit_details(self.item, self.window.get_window_stats(self.item, "auth-failures", address).reset_time)
        raise TooManyFailures(f"too many failed authentications from this address: {self.item}", retry_after, details)


@dataclass(frozen=True)
class AppState:
    """What the app factory hands every subsystem: its settings, its database, its metrics, and the failed-authentication guard."""

    settings: Settings
    engine: Engine
    metrics: Metrics
    failed_authentication: Optional[FailedAuthentication] = None


def state() -> AppState:
    return current_app.extensions["xase"]  # type: ignore[no-any-return]


@contextmanager
def reading() -> Iterator[Connection]:
    with read_connection(state().engine) as conn:
        yield conn


def bearer_token() -> Optional[str]:
    """The token of an `Authorization: Bearer <token>` header, if the request has one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def presented_api_key() -> Optional[str]:
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    return bearer_token()


def principal(scope: str, key_header: Optional[str] = None) -> auth.Principal:
    """The caller's tenant and scopes; 401 without a valid key, 403 without `scope`, 429 after too many 401s.

    The key is read from `key_header` if given (the knowledge admin plane's x-xtrace-key), else from
    X-API-Key or Authorization: Bearer; for the console's read-only bridge, the signed-in user's key."""
    bridged = g.get("console_principal")
    if bridged is not None:
        bridged.require(scope)
        g.principal = bridged
        return bridged  # type: ignore[no-any-return]
    try:
        with reading() as conn:
            caller = auth.authenticate(conn, request.headers.get(key_header) if key_header else presented_api_key())
    except Unauthorized:
        guard = state().failed_authentication
        if guard is not None:  # a valid key is never held back by others' failures from the same address
            guard.count_and_check(request.remote_addr or "unknown")
        raise
    caller.require(scope)
    g.principal = caller
    return caller


def require_admin() -> None:
    with reading() as conn:
        auth.check_admin_key(conn, request.headers.get("X-Admin-Key"), state().settings.admin_key)


_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # \u0000 preceded by an even number of backslashes


def body_bytes() -> bytes:
    """The raw request body, gunzipped if sent gzipped, within the size limit."""
    limit = state().settings.max_request_bytes
    data = request.get_data(cache=False)  # MAX_CONTENT_LENGTH already bounds the wire size
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(data, limit)
        except zlib.error:
            raise ValidationFailed("request body is not valid gzip") from None
        if inflater.unconsumed_tail:
            raise RequestEntityTooLarge(f"decompressed request body exceeds {limit} bytes")
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):  # the substring test is a fast C scan; the regex rules out "\\\\u0000"
        raise ValidationFailed("strings may not contain NUL (\\u0000): PostgreSQL cannot store it")
    return data


def drain_unread_body(response: Response) -> Response:
    """Read what is left of a body within the size cap before answering (a refusal decided before the body was
    read): gunicorn closes a connection with more than 64 KiB unread without telling the client, whose next request
    on it then fails."""
    length = request.content_length
    if length is not None and length <= state().settings.max_request_bytes:
        request.stream.exhaust()  # type: ignore[attr-defined]
    return response


def refuse_untrusted_host() -> None:
    """Run before every request: without XASE_PUBLIC_URL, the Host header becomes receipt URLs, so it must be trusted."""
    settings = state().settings
    if settings.public_url is None and not settings.trusts_host(request.host):
        raise ValidationFailed("Host header not allowed: set XASE_PUBLIC_URL, or add it to XASE_ALLOWED_HOSTS", {"header": "Host"})


def refuse_nul_in_url() -> None:
    """Run before every request: a NUL in a path segment or query value is a 400, not a database error."""
    values = [*(request.view_args or {}).values(), *request.args.values(), *request.args.keys()]
    if any(isinstance(value, str) and "\x00" in value for value in values):
        raise ValidationFailed("NUL characters are not accepted in paths or query parameters")


def json_body() -> Any:
    """The request's JSON, parsed strictly (no duplicate keys, no NaN); 400 otherwise."""
    data = body_bytes()
    if not data.strip():
        raise ValidationFailed("request body is empty; expected JSON")
    try:
        return evidence.loads(data)
    except evidence.InvalidJSONError as exc:
        raise ValidationFailed(str(exc)) from None


def json_object(*allowed: str, required: bool = True) -> dict[str, Any]:
    """The body as a JSON object with only the `allowed` members; an absent body is {} unless required."""
    if not required and not request.content_length:
        return {}
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ValidationFailed(f"unknown fields {unknown}", {"fields": unknown})
    return body


def json_bytes(payload: Any, *, floatless: bool = False) -> bytes:
    """`payload` as JSON. `floatless`: it holds no float (RecordResults, stored turns), so orjson may write it, ten
    times faster; elsewhere the standard encoder, whose allow_nan=False refuses what orjson would write as null."""
    if floatless:
        try:
            return orjson.dumps(payload)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate echoed from the request: the standard encoder escapes it below
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from the request (in an error message): send it escaped
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("ascii")


def json_response(payload: Any, status: int = 200, headers: Optional[dict[str, str]] = None, *, floatless: bool = False) -> Response:
    """A JSON answer (`json_bytes`)."""
    return Response(json_bytes(payload, floatless=floatless), status=status, mimetype="application/json", headers=headers)


def file_response(answer: BinaryIO, mimetype: str) -> Response:
    """An answer held in an open file, sent by the WSGI server's sendfile where it has one (gunicorn does)."""
    size = os.fstat(answer.fileno()).st_size
    return Response(wrap_file(request.environ, answer), mimetype=mimetype, direct_passthrough=True, headers={"Content-Length": str(size)})


def error_response(status: int, code: str, message: str, details: Optional[dict[str, Any]] = None,
                   headers: Optional[dict[str, str]] = None) -> Response:  # fmt: skip
    """The JSON error body of ARCHITECTURE.md, every endpoint's: code, type, message, details, request_id."""
    body = {"code": code, "type": code.lower(), "message": message, "details": details or {}, "request_id": getattr(g, "request_id", None)}
    return json_response({"error": body}, status, headers)


def public_base() -> str:
    configured = state().settings.public_url
    base = configured.rstrip("/") if configured else request.host_url.rstrip("/")
    return base + PREFIX


def receipt_url_base() -> str:
    """Prefix of every receipt_url; append the transaction id."""
    return f"{public_base()}/receipts/"


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    digits = raw[1:] if raw.startswith("-") else raw
    if not is_decimal(digits) or len(digits) > 18:  # int() would also take Arabic-Indic digits or " 7 "
        raise ValidationFailed(f"{name}: must be an integer", {"field": name})
    value = int(raw)
    if not low <= value <= high:
        raise ValidationFailed(f"{name}: must be within [{low}, {high}]", {"field": name})
    return value
