"""Fixtures of governed data access's tests: a database with a holder and a consumer; a dataset shared through a live ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger_service.db import make_engine, migrate, write_transaction
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, Api, LedgerProcess, PostgresDatabase


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


PATIENTS = [
    {"record_id": f"p{n}", "patient_id": f"p{n}", "age": 30 + 7 * n, "diagnosis": ["diabetes", "hypertension", "asthma"][n % 3],
     "lab_results": {"glucose": 150 + 15 * n, "bp_systolic": 120 + 6 * n}}
    for n in range(10)
]  # fmt: skip


@pytest.fixture
def shared(ledger: LedgerProcess) -> tuple[Api, Api, str]:
    """A holder with a dataset shared for model_training, and a consumer."""
    holder = Api(ledger, ledger.new_api_key(scopes=["sessions", "records:read"]))
    consumer_tenant = "lab-" + holder.key[-6:].lower().replace("_", "x").replace("-", "x")
    consumer = Api(ledger, ledger.new_api_key(consumer_tenant, scopes=["sessions", "records:read"]))
    dataset = holder.post("/datasets", json={"name": "patients", "description": "EHR extract"}).json()
    assert holder.post(f"/datasets/{dataset['id']}/records", json=PATIENTS[:6]).status_code == 201
    lines = "\n".join(json.dumps(p) for p in PATIENTS[6:]).encode()
    assert holder.post(f"/datasets/{dataset['id']}/records", data=lines, headers={"Content-Type": "application/x-ndjson"}).status_code == 201
    grant = holder.post(f"/datasets/{dataset['id']}/grants", json={"tenant": consumer_tenant, "purposes": ["model_training"], "max_duration": "30d"})
    assert grant.status_code == 201, grant.text
    return holder, consumer, dataset["id"]


def open_session(consumer: Api, dataset_id: str, **overrides: Any) -> dict[str, Any]:
    response = consumer.post("/sessions", json={"dataset": dataset_id, "purpose": "model_training", "duration": "30d", **overrides})
    assert response.status_code == 201, response.text
    return dict(response.json())
