"""Seed 002 end to end through a real ledger: a holder shares a dataset, a consumer works in a session, every access is evidence."""

from __future__ import annotations

import time

from tests.access.conftest import PATIENTS, open_session
from tests.conftest import Api, LedgerProcess
from xase import evidence


def test_stream_pages_every_record_once_and_cursors_are_tamper_proof(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    session = open_session(consumer, dataset_id)
    assert session["session_id"].startswith("sess_") and session["expires_at"] > session["created_at"]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"batch_size": 4, **({"cursor": cursor} if cursor else {})}
        page = consumer.get(f"/sessions/{session['session_id']}/stream", params=params).json()
        seen += [record["record_id"] for record in page["batch"]]
        pages += 1
        if pages == 1:  # appended mid-stream: not part of this stream's snapshot
            holder.post(f"/datasets/{dataset_id}/records", json=[{"record_id": "late", "age": 99}])
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [p["record_id"] for p in PATIENTS] and pages == 3
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    response = consumer.get(f"/sessions/{session['session_id']}/stream", params={"cursor": forged})
    assert response.status_code == 400 and "cursor" in response.json()["error"]["message"]


def test_filter_record_and_aggregate(shared: tuple[Api, Api, str]) -> None:
    _, consumer, dataset_id = shared
    sid = open_session(consumer, dataset_id)["session_id"]
    seed_filter = {"age": {"$gte": 50}, "diagnosis": {"$in": ["diabetes", "hypertension"]},
                   "$or": [{"lab_results.glucose": {"$gte": 200}}, {"lab_results.bp_systolic": {"$gte": 140}}]}  # fmt: skip
    found = consumer.post(f"/sessions/{sid}/filter", json={"filter": seed_filter, "fields": ["patient_id", "age"], "sort": {"age": -1}, "limit": 2}).json()
    assert [r["patient_id"] for r in found["records"]] == ["p9", "p7"] and found["has_more"] is True
    assert set(found["records"][0]) == {"record_id", "patient_id", "age"}
    read = consumer.get(f"/sessions/{sid}/records/p3")
    assert read.json()["lab_results"]["glucose"] == 195
    read_evidence = consumer.get(f"/receipts/{read.headers['X-Evidence-Id']}").json()
    assert read_evidence["record"]["decision_type"] == "data_access.record" and read.headers["X-Evidence-Url"].endswith(read.headers["X-Evidence-Id"])
    groups = consumer.post(f"/sessions/{sid}/aggregate", json={"pipeline": [{"$group": {"_id": "$diagnosis", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]}).json()
    assert groups["results"] == [{"_id": "asthma", "n": 3}, {"_id": "diabetes", "n": 4}, {"_id": "hypertension", "n": 3}]
    bad = consumer.post(f"/sessions/{sid}/filter", json={"filter": {"age": {"$where": 1}}})
    assert bad.status_code == 400 and "$where" in bad.json()["error"]["message"]


def test_every_access_is_evidence_the_consumer_can_verify_and_the_holder_can_list(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    sid = open_session(consumer, dataset_id)["session_id"]
    page = consumer.get(f"/sessions/{sid}/stream", params={"batch_size": 3}).json()
    receipt = consumer.get(f"/receipts/{page['evidence_id']}").json()
    evidence.verify_receipt(receipt)
    assert receipt["record"]["policy_id"] == "xase.sessions" and receipt["record"]["decision_type"] == "data_access.stream"
    stored = consumer.get(f"/records/{page['evidence_id']}").json()
    assert stored["payload"]["output"]["record_ids"] == ["p0", "p1", "p2"]
    assert evidence.commitment(stored["payload"]["output"]) == receipt["record"]["output_hash"]
    log = holder.get(f"/datasets/{dataset_id}/accesses").json()["accesses"]
    assert [a["action"] for a in log] == ["stream", "session_open"] and log[0]["record_ids"] == ["p0", "p1", "p2"]  # newest first
    assert log[0]["transaction_id"] == page["evidence_id"] and log[0]["purpose"] == "model_training"
    for entry in log:  # the holder gets the consumer-chain receipts, which verify offline
        evidence.verify_receipt(entry["receipt"])
        assert entry["receipt"]["record"]["transaction_id"] == entry["transaction_id"]


def test_revocation_mid_stream_stops_the_next_page_and_is_evidence(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    sid = open_session(consumer, dataset_id)["session_id"]
    first = consumer.get(f"/sessions/{sid}/stream", params={"batch_size": 2}).json()
    grants = holder.get(f"/datasets/{dataset_id}/grants").json()["grants"]
    revoked = holder.post(f"/datasets/{dataset_id}/grants/{grants[0]['id']}/revoke", json={"reason": "study ended", "revoked_by": "dpo@hospital"})
    assert revoked.json()["revoked_sessions"] == [sid]
    after = consumer.get(f"/sessions/{sid}/stream", params={"batch_size": 2, "cursor": first["next_cursor"]})
    assert after.status_code == 410 and after.json()["error"]["details"]["session_id"] == sid
    assert consumer.post("/sessions", json={"dataset": dataset_id, "purpose": "model_training"}).status_code == 404  # no active grant
    log = holder.get(f"/datasets/{dataset_id}/accesses").json()["accesses"]
    assert log[0]["action"] == "revoke" and log[0]["receipt"]["record"]["decision_type"] == "data_access.revoke"


def test_refusals_revocation_closing_and_expiry(shared: tuple[Api, Api, str], ledger: LedgerProcess) -> None:
    holder, consumer, dataset_id = shared
    wrong = consumer.post("/sessions", json={"dataset": dataset_id, "purpose": "marketing", "duration": "1d"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "FORBIDDEN"
    assert consumer.post("/sessions", json={"dataset": dataset_id, "purpose": "model_training", "duration": "400d"}).status_code == 403
    stranger = Api(ledger, ledger.new_api_key(scopes=["sessions"]))
    assert stranger.post("/sessions", json={"dataset": dataset_id, "purpose": "model_training"}).status_code == 404
    sid = open_session(consumer, dataset_id)["session_id"]
    assert holder.get(f"/sessions/{sid}/stream").status_code == 404  # not the holder's session

    revoked = holder.post(f"/datasets/{dataset_id}/sessions/{sid}/revoke", json={"reason": "consent withdrawn", "revoked_by": "dpo@hospital"})
    assert revoked.status_code == 200
    error = consumer.get(f"/sessions/{sid}/stream").json()["error"]
    assert (error["code"], error["type"]) == ("ACCESS_REVOKED", "access_revoked")
    assert error["details"]["reason"] == "consent withdrawn" and error["details"]["revoked_by"] == "dpo@hospital" and error["request_id"]

    closing = open_session(consumer, dataset_id)["session_id"]
    assert consumer.post(f"/sessions/{closing}/close", json={"reason": "done"}).json()["status"] == "closed"
    assert consumer.get(f"/sessions/{closing}/records/p1").status_code == 410

    brief = open_session(consumer, dataset_id, duration=1)["session_id"]
    time.sleep(1.1)
    expired = consumer.get(f"/sessions/{brief}/stream")
    assert expired.status_code == 410
    details = expired.json()["error"]["details"]
    assert expired.json()["error"]["code"] == "SESSION_EXPIRED" and details["current_time"] >= details["expired_at"]


def test_transform_returns_copies_with_evidence_and_leaves_the_dataset_alone(shared: tuple[Api, Api, str]) -> None:
    _, consumer, dataset_id = shared
    sid = open_session(consumer, dataset_id)["session_id"]
    body = {"records": ["p1", "p2"], "transformation": "anonymize", "parameters": {"fields": ["patient_id"], "method": "hash"},
            "metadata": {"purpose": "privacy protection"}}  # fmt: skip
    first = consumer.post(f"/sessions/{sid}/transform", json=body).json()
    second = consumer.post(f"/sessions/{sid}/transform", json=body).json()
    assert first["transformation_id"].startswith("transform_") and first["transformation_id"] != second["transformation_id"]
    hashed = [r["patient_id"] for r in first["transformed_records"]]
    assert hashed == [r["patient_id"] for r in second["transformed_records"]] and hashed[0] != "p1"
    assert consumer.get(f"/sessions/{sid}/records/p1").json()["patient_id"] == "p1"  # stored data unchanged
    assert first["evidence_url"] == f"{consumer.ledger.base_url}/evidence/{first['transformation_id']}"  # the seed's form
    receipt = consumer.get(first["evidence_url"].removeprefix(consumer.ledger.base_url)).json()
    evidence.verify_receipt(receipt)
    assert receipt["record"]["decision_type"] == "data_access.transform" and receipt["record"]["transaction_id"] == first["evidence_id"]
    assert consumer.get(f"/evidence/{first['evidence_id']}").json() == receipt  # the evidence id itself resolves too
    missing = consumer.post(f"/sessions/{sid}/transform", json={**body, "records": ["p1", "nope"]})
    assert missing.status_code == 404 and "nope" in missing.text


def test_operations_are_recorded(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    sid = open_session(consumer, dataset_id)["session_id"]
    response = consumer.post(f"/sessions/{sid}/operations", json={"operation_type": "TRAIN", "records": ["p1", "p2"],
                                                                  "metadata": {"model_id": "diagnostic-model-v2", "metrics": {"loss": 0.0342}}})  # fmt: skip
    assert response.status_code == 200  # "Response (200 OK)", as the seed
    operation = response.json()
    assert operation["status"] == "RECORDED" and operation["operation_id"].startswith("op_")
    evidence.verify_receipt(consumer.get(f"/receipts/{operation['evidence_id']}").json())
    assert consumer.get(f"/evidence/{operation['operation_id']}").json()["record"]["transaction_id"] == operation["evidence_id"]
    assert consumer.get("/evidence/op_" + "0" * 24).status_code == 404
    assert consumer.post(f"/sessions/{sid}/operations", json={"operation_type": "SELL", "records": ["p1"]}).status_code == 400
    log = holder.get(f"/datasets/{dataset_id}/accesses").json()["accesses"]
    assert log[0]["action"] == "operation.train" and log[0]["record_ids"] == ["p1", "p2"]


def test_a_consumer_lists_its_own_sessions_newest_first(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    first, second = open_session(consumer, dataset_id), open_session(consumer, dataset_id)
    consumer.post(f"/sessions/{first['session_id']}/close", json={"reason": "done"})
    listed = consumer.get("/sessions").json()["sessions"]
    assert [s["session_id"] for s in listed] == [second["session_id"], first["session_id"]]
    assert [s["status"] for s in listed] == ["active", "closed"] and listed[0]["dataset"] == "patients" and listed[0]["holder_tenant_id"]
    assert holder.get("/sessions").json()["sessions"] == []  # the holder opened none: another tenant's sessions are not listed
    assert [s["session_id"] for s in consumer.get("/sessions", params={"limit": 1}).json()["sessions"]] == [second["session_id"]]
    assert consumer.get("/sessions", params={"limit": 101}).status_code == 400
