"""Inputs that once reached a 500: each is a 400 now, on both backends, and changes nothing."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import text

from ledger_service import workers
from ledger_service.knowledge import api
from tests.knowledge.conftest import Knowledge, chunk, ciphertext, context_data

NESTED = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "sk",
    [NESTED, "x" * (64 * 1024 + 1), json.dumps(json.dumps({"phi": "1", "mu": "2"}))],
    ids=["nested past the parser", "over the cap", "plaintext encoded twice"],
)
def test_an_execution_context_whose_secret_is_hostile_or_plaintext_is_refused(knowledge: Knowledge, sk: str) -> None:
    before = knowledge.state()
    answer = knowledge.data("POST", "exec_context", json={"context_id": "hostile", "data": {**context_data(), "sk": sk}})
    assert answer.status_code == 400 and answer.get_json()["error"]["details"]["field"] == "data.sk"
    assert knowledge.state() == before


@pytest.mark.parametrize("sort_by", ["\u0661", "meta_data.\u0663", "tag.\u00b2", "\uff11"])
def test_a_sort_path_with_unicode_digits_is_a_name_not_an_index(knowledge: Knowledge, sort_by: str) -> None:
    body = {"kb_id": knowledge.kb_id, "context_id": "ctx", "sort_by": sort_by, "sort_order": "asc", "limit": 10}
    answer = knowledge.data("POST", "chunk/meta/page", json=body)
    assert answer.status_code == 200, answer.get_json()
    assert len(answer.get_json()["results"]) == 4


def _key(k: Knowledge, permission: int, kb_id: str) -> dict[str, str]:
    created = k.admin("POST", "keys", json={"name": f"p{permission}"}).get_json()
    if permission:
        assert k.admin("PUT", f"keys/{created['apiKey']['hash']}/permissions/{kb_id}", json={"permission": permission}).status_code == 200
    return {"X-API-Key": created["secretKey"]}


def test_execution_contexts_follow_the_permissions_of_the_bases_they_serve(knowledge: Knowledge) -> None:
    """A key with no permission anywhere once listed and read every context, its encrypted secret key included."""
    other = knowledge.admin("POST", "kbs", json={"name": "other", "description": ""}).get_json()["id"]
    assert knowledge.client.post(f"/xtrace/v1/exec_context/acme/{other}/bind/spare", headers={"X-API-Key": knowledge.key}).status_code == 200
    none, reader = _key(knowledge, 0, knowledge.kb_id), _key(knowledge, 1, knowledge.kb_id)
    root = "/xtrace/v1/exec_context/acme"
    for path in (root, f"{root}/ctx", f"{root}/ctx/kb"):
        assert knowledge.client.get(path, headers=none).status_code == 403
    assert knowledge.client.post(root, headers=none, json={"context_id": "mine", "data": context_data()}).status_code == 403
    assert knowledge.client.delete(f"{root}/spare", headers=none).status_code == 403
    assert knowledge.client.get(root, headers=reader).get_json()["contexts"] == ["ctx"]  # "spare" serves only a base it cannot read
    assert knowledge.client.get(f"{root}/ctx", headers=reader).get_json()["sk"] == context_data()["sk"]
    assert knowledge.client.get(f"{root}/spare", headers=reader).status_code == 403
    assert knowledge.client.delete(f"{root}/spare", headers=reader).status_code == 403
    assert knowledge.client.get(f"{root}/spare", headers={"X-API-Key": knowledge.key}).status_code == 200  # an admin key may


def _search(k: Knowledge) -> Any:
    return k.data("POST", "compute_hamming", json={"kb_id": k.kb_id, "context_id": "ctx", "query": [ciphertext(3)]})


def test_a_search_past_its_cpu_budget_is_refused_before_any_work_or_evidence(knowledge: Knowledge, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "MAX_DISTANCE_WORK", 40)  # the fixture's four chunks need more
    before = knowledge.state()
    refused = _search(knowledge)
    assert refused.status_code == 400 and refused.get_json()["error"]["details"]["cap"].startswith("stored vector bytes x ciphertext width")
    assert knowledge.state() == before


def test_a_tenant_runs_at_most_two_searches_at_once_and_gets_its_slots_back(knowledge: Knowledge) -> None:
    for _ in range(2 * workers.MAX_HEAVY_PER_TENANT + 1):  # each answered and closed: its slot is free again
        answer = _search(knowledge)
        assert answer.status_code == 200 and answer.get_data()
        answer.close()  # as a WSGI server does once the answer is sent
    with workers.admitted(knowledge.tenant_id, "searches"), workers.admitted(knowledge.tenant_id, "searches"):
        busy = _search(knowledge)
        busy.close()
        assert busy.status_code == 429 and int(busy.headers["Retry-After"]) >= 1
        with workers.admitted("another tenant", "searches"):
            pass  # another organisation is not held back
    last = _search(knowledge)
    last.close()
    assert last.status_code == 200


def test_a_change_past_the_organisations_storage_quota_is_a_413_and_changes_nothing(knowledge: Knowledge) -> None:
    app = knowledge.client.application
    stored = knowledge.state()
    with app.extensions["xase"].engine.connect() as conn:
        total = int(conn.execute(text("SELECT SUM(stored_bytes) FROM knowledge_bases")).scalar_one())
    assert total > 0  # the fixture's four chunks are counted
    app.extensions["xase"] = dataclasses.replace(app.extensions["xase"], settings=dataclasses.replace(app.extensions["xase"].settings,
                                                                                                      tenant_storage_bytes=total + 10))  # fmt: skip
    refused = knowledge.data("POST", "chunk", json={"kb_id": knowledge.kb_id, "context_id": "ctx", "chunks": [chunk(9)]})
    assert refused.status_code == 413 and refused.get_json()["error"]["code"] == "QUOTA_EXCEEDED"
    assert knowledge.state() == stored
    deleted = knowledge.data("DELETE", "chunk", query_string=[("kb_id", knowledge.kb_id), ("chunk_ids", "1")])
    assert deleted.status_code == 200  # shrinking is always allowed
    assert knowledge.data("POST", "chunk", json={"kb_id": knowledge.kb_id, "context_id": "ctx", "chunks": [chunk(9)]}).status_code == 200
