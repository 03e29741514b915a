"""Xase: record AI decisions as tamper-evident, signed evidence, and verify it offline."""

from xase._version import __version__
from xase.client import XaseClient
from xase.config import XaseClientConfig
from xase.datasets import Dataset, Datasets, UploadSummary
from xase.errors import AccessRevokedError, RateLimitError, SessionExpiredError, ValidationError, XaseError
from xase.evidence import VerificationError, verify_receipt
from xase.sessions import Batch, Client, Record, Records, Session
from xase.types import ClientStats, RecordPayload, RecordResult

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
