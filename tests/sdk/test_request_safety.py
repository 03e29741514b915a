"""What the SDK sends stays where the user pointed it (issue 12): no redirects followed, no id that rewrites the path."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import xase
from tests.conftest import ScriptedServer
from xase import XaseClient, XaseError

FORGED = {"success": True, "transaction_id": "forged", "timestamp": "2026-01-01T00:00:00.000Z", "record_hash": "0" * 64,
          "chain_position": "genesis", "receipt_url": "http://evil/receipts/forged"}  # fmt: skip


@pytest.fixture(params=[301, 302, 307, 308])
def servers(request: pytest.FixtureRequest) -> Iterator[tuple[ScriptedServer, ScriptedServer]]:
    """An attacker's server answering a forged result, and a 'ledger' redirecting every request to it."""
    attacker = ScriptedServer(lambda _s: (200, {"Content-Type": "application/json"}, json.dumps({**FORGED, "results": [FORGED]}).encode()))
    ledger = ScriptedServer(lambda s: (request.param, {"Location": attacker.url + s.seen[-1]["path"]}, b""))
    yield ledger, attacker
    ledger.stop()
    attacker.stop()


def test_record_refuses_redirects_and_sends_nothing_elsewhere(servers: tuple[ScriptedServer, ScriptedServer]) -> None:
    ledger, attacker = servers
    errors: list[XaseError] = []
    client = XaseClient(api_key="xase_pk_secret_not_to_leak", base_url=ledger.url, on_error=errors.append, max_retries=0)
    with pytest.raises(XaseError) as caught:
        client.record({"policy": "p", "input": {"a": 1}, "output": {"b": 2}}, skip_queue=True)
    assert caught.value.code == "UNEXPECTED_REDIRECT" and caught.value.details["location"].startswith(attacker.url)
    client.record({"policy": "p", "input": {"a": 2}, "output": {"b": 2}})
    client.close(timeout_s=5)
    assert [error.code for error in errors] == ["UNEXPECTED_REDIRECT"]
    assert client.get_stats()["sent"] == 0
    assert attacker.seen == [] and len(ledger.seen) == 2


def test_data_access_client_refuses_redirects(servers: tuple[ScriptedServer, ScriptedServer]) -> None:
    ledger, attacker = servers
    with xase.Client(api_key="xase_pk_secret_not_to_leak", base_url=ledger.url, max_retries=0) as client:
        with pytest.raises(XaseError) as caught:
            client.access(dataset="cardio-2024", purpose="model_training")
    assert caught.value.code == "UNEXPECTED_REDIRECT"
    assert attacker.seen == []


SESSION = {"session_id": "sess_1", "dataset_id": "ds_1", "purpose": "model_training", "expires_at": "2099-01-01T00:00:00.000Z",
           "record_id": "r", "batch": [], "has_more": False}  # fmt: skip


@pytest.mark.parametrize(
    "record_id, sent",
    [
        ("../../../export", "/sessions/sess_1/records/..%2F..%2F..%2Fexport"),
        ("x?cursor=1", "/sessions/sess_1/records/x%3Fcursor%3D1"),
        ("a#b", "/sessions/sess_1/records/a%23b"),
        ("dossier été/2", "/sessions/sess_1/records/dossier%20%C3%A9t%C3%A9%2F2"),
    ],
)
def test_ids_are_quoted_as_one_path_segment(record_id: str, sent: str) -> None:
    ledger = ScriptedServer(lambda _s: (200, {"Content-Type": "application/json"}, json.dumps(SESSION).encode()))
    try:
        with xase.Client(api_key="xase_pk_k", base_url=ledger.url + "/api/xase/v1", max_retries=0) as client:
            client.session("../admin").get_record(record_id)
        assert [hit["path"] for hit in ledger.seen] == ["/api/xase/v1/sessions/..%2Fadmin", "/api/xase/v1" + sent]
    finally:
        ledger.stop()


@pytest.mark.parametrize("record_id", ["..", ".", ""])
def test_dot_segments_are_not_ids(record_id: str) -> None:
    ledger = ScriptedServer(lambda _s: (200, {"Content-Type": "application/json"}, json.dumps(SESSION).encode()))
    try:
        with xase.Client(api_key="xase_pk_k", base_url=ledger.url, max_retries=0) as client:
            session = client.session("sess_1")
            with pytest.raises(XaseError) as caught:
                session.get_record(record_id)
        assert caught.value.code == "VALIDATION_ERROR" and len(ledger.seen) == 1
    finally:
        ledger.stop()
