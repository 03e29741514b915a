"""record() validates on the caller's thread; the snapshot is immune to later mutation."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from typing import Any

import pytest

from xase import ValidationError, XaseClient, XaseError
from xase._payload import QueuedRecord, runtime_context, snapshot, wire_item
from xase.evidence import commitment


@pytest.fixture
def client() -> Iterator[XaseClient]:
    # Nothing listens here: these tests never get as far as the network.
    client = XaseClient(api_key="xase_pk_test", base_url="http://127.0.0.1:9/api/xase/v1", atexit_timeout=0)
    yield client
    client.close(timeout_s=0.1)


VALID: dict[str, Any] = {"policy": "credit_policy_v4", "input": {"a": 1}, "output": {"d": "OK"}}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"policy": ""}, "policy"), ({"policy": None}, "policy"), ({"policy": 4}, "policy"),
        ({"input": [1]}, "input"), ({"output": "APPROVED"}, "output"),
        ({"confidence": 1.5}, "confidence"), ({"confidence": -0.1}, "confidence"), ({"confidence": True}, "confidence"),
        ({"confidence": float("nan")}, "confidence"), ({"processing_time": -1}, "processing_time"),
        ({"context": "x"}, "context"), ({"transaction_id": "has spaces"}, "transaction_id"),
        ({"policy_version": 4.2}, "policy_version"), ({"store_payload": "yes"}, "store_payload"),
        ({"policy": "p\ud800"}, "policy"), ({"decision_type": "\udfff"}, "decision_type"), ({"policy_version": "v\ud83d"}, "policy_version"),
    ],
)  # fmt: skip
def test_invalid_payloads_raise_validation_error(client: XaseClient, change: dict[str, Any], field: str) -> None:
    with pytest.raises(XaseError) as caught:
        client.record({**VALID, **change})
    assert caught.value.code == "VALIDATION_ERROR" and caught.value.details["field"] == field
    assert isinstance(caught.value, ValueError)  # catchable as the builtin family too


def test_missing_required_fields_and_unknown_fields(client: XaseClient) -> None:
    for payload in ({"input": {}, "output": {}}, {"policy": "p", "output": {}}, {**VALID, "confidance": 0.9}, "not a dict"):
        with pytest.raises(ValidationError):
            client.record(payload)  # type: ignore[arg-type]
    assert client.get_stats()["size"] == 0


@pytest.mark.parametrize("key", ["short", "has space in it 123", "x" * 65, 42, "my_key_1234567890\n"])  # "$" took a final newline
def test_bad_idempotency_keys(client: XaseClient, key: Any) -> None:
    with pytest.raises(ValidationError):
        client.record(VALID, idempotency_key=key)


@pytest.mark.parametrize("key", ["550e8400-e29b-41d4-a716-446655440000", "my_key_1234567890", "A" * 64])
def test_good_idempotency_keys(client: XaseClient, key: str) -> None:
    assert client.record(VALID, idempotency_key=key) is None


def test_snapshot_is_immune_to_later_mutation() -> None:
    payload = {"policy": "p", "input": {"scores": [1, 2], "nested": {"x": 1}}, "output": {"d": "OK"}, "context": {"k": "v"}}
    copied = snapshot(payload)
    payload["input"]["scores"].append(3)  # type: ignore[index]
    payload["input"]["nested"]["x"] = 2  # type: ignore[index]
    payload["context"]["k"] = "changed"  # type: ignore[index]
    assert copied["input"] == {"scores": [1, 2], "nested": {"x": 1}} and copied["context"] == {"k": "v"}


def test_wire_item_sends_commitments_not_the_payload() -> None:
    record = QueuedRecord(snapshot({**VALID, "transaction_id": "loan_1", "context": {"ip": "1.2.3.4"}}))
    item = wire_item(record, runtime_context(), None)
    assert "input" not in item and "output" not in item
    assert item["input_hash"] == commitment({"a": 1}) and item["commitment"] == "sha256"
    assert item["context"]["ip"] == "1.2.3.4" and item["context"]["runtime"]["sdk"] == "xase-python"
    assert item["idempotency_key"].startswith("tx_")  # derived from transaction_id: stable across processes
    assert wire_item(QueuedRecord(snapshot({**VALID, "transaction_id": "loan_1"})), None, None)["idempotency_key"] == item["idempotency_key"]


def test_caller_context_wins_over_runtime_context() -> None:
    item = wire_item(QueuedRecord(snapshot({**VALID, "context": {"runtime": "mine"}})), runtime_context(), None)
    assert item["context"] == {"runtime": "mine"}


def test_every_record_gets_a_key_once() -> None:
    record = QueuedRecord(snapshot(VALID))
    first = wire_item(record, None, None)["idempotency_key"]
    assert wire_item(record, None, None)["idempotency_key"] == first  # retries reuse it


def _key() -> str:
    return str(wire_item(QueuedRecord(snapshot(VALID)), None, None)["idempotency_key"])


def test_keys_never_repeat_when_the_application_seeds_random_or_forks() -> None:
    random.seed(42)  # what reproducible ML code does at start: two such processes in the same millisecond
    first = _key()
    random.seed(42)
    assert _key() != first
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child draws from a generator seeded again, not its parent's copy
        os.write(writer, _key().encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    in_child, in_parent = os.read(reader, 100).decode(), _key()
    os.close(reader)
    assert in_child[13:] != in_parent[13:]  # the random part (the first 13 characters are k and the millisecond)


def test_hmac_commitments() -> None:
    item = wire_item(QueuedRecord(snapshot(VALID)), None, b"secret")
    assert item["commitment"] == "hmac-sha256" and item["input_hash"] == commitment({"a": 1}, b"secret")


def test_record_after_close_raises(client: XaseClient) -> None:
    client.close(timeout_s=0.1)
    client.close(timeout_s=0.1)  # idempotent
    with pytest.raises(XaseError) as caught:
        client.record(VALID)
    assert caught.value.code == "CLIENT_CLOSED" and client.get_stats()["closed"] is True
