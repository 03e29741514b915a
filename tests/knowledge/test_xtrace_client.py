"""The published XTrace client (xtrace-ai-sdk 0.1.1), unmodified, against a real ledger process: its whole surface."""

from __future__ import annotations

import base64
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import LedgerProcess
from tests.knowledge.conftest import Org, new_org, run
from xase import evidence

pytest.importorskip("xtrace_sdk")
from xtrace_sdk.x_vec.data_loaders.loader import DataLoader
from xtrace_sdk.x_vec.retrievers.retriever import Retriever
from xtrace_sdk.x_vec.utils.execution_context import ExecutionContext

EMBED = 32
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _vectors(count: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.choice([-1.0, 1.0]) for _ in range(EMBED)] for _ in range(count)]


def _hamming(a: list[float], b: list[float]) -> int:
    return sum((x > 0) != (y > 0) for x, y in zip(a, b))


def _chunks(count: int) -> list[dict[str, Any]]:
    return [{"chunk_content": f"document {n}", "name": f"doc-{n}", "meta_data": {"tag1": "even" if n % 2 == 0 else "odd", "tag2": f"n{n}"}}
            for n in range(count)]  # fmt: skip


def _context(scheme: str, key_len: int = 128) -> Any:
    return ExecutionContext.create(passphrase="correct horse", homomorphic_client_type=scheme, embedding_length=EMBED, key_len=key_len)


async def _load(org: Org, secret: str, kb_id: str, context: Any, vectors: list[list[float]]) -> list[int]:
    async with org.client(secret) as client:
        await context.save_to_remote(client)
        loader = DataLoader(context, client)
        index, db = await loader.load_data_from_memory(_chunks(len(vectors)), vectors, disable_progress=True)
        answers = await loader.dump_db(db, index, kb_id)
    return [chunk_id for answer in answers for chunk_id in answer["chunk_ids"]]


