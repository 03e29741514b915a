"""What a client's record may and may not carry (issue 12): null optionals, the ledger's reserved names, control characters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, decision

# Shaped exactly as the published seed-001 client sends a RecordPayload with only the required members set.
PUBLISHED_CLIENT_BODY: dict[str, Any] = {
    "policyId": "credit_policy_v4", "input": {"user_id": "u_1", "amount": 50000}, "output": {"decision": "APPROVED"},
    "confidence": None, "context": None, "transactionId": None, "policyVersion": None, "decisionType": None,
    "processingTime": None, "storePayload": None,
}  # fmt: skip


def test_null_optionals_mean_not_given_on_the_single_endpoint(api: Api) -> None:
    response = api.post("/records", json=PUBLISHED_CLIENT_BODY)
    assert response.status_code == 201, response.text
    record = api.get(f"/records/{response.json()['transaction_id']}").json()
    assert record["record"]["policy_version"] is None and record["record"]["confidence"] is None
    assert record["payload"] is None and record["context"] == {}


def test_null_optionals_mean_not_given_in_a_batch(api: Api) -> None:
    items = [{**PUBLISHED_CLIENT_BODY, "input": {"n": n}, "idempotency_key": None} for n in range(3)]
    items[1]["storePayload"] = True
    response = api.post("/records/batch", json={"records": items})
    assert response.status_code == 200, response.text
    assert [result["success"] for result in response.json()["results"]] == [True, True, True]


def test_a_null_required_field_is_still_required(api: Api) -> None:
    response = api.post("/records", json={**PUBLISHED_CLIENT_BODY, "policyId": None})
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "policy_id"


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"policy_id": "xase.sessions"}, "policy_id"),
        ({"policy_id": "XASE.Sessions", "decision_type": "data_access.close"}, "policy_id"),
        ({"policy_id": "xase.knowledge"}, "policy_id"),
        ({"transaction_id": "acc_0123456789abcdef01234567"}, "transaction_id"),
        ({"transaction_id": "ACC_forged"}, "transaction_id"),
    ],
)
def test_clients_cannot_write_in_the_ledgers_own_namespace(api: Api, fields: dict[str, Any], field: str) -> None:
    for path, body in (("/records", decision(1, **fields)), ("/records/batch", {"records": [decision(2, **fields)]})):
        response = api.post(path, json=body)
        error = response.json()["error"] if path == "/records" else response.json()["results"][0]["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["details"]["field"] == field, response.text
    assert api.get("/records").json()["records"] == []


@pytest.mark.parametrize("text", ["evil\x1b[2K\rtenant ten_victim", "a\nb", "nul\x00", "del\x7f", "c1\x9b31m", "bidi\u202eepyt"])
@pytest.mark.parametrize("field", ["policy_id", "policy_version", "decision_type"])
def test_control_characters_in_text_fields_are_refused(api: Api, field: str, text: str) -> None:
    response = api.post("/records", json=decision(1, **{field: text}))
    assert response.status_code == 400 and response.json()["error"]["details"].get("field", field) == field, response.text


@pytest.mark.parametrize("name", ["acme\x1b[31m", "two\nlines", "rtl\u202eemca"])
def test_control_characters_in_tenant_names_are_refused(api: Api, name: str) -> None:
    response = api.ledger.admin("POST", "/tenants", json={"name": name})
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "name", response.text
