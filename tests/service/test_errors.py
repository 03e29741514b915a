"""Every documented error comes back as the JSON error body with the right status, never a 500."""

from __future__ import annotations

import gzip
import http.client
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ledger_service import auth
from tests.conftest import PREFIX, Api, LedgerProcess, decision


def _error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["type"] == code.lower()
    assert error["message"] and error["request_id"].startswith("req_")
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.text
    return dict(error)


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b'{"policy_id": "p", "policy_id": "q"}', "duplicate key"),
        (b'{"policy_id": "p", "input": {"x": NaN}, "output": {}}', "non-finite"),
        (b'{"policy_id": "p",', "malformed JSON"),
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "too deep"),
        (b'{"policy_id": "p", "input": {}, "output": {}, "surprise": 1}', "surprise: unknown field"),
        (b'{"policy_id": "p", "input": {}}', "output"),
        (b'{"policy_id": "p", "input": {}, "output": {}, "input_hash": "ab"}', "exactly one"),
        (b'{"policy_id": "p", "input": {"n": 9007199254740993}, "output": {}}', "safe integer"),
        (b'{"policy_id": "p", "input": {}, "output": {}, "confidence": "high"}', "confidence"),
        (b'{"policy_id": "p", "input": {}, "output": {}, "transaction_id": "has space"}', "transaction_id"),
        (b'{"policy_id": "p", "input": {}, "output": {}, "store_payload": "yes"}', "store_payload"),
        (b'{"policy_id": "p", "input": {}, "output": {}, "context": []}', "context"),
        (b'["not", "an", "object"]', "JSON object"),
        (b'{"policy_id": "\\ud800", "input": {}, "output": {}}', "policy_id: is not valid Unicode"),
        (b'{"policy_id": "p", "input": {"\\udc00": 1}, "output": {}}', "lone surrogate"),
    ],
)
def test_bad_record_bodies_are_400_with_a_clear_message(api: Api, body: bytes, fragment: str) -> None:
    error = _error(api.post("/records", data=body, headers={"Content-Type": "application/json"}), 400, "VALIDATION_ERROR")
    assert fragment in error["message"]
    assert api.get("/stats").json()["records"] == 0


