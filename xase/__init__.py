"""Xase: record AI decisions as tamper-evident, signed evidence, and verify it offline."""

from xase._version import __version__
from xase.errors import ValidationError, XaseError
from xase.evidence import VerificationError, verify_receipt

__all__ = ["ValidationError", "VerificationError", "XaseError", "__version__", "verify_receipt"]
