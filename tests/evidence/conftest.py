"""Fixtures of the evidence ledger's SQL-level tests, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.evidence.chain import register_signer
from ledger_service.evidence.signing import LocalSigner
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, PostgresDatabase


@pytest.fixture(params=BACKENDS)
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, LocalSigner, str]]:
    """A migrated ledger database (a SQLite file, or a PostgreSQL database of its own) with a registered local
    signer and one tenant, "acme"."""
    postgres = PostgresDatabase() if request.param == "postgresql" else None
    engine = make_engine(postgres.url if postgres is not None else f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    signer = LocalSigner.from_path(tmp_path / "key.pem")
    register_signer(engine, signer)
    with write_transaction(engine) as conn:
        tenant_id = create_tenant(conn, "acme")["id"]
    yield engine, signer, tenant_id
    engine.dispose()
    if postgres is not None:
        postgres.drop()
