"""Transport faults injected with `responses`: what is retried, how long it waits, what is never retried."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
import responses

from xase import XaseError
from xase.config import XaseClientConfig
from xase.transport import Transport

BASE = "http://ledger.test/api/xase/v1"


class RecordingTransport(Transport):
    """A Transport that records the waits it would sleep, instead of sleeping."""

    def __init__(self, **options: Any) -> None:
        super().__init__(XaseClientConfig.build(api_key="xase_pk_test", base_url=BASE, **options))
        self.waits: list[float] = []

    def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def item(n: int) -> dict[str, Any]:
    return {"policy_id": "p", "input_hash": "a" * 64, "output_hash": "b" * 64, "idempotency_key": f"key-{n:016d}", "transaction_id": f"t_{n}"}


def ok(n: int) -> dict[str, Any]:
    return {"success": True, "transaction_id": f"t_{n}", "status": 201}


def sent_keys(call: Any) -> list[str]:
    return [record["idempotency_key"] for record in json.loads(call.request.body)["records"]]


@responses.activate
def test_timeout_then_success() -> None:
    responses.post(f"{BASE}/records/batch", body=requests.Timeout("slow ledger"))
    responses.post(f"{BASE}/records/batch", json={"results": [ok(0)]})
    transport = RecordingTransport()
    assert transport.send_batch([item(0)]) == [ok(0)]
    assert transport.retries == 1 and len(responses.calls) == 2


@responses.activate
def test_500_then_200_resends_with_the_same_idempotency_keys() -> None:
    responses.post(f"{BASE}/records/batch", status=500, json={"error": {"code": "INTERNAL_ERROR", "message": "db"}})
    responses.post(f"{BASE}/records/batch", json={"results": [ok(0), ok(1)]})
    transport = RecordingTransport()
    assert [r["success"] for r in transport.send_batch([item(0), item(1)])] == [True, True]  # type: ignore[index]
    assert sent_keys(responses.calls[0]) == sent_keys(responses.calls[1])


@responses.activate
def test_429_waits_at_least_retry_after() -> None:
    responses.post(f"{BASE}/records/batch", status=429, headers={"Retry-After": "4"}, json={"error": {"code": "RATE_LIMIT_EXCEEDED"}})
    responses.post(f"{BASE}/records/batch", json={"results": [ok(0)]})
    transport = RecordingTransport(retry_backoff=0.01)
    transport.send_batch([item(0)])
    assert transport.waits and transport.waits[0] >= 4


@responses.activate
def test_retry_after_is_capped() -> None:
    responses.post(f"{BASE}/records/batch", status=503, headers={"Retry-After": "3600"})
    responses.post(f"{BASE}/records/batch", json={"results": [ok(0)]})
    transport = RecordingTransport(retry_backoff_max=2.0)
    transport.send_batch([item(0)])
    assert transport.waits == [2.0]


@responses.activate
def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    for _ in range(6):
        responses.post(f"{BASE}/records/batch", body=requests.ConnectionError("refused"))
    transport = RecordingTransport(max_retries=5, retry_backoff=1.0, retry_backoff_max=5.0)
    (outcome,) = transport.send_batch([item(0)])
    assert isinstance(outcome, XaseError) and outcome.code == "MAX_RETRIES"
    assert outcome.details["last_error"]["code"] == "NETWORK_ERROR"
    ceilings = [1, 2, 4, 5, 5]
    assert len(transport.waits) == 5 and all(0 <= wait <= ceiling for wait, ceiling in zip(transport.waits, ceilings))


@pytest.mark.parametrize("status, code", [(401, "UNAUTHORIZED"), (403, "FORBIDDEN"), (400, "VALIDATION_ERROR")])
@responses.activate
def test_client_errors_are_never_retried(status: int, code: str) -> None:
    responses.post(f"{BASE}/records/batch", status=status, json={"error": {"code": code, "message": "no", "request_id": "req_1"}})
    transport = RecordingTransport()
    outcomes = transport.send_batch([item(0), item(1)])
    assert [o.code for o in outcomes] == [code, code]  # type: ignore[union-attr]
    assert outcomes[0].status_code == status and outcomes[0].details["request_id"] == "req_1"  # type: ignore[union-attr]
    assert len(responses.calls) == 1 and transport.retries == 0


@responses.activate
def test_only_the_failed_items_of_a_batch_are_resent() -> None:
    retry_me = {"success": False, "status": 503, "error": {"code": "SIGNING_UNAVAILABLE", "message": "kms"}}
    final = {"success": False, "status": 409, "error": {"code": "IDEMPOTENCY_CONFLICT", "message": "used"}}
    responses.post(f"{BASE}/records/batch", json={"results": [ok(0), retry_me, final]})
    responses.post(f"{BASE}/records/batch", json={"results": [ok(1)]})
    transport = RecordingTransport()
    outcomes = transport.send_batch([item(0), item(1), item(2)])
    assert sent_keys(responses.calls[1]) == [item(1)["idempotency_key"]]
    assert outcomes[0] == ok(0) and outcomes[1] == ok(1)
    assert isinstance(outcomes[2], XaseError) and outcomes[2].code == "IDEMPOTENCY_CONFLICT"


@responses.activate
def test_stop_event_ends_retrying_at_once() -> None:
    responses.post(f"{BASE}/records/batch", body=requests.ConnectionError("refused"))
    stop = threading.Event()
    stop.set()
    transport = Transport(XaseClientConfig.build(api_key="xase_pk_test", base_url=BASE, max_retries=50, retry_backoff=60), stop)
    (outcome,) = transport.send_batch([item(0)])
    assert isinstance(outcome, XaseError) and outcome.code == "NETWORK_ERROR" and len(responses.calls) == 1


@responses.activate
def test_single_record_uses_the_idempotency_key_header() -> None:
    responses.post(f"{BASE}/records", status=201, json=ok(0))
    result = RecordingTransport().send_one(item(0))
    assert result["success"] is True
    request = responses.calls[0].request
    assert request.headers["Idempotency-Key"] == item(0)["idempotency_key"] and "idempotency_key" not in json.loads(request.body)
    assert request.headers["X-API-Key"] == "xase_pk_test" and request.headers["User-Agent"].startswith("xase-python/")


@responses.activate
def test_large_bodies_are_gzipped() -> None:
    responses.post(f"{BASE}/records/batch", json={"results": [ok(n) for n in range(50)]})
    RecordingTransport().send_batch([item(n) for n in range(50)])
    assert responses.calls[0].request.headers["Content-Encoding"] == "gzip"


@responses.activate
def test_a_429_holds_back_every_batch_of_the_client_for_its_retry_after() -> None:
    """Two batches are on their way at once by default: the one refused waits its Retry-After, and so does the other."""
    responses.post(f"{BASE}/records/batch", status=429, json={"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}}, headers={"Retry-After": "3"})
    responses.post(f"{BASE}/records/batch", json={"results": [ok(0)]})
    responses.post(f"{BASE}/records/batch", json={"results": [ok(1)]})
    transport = RecordingTransport()  # records the waits instead of sleeping them
    transport.send_batch([item(0)])
    waits_of_the_first = len(transport.waits)
    assert transport.send_batch([item(1)]) == [ok(1)]
    assert len(transport.waits) == waits_of_the_first + 1 and 2.5 < transport.waits[-1] <= 3.0  # the other batch waited too


def test_an_error_body_of_any_shape_is_a_typed_error() -> None:
    """A broken or hostile ledger may answer any JSON: an unhashable error code was a TypeError in the SDK."""
    from xase.transport import error_from_body

    for code in ({}, [], 5, None, "NOT_A_CODE"):
        failure = error_from_body(400, {"error": {"code": code, "message": "m"}})
        assert failure.code == "VALIDATION_ERROR"
    for details in ([1], "ab", 7, [[1, 2]]):  # dict() of these raised, or made a dict of nonsense
        assert error_from_body(429, {"error": {"code": "RATE_LIMIT_EXCEEDED", "details": details}}).details == {}


def test_the_knowledge_client_reads_an_error_body_of_any_shape() -> None:
    from xase.knowledge.integration import _error

    for body in (b'{"error": {"code": {}, "message": [], "details": "ab"}}', b'{"error": []}', b"[]", b"not json", b'{"error": null}'):
        failure = _error("GET", "http://l/x", 502, body)
        assert failure.code == "SERVER_ERROR" and failure.details == {} and "GET http://l/x: 502" in str(failure)
    named = _error("GET", "http://l/x", 404, b'{"error": {"code": "NOT_FOUND", "message": "no kb", "details": {"kb_id": "1"}}}')
    assert (named.code, named.details) == ("NOT_FOUND", {"kb_id": "1"})
