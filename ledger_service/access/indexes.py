"""Expression indexes on dataset fields: a selective or sorted filter on an indexed field reads the index,
not every record of the dataset.

A holder names the fields (`POST /datasets/{id}/indexes`). Each field path gets one index over
(dataset_id, the field's value, seq), shared by every dataset that declares it; the filter compiler
writes the same expression into its queries (`JsonDocument.value`, paths as literals), which is
what lets the database match them. Indexes cost every later upload a little, and so are capped:
MAX_INDEXED_FIELDS distinct paths in the whole database. On PostgreSQL they are built
CONCURRENTLY (no write lock); SQLite holds its write lock while it builds one, a one-time cost
proportional to the table, which is why they are declared, never created on first use.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import JSON, Engine, column, text

from ledger_service.db import is_sqlite, read_connection, write_transaction
from ledger_service.errors import ValidationFailed, over_cap
from ledger_service.query import JsonDocument, parse_path

__all__ = ["MAX_INDEXED_FIELDS", "MAX_FIELDS_PER_CALL", "index_fields"]

MAX_INDEXED_FIELDS = 32
MAX_FIELDS_PER_CALL = 8
_PREFIX = "ix_dsr_field_"


def _name(segments: tuple[str, ...]) -> str:
    return _PREFIX + hashlib.sha256("\x00".join(segments).encode("utf-8")).hexdigest()[:16]


def _expression(engine: Engine, segments: tuple[str, ...]) -> str:
    """The field's value as SQL, exactly as the filter compiler writes it (literal path)."""
    value = JsonDocument(column("body", JSON), engine.dialect.name).value(segments)
    return str(value.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _existing(engine: Engine) -> set[str]:
    query = ("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE :prefix" if is_sqlite(engine)
             else "SELECT indexname FROM pg_indexes WHERE tablename = 'dataset_records' AND indexname LIKE :prefix")  # fmt: skip
    with read_connection(engine) as conn:
        return set(conn.execute(text(query), {"prefix": _PREFIX + "%"}).scalars())


def index_fields(engine: Engine, fields: Any) -> list[dict[str, Any]]:
    """Make sure each field has its index; what was done per field (`created` false: it existed)."""
    if not isinstance(fields, list) or not fields or not all(isinstance(field, str) for field in fields):
        raise ValidationFailed("fields: a non-empty list of field paths such as \"age\" or \"lab_results.glucose\"", {"field": "fields"})
    if len(fields) > MAX_FIELDS_PER_CALL:
        raise over_cap("fields per call", "max_fields_per_call", MAX_FIELDS_PER_CALL)
    wanted = {field: parse_path(field) for field in dict.fromkeys(fields)}
    existing = _existing(engine)
    if len(existing | {_name(segments) for segments in wanted.values()}) > MAX_INDEXED_FIELDS:
        raise over_cap("indexed fields in this ledger", "max_indexed_fields", MAX_INDEXED_FIELDS)
    report = []
    for field, segments in wanted.items():
        name = _name(segments)
        if name not in existing:
            _create(engine, name, _expression(engine, segments))
        report.append({"field": field, "index": name, "created": name not in existing})
    return report


def _create(engine: Engine, name: str, expression: str) -> None:
    if is_sqlite(engine):
        with write_transaction(engine) as conn:
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON dataset_records (dataset_id, {expression}, seq)")
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # CONCURRENTLY: outside a transaction
        conn.exec_driver_sql(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON dataset_records (dataset_id, ({expression}), seq)")
