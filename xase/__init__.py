"""Xase: record AI decisions as tamper-evident, signed evidence, and verify it offline.

The names below load on first use, so that `import xase.evidence` (an auditor's verifier, the ledger) does not
load the HTTP client (requests, tenacity) that `XaseClient` needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from xase._version import __version__

if TYPE_CHECKING:
    from xase.client import XaseClient
    from xase.config import XaseClientConfig
    from xase.datasets import Dataset, Datasets, UploadSummary
    from xase.errors import AccessRevokedError, RateLimitError, SessionExpiredError, ValidationError, XaseError
    from xase.evidence import VerificationError, verify_receipt
    from xase.sessions import Batch, Client, Record, Records, Session
    from xase.types import ClientStats, RecordPayload, RecordResult

_HOMES = {
    "XaseClient": "xase.client",
    "XaseClientConfig": "xase.config",
    "Dataset": "xase.datasets",
    "Datasets": "xase.datasets",
    "UploadSummary": "xase.datasets",
    "AccessRevokedError": "xase.errors",
    "RateLimitError": "xase.errors",
    "SessionExpiredError": "xase.errors",
    "ValidationError": "xase.errors",
    "XaseError": "xase.errors",
    "VerificationError": "xase.evidence",
    "verify_receipt": "xase.evidence",
    "Batch": "xase.sessions",
    "Client": "xase.sessions",
    "Record": "xase.sessions",
    "Records": "xase.sessions",
    "Session": "xase.sessions",
    "ClientStats": "xase.types",
    "RecordPayload": "xase.types",
    "RecordResult": "xase.types",
}

__all__ = [
    "AccessRevokedError",
    "Batch",
    "Client",
    "ClientStats",
    "Dataset",
    "Datasets",
    "RateLimitError",
    "Record",
    "Records",
    "Session",
    "SessionExpiredError",
    "UploadSummary",
    "RecordPayload",
    "RecordResult",
    "ValidationError",
    "VerificationError",
    "XaseClient",
    "XaseClientConfig",
    "XaseError",
    "__version__",
    "verify_receipt",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'xase' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
