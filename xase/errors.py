"""XaseError, the one root of every error the SDK raises, and its codes."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["ERROR_CODES", "XaseError", "ValidationError", "SessionExpiredError", "AccessRevokedError", "RateLimitError", "typed_error"]

# The codes of seed 001, plus those the ledger's wire API adds.
ERROR_CODES = frozenset(
    {
        "UNAUTHORIZED",
        "FORBIDDEN",
        "RATE_LIMIT_EXCEEDED",
        "VALIDATION_ERROR",
        "QUEUE_FULL",
        "FLUSH_TIMEOUT",
        "MAX_RETRIES",
        "IDEMPOTENCY_CONFLICT",
        "NETWORK_ERROR",
        "SERVER_ERROR",
        "NOT_FOUND",
        "CLIENT_CLOSED",
        "CONFLICT",
        "SESSION_EXPIRED",
        "SESSION_CLOSED",
        "ACCESS_REVOKED",
        "UNEXPECTED_REDIRECT",
        "QUOTA_EXCEEDED",
        "CHECKPOINT_PENDING",
        # the agent context store's (seed 003)
        "BAD_REQUEST",
        "PRECONDITION_FAILED",
        "UNPROCESSABLE_ENTITY",
        "FAILED_DEPENDENCY",
    }
)


class XaseError(Exception):
    """An error with a machine-readable `code`, a `message`, and where known the HTTP `status_code`."""

    def __init__(
        self,
        code: str,
        message: str,
        status_code: Optional[int] = None,
        details: Optional[dict[str, Any]] = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status_code = status_code
        self.details = details or {}


class ValidationError(XaseError, ValueError):
    """A payload or option was rejected before anything was sent."""

    def __init__(self, message: str, details: Optional[dict[str, Any]] = None, status_code: Optional[int] = None) -> None:
        super().__init__("VALIDATION_ERROR", message, status_code, details)


class SessionExpiredError(XaseError):
    """The data-access session has expired (`details`: session_id, expired_at, current_time)."""


class AccessRevokedError(XaseError):
    """The data holder revoked access (`details`: session_id, revoked_at, reason, revoked_by)."""


class RateLimitError(XaseError):
    """Too many requests (`details`: limit, period, reset_at)."""


_TYPED: dict[str, type[XaseError]] = {
    "SESSION_EXPIRED": SessionExpiredError,
    "ACCESS_REVOKED": AccessRevokedError,
    "RATE_LIMIT_EXCEEDED": RateLimitError,
    "VALIDATION_ERROR": ValidationError,
}


def typed_error(error: XaseError) -> XaseError:
    """The same error as the subclass its code has, so callers can catch by type."""
    cls = _TYPED.get(error.code, XaseError)
    if type(error) is cls:
        return error
    if cls is ValidationError:
        return ValidationError(error.message, error.details, error.status_code)
    return cls(error.code, error.message, error.status_code, error.details)