def test_bad_idempotency_key_header(api: Api) -> None:
    _error(api.post("/records", json=decision(1), headers={"Idempotency-Key": "short"}), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("field", [{"transaction_id": "tx_1\n"}, {"idempotency_key": "my_key_1234567890\n"}])
def test_an_id_with_a_final_newline_is_refused(api: Api, field: dict[str, str]) -> None:
    """The wire rules were `^...$` regexes, whose `$` also matches before a final newline: an id could carry one
    into the chain and onto an auditor's screen."""
    _error(api.post("/records", json=decision(1, **field)), 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [{"records": []}, {"records": "x"}, {"rows": [{}]}, {"records": [{}], "extra": 1}, []],
)
def test_bad_batch_envelopes(api: Api, body: Any) -> None:
    _error(api.post("/records/batch", json=body), 400, "VALIDATION_ERROR")


def test_batch_over_the_size_limit(api: Api) -> None:
    error = _error(api.post("/records/batch", json={"records": [decision(i) for i in range(501)]}), 400, "VALIDATION_ERROR")
    assert error["details"]["max"] == 500


def test_missing_invalid_and_revoked_keys_are_401(ledger: LedgerProcess) -> None:
    url = ledger.base_url + "/records"
    error = _error(requests.post(url, json=decision(1), timeout=10), 401, "UNAUTHORIZED")
    assert "Missing X-API-Key" in error["message"]
    _error(requests.post(url, json=decision(1), headers={"X-API-Key": "xase_pk_nope"}, timeout=10), 401, "UNAUTHORIZED")
    key = ledger.new_api_key("revocation-tenant")
    key_id = ledger.admin("GET", "/tenants/revocation-tenant/api-keys").json()["api_keys"][0]["id"]
    assert requests.post(url, json=decision(1), headers={"X-API-Key": key}, timeout=10).status_code == 201
    revoked = ledger.admin("POST", f"/api-keys/{key_id}/revoke").json()
    assert revoked["revoked_at"] is not None and "secret" not in revoked and "key_hash" not in revoked
    _error(requests.post(url, json=decision(1), headers={"X-API-Key": key}, timeout=10), 401, "UNAUTHORIZED")


def test_missing_scope_is_403(ledger: LedgerProcess) -> None:
    reader = Api(ledger, ledger.new_api_key(scopes=["records:read"]))
    error = _error(reader.post("/records", json=decision(1)), 403, "FORBIDDEN")
    assert error["details"]["required_scope"] == "records:write"
    writer = Api(ledger, ledger.new_api_key(scopes=["records:write"]))
    _error(writer.get("/verify"), 403, "FORBIDDEN")


def test_unknown_route_record_and_block_are_404(api: Api) -> None:
    _error(api.get("/nowhere"), 404, "NOT_FOUND")
    _error(api.get("/records/missing_txn"), 404, "NOT_FOUND")
    _error(api.get("/receipts/missing_txn"), 404, "NOT_FOUND")
    _error(api.get("/blocks/99"), 404, "NOT_FOUND")


def test_wrong_method_is_405(api: Api) -> None:
    response = api.request("DELETE", "/records")
    _error(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in response.headers["Allow"]


def test_oversized_body_is_413(api: Api) -> None:
    huge = b'{"policy_id": "p", "input": {"blob": "' + b"x" * (6 * 1024 * 1024) + b'"}, "output": {}}'
    _error(api.post("/records", data=huge, headers={"Content-Type": "application/json"}), 413, "PAYLOAD_TOO_LARGE")


def test_gzip_bomb_is_413_and_bad_gzip_is_400(api: Api) -> None:
    bomb = gzip.compress(b'{"records": [' + b" " * (20 * 1024 * 1024) + b"]}")
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    _error(api.post("/records/batch", data=bomb, headers=headers), 413, "PAYLOAD_TOO_LARGE")
    _error(api.post("/records/batch", data=b"not gzip", headers=headers), 400, "VALIDATION_ERROR")


def test_admin_endpoints_need_the_admin_key(ledger: LedgerProcess) -> None:
    _error(requests.get(ledger.base_url + "/admin/tenants", timeout=10), 401, "UNAUTHORIZED")
    _error(ledger.admin("GET", "/tenants", headers={"X-Admin-Key": "wrong"}), 401, "UNAUTHORIZED")
    assert ledger.admin("GET", "/tenants").status_code == 200


def test_admin_validation_and_conflicts(ledger: LedgerProcess) -> None:
    assert ledger.admin("POST", "/tenants", json={"name": "dup-tenant"}).status_code == 201
    _error(ledger.admin("POST", "/tenants", json={"name": "dup-tenant"}), 409, "CONFLICT")
    _error(ledger.admin("POST", "/tenants", json={"name": ""}), 400, "VALIDATION_ERROR")
    _error(ledger.admin("POST", "/tenants/dup-tenant/api-keys", json={"scopes": ["root"]}), 400, "VALIDATION_ERROR")
    _error(ledger.admin("POST", "/tenants/no-such-tenant/api-keys", json={}), 404, "NOT_FOUND")
    _error(ledger.admin("POST", "/api-keys/key_missing/revoke"), 404, "NOT_FOUND")


def test_api_key_secret_is_shown_once_and_only_hashed_at_rest(ledger: LedgerProcess) -> None:
    secret = ledger.new_api_key("secret-tenant")
    listed = ledger.admin("GET", "/tenants/secret-tenant/api-keys").json()["api_keys"]
    assert secret not in str(listed) and secret.startswith("xase_pk_")
    assert listed[0]["prefix"] == secret[:12]
    assert secret not in ledger.stored_text()


@pytest.fixture
def throttled_ledger(tmp_path: Any) -> Iterator[LedgerProcess]:
    process = LedgerProcess(tmp_path, env={"XASE_RATE_LIMIT": "5 per minute"}).start()
    yield process
    process.stop()


def test_rate_limit_is_429_with_retry_after_per_key(throttled_ledger: LedgerProcess) -> None:
    first, second = Api(throttled_ledger, throttled_ledger.new_api_key()), Api(throttled_ledger, throttled_ledger.new_api_key())
    statuses = [first.post("/records", json=decision(i)).status_code for i in range(7)]
    assert statuses[:5] == [201] * 5 and statuses[5:] == [429, 429]
    limited = first.post("/records", json=decision(99))
    error = _error(limited, 429, "RATE_LIMIT_EXCEEDED")
    assert int(limited.headers["Retry-After"]) >= 1
    assert (error["details"]["limit"], error["details"]["period"]) == (5, "1m") and error["details"]["reset_at"].endswith("Z")
    assert second.post("/records", json=decision(1)).status_code == 201  # another key has its own budget
    assert first.get("/stats").status_code == 429
    assert requests.get(throttled_ledger.base_url + "/health", timeout=5).status_code == 200


def test_the_knowledge_admin_plane_is_throttled_per_key_not_per_address(throttled_ledger: LedgerProcess) -> None:
    root = f"http://127.0.0.1:{throttled_ledger.port}/xtrace/v1"
    first, second = (throttled_ledger.new_api_key(tenant, scopes=["admin"]) for tenant in ("org-one", "org-two"))
    statuses = [requests.get(f"{root}/kbs", headers={"x-xtrace-key": first, "x-xtrace-org-id": "org-one"}, timeout=5).status_code for _ in range(7)]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert requests.get(f"{root}/kbs", headers={"x-xtrace-key": second, "x-xtrace-org-id": "org-two"}, timeout=5).status_code == 200
    junk = {"x-xtrace-key": first, "x-xtrace-org-id": "org-one"}  # a fresh junk X-API-Key beside it opens no new budget
    assert {requests.get(f"{root}/kbs", headers={**junk, "X-API-Key": secrets.token_hex(8)}, timeout=5).status_code for _ in range(3)} == {429}


def test_retry_after_is_never_less_than_a_second(tmp_path: Any) -> None:
    from ledger_service.app import create_app
    from ledger_service.db import write_transaction
    from ledger_service.tenants import create_tenant

    app = create_app({"database_url": f"sqlite:///{tmp_path}/l.db", "signing_key_path": str(tmp_path / "k.pem"), "rate_limit": "2 per second"})
    with write_transaction(app.extensions["xase"].engine) as conn:
        key = {"X-API-Key": auth.create_api_key(conn, create_tenant(conn, "acme")["id"])["secret"]}
    client = app.test_client()
    limited = [client.get("/api/xase/v1/records", headers=key) for _ in range(30)]
    waits = [int(answer.headers["Retry-After"]) for answer in limited if answer.status_code == 429]
    assert waits and min(waits) >= 1


def test_an_error_answered_before_the_body_was_read_keeps_the_connection(tmp_path: Path) -> None:
    """A refusal decided before the body is read (a bad key here; a busy tenant's 429 likewise) leaves the
    connection usable: gunicorn closes one whose unread body exceeds 64 KiB, without saying so, and the client's
    next request on it fails ("Remote end closed connection without response")."""
    ledger = LedgerProcess(tmp_path, workers=1).start()
    body = b'{"turns": [' + b",".join([b'{"type_id": "t", "type_version": 1, "data": {"x": "' + b"y" * 4000 + b'"}}'] * 1000) + b"]}"
    connection = http.client.HTTPConnection("127.0.0.1", ledger.port, timeout=30)
    try:
        for _ in range(3):
            connection.request("POST", "/cxdb/v1/contexts/1/append_batch", body, {"X-API-Key": "xase_pk_wrong", "Content-Type": "application/json"})
            answer = connection.getresponse()
            assert answer.status == 401 and b"UNAUTHORIZED" in answer.read()
            connection.request("GET", PREFIX + "/health")
            assert connection.getresponse().read() and connection.sock is not None
    finally:
        connection.close()
        ledger.destroy()
