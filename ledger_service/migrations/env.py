"""Alembic environment: runs on the connection ledger_service.db.migrate() hands over."""

from __future__ import annotations

from alembic import context

from ledger_service.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `xase-ledger db upgrade` (ledger_service.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
context.run_migrations()
