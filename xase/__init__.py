"""Xase: record AI decisions as tamper-evident, signed evidence, and verify it offline."""

from xase._version import __version__
from xase.client import XaseClient
from xase.config import XaseClientConfig
from xase.errors import ValidationError, XaseError
from xase.evidence import VerificationError, verify_receipt
from xase.types import ClientStats, RecordPayload, RecordResult

__all__ = [
    "ClientStats",
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
