"""LedgerError and its leaves: every failure a client can see, with its code and HTTP status.

Plain Python (no Flask): the API layer turns any LedgerError into the JSON
error body of ARCHITECTURE.md in one handler.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "LedgerError",
    "ValidationFailed",
    "CheckpointPending",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "IdempotencyConflict",
    "SigningUnavailable",
    "SessionExpired",
    "AccessRevoked",
    "SessionClosed",
    "TooManyFailures",
    "Unprocessable",
    "PreconditionFailed",
    "FailedDependency",
    "UnsupportedMediaType",
    "over_cap",
]


class LedgerError(Exception):
    code = "INTERNAL_ERROR"
    status = 500

    def __init__(self, message: str, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "type": self.code.lower(), "message": self.message, "details": self.details}


class ValidationFailed(LedgerError):
    code = "VALIDATION_ERROR"
    status = 400


class Unauthorized(LedgerError):
    code = "UNAUTHORIZED"
    status = 401


class Forbidden(LedgerError):
    code = "FORBIDDEN"
    status = 403


class NotFound(LedgerError):
    code = "NOT_FOUND"
    status = 404


class Conflict(LedgerError):
    code = "CONFLICT"
    status = 409


class Unprocessable(LedgerError):
    """Well-formed JSON whose content cannot be used (seed 003: invalid turn data, a malformed registry bundle)."""

    code = "UNPROCESSABLE_ENTITY"
    status = 422


class PreconditionFailed(LedgerError):
    """Seed 003: the request needs a type registry and none was published."""

    code = "PRECONDITION_FAILED"
    status = 412


class UnsupportedMediaType(LedgerError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415


class FailedDependency(LedgerError):
    """Seed 003: the request needs a type descriptor the registry does not have."""

    code = "FAILED_DEPENDENCY"
    status = 424


class IdempotencyConflict(LedgerError):
    code = "IDEMPOTENCY_CONFLICT"
    status = 409


class SigningUnavailable(LedgerError):
    """The signer could not sign; the append was rolled back and may be retried."""

    code = "SIGNING_UNAVAILABLE"
    status = 503


class CheckpointPending(LedgerError):
    """No signed checkpoint covers the record yet: one is signed within XASE_CHECKPOINT_INTERVAL."""

    code = "CHECKPOINT_PENDING"
    status = 503

    def __init__(self, message: str, retry_after: int, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message, details)
        self.retry_after = max(1, retry_after)


class SessionExpired(LedgerError):
    """A data-access session past its expires_at (seed 002's session_expired)."""

    code = "SESSION_EXPIRED"
    status = 410


class AccessRevoked(LedgerError):
    """The data holder revoked the session or its grant (seed 002's access_revoked)."""

    code = "ACCESS_REVOKED"
    status = 410


class SessionClosed(LedgerError):
    code = "SESSION_CLOSED"
    status = 410


class QuotaExceeded(LedgerError):
    """The change would take the tenant's stored bytes past its quota (XASE_TENANT_STORAGE_BYTES): a retry cannot help."""

    code = "QUOTA_EXCEEDED"
    status = 413


class RateLimited(LedgerError):
    """Too many requests of one kind right now; `retry_after` seconds until it may try again."""

    code = "RATE_LIMIT_EXCEEDED"
    status = 429

    def __init__(self, message: str, retry_after: int, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__(message, details)
        self.retry_after = max(1, retry_after)


class TooManyFailures(RateLimited):
    """Too many requests from one address failed authentication."""


def check_quota(stored: int, quota: int, what: str) -> None:
    """QuotaExceeded if `stored` bytes pass a tenant's `quota` (0: none)."""
    if quota and stored > quota:
        raise QuotaExceeded(f"{what}: {stored} bytes would pass this organisation's quota of {quota} (XASE_TENANT_STORAGE_BYTES)",
                            {"cap": "XASE_TENANT_STORAGE_BYTES", "limit": quota, "stored": stored})  # fmt: skip


def over_cap(what: str, cap: str, limit: int) -> ValidationFailed:
    """The 400 for a request beyond one of the documented caps, naming the cap."""
    return ValidationFailed(f"{what}: more than {limit} (cap {cap})", {"cap": cap, "limit": limit})