def client_b64(number: Any) -> str:
    """A ciphertext as the client sends it: base64 of the little-endian integer."""
    value = int(number)
    return base64.b64encode(value.to_bytes((value.bit_length() + 7) // 8, "little")).decode()


def _receipt(org: Org, key: str, evidence_id: str) -> dict[str, Any]:
    response = requests.get(f"{org.ledger.base_url}/receipts/{evidence_id}", headers={"X-API-Key": key}, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("scheme", ["paillier", "paillier_lookup"])
def test_load_search_and_decrypt_give_the_plaintext_nearest_neighbours(org: Org, scheme: str) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context(scheme)
    vectors = _vectors(24, seed=7)
    ids = run(_load(org, secret, kb_id, context, vectors))
    assert ids == list(range(1, 25))
    query = _vectors(1, seed=99)[0]

    async def search() -> tuple[Any, Any, list[dict[str, Any]]]:
        async with org.client(secret) as client:
            retriever = Retriever(context, client)
            found, scores = await retriever.nn_search_for_ids(query, k=5, kb_id=kb_id, include_scores=True)
            return found, scores, await retriever.retrieve_and_decrypt(found, kb_id)

    found, scores, documents = run(search())
    plain = [_hamming(query, vector) for vector in vectors]
    assert list(scores) == plain  # every encrypted distance decrypts to the plaintext one, in chunk order
    assert sorted(plain[i - 1] for i in found) == sorted(plain)[:5]
    assert [d["chunk_content"] for d in documents] == [f"document {i - 1}" for i in found]
    assert all(d["meta_data"]["tag1"] in ("even", "odd") for d in documents)


def test_a_1024_bit_key_works_end_to_end(org: Org) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context("paillier", key_len=1024)
    vectors = _vectors(6, seed=3)
    run(_load(org, secret, kb_id, context, vectors))

    async def search() -> Any:
        async with org.client(secret) as client:
            return await Retriever(context, client).nn_search_for_ids(vectors[4], k=1, kb_id=kb_id)

    assert run(search()) == [5]


def test_searches_with_filters_ranges_and_json_answers_carry_evidence(org: Org) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context("paillier")
    run(_load(org, secret, kb_id, context, _vectors(10, seed=1)))
    query = context.homomorphic.encrypt_vec_one([1] * EMBED)

    async def searches() -> tuple[Any, Any]:
        async with org.client(secret) as client:
            even = await client.compute_hamming_distances(query, context.id, kb_id, meta_filter={"tag1": "even"})
            ranged = await client.compute_hamming_distances(query, context.id, kb_id, range=[3, 5])
            return even, ranged

    even, ranged = run(searches())
    assert [chunk_id for chunk_id, _ in even] == [1, 3, 5, 7, 9]
    assert [chunk_id for chunk_id, _ in ranged] == [3, 4, 5]
    body = {"kb_id": kb_id, "context_id": context.id, "query": [client_b64(q) for q in query], "meta_filter": '{"tag2": "n0"}'}
    response = requests.post(f"{org.url}/v1/compute_hamming/{org.name}", json=body, headers={"x-api-key": secret, "Accept": "application/json"}, timeout=10)
    assert response.headers["Content-Type"].startswith("application/json") and response.json()[0][1] == 1
    receipt = _receipt(org, secret, response.headers["X-Evidence-Id"])
    evidence.verify_receipt(receipt)
    assert receipt["record"]["policy_id"] == "xase.retrieval"


def test_meta_operations_and_dry_runs(org: Org) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context("paillier")
    run(_load(org, secret, kb_id, context, _vectors(12, seed=2)))

    async def scenario() -> dict[str, Any]:
        async with org.client(secret) as client:
            out: dict[str, Any] = {}
            out["odd"] = await client.meta_search(kb_id, {"tag1": "odd"}, context.id)
            out["content"] = await client.meta_search(
                kb_id, '{"tag2": {"$in": ["n1", "n2"]}}', context.id, return_content=True, projection=["chunk_id", "chunk_content"]
            )
            out["page"] = await client.meta_search_paginated(kb_id, context.id, meta_filter={"tag1": "even"}, limit=2, offset=1, sort_order="asc")
            out["dry_delete"] = await client.delete_chunks_by_meta(kb_id, context.id, {"tag1": "odd"}, dry_run=True)
            out["dry_patch"] = await client.patch_chunks_by_meta(kb_id, context.id, {"tag1": "odd"}, {"reviewed": True}, dry_run=True)
            out["unchanged"] = await client.meta_search(kb_id, {"reviewed": True}, context.id)
            out["patch"] = await client.patch_chunks_by_meta(kb_id, context.id, {"tag2": "n3"}, {"reviewed": True})
            out["reviewed"] = await client.meta_search(kb_id, {"reviewed": True}, context.id)
            out["delete"] = await client.delete_chunks_by_meta(kb_id, context.id, {"tag1": "odd"})
            out["left"] = await client.meta_search_paginated(kb_id, context.id)
            out["patched"] = await client.patch_chunks(kb_id, context.id, [{"chunk_id": 1, "meta_data": {"tag3": "x"}, "name": "renamed"}])
            out["one"] = await client.get_chunk_by_id([1], kb_id, projection=["chunk_id", "name", "meta_data", "index"])
            out["deleted"] = await client.delete_chunks([1, 3], kb_id)
            out["after"] = await client.get_chunk_by_id([1, 3, 5], kb_id, projection=["chunk_id"])
            return out

    out = run(scenario())
    assert [c["chunk_id"] for c in out["odd"]] == [2, 4, 6, 8, 10, 12] and "chunk_content" not in out["odd"][0]
    assert sorted(c["chunk_id"] for c in out["content"]) == [2, 3] and all("chunk_content" in c for c in out["content"])
    assert [c["chunk_id"] for c in out["page"]["results"]] == [3, 5] and out["page"]["total"] == 6 and out["page"]["has_more"] is True
    assert out["dry_delete"]["would_delete_count"] == 6 and out["dry_patch"]["would_update_count"] == 6
    assert out["unchanged"] == []
    assert out["patch"]["updated_count"] == 1 and [c["chunk_id"] for c in out["reviewed"]] == [4]
    assert out["delete"]["deleted_count"] == 6 and out["left"]["total"] == 6
    assert out["one"][0]["name"] == "renamed" and out["one"][0]["meta_data"] == {"tag1": "even", "tag2": "n0", "tag3": "x"}
    assert isinstance(out["one"][0]["index"][0], bytes)
    assert out["deleted"]["deleted_count"] == 2 and [c["chunk_id"] for c in out["after"]] == [5]


def test_updates_re_encrypt_and_search_finds_the_new_vectors(org: Org) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context("paillier")
    vectors = _vectors(5, seed=4)
    run(_load(org, secret, kb_id, context, vectors))
    target = [1.0] * EMBED

    async def scenario() -> Any:
        async with org.client(secret) as client:
            loader = DataLoader(context, client)
            await loader.update_chunks([{"chunk_id": 3, "chunk_content": "rewritten", "meta_data": {"tag1": "new"}}], [target], kb_id)
            retriever = Retriever(context, client)
            found = await retriever.nn_search_for_ids(target, k=1, kb_id=kb_id)
            return found, await retriever.retrieve_and_decrypt(found, kb_id)

    found, documents = run(scenario())
    assert found == [3] and documents[0]["chunk_content"] == "rewritten"


def test_execution_contexts_and_bindings(org: Org) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context("paillier_lookup")
    run(_load(org, secret, kb_id, context, _vectors(2, seed=5)))
    spare = _context("paillier")

    async def scenario() -> dict[str, Any]:
        async with org.client(secret) as client:
            out: dict[str, Any] = {"again": await context.save_to_remote(client), "spare": await spare.save_to_remote(client)}
            out["list"] = await client.list_exec_contexts()
            out["bound"] = await client.register_kb_binding(kb_id, spare.id)
            out["ctx_for_kb"] = await client.get_ctx_for_kb(kb_id)
            out["kbs_for_ctx"] = await client.get_kbs_for_ctx(context.id)
            out["loaded"] = await ExecutionContext.load_from_remote(passphrase="correct horse", context_id=context.id, integration=client)
            try:
                await client.delete_exec_context(context.id)
            except Exception as refused:  # chunks are encrypted under it
                out["refused"] = str(refused)
            out["deleted"] = await client.delete_exec_context(spare.id)
            out["after"] = await client.list_exec_contexts()
            try:
                await client.store_exec_context(context.to_dict_plain(), "plain")
            except Exception as refused:
                out["plain"] = str(refused)
            return out

    out = run(scenario())
    assert out["again"] == context.id and set(out["list"]) == {context.id, spare.id}
    assert out["bound"] is True and set(out["ctx_for_kb"]) == {context.id, spare.id} and out["kbs_for_ctx"] == [kb_id]
    assert out["loaded"].hash() == context.hash()
    assert "409" in out["refused"] and out["deleted"] is True and out["after"] == [context.id]
    assert "400" in out["plain"] and "plaintext" in out["plain"]


def test_permissions_revocation_and_the_admin_plane(org: Org) -> None:
    kb_id, other_kb = org.new_kb(), org.new_kb()
    writer, writer_hash = org.new_key(kb_id, 7)
    reader, reader_hash = org.new_key(kb_id, 1)
    stranger, _ = org.new_key()
    context = _context("paillier")
    run(_load(org, writer, kb_id, context, _vectors(3, seed=6)))

    async def attempt(secret: str, action: str) -> str:
        async with org.client(secret) as client:
            try:
                if action == "read":
                    await client.meta_search(kb_id, {"tag1": "odd"}, context.id)
                elif action == "write":
                    await client.patch_chunks(kb_id, context.id, [{"chunk_id": 1, "name": "x"}])
                else:
                    await client.delete_chunks([1], kb_id)
                return "ok"
            except Exception as refused:
                return str(refused)[:40]

    assert run(attempt(reader, "read")) == "ok"
    assert "403" in run(attempt(reader, "write")) and "403" in run(attempt(reader, "delete"))
    assert "403" in run(attempt(stranger, "read"))

    async def admin() -> dict[str, Any]:
        async with org.admin() as client:
            out = {"kbs": await client.list_kbs(), "kb": await client.get_kb(kb_id), "keys": await client.list_api_keys(),
                   "perms": await client.get_key_permissions(reader_hash)}  # fmt: skip
            await client.set_key_permission(reader_hash, kb_id, 3)
            out["upgraded"] = await client.get_key_permissions(reader_hash)
            await client.revoke_api_key(writer_hash)
            await client.delete_kb(other_kb)
            out["after"] = [kb["id"] for kb in await client.list_kbs()]
            return out

    out = run(admin())
    assert out["kb"]["numberOfVectors"] == 3 and {kb["id"] for kb in out["kbs"]} == {kb_id, other_kb}
    assert {key["hash"] for key in out["keys"]} >= {writer_hash, reader_hash} and all(len(key["firstN"]) == 5 for key in out["keys"])
    assert out["perms"] == [{"keyHash": reader_hash, "knowledgeBaseId": kb_id, "permission": 1}]
    assert out["upgraded"][0]["permission"] == 3 and out["after"] == [kb_id]
    assert run(attempt(reader, "write")) == "ok"
    assert "401" in run(attempt(writer, "read"))


def test_organisations_are_isolated(org: Org) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context("paillier")
    run(_load(org, secret, kb_id, context, _vectors(2, seed=8)))
    other = new_org(org.ledger)
    other_secret, _ = other.new_key()

    async def probe(client_org: Org, key: str) -> list[str]:
        async with client_org.client(key) as client:
            outcomes = []
            calls = (client.meta_search(kb_id, {"tag1": "odd"}, context.id), client.get_chunk_by_id([1], kb_id), client.get_serialized_exec_context(context.id))
            for call in calls:
                try:
                    await call
                    outcomes.append("ok")
                except Exception as refused:
                    outcomes.append(str(refused)[:60])
            return outcomes

    assert all("404" in outcome for outcome in run(probe(other, other_secret)))  # B's own org: A's ids do not exist there
    foreign = Org(org.ledger, org.name, org.admin_key)
    assert all("404" in outcome for outcome in run(probe(foreign, other_secret)))  # A's org named with B's key


def test_a_decision_can_cite_what_it_retrieved(org: Org) -> None:
    kb_id = org.new_kb()
    secret, _ = org.new_key(kb_id, 7)
    context = _context("paillier")
    run(_load(org, secret, kb_id, context, _vectors(4, seed=9)))
    response = requests.get(f"{org.url}/v1/chunk/{org.name}", params={"kb_id": kb_id, "chunk_ids": [2, 4], "projection": ["chunk_id"]},
                            headers={"x-api-key": secret}, timeout=10)  # fmt: skip
    evidence_id = response.headers["X-Evidence-Id"]
    retrieval = _receipt(org, secret, evidence_id)
    evidence.verify_receipt(retrieval)
    decision = {"policy_id": "answer_policy", "input": {"question": "q"}, "output": {"answer": "a"}, "context": {"retrieval": evidence_id}}
    recorded = requests.post(f"{org.ledger.base_url}/records", json=decision, headers={"X-API-Key": secret}, timeout=10)
    assert recorded.status_code == 201, recorded.text
    record = requests.get(f"{org.ledger.base_url}/records/{recorded.json()['transaction_id']}", headers={"X-API-Key": secret}, timeout=10).json()
    assert record["context"]["retrieval"] == evidence_id
    stored = requests.get(f"{org.ledger.base_url}/records/{evidence_id}", headers={"X-API-Key": secret}, timeout=10).json()
    assert stored["payload"]["output"]["chunk_ids"] == [2, 4] and stored["payload"]["input"]["kb_id"] == kb_id


def test_the_example_runs_as_written(org: Org) -> None:
    env = {**os.environ, "XTRACE_ADMIN_KEY": org.admin_key, "XTRACE_ORG_ID": org.name, "XTRACE_URL": org.url, "XASE_BASE_URL": org.ledger.base_url}
    done = subprocess.run([sys.executable, str(EXAMPLES / "knowledge_base.py")], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "retrieved: Debt-to-income above 0.45 is high risk." in done.stdout
    assert done.stdout.count("receipt verified:") == 2 and "(xase.retrieval)" in done.stdout


@pytest.mark.parametrize("forged", [{"transaction_id": "ret_" + "0" * 24}, {"policy_id": "xase.retrieval"}])
def test_clients_cannot_write_retrieval_evidence(org: Org, forged: dict[str, str]) -> None:
    secret, _ = org.new_key()
    record = {"policy_id": "p", "input": {}, "output": {}, **forged}
    response = requests.post(f"{org.ledger.base_url}/records", json=record, headers={"X-API-Key": secret}, timeout=10)
    assert response.status_code == 400, response.text


def test_the_published_client_survives_an_idle_pause_behind_gunicorn(tmp_path: Path) -> None:
    """aiohttp keeps an idle connection 15 s; gunicorn's own keep-alive (2 s) closed it while the client's loop was busy."""
    ledger = LedgerProcess(tmp_path, workers=1).start()
    try:
        org = new_org(ledger)

        async def pause_between_calls() -> Any:
            async with org.admin() as admin:
                await admin.create_kb("first", "")
                time.sleep(3)  # CPU-bound work (loading an execution context) holds the event loop past gunicorn's default keep-alive
                await admin.create_kb("second", "")  # a POST: aiohttp sends it again on no fresh connection
                return await admin.list_kbs()

        assert sorted(kb["name"] for kb in run(pause_between_calls())) == ["first", "second"]
    finally:
        ledger.destroy()
