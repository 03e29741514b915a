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
import time
from typing import Any

from sqlalchemy import JSON, Connection, Engine, column, text
from sqlalchemy.exc import OperationalError

from ledger_service.db import is_sqlite, read_connection, write_transaction
from ledger_service.errors import Conflict, ValidationFailed, over_cap
from ledger_service.query import JsonDocument, parse_path

__all__ = ["MAX_INDEXED_FIELDS", "MAX_FIELDS_PER_CALL", "index_fields"]

MAX_INDEXED_FIELDS = 32
MAX_FIELDS_PER_CALL = 8
_PREFIX = "ix_dsr_field_"
_BUILD_LOCK = 0x58494458  # "XIDX": the PostgreSQL advisory lock held while a field index is built
_BUILD_WAIT_SECONDS = 60


def _name(segments: tuple[str, ...]) -> str:
    return _PREFIX + hashlib.sha256("\x00".join(segments).encode("utf-8")).hexdigest()[:16]


def _expression(engine: Engine, segments: tuple[str, ...]) -> str:
    """The field's value as SQL, exactly as the filter compiler writes it (literal path)."""
    value = JsonDocument(column("body", JSON), engine.dialect.name).value(segments)
    return str(value.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))


def _existing(engine: Engine) -> set[str]:
    """The field indexes built so far (on PostgreSQL only valid ones: a failed CONCURRENTLY build leaves an invalid one)."""
    query = ("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE :prefix" if is_sqlite(engine)
             else "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE :prefix AND i.indisvalid")  # fmt: skip
    with read_connection(engine) as conn:
        return set(conn.execute(text(query), {"prefix": _PREFIX + "%"}).scalars())


def index_fields(engine: Engine, fields: Any) -> list[dict[str, Any]]:
    """Make sure each field has its index; what was done per field (`created` false: it existed)."""
    if not isinstance(fields, list) or not fields or not all(isinstance(field, str) for field in fields):
        raise ValidationFailed('fields: a non-empty list of field paths such as "age" or "lab_results.glucose"', {"field": "fields"})
    if len(fields) > MAX_FIELDS_PER_CALL:
        raise over_cap("fields per call", "max_fields_per_call", MAX_FIELDS_PER_CALL)
    wanted = {field: parse_path(field) for field in dict.fromkeys(fields)}
    existing = _existing(engine)
    if len(existing | {_name(segments) for segments in wanted.values()}) > MAX_INDEXED_FIELDS:
        raise over_cap("indexed fields in this ledger", "max_indexed_fields", MAX_INDEXED_FIELDS)
    report = []
    for field, segments in wanted.items():
        name = _name(segments)
        created = name not in existing and _create(engine, name, _expression(engine, segments))
        report.append({"field": field, "index": name, "created": created})
    return report


def _create(engine: Engine, name: str, expression: str) -> bool:
    """Build the index unless it exists (valid); whether this call built it. Concurrent calls build it once."""
    if is_sqlite(engine):
        with write_transaction(engine) as conn:  # the write lock serializes builders
            if conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).first():
                return False
            conn.exec_driver_sql(f"CREATE INDEX {name} ON dataset_records (dataset_id, {expression}, seq)")
        return True
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # CONCURRENTLY: outside a transaction
        _take_build_lock(conn)
        try:
            if name in _existing(engine):
                return False
            conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")  # an invalid leftover of a failed build
            try:
                conn.exec_driver_sql(f"CREATE INDEX CONCURRENTLY {name} ON dataset_records (dataset_id, ({expression}), seq)")
            except OperationalError as exc:
                if getattr(exc.orig, "sqlstate", None) != "54000":  # program_limit_exceeded: a stored value too large to index
                    raise
                conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
                raise ValidationFailed("fields: a stored value of this field is too large to index (PostgreSQL: about 2,700 bytes a value)") from None
            return True
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_BUILD_LOCK})")


def _take_build_lock(conn: Connection) -> None:
    """One builder at a time. Polled, never waited for inside a statement: CREATE INDEX CONCURRENTLY waits for
    every running statement, so a session blocked in pg_advisory_lock would deadlock with the builder."""
    deadline = time.monotonic() + _BUILD_WAIT_SECONDS
    while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_BUILD_LOCK})").scalar():
        if time.monotonic() > deadline:
            raise Conflict("another index is being built; retry in a moment")
        time.sleep(0.05)
