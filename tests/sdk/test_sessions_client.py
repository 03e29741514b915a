"""xase.Client and Session (seed 002) against a real ledger."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import xase
from tests.conftest import Api, LedgerProcess

RECORDS = [
    {"record_id": f"rec_{n:03d}", "patient_id": f"p{n}", "name": f"Patient {n}", "address": f"{n} Main St", "age": 40 + n % 45,
     "diagnosis": ["diabetes", "hypertension", "asthma"][n % 3]}
    for n in range(70)
]  # fmt: skip


@pytest.fixture
def setup(ledger: LedgerProcess) -> Iterator[tuple[Api, xase.Client, str]]:
    holder = Api(ledger, ledger.new_api_key(scopes=["sessions"]))
    consumer_tenant = "lab-" + os.urandom(4).hex()
    consumer_key = ledger.new_api_key(consumer_tenant, scopes=["sessions", "records:read"])
    dataset = holder.post("/datasets", json={"name": "medical-records-2024"}).json()
    holder.post(f"/datasets/{dataset['id']}/records", json=RECORDS)
    holder.post(f"/datasets/{dataset['id']}/grants", json={"tenant": consumer_tenant, "purposes": ["model-training"], "max_duration": "30d"})
    client = xase.Client(api_key=consumer_key, base_url=ledger.base_url)
    yield holder, client, dataset["id"]
    client.close()


def test_the_seeds_streaming_loop(setup: tuple[Api, xase.Client, str]) -> None:
    holder, client, dataset_id = setup
    session = client.access(dataset=dataset_id, purpose="model-training", duration="30d")
    sizes, ids = [], []
    for batch in session.stream(batch_size=32):
        sizes.append(len(batch))
        ids += batch.record_ids
        assert all(isinstance(record, xase.Record) for record in batch)
        session.record_operation(operation_type="TRAIN", records=batch.record_ids, metadata={"metrics": {"loss": 0.1}})
    assert sizes == [32, 32, 6] and ids == [r["record_id"] for r in RECORDS]
    log = holder.get(f"/datasets/{dataset_id}/accesses").json()["accesses"]
    assert [a["action"] for a in log].count("operation.train") == 3


def test_filter_transform_record_aggregate_close(setup: tuple[Api, xase.Client, str]) -> None:
    _, client, dataset_id = setup
    with client.access(dataset=dataset_id, purpose="model-training", duration="1h") as session:
        elderly = session.filter(query={"age": {"$gte": 65}, "diagnosis": "diabetes"}, sort={"age": -1}, limit=100)
        assert len(elderly) > 0 and all(r.age >= 65 and r.diagnosis == "diabetes" for r in elderly)
        anonymized = session.transform(records=elderly, transformation="anonymize", parameters={"fields": ["patient_id", "name"], "method": "hash"})
        assert anonymized.record_ids == elderly.record_ids and anonymized[0].patient_id != elderly[0].patient_id
        patient = session.get_record("rec_007")
        assert (patient.age, patient.diagnosis) == (47, "hypertension")
        results = session.aggregate([
            {"$match": {"age": {"$gte": 50}}},
            {"$group": {"_id": "$diagnosis", "count": {"$sum": 1}, "avg_age": {"$avg": "$age"}}},
            {"$sort": {"count": -1}},
        ])  # fmt: skip
        assert sum(r["count"] for r in results) == sum(1 for r in RECORDS if r["age"] >= 50)
    assert session.closed
    with pytest.raises(xase.XaseError) as caught:
        session.get_record("rec_001")
    assert caught.value.code == "SESSION_CLOSED"


def test_typed_errors(setup: tuple[Api, xase.Client, str]) -> None:
    holder, client, dataset_id = setup
    with pytest.raises(xase.XaseError) as refused:
        client.access(dataset=dataset_id, purpose="marketing")
    assert refused.value.code == "FORBIDDEN" and refused.value.status_code == 403
    brief = client.access(dataset=dataset_id, purpose="model-training", duration=1)
    time.sleep(1.1)
    with pytest.raises(xase.SessionExpiredError) as expired:
        next(iter(brief.stream()))
    assert expired.value.details["session_id"] == brief.session_id and expired.value.status_code == 410
    revoked = client.access(dataset=dataset_id, purpose="model-training")
    holder.post(f"/datasets/{dataset_id}/sessions/{revoked.session_id}/revoke", json={"reason": "consent withdrawn", "revoked_by": "dpo"})
    with pytest.raises(xase.AccessRevokedError) as caught:
        revoked.get_record("rec_001")
    assert caught.value.details["revoked_by"] == "dpo" and isinstance(caught.value, xase.XaseError)


def test_rate_limit_error(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, env={"XASE_RATE_LIMIT": "3 per minute"}).start()
    try:
        client = xase.Client(api_key=ledger.new_api_key(scopes=["sessions"]), base_url=ledger.base_url, max_retries=0)
        for _ in range(3):
            with pytest.raises(xase.XaseError):
                client.access(dataset="nothing-shared", purpose="x")
        with pytest.raises(xase.RateLimitError) as caught:
            client.access(dataset="nothing-shared", purpose="x")
        assert caught.value.details["limit"] == 3 and caught.value.details["period"] == "1m" and caught.value.details["reset_at"]
    finally:
        ledger.stop()


def test_the_training_example_runs_as_written(ledger: LedgerProcess) -> None:
    consumer_tenant = "lab-" + os.urandom(4).hex()
    env = {**os.environ, "XASE_HOLDER_API_KEY": ledger.new_api_key(scopes=["sessions"]), "XASE_CONSUMER_TENANT": consumer_tenant,
           "XASE_API_KEY": ledger.new_api_key(consumer_tenant, scopes=["sessions"]), "XASE_BASE_URL": ledger.base_url}  # fmt: skip
    example = Path(__file__).resolve().parents[2] / "examples" / "sessions_training.py"
    done = subprocess.run([sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Found" in done.stdout and "Patient age:" in done.stdout and "trained on 500 records; session closed" in done.stdout
    assert "each receipt verified" in done.stdout


def test_a_name_can_be_pinned_to_its_holder(setup: tuple[Api, xase.Client, str]) -> None:
    holder, client, dataset_id = setup
    holder_tenant = holder.get(f"/datasets/{dataset_id}").json()["tenant_id"]
    with client.access(dataset="medical-records-2024", purpose="model-training", holder=holder_tenant) as session:
        assert session.dataset_id == dataset_id and session.info["holder_tenant_id"] == holder_tenant and session.holder
    with pytest.raises(xase.XaseError) as caught:
        client.access(dataset="medical-records-2024", purpose="model-training", holder="some-other-tenant")
    assert caught.value.code == "NOT_FOUND"


def test_a_refusal_by_the_ledger_keeps_its_status_code(setup: tuple[Api, xase.Client, str]) -> None:
    _, client, dataset_id = setup
    with client.access(dataset=dataset_id, purpose="model-training", duration="1h") as session:
        with pytest.raises(xase.ValidationError) as caught:
            next(iter(session.stream(batch_size=101)))
        assert caught.value.status_code == 400 and caught.value.code == "VALIDATION_ERROR"
        with pytest.raises(xase.ValidationError) as caught:
            session.filter(query={"age": {"$regex": "x"}})
        assert caught.value.status_code == 400
