"""The seed's CORS and rate-limit behaviour, as configuration (in-process app on a real SQLite file)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from ledger_service import auth, tenants
from ledger_service.app import create_app
from ledger_service.db import write_transaction


def _app(tmp_path: Path, **settings: Any) -> tuple[FlaskClient, str]:
    app = create_app({"database_url": f"sqlite:///{tmp_path}/l.db", "signing_key_path": str(tmp_path / "k.pem"), "cxdb_seal_interval": 0, **settings})
    with write_transaction(app.extensions["xase"].engine) as conn:
        tenant = tenants.create_tenant(conn, "acme")
        key = auth.create_api_key(conn, tenant["id"], "k", ["contexts"])["secret"]
    return app.test_client(), key


def test_no_cross_origin_access_unless_configured(tmp_path: Path) -> None:
    client, key = _app(tmp_path)
    answer = client.get("/cxdb/v1/stats", headers={"X-API-Key": key, "Origin": "https://ui.example.com"})
    assert answer.status_code == 200 and "Access-Control-Allow-Origin" not in answer.headers


def test_the_seeds_development_cors_allows_every_origin(tmp_path: Path) -> None:
    client, key = _app(tmp_path, cxdb_allowed_origins=("*",))
    answer = client.get("/cxdb/v1/stats", headers={"X-API-Key": key, "Origin": "https://ui.example.com"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options("/cxdb/v1/contexts/create", headers={"Origin": "https://ui.example.com", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200 and "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]


def test_allowed_origins_are_echoed_others_are_not(tmp_path: Path) -> None:
    client, key = _app(tmp_path, cxdb_allowed_origins=("https://ui.example.com",))
    allowed = client.get("/cxdb/v1/stats", headers={"X-API-Key": key, "Origin": "https://ui.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ui.example.com" and "Origin" in allowed.headers["Vary"]
    other = client.get("/cxdb/v1/stats", headers={"X-API-Key": key, "Origin": "https://evil.example.net"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_the_gateways_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    client, key = _app(tmp_path, cxdb_rate_limit="3 per minute")
    statuses = [client.get("/cxdb/v1/stats", headers={"X-API-Key": key}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/cxdb/v1/stats", headers={"X-API-Key": key})
    assert limited.json["error"]["code"] == "RATE_LIMIT_EXCEEDED" and 0 < int(limited.headers["Retry-After"]) <= 60
    assert client.get("/api/xase/v1/health").status_code == 200  # the rest of the ledger keeps its own budget


def test_preflights_are_never_rate_limited_and_a_429_keeps_its_cors_headers(tmp_path: Path) -> None:
    """A preflight carries no key: limited by address, every browser behind one proxy would share, and lose, one budget."""
    client, key = _app(tmp_path, cxdb_rate_limit="3 per minute", cxdb_allowed_origins=("https://ui.example.com",))
    preflight = {"Origin": "https://ui.example.com", "Access-Control-Request-Method": "GET"}
    answers = [client.options("/cxdb/v1/contexts", headers=preflight) for _ in range(10)]
    assert {answer.status_code for answer in answers} == {200}
    assert {answer.headers["Access-Control-Allow-Origin"] for answer in answers} == {"https://ui.example.com"}
    limited = [client.get("/cxdb/v1/stats", headers={"X-API-Key": key, "Origin": "https://ui.example.com"}) for _ in range(4)][-1]
    assert limited.status_code == 429 and limited.headers["Access-Control-Allow-Origin"] == "https://ui.example.com"


def test_an_append_past_the_organisations_storage_quota_is_a_413(tmp_path: Path) -> None:
    client, key = _app(tmp_path, tenant_storage_bytes=4000)
    context = client.post("/cxdb/v1/contexts/create", json={}, headers={"X-API-Key": key}).json["context_id"]

    def append(text: str) -> Any:
        turn = {"type_id": "note", "type_version": 1, "data": {"text": text}}
        return client.post(f"/cxdb/v1/contexts/{context}/append", json=turn, headers={"X-API-Key": key})

    assert append(secrets.token_urlsafe(1500)).status_code == 201  # random text: about 1,500 bytes stored, compressed or not
    assert append(secrets.token_urlsafe(1500)).status_code == 201
    refused = append(secrets.token_urlsafe(1500))
    assert refused.status_code == 413 and refused.json["error"]["code"] == "QUOTA_EXCEEDED"
    assert client.get(f"/cxdb/v1/contexts/{context}", headers={"X-API-Key": key}).json["head_depth"] == 2
    assert client.get("/cxdb/v1/stats", headers={"X-API-Key": key}).json["storage_bytes"] <= 4000
