"""Every table of every subsystem on one `Base.metadata`: what Alembic migrates and compares against."""

from __future__ import annotations

import ledger_service.access.tables
import ledger_service.console.tables
import ledger_service.contexts.tables
import ledger_service.evidence.tables
import ledger_service.knowledge.tables
import ledger_service.oversight.tables  # noqa: F401  (imported for their tables)
from ledger_service.tables import Base

metadata = Base.metadata

__all__ = ["metadata"]
