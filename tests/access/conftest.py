"""Fixtures of governed data access's SQL-level tests: a migrated database with a holder and a consumer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, PostgresDatabase


@dataclass
class Tenants:
    engine: Engine
    holder: str
    consumer: str


@pytest.fixture(params=BACKENDS)
def tenants(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Tenants]:
    """A migrated ledger database with a data holder and a consumer tenant."""
    database = PostgresDatabase() if request.param == "postgresql" else None
    engine = make_engine(database.url if database else f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    with write_transaction(engine) as conn:
        holder, consumer = create_tenant(conn, "hospital")["id"], create_tenant(conn, "ai-lab")["id"]
    yield Tenants(engine, holder, consumer)
    engine.dispose()
    if database:
        database.drop()
