"""XaseError, the one root of every error the SDK raises, and its codes."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["ERROR_CODES", "XaseError", "ValidationError"]

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

    def __init__(self, message: str, details: Optional[dict[str, Any]] = None) -> None:
        super().__init__("VALIDATION_ERROR", message, None, details)
