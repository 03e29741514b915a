"""The Xase ledger service: hash-chains decision records per tenant and seals signed blocks."""

from xase._version import __version__

__all__ = ["__version__"]
