"""The one MongoDB-style query engine, shared by every subsystem that searches JSON documents.

Owns
    filters.py    filters compiled to SQL over a JSON column (SQLite JSON1, PostgreSQL JSONB); sorts; paths
    pipeline.py   aggregation pipelines ($match/$group in SQL, then $sort $skip $limit $project $count)

No tables and no routes: callers hand it a JSON column and get SQL expressions
or results back. May import only `ledger_service.errors` and `xase`. Other
packages import the names below, not the modules.
"""

from __future__ import annotations

from ledger_service.query.filters import JsonDocument, compile_filter, parse_path, sort_expression
from ledger_service.query.pipeline import run_pipeline

__all__ = ["JsonDocument", "compile_filter", "parse_path", "run_pipeline", "sort_expression"]
