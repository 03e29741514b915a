"""Fixtures of the evidence ledger's SQL-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.evidence.chain import register_signer
from ledger_service.evidence.signing import LocalSigner
from ledger_service.tenants import create_tenant


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[Engine, LocalSigner, str]]:
    """A migrated SQLite ledger with a registered local signer and one tenant, "acme"."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    signer = LocalSigner.from_path(tmp_path / "key.pem")
    register_signer(engine, signer)
    with write_transaction(engine) as conn:
        tenant_id = create_tenant(conn, "acme")["id"]
    yield engine, signer, tenant_id
    engine.dispose()
