"""GET /metrics: Prometheus counters and histograms of appends, blocks, signatures, sessions and refusals,
summed over every worker under gunicorn, with no tenant in any label."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api, LedgerProcess, decision

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(ledger: LedgerProcess, **headers: str) -> Samples:
    response = requests.get(ledger.base_url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}  # fmt: skip


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerProcess]:
    process = LedgerProcess(tmp_path_factory.mktemp("metrics")).start()
    yield process
    process.destroy()


def test_appends_batches_blocks_and_signatures_are_counted(ledger: LedgerProcess) -> None:
    api = Api(ledger, ledger.new_api_key())
    before = scrape(ledger)
    assert api.post("/records/batch", json={"records": [decision(n) for n in range(3)]}).status_code == 200
    api.record()
    after = scrape(ledger)
    assert grew(before, after, "xase_records_total", outcome="appended") == 4
    assert grew(before, after, "xase_append_batch_records_count") == 2 and grew(before, after, "xase_append_batch_records_sum") == 4
    assert grew(before, after, "xase_append_duration_seconds_count") == 2
    assert grew(before, after, "xase_block_signatures_total", outcome="signed") == 2
    assert grew(before, after, "xase_block_signing_duration_seconds_count") == 2
    assert grew(before, after, "xase_group_commit_records_sum") == 4 and grew(before, after, "xase_group_commit_requests_count") == 2
    assert grew(before, after, "xase_http_requests_total", method="POST", route="/api/xase/v1/records/batch", status="200") == 1
    assert grew(before, after, "xase_http_request_duration_seconds_count", method="POST", route="/api/xase/v1/records") == 1


def test_replays_and_rejections_are_counted_apart(ledger: LedgerProcess) -> None:
    api = Api(ledger, ledger.new_api_key())
    key = str(uuid.uuid4())
    before = scrape(ledger)
    for _ in range(2):
        api.post("/records", json=decision(1), headers={"Idempotency-Key": key})
    api.post("/records/batch", json={"records": [decision(2), {"policy_id": "p", "confidence": 7}]})
    after = scrape(ledger)
    assert grew(before, after, "xase_records_total", outcome="appended") == 2
    assert grew(before, after, "xase_records_total", outcome="replayed") == 1
    assert grew(before, after, "xase_records_total", outcome="rejected") == 1


def test_routes_are_labelled_by_template_and_no_tenant_or_id_shows(ledger: LedgerProcess) -> None:
    api = Api(ledger, ledger.new_api_key("metrics-tenant-7c1"))
    api.record(transaction_id="tx_secret_id_91")
    api.get("/records/tx_secret_id_91")
    api.get("/no/such/route")
    text = requests.get(ledger.base_url + "/metrics", timeout=10).text
    assert 'route="/api/xase/v1/records/<transaction_id>"' in text and 'route="unmatched"' in text
    assert "tx_secret_id_91" not in text and "metrics-tenant-7c1" not in text


def test_sessions_opened_closed_and_revoked_are_counted(ledger: LedgerProcess) -> None:
    consumer_tenant = "metrics-consumer-" + uuid.uuid4().hex[:6]
    holder = Api(ledger, ledger.new_api_key(scopes=["sessions"]))
    consumer = Api(ledger, ledger.new_api_key(consumer_tenant, scopes=["sessions"]))
    dataset = holder.post("/datasets", json={"name": "metrics-data"}).json()["id"]
    holder.post(f"/datasets/{dataset}/records", json=[{"record_id": "r1", "age": 40}])
    grant = holder.post(f"/datasets/{dataset}/grants", json={"tenant": consumer_tenant, "purposes": ["research"], "max_duration": "1d"}).json()
    before = scrape(ledger)
    sessions = [consumer.post("/sessions", json={"dataset": dataset, "purpose": "research", "duration": "1h"}).json() for _ in range(3)]
    consumer.post(f"/sessions/{sessions[0]['session_id']}/close", json={"reason": "done"})
    revoked = holder.post(f"/datasets/{dataset}/grants/{grant['id']}/revoke", json={"reason": "audit", "revoked_by": "dpo"})
    assert revoked.status_code == 200, revoked.text
    after = scrape(ledger)
    assert grew(before, after, "xase_sessions_total", event="opened") == 3
    assert grew(before, after, "xase_sessions_total", event="closed") == 1
    assert grew(before, after, "xase_sessions_total", event="revoked") == 2


def test_rate_limit_rejections_are_counted_by_limit(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, env={"XASE_RATE_LIMIT": "2 per minute", "XASE_AUTH_FAILURE_LIMIT": "2 per minute"}).start()
    try:
        api = Api(ledger, ledger.new_api_key())
        statuses = [api.get("/stats").status_code for _ in range(3)]
        bogus_keys = [f"xase_pk_bogus{n}" for n in range(3)]  # each its own key bucket: only the per-address guard refuses
        failures = [requests.get(ledger.base_url + "/stats", headers={"X-API-Key": key}, timeout=10).status_code for key in bogus_keys]
        assert statuses == [200, 200, 429] and failures == [401, 401, 429]
        samples = scrape(ledger)  # never rate limited itself
        assert value(samples, "xase_rate_limit_rejections_total", limit="api_key") == 1
        assert value(samples, "xase_rate_limit_rejections_total", limit="failed_authentication") == 1
    finally:
        ledger.destroy()


def test_a_metrics_token_guards_the_endpoint(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, env={"XASE_METRICS_TOKEN": "scrape-me-" + uuid.uuid4().hex}).start()
    try:
        refused = requests.get(ledger.base_url + "/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
        assert requests.get(ledger.base_url + "/metrics", timeout=10).status_code == 401
        scrape(ledger, Authorization="Bearer " + ledger.env["XASE_METRICS_TOKEN"])
    finally:
        ledger.destroy()


def test_gunicorn_workers_are_summed_whichever_answers(tmp_path: Path) -> None:
    ledger = LedgerProcess(tmp_path, workers=2).start()
    try:
        key = ledger.new_api_key()
        for n in range(30):  # a new connection each: the workers share the load
            response = requests.post(ledger.base_url + "/records", json=decision(n), headers={"X-API-Key": key}, timeout=10)
            assert response.status_code == 201
        totals = {value(scrape(ledger), "xase_records_total", outcome="appended") for _ in range(6)}
        assert totals == {30.0}
    finally:
        ledger.destroy()
