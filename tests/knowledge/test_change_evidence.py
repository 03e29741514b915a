"""A knowledge change and its evidence commit together or not at all; retried changes are made once.

An in-process ledger on each backend whose signer fails on demand: the fault lands between the change
and its evidence, inside the one transaction they share.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Callable

import gmpy2
import pytest
from sqlalchemy import text

from ledger_service.errors import SigningUnavailable
from ledger_service.evidence import audit
from tests.knowledge.conftest import Knowledge, chunk, ciphertext, context_data

CHANGES: dict[str, Callable[[Knowledge], Any]] = {
    "insert": lambda k: k.data("POST", "chunk", json={"kb_id": k.kb_id, "context_id": "ctx", "chunks": [chunk(9)]}),
    "update": lambda k: k.data("PUT", "chunk", json={"kb_id": k.kb_id, "context_id": "ctx", "chunk_updates": [{**chunk(8), "chunk_id": 1}]}),
    "patch": lambda k: k.data("PATCH", "chunk", json={"kb_id": k.kb_id, "context_id": "ctx", "chunk_patches": [{"chunk_id": 2, "name": "a longer name"}]}),
    "delete": lambda k: k.data("DELETE", "chunk", query_string=[("kb_id", k.kb_id), ("chunk_ids", "1"), ("chunk_ids", "3")]),
    "delete_by_meta": lambda k: k.data("DELETE", "chunk/by-meta", json={"kb_id": k.kb_id, "context_id": "ctx", "meta_filter": {"tag": "a"}}),
    "patch_by_meta": lambda k: k.data("PATCH", "chunk/by-meta", json={"kb_id": k.kb_id, "context_id": "ctx", "meta_filter": {"tag": "b"}, "patch": {"n": 1}}),
    "store_context": lambda k: k.data("POST", "exec_context", json={"context_id": "new", "data": context_data()}),
    "delete_context": lambda k: k.client.delete("/xtrace/v1/exec_context/acme/spare", headers={"X-API-Key": k.key}),
    "bind": lambda k: k.client.post(f"/xtrace/v1/exec_context/acme/{k.kb_id}/bind/spare", headers={"X-API-Key": k.key}),
    "create_kb": lambda k: k.admin("POST", "kbs", json={"name": "another", "description": ""}),
    "delete_kb": lambda k: k.admin("DELETE", f"kbs/{k.kb_id}"),
    "create_key": lambda k: k.admin("POST", "keys", json={"name": "new key"}),
    "set_permission": lambda k: k.admin("PUT", f"keys/{k.reader}/permissions/{k.kb_id}", json={"permission": 1}),
    "revoke_key": lambda k: k.admin("PATCH", f"keys/{k.reader}/status/revoke"),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_whose_evidence_fails_changes_nothing_and_one_that_succeeds_is_evidenced(knowledge: Knowledge, change: str) -> None:
    before = knowledge.state()
    knowledge.signer.failure = SigningUnavailable("KMS throttled the Sign call")
    failed = CHANGES[change](knowledge)
    assert failed.status_code == 503 and failed.get_json()["error"]["code"] == "SIGNING_UNAVAILABLE"
    assert knowledge.state() == before  # nothing changed: the change rolled back with its evidence
    knowledge.signer.failure = None
    done = CHANGES[change](knowledge)
    assert done.status_code in (200, 201), done.get_json()
    after = knowledge.state()
    assert after["records"] == [before["records"][0] + 1] and after != before
    last = _last_record(knowledge)
    assert last["record"]["decision_type"] == f"knowledge.{change}" and done.headers["X-Evidence-Id"] == last["transaction_id"]


def _last_record(k: Knowledge) -> dict[str, Any]:
    with k.client.application.extensions["xase"].engine.connect() as conn:
        count = audit.stats(conn, k.tenant_id)["records"]
        record: dict[str, Any] = audit.list_records(conn, k.tenant_id, after_seq=count - 2)["records"][-1]
    assert record["record"]["policy_id"] == "xase.knowledge"
    return record


def test_deleting_a_base_commits_to_every_chunk_it_held(knowledge: Knowledge) -> None:
    assert knowledge.admin("DELETE", f"kbs/{knowledge.kb_id}").status_code == 200
    with knowledge.client.application.extensions["xase"].engine.connect() as conn:
        count = audit.stats(conn, knowledge.tenant_id)["records"]
        listed = audit.list_records(conn, knowledge.tenant_id, after_seq=count - 2)["records"][-1]
        record = audit.get_record(conn, knowledge.tenant_id, listed["transaction_id"])
    assert record["payload"]["input"]["kb_id"] == knowledge.kb_id and record["payload"]["output"]["chunk_ids"] == [1, 2, 3, 4]


def test_a_chunk_id_evidence_cannot_carry_is_refused_before_anything_changes(knowledge: Knowledge) -> None:
    before = knowledge.state()
    answer = knowledge.data("DELETE", "chunk", query_string=[("kb_id", knowledge.kb_id), ("chunk_ids", "1"), ("chunk_ids", str(2**53 + 1))])
    assert answer.status_code == 400 and "chunk_ids" in answer.get_json()["error"]["message"]
    assert knowledge.state() == before


@pytest.mark.parametrize("change", ["insert", "update", "patch", "delete", "delete_by_meta"])
def test_a_change_sent_again_under_its_idempotency_key_is_made_once(knowledge: Knowledge, change: str) -> None:
    key = {"Idempotency-Key": "kc_" + secrets.token_hex(16)}
    first = _with_headers(knowledge, change, key)
    assert first.status_code == 200, first.get_json()
    state = knowledge.state()
    again = _with_headers(knowledge, change, key)  # the retry after a lost answer
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert knowledge.state() == state
    other = "patch" if change != "patch" else "insert"
    reused = _with_headers(knowledge, other, key)
    assert reused.status_code == 409 and knowledge.state() == state


def _with_headers(k: Knowledge, change: str, headers: dict[str, str]) -> Any:
    original = k.data

    def data(method: str, path: str, **kwargs: Any) -> Any:
        return original(method, path, headers=headers, **kwargs)

    k.data = data  # type: ignore[method-assign]
    try:
        return CHANGES[change](k)
    finally:
        del k.data


def test_a_json_hamming_answer_at_a_large_key_is_whole(knowledge: Knowledge) -> None:
    """Past 7,150 bits a distance has more than 4,300 digits, where Python's int-to-text stops."""
    n = (1 << 7200) - 1
    assert knowledge.data("POST", "exec_context", json={"context_id": "big", "data": context_data(n)}).status_code == 200
    stored = [{"chunk_content": "c", "index": [ciphertext(3**4000 + i, n)], "meta_data": {}, "name": f"big {i}"} for i in range(2)]
    assert knowledge.data("POST", "chunk", json={"kb_id": knowledge.kb_id, "context_id": "big", "chunks": stored}).status_code == 200
    records = knowledge.state()["records"]
    query = 5**3000
    answer = knowledge.data("POST", "compute_hamming", json={"kb_id": knowledge.kb_id, "context_id": "big", "query": [ciphertext(query, n)]},
                            headers={"Accept": "application/json"})  # fmt: skip
    assert answer.status_code == 200 and answer.headers["X-Evidence-Id"]
    rows = json.loads(answer.get_data(as_text=True), parse_int=gmpy2.mpz)  # Python's own int() stops at 4,300 digits
    expected = [(query * (3**4000 + i)) % (n * n) for i in range(2)]
    assert [row[1] for row in rows] == [5, 6] and [row[0][0] for row in rows] == expected
    assert knowledge.state()["records"] == [records[0] + 1]


@pytest.mark.parametrize("change", ["insert", "update", "patch", "delete", "delete_by_meta", "patch_by_meta"])
def test_every_chunk_change_keeps_the_bases_stored_bytes_equal_to_a_recount(knowledge: Knowledge, change: str) -> None:
    """The quota's count: an insert adds its chunks' bytes (no scan of the base), the rest recount; never a drift."""
    assert CHANGES[change](knowledge).status_code == 200
    with knowledge.client.application.extensions["xase"].engine.connect() as conn:
        counted, recounted = conn.execute(text(
            "SELECT stored_bytes, (SELECT COALESCE(SUM(LENGTH(vector) + LENGTH(content) + LENGTH(name)), 0) FROM knowledge_chunks "
            "WHERE knowledge_chunks.kb_id = knowledge_bases.id) FROM knowledge_bases WHERE id = :kb"), {"kb": knowledge.kb_id}).one()  # fmt: skip
    assert counted == recounted > 0
