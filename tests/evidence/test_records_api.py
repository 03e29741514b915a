"""POST /records and /records/batch through a real ledger process: results, idempotency, payload handling."""

from __future__ import annotations

import gzip
import json
import re
import uuid

import requests

from tests.conftest import Api, decision
from xase import evidence


def test_single_record_returns_a_full_record_result(api: Api) -> None:
    response = api.post("/records", json=decision(1, transaction_id="loan_1"))
    assert response.status_code == 201
    result = response.json()
    assert result["success"] is True
    assert result["transaction_id"] == "loan_1"
    assert result["chain_position"] == "genesis" and result["seq"] == 0 and result["block_seq"] == 0
    assert re.fullmatch(r"[0-9a-f]{64}", result["record_hash"])
    assert result["timestamp"].endswith("Z")
    assert result["receipt_url"] == f"{api.ledger.base_url}/receipts/loan_1"
    assert api.get(result["receipt_url"].removeprefix(api.ledger.base_url)).status_code == 200
    second = api.record()
    assert second["chain_position"] == "chained" and second["seq"] == 1 and second["block_seq"] == 1


def test_missing_transaction_id_is_generated_time_ordered(api: Api) -> None:
    first = api.record()["transaction_id"]
    results = api.post("/records/batch", json={"records": [decision(n) for n in range(3)]}).json()["results"]
    generated = [first, *(result["transaction_id"] for result in results)]
    assert all(re.fullmatch(r"txn_[0-9a-f]{28}", transaction_id) for transaction_id in generated)
    assert len(set(generated)) == 4 and generated[0][:16] <= generated[1][:16]  # milliseconds first, then 64 random bits


def test_camel_case_body_is_the_same_record_as_snake_case(api: Api) -> None:
    camel = api.record(policyVersion="4.2", decisionType="loan", processingTime=12.5, transactionId="camel_1")
    record = api.get("/records/camel_1").json()["record"]
    assert (record["policy_version"], record["decision_type"], record["processing_time_ms"]) == ("4.2", "loan", 12.5)
    assert camel["transaction_id"] == "camel_1"


def test_raw_payload_is_committed_and_not_stored_by_default(api: Api) -> None:
    payload = {"input": {"user_id": "u_4829", "amount": 50000}, "output": {"decision": "APPROVED"}, "context": {"ip": "10.0.0.1"}}
    api.record(transaction_id="raw_1", **payload)
    fetched = api.get("/records/raw_1").json()
    assert fetched["record"]["input_hash"] == evidence.commitment(payload["input"])
    assert fetched["record"]["output_hash"] == evidence.commitment(payload["output"])
    assert fetched["record"]["context_hash"] == evidence.commitment(payload["context"])
    assert fetched["record"]["payload_ref"] is None and fetched["payload"] is None
    assert fetched["context"] == payload["context"]
    assert "u_4829" not in api.ledger.stored_text()


def test_store_payload_keeps_the_raw_payload_with_a_content_address(api: Api) -> None:
    api.record(transaction_id="stored_1", storePayload=True, input={"a": 1}, output={"b": 2})
    fetched = api.get("/records/stored_1").json()
    assert fetched["payload"]["input"] == {"a": 1} and fetched["payload"]["output"] == {"b": 2}
    blob = evidence.canonicalize({"input": {"a": 1}, "output": {"b": 2}})
    assert fetched["record"]["payload_ref"] == evidence.sha256_hex(blob)


def test_commitments_sent_instead_of_raw_payload(api: Api) -> None:
    hashes = {"input_hash": "a" * 64, "output_hash": "b" * 64, "commitment": "hmac-sha256"}
    response = api.post("/records", json={"policy_id": "p", **hashes, "transaction_id": "hashed_1"})
    assert response.status_code == 201
    record = api.get("/records/hashed_1").json()["record"]
    assert (record["input_hash"], record["output_hash"], record["commitment"]) == ("a" * 64, "b" * 64, "hmac-sha256")


def test_replay_with_same_key_returns_the_original_even_if_context_differs(api: Api) -> None:
    key = str(uuid.uuid4())
    first = api.post("/records", json=decision(7, context={"t": 1}), headers={"Idempotency-Key": key})
    replay = api.post("/records", json=decision(7, context={"t": 2}), headers={"Idempotency-Key": key})
    assert first.status_code == 201 and replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert api.get("/stats").json()["records"] == 1


