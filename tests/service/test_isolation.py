"""A key of tenant A never reads tenant B: every id of B is simply not found."""

from __future__ import annotations

from tests.conftest import Api, LedgerProcess, decision

MARKER = "zz-bob-only-7f3a"


def test_tenant_a_sees_nothing_of_tenant_b(ledger: LedgerProcess) -> None:
    alice, bob = Api(ledger, ledger.new_api_key()), Api(ledger, ledger.new_api_key())
    written = bob.post("/records/batch", json={"records": [decision(i, transaction_id=f"bob_{i}", context={"m": MARKER}) for i in range(3)]})
    assert written.status_code in (200, 201) and [r["transaction_id"] for r in written.json()["results"]] == ["bob_0", "bob_1", "bob_2"]
    for path in ("/records/bob_1", "/receipts/bob_1", "/evidence/bob_1", "/blocks/0"):
        assert bob.get(path).status_code == 200, path  # it exists: Alice's 404 below is isolation, not absence
        response = alice.get(path)
        assert response.status_code == 404, path
        assert MARKER not in response.text and "bob_" not in response.json()["error"]["details"].get("transaction_id", ""), (path, response.text)
    assert alice.get("/records").json()["records"] == []
    assert alice.get("/stats").json()["records"] == 0
    assert alice.get("/verify").json()["records"] == 0
    assert b"bob_" not in alice.get("/export").content and MARKER.encode() not in alice.get("/export").content


def test_same_transaction_id_in_two_tenants_are_two_records(ledger: LedgerProcess) -> None:
    alice, bob = Api(ledger, ledger.new_api_key()), Api(ledger, ledger.new_api_key())
    a = alice.post("/records", json=decision(1, transaction_id="shared_id"))
    b = bob.post("/records", json=decision(2, transaction_id="shared_id"))
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["record_hash"] != b.json()["record_hash"]
    assert alice.get("/receipts/shared_id").json()["record"]["tenant_id"] != bob.get("/receipts/shared_id").json()["record"]["tenant_id"]


def test_idempotency_keys_are_per_tenant(ledger: LedgerProcess) -> None:
    alice, bob = Api(ledger, ledger.new_api_key()), Api(ledger, ledger.new_api_key())
    headers = {"Idempotency-Key": "same-key-in-two-tenants"}
    assert alice.post("/records", json=decision(1), headers=headers).status_code == 201
    assert bob.post("/records", json=decision(2), headers=headers).status_code == 201
