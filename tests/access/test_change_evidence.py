"""A data-access change (a session opened, closed or revoked) or an erasure and its evidence commit together or not at all.

An in-process ledger on each backend whose signer fails on demand, between the change and its evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from ledger_service import auth
from ledger_service.db import write_transaction
from ledger_service.errors import SigningUnavailable
from ledger_service.tenants import create_tenant
from tests.conftest import BACKENDS, PREFIX, FlakySigner, in_process_app

TABLES = ("access_sessions", "dataset_grants", "dataset_accesses", "payloads", "records")


@dataclass
class Access:
    client: FlaskClient
    signer: FlakySigner
    holder: dict[str, str]
    consumer: dict[str, str]
    dataset_id: str = ""
    grant_id: str = ""
    session_id: str = ""

    def post(self, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
        return self.client.post(PREFIX + path, headers=headers, **kwargs)

    def state(self) -> dict[str, list[str]]:
        with self.client.application.extensions["xase"].engine.connect() as conn:
            return {table: sorted(map(repr, conn.execute(text(f"SELECT * FROM {table}")).all())) for table in TABLES}


@pytest.fixture(params=BACKENDS)
def access(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Access]:
    with in_process_app(tmp_path, request.param) as (app, signer):
        with write_transaction(app.extensions["xase"].engine) as conn:
            keys = {}
            for name in ("holder", "lab"):
                tenant_id = create_tenant(conn, name)["id"]
                scopes = ["sessions", "records:write", "records:read", "payloads:erase"]
                keys[name] = {"X-API-Key": auth.create_api_key(conn, tenant_id, name, scopes)["secret"]}
        setup = Access(app.test_client(), signer, keys["holder"], keys["lab"])
        setup.dataset_id = setup.post("/datasets", setup.holder, json={"name": "patients"}).get_json()["id"]
        assert setup.post(f"/datasets/{setup.dataset_id}/records", setup.holder, json=[{"record_id": "r1", "age": 40}]).status_code in (200, 201)
        grant = setup.post(f"/datasets/{setup.dataset_id}/grants", setup.holder, json={"tenant": "lab", "purposes": ["training"], "max_duration": "1d"})
        setup.grant_id = grant.get_json()["id"]
        setup.session_id = setup.post("/sessions", setup.consumer, json={"dataset": setup.dataset_id, "purpose": "training"}).get_json()["session_id"]
        assert setup.post("/records", setup.consumer, json={"policy": "p", "input": {"a": 1}, "output": {}, "transaction_id": "kept",
                                                            "store_payload": True}).status_code == 201  # fmt: skip
        yield setup


CHANGES: dict[str, Callable[[Access], Any]] = {
    "open a session": lambda a: a.post("/sessions", a.consumer, json={"dataset": a.dataset_id, "purpose": "training"}),
    "close a session": lambda a: a.post(f"/sessions/{a.session_id}/close", a.consumer, json={"reason": "done"}),
    "revoke a session": lambda a: a.post(f"/datasets/{a.dataset_id}/sessions/{a.session_id}/revoke", a.holder, json={"reason": "audit", "revoked_by": "dpo"}),
    "revoke a grant": lambda a: a.post(f"/datasets/{a.dataset_id}/grants/{a.grant_id}/revoke", a.holder, json={"reason": "audit", "revoked_by": "dpo"}),
    "erase a payload": lambda a: a.post("/records/kept/payload/erase", a.consumer, json={"reason": "GDPR request"}),
    "read a record": lambda a: a.client.get(f"{PREFIX}/sessions/{a.session_id}/records/r1", headers=a.consumer),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_whose_evidence_fails_changes_nothing(access: Access, change: str) -> None:
    before = access.state()
    access.signer.failure = SigningUnavailable("KMS throttled the Sign call")
    failed = CHANGES[change](access)
    assert failed.status_code == 503, failed.get_json()
    assert access.state() == before
    access.signer.failure = None
    done = CHANGES[change](access)
    assert done.status_code in (200, 201), done.get_json()
    assert access.state()["records"] != before["records"]