def test_same_key_different_decision_is_a_409(api: Api) -> None:
    key = "order-key-000000001"
    assert api.post("/records", json=decision(1), headers={"Idempotency-Key": key}).status_code == 201
    conflict = api.post("/records", json=decision(2), headers={"Idempotency-Key": key})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert api.get("/stats").json()["records"] == 1


def test_transaction_id_alone_deduplicates(api: Api) -> None:
    first = api.post("/records", json=decision(1, transaction_id="loan_42"))
    again = api.post("/records", json=decision(1, transaction_id="loan_42"))
    different = api.post("/records", json=decision(2, transaction_id="loan_42"))
    assert (first.status_code, again.status_code, different.status_code) == (201, 200, 409)


def test_batch_results_are_in_input_order_and_one_block_is_sealed(api: Api) -> None:
    records = [decision(i, transaction_id=f"b_{i}", idempotency_key=f"batch-key-{i:08d}") for i in range(20)]
    response = api.post("/records/batch", json={"records": records})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["transaction_id"] for r in results] == [f"b_{i}" for i in range(20)]
    assert [r["seq"] for r in results] == list(range(20))
    assert {r["block_seq"] for r in results} == {0}
    block = api.get("/blocks/0").json()
    assert (block["first_seq"], block["last_seq"]) == (0, 19)


def test_invalid_batch_items_fail_alone(api: Api) -> None:
    records = [decision(0), {"policy_id": ""}, decision(2), {"policy_id": "p", "input": {}, "output": {}, "confidence": 7}, "nope"]
    results = api.post("/records/batch", json={"records": records}).json()["results"]
    assert [r["success"] for r in results] == [True, False, True, False, False]
    assert [r["status"] for r in results] == [201, 400, 201, 400, 400]
    assert results[1]["error"]["code"] == "VALIDATION_ERROR" and "policy_id" in results[1]["error"]["message"]
    assert results[3]["error"]["details"] == {"field": "confidence"}
    assert [r.get("seq") for r in results] == [0, None, 1, None, None]


def test_replayed_batch_adds_no_record(api: Api) -> None:
    records = [decision(i, idempotency_key=f"replay-key-{i:08d}") for i in range(10)]
    first = api.post("/records/batch", json={"records": records}).json()["results"]
    second = api.post("/records/batch", json={"records": records}).json()["results"]
    assert all(r["status"] == 201 for r in first) and all(r["status"] == 200 and r["replayed"] for r in second)
    assert [r["record_hash"] for r in first] == [r["record_hash"] for r in second]
    stats = api.get("/stats").json()
    assert (stats["records"], stats["blocks"]) == (10, 1)


def test_duplicate_key_inside_one_batch_is_a_replay_of_the_first(api: Api) -> None:
    item = decision(1, idempotency_key="dup-in-batch-0001")
    results = api.post("/records/batch", json={"records": [item, item, decision(2, idempotency_key="dup-in-batch-0001")]}).json()["results"]
    assert [r["status"] for r in results] == [201, 200, 409]
    assert results[0]["seq"] == results[1]["seq"]


def test_gzip_request_body_is_accepted(api: Api) -> None:
    body = gzip.compress(json.dumps({"records": [decision(i) for i in range(50)]}).encode())
    response = api.post("/records/batch", data=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200 and len(response.json()["results"]) == 50


def test_bearer_authorization_works_like_x_api_key(api: Api) -> None:
    response = requests.post(api.ledger.base_url + "/records", json=decision(1), headers={"Authorization": f"Bearer {api.key}"}, timeout=10)
    assert response.status_code == 201


def test_list_records_pages_with_a_cursor(api: Api) -> None:
    api.post("/records/batch", json={"records": [decision(i) for i in range(5)]})
    first = api.get("/records", params={"limit": 3}).json()
    second = api.get("/records", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [r["seq"] for r in first["records"]] == [0, 1, 2] and [r["seq"] for r in second["records"]] == [3, 4]
    assert second["next_cursor"] is None
