"""Fixtures shared by the ledger's SQL-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from ledger_service import auth
from ledger_service.db import make_engine, migrate, write_transaction
from tests.conftest import BACKENDS, PostgresDatabase
from tests.ledger.json_reference import Documents


@pytest.fixture(scope="module", params=BACKENDS)
def documents(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Documents]:
    database = PostgresDatabase() if request.param == "postgresql" else None
    url = database.url if database else f"sqlite:///{tmp_path_factory.mktemp('query') / 'docs.db'}"
    engine = create_engine(url)
    yield Documents(engine)
    engine.dispose()
    if database:
        database.drop()


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
        holder, consumer = auth.create_tenant(conn, "hospital")["id"], auth.create_tenant(conn, "ai-lab")["id"]
    yield Tenants(engine, holder, consumer)
    engine.dispose()
    if database:
        database.drop()
