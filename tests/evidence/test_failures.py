"""When signing or the ledger itself fails, the client gets a clean error and nothing is half-written."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from ledger_service import auth
from ledger_service.db import write_transaction
from ledger_service.errors import SigningUnavailable
from ledger_service.evidence import audit
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, FlakySigner, decision, in_process_app

Setup = tuple[FlaskClient, FlakySigner, dict[str, str], str]


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    with in_process_app(tmp_path, request.param) as (app, signer):
        with write_transaction(app.extensions["xase"].engine) as conn:
            tenant_id = create_tenant(conn, "acme")["id"]
            key = auth.create_api_key(conn, tenant_id)["secret"]
        yield app.test_client(), signer, {"X-API-Key": key}, tenant_id


@pytest.mark.parametrize(
    "failure, status, code",
    [(SigningUnavailable("KMS throttled the Sign call"), 503, "SIGNING_UNAVAILABLE"), (RuntimeError("boom"), 500, "INTERNAL_ERROR")],
)
def test_failed_append_is_rolled_back_and_reported_cleanly(setup: Setup, failure: Exception, status: int, code: str) -> None:
    client, signer, headers, tenant_id = setup
    assert client.post("/api/xase/v1/records", json=decision(0), headers=headers).status_code == 201
    signer.failure = failure
    response = client.post("/api/xase/v1/records/batch", json={"records": [decision(i) for i in range(1, 4)]}, headers=headers)
    assert response.status_code == status
    body = response.get_json()["error"]
    assert body["code"] == code and "boom" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)
    signer.failure = None
    retried = client.post("/api/xase/v1/records/batch", json={"records": [decision(i) for i in range(1, 4)]}, headers=headers)
    assert [r["seq"] for r in retried.get_json()["results"]] == [1, 2, 3]
    report = audit.verify_chain(client.application.extensions["xase"].engine, tenant_id)
    assert (report["ok"], report["records"], report["blocks"]) == (True, 4, 2)


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    with in_process_app(tmp_path, "sqlite") as (app, _):
        _check_wal_mode(app.extensions["xase"].engine)


def _check_wal_mode(engine: Any) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    database = Path(str(engine.url.database))
    with sqlite3.connect(database) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
