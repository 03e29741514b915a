"""Fuzz every endpoint of a real ledger with hostile requests and check what must always hold.

The world: tenant A (the caller) owns records, a dataset and a session; tenant B
owns the same kinds of things, all tagged with MARKER; tenant C holds a dataset
shared with A and B. Hypothesis draws requests against every route of the app,
sent as A (or with no key, a garbage key, a revoked key): path ids are A's,
B's or garbage; bodies are a valid template with one field broken, random JSON,
raw bytes, or a known trap (NaN, duplicate keys, deep nesting, lone surrogates,
invalid UTF-8, huge numbers and strings, gzip garbage).

Always: no 5xx; every error is the JSON error body; B's data (MARKER) never
appears in an answer to A; B's ids are 404 (or refused before any lookup),
never 403 or 410, which would confirm they exist; a revoked key is refused
(401, or 400/404/405/413 for a request refused before any key is looked at).
Afterwards: B's chain is unchanged, every record new in A's chain was
acknowledged by a 2xx answer, and every chain verifies.
"""

from __future__ import annotations

import gzip
import json
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import Api, LedgerProcess
from xase import wire

__all__ = ["World", "FuzzReport", "fuzz", "ROUTES"]

MARKER = "zzbobsecret7f3a"
SCOPES = ["records:write", "records:read", "payloads:erase", "sessions", "knowledge", "contexts"]
PURPOSE = "model_training"
PUBLIC = ("/health", "/keys", "/metrics", "/cxdb/health")  # answered without a key


@dataclass
class Knowledge:
    """A tenant's encrypted knowledge base, reached through /xtrace (seed 000)."""

    admin_key: str  # x-xtrace-key
    key: str  # a data-plane key with every permission on the base
    key_hash: str
    kb_id: str
    context_id: str

    # A context the server accepts (a public n^2, a secret key that is not plaintext); nobody decrypts in the fuzzer.
    N_SQUARED = (2**127 - 1) ** 2
    CONTEXT: ClassVar[dict[str, str]] = {"type": "PaillierClient", "sk": "aes-ciphertext", "pk": json.dumps({"n_squared": str(N_SQUARED)}),
                                          "config": json.dumps({"embed_len": 16, "key_len": 128})}  # fmt: skip
    CIPHERTEXT = "BQ=="  # base64 of 5, little-endian: below n^2

    @classmethod
    def build(cls, ledger: LedgerProcess, tenant: str, secret: str) -> Knowledge:
        admin_key = ledger.new_api_key(tenant, ["admin"])
        admin = requests.Session()
        admin.headers.update({"x-xtrace-key": admin_key, "x-xtrace-org-id": tenant})
        url = xtrace_url(ledger)
        kb = _ok(admin.post(f"{url}/kbs", json={"name": f"kb-{secrets.token_hex(3)}", "description": secret}, timeout=10))
        created = _ok(admin.post(f"{url}/keys", json={"name": "fuzz", "description": secret}, timeout=10))
        key_hash = created["apiKey"]["hash"]
        _ok(admin.put(f"{url}/keys/{key_hash}/permissions/{kb['id']}", json={"permission": 7}, timeout=10))
        data = requests.Session()
        data.headers["x-api-key"] = created["secretKey"]
        context_id = "ctx-" + secrets.token_hex(4)
        _ok(data.post(f"{url}/exec_context/{tenant}", json={"data": cls.CONTEXT, "context_id": context_id}, timeout=10))
        chunks = [{"chunk_content": secret, "index": [cls.CIPHERTEXT], "meta_data": {"tag1": secret, "n": n}, "name": f"{secret}-{n}"} for n in range(3)]
        _ok(data.post(f"{url}/chunk/{tenant}", json={"kb_id": kb["id"], "chunks": chunks, "context_id": context_id}, timeout=10))
        return cls(admin_key, created["secretKey"], key_hash, kb["id"], context_id)


@dataclass
class AgentContexts:
    """A tenant's agent context store, reached through /cxdb (seed 003): a context with turns and a registry bundle.
    Context and turn ids are per tenant (B's "1" is A's "1"), so only blob hashes can name B's things."""

    context_id: str
    turn_id: str
    content_hash: str
    bundle_id: str

    TYPE_ID = "com.fuzz.Message"

    @classmethod
    def turn(cls) -> dict[str, Any]:
        return {"type_id": cls.TYPE_ID, "type_version": 1, "data": {"role": "user", "text": "hello"}}

    @classmethod
    def bundle(cls, bundle_id: str, doc: str = "") -> dict[str, Any]:
        fields = {"1": {"name": "role", "type": "string"}, "2": {"name": "text", "type": "string", "optional": True, "doc": doc or "d"}}
        return {"registry_version": 1, "bundle_id": bundle_id, "types": {cls.TYPE_ID: {"versions": {"1": {"fields": fields}}}}}

    @classmethod
    def build(cls, ledger: LedgerProcess, key: str, secret: str) -> AgentContexts:
        store = requests.Session()
        store.headers["X-API-Key"] = key
        url = f"http://127.0.0.1:{ledger.port}/cxdb/v1"
        bundle_id = "bundle-" + secrets.token_hex(4)
        assert store.put(f"{url}/registry/bundles/{bundle_id}", json=cls.bundle(bundle_id, secret), timeout=10).status_code == 201
        context = _ok(store.post(f"{url}/contexts/create", json={"base_turn_id": "0"}, timeout=10))
        turn = {**cls.turn(), "data": {"role": "user", "text": secret}}
        answer = _ok(store.post(f"{url}/contexts/{context['context_id']}/append", json=turn, timeout=10))
        return cls(context["context_id"], answer["turn_id"], answer["content_hash"], bundle_id)


def xtrace_url(ledger: LedgerProcess) -> str:
    return f"http://127.0.0.1:{ledger.port}/xtrace/v1"


@dataclass
class Party:
    key: str
    tenant: str
    transaction_ids: list[str]
    dataset_id: str
    dataset_name: str
    grant_id: str
    session_id: str
    knowledge: Knowledge
    contexts: AgentContexts
    tenant_id: str = ""


@dataclass
class World:
    ledger: LedgerProcess
    a: Party
    b: Party
    c_key: str
    c_dataset: str
    c_record_ids: list[str]
    revoked_key: str
    console_cookie: str = ""  # tenant A signed in to /console

    @classmethod
    def build(cls, ledger: LedgerProcess) -> World:
        suffix = secrets.token_hex(3)
        c_key = ledger.new_api_key(f"fuzz-c-{suffix}", SCOPES)
        c = Api(ledger, c_key)
        dataset = _ok(c.post("/datasets", json={"name": f"c-data-{suffix}"}))
        rows = [{"record_id": f"c{n}", "age": 20 + n, "diagnosis": ["flu", "asthma"][n % 2]} for n in range(8)]
        _ok(c.post(f"/datasets/{dataset['id']}/records", json=rows))
        parties = [cls._party(ledger, f"fuzz-{name}-{suffix}", dataset["id"], c, name, secret) for name, secret in (("a", "alice"), ("b", MARKER))]
        revoked = ledger.new_api_key(parties[0].tenant, SCOPES)
        key_id = next(k["id"] for k in ledger.admin("GET", f"/tenants/{parties[0].tenant}/api-keys").json()["api_keys"] if revoked.startswith(k["prefix"]))
        assert ledger.admin("POST", f"/api-keys/{key_id}/revoke").status_code == 200
        signed_in = requests.post(f"http://127.0.0.1:{ledger.port}/console/login", data={"api_key": parties[0].key}, allow_redirects=False, timeout=30)
        world = cls(ledger, parties[0], parties[1], c_key, dataset["id"], [row["record_id"] for row in rows], revoked)
        world.console_cookie = signed_in.cookies.get("xase_console", "")
        return world

    @staticmethod
    def _party(ledger: LedgerProcess, tenant: str, c_dataset: str, c: Api, tag: str, secret: str) -> Party:
        """A tenant's records, dataset, grant and session; `secret` is in their content, never in an id or a name."""
        key = ledger.new_api_key(tenant, SCOPES)
        caller = Api(ledger, key)
        _ok(c.post(f"/datasets/{c_dataset}/grants", json={"tenant": tenant, "purposes": [PURPOSE], "max_duration": "30d"}))
        records = [{"policy_id": f"policy_{secret}", "input": {"who": secret}, "output": {"ok": True}, "transaction_id": f"{tag}_tx_{n}"} for n in range(3)]
        _ok(caller.post("/records/batch", json={"records": records}))
        dataset = _ok(caller.post("/datasets", json={"name": f"{tag}-data", "description": secret}))
        _ok(caller.post(f"/datasets/{dataset['id']}/records", json=[{"record_id": f"{tag}-r{n}", "note": secret} for n in range(3)]))
        grant = _ok(caller.post(f"/datasets/{dataset['id']}/grants", json={"tenant": tenant, "purposes": [PURPOSE], "max_duration": "30d"}))
        session = _ok(caller.post("/sessions", json={"dataset": c_dataset, "purpose": PURPOSE, "duration": "1d"}))
        return Party(key, tenant, [r["transaction_id"] for r in records], dataset["id"], dataset["name"], grant["id"], session["session_id"],
                     Knowledge.build(ledger, tenant, secret), AgentContexts.build(ledger, key, secret), caller.get("/stats").json()["tenant_id"])  # fmt: skip

    def chain_ids(self, key: str) -> list[str]:
        return [record["transaction_id"] for record in Api(self.ledger, key).all_records()]

    def verifies(self, key: str) -> bool:
        return Api(self.ledger, key).get("/verify", timeout=120).json()["ok"] is True


def _ok(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


# ---------------------------------------------------------------- what a request is made of


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # the app's rule with {placeholders}
    body: Optional[Callable[[World], Any]] = None  # a valid body to break


_HASH = "ab" * 32
# What a decision may cite (`xase.references`), well-formed (resolving or not: claims) and of every wrong shape (a 400).
_REFERENCES = [
    {"cxdb": {"context_id": "1", "turn_id": "1", "turn_hash": _HASH}}, {"cxdb": {"context_id": "1", "turn_id": "424242", "turn_hash": _HASH}},
    {"retrieval": "ret_" + "0" * 24}, {"retrieval": ["ret_" + "1" * 24, "ret_" + "2" * 24]}, {"data_access": "acc_" + "3" * 24},
    {"cxdb": {"turn_id": "\u00b2"}}, {"cxdb": {"context_id": "1", "turn_id": "\u0661\u0662", "turn_hash": _HASH}}, {"cxdb": None},
    {"cxdb": {"context_id": "1", "turn_id": "0", "turn_hash": "0" * 64}}, {"cxdb": {"context_id": "1", "turn_id": "2"}}, {"retrieval": 5},
    {"retrieval": "ret_made_up"}, {"retrieval": []}, {"data_access": ["acc_" + "4" * 24] * 101}, {"cxdb": "1/2"},
]  # fmt: skip
# Policies a reader could take for the ledger's own (`xase.`): all refused.
_LOOK_ALIKES = [" xase.retrieval", "x\u0430se.retrieval", "xase\uff0eretrieval", "xase\u200b.retrieval", "xase\u2024cxdb", "\uff58ase.cxdb",
                "XASE.seal", "xase", "\u0445\u0430\u0455\u0435.knowledge", "xase\u3002retrieval"]  # fmt: skip


def _decision(_: World) -> dict[str, Any]:
    return {"policy_id": "fuzz_policy", "input": {"amount": 100}, "output": {"decision": "APPROVED"}, "confidence": 0.5,
            "context": {"channel": "fuzz"}}  # fmt: skip


def _otlp_traces(_: World) -> dict[str, Any]:
    """An OTLP/JSON ExportTraceServiceRequest: a chat span, with content, and a span that is no decision."""

    def attribute(key: str, value: Any) -> dict[str, Any]:
        kind = {str: "stringValue", int: "intValue", float: "doubleValue", bool: "boolValue"}[type(value)]
        return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}

    chat = {"traceId": secrets.token_hex(16), "spanId": secrets.token_hex(8), "name": "chat gpt-4o", "kind": 3, "startTimeUnixNano": "1800000000000000000",
            "endTimeUnixNano": "1800000000250000000", "status": {"code": 1},
            "attributes": [attribute("gen_ai.operation.name", "chat"), attribute("gen_ai.request.model", "gpt-4o"), attribute("gen_ai.usage.input_tokens", 12),
                           attribute("gen_ai.request.temperature", 0.2), attribute("gen_ai.input.messages", '[{"role": "user", "content": "hi"}]')],
            "events": [{"name": "gen_ai.choice", "attributes": [attribute("index", 0)]}]}  # fmt: skip
    plain = {"traceId": chat["traceId"], "spanId": secrets.token_hex(8), "name": "GET /", "attributes": [attribute("http.method", "GET")]}
    resource = {"attributes": [attribute("service.name", "fuzz")]}
    return {"resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": [chat, plain]}]}]}


_FORGED_REPORT = {"organisation": "ten_0", "report_version": 1, "checks": [], "statistics": {}, "attestation": {"key_id": "sha256:0", "signature": "AAAA"}}
_OVERRIDE = {"action": "override", "actor": "officer-7", "reason": "fuzz", "details": {"new_outcome": "DENIED"}}
ROUTES = [
    Route("POST", "/records", _decision),
    Route("POST", "/v1/traces", _otlp_traces),
    Route("POST", "/records/{transaction_id}/oversight", lambda w: _OVERRIDE),
    Route("GET", "/records/{transaction_id}/oversight"),
    Route("GET", "/records/{transaction_id}/explanation"),
    Route("PUT", "/oversight/rules/{policy_id}", lambda w: {"two_person": True}),
    Route("GET", "/oversight/rules"),
    Route("GET", "/reports"),
    Route("GET", "/console/"),
    Route("GET", "/console/login"),
    Route("POST", "/console/login", lambda w: {"api_key": "xase_pk_" + "0" * 40}),
    Route("POST", "/console/logout", lambda w: {"csrf": "x"}),
    Route("GET", "/console/decisions"),
    Route("GET", "/console/decisions/{transaction_id}"),
    Route("GET", "/console/decisions/{transaction_id}/receipt.json"),
    Route("GET", "/console/verify"),
    Route("GET", "/console/contexts"),
    Route("GET", "/console/log"),
    Route("GET", "/console/health"),
    Route("GET", "/console/health.json"),
    Route("GET", "/console/data"),
    Route("GET", "/console/knowledge"),
    Route("GET", "/console/contexts/{context_id}"),
    Route("GET", "/console/api/{path}"),
    Route("GET", "/console/static/{filename}"),
    Route("POST", "/reports/page", lambda w: _FORGED_REPORT),
    Route("POST", "/records/batch", lambda w: {"records": [_decision(w), _decision(w)]}),
    Route("GET", "/records"),
    Route("GET", "/records/{transaction_id}"),
    Route("POST", "/records/{transaction_id}/payload/erase", lambda w: {"reason": "fuzz"}),
    Route("GET", "/receipts/{transaction_id}"),
    Route("GET", "/evidence/{transaction_id}"),
    Route("GET", "/blocks/{block_seq}"),
    Route("GET", "/checkpoint"),
    Route("GET", "/log/checkpoint"),
    Route("GET", "/log/keys"),
    Route("GET", "/log/tile/{tile_path}"),
    Route("GET", "/log/proof/inclusion"),
    Route("GET", "/log/proof/consistency"),
    Route("GET", "/log/visibility"),
    Route("PUT", "/log/visibility", lambda w: {"public": True}),  # a public log shows hashes only: the fuzzer still finds no secret
    Route("GET", "/logs/{tenant_id}/checkpoint"),
    Route("GET", "/logs/{tenant_id}/keys"),
    Route("GET", "/logs/{tenant_id}/tile/{tile_path}"),
    Route("GET", "/logs/{tenant_id}/proof/inclusion"),
    Route("GET", "/logs/{tenant_id}/proof/consistency"),
    Route("GET", "/keys"),
    Route("GET", "/verify"),
    Route("GET", "/export"),
    Route("POST", "/datasets", lambda w: {"name": "fuzz-" + secrets.token_hex(4), "description": "d"}),
    Route("GET", "/datasets/{dataset_ref}"),
    Route("POST", "/datasets/{dataset_ref}/records", lambda w: [{"record_id": "x" + secrets.token_hex(3), "age": 1}]),
    Route("POST", "/datasets/{dataset_ref}/grants", lambda w: {"tenant": w.b.tenant, "purposes": [PURPOSE], "max_duration": "1d"}),
    Route("GET", "/datasets/{dataset_ref}/grants"),
    Route("POST", "/datasets/{dataset_ref}/indexes", lambda w: {"fields": ["age"]}),
    Route("POST", "/datasets/{dataset_ref}/grants/{grant_id}/revoke", lambda w: {"reason": "r", "revoked_by": "fuzz"}),
    Route("POST", "/datasets/{dataset_ref}/sessions/{session_id}/revoke", lambda w: {"reason": "r", "revoked_by": "fuzz"}),
    Route("GET", "/datasets/{dataset_ref}/accesses"),
    Route("POST", "/sessions", lambda w: {"dataset": w.c_dataset, "purpose": PURPOSE, "duration": "1h"}),
    Route("GET", "/sessions"),
    Route("GET", "/sessions/{session_id}"),
    Route("GET", "/sessions/{session_id}/stream"),
    Route("GET", "/sessions/{session_id}/records/{record_id}"),
    Route("POST", "/sessions/{session_id}/filter", lambda w: {"filter": {"age": {"$gte": 21}}, "fields": ["age"], "sort": {"age": -1}, "limit": 3}),
    Route("POST", "/sessions/{session_id}/transform",
          lambda w: {"records": w.c_record_ids[:2], "transformation": "anonymize", "parameters": {"fields": ["diagnosis"], "method": "hash"}}),
    Route("POST", "/sessions/{session_id}/operations", lambda w: {"operation_type": "TRAIN", "records": w.c_record_ids[:2], "metadata": {"m": 1}}),
    Route("POST", "/sessions/{session_id}/aggregate", lambda w: {"pipeline": [{"$group": {"_id": "$diagnosis", "n": {"$sum": 1}}}]}),
    Route("POST", "/sessions/{session_id}/close", lambda w: {"reason": "done"}),
    Route("GET", "/grants"),
    Route("POST", "/grants/{grant_id}/decline"),
    Route("POST", "/admin/tenants", lambda w: {"name": "fuzz-t-" + secrets.token_hex(4)}),
    Route("GET", "/admin/tenants"),
    Route("POST", "/admin/tenants/{tenant}/api-keys", lambda w: {"name": "k", "scopes": ["records:write"]}),
    Route("GET", "/admin/tenants/{tenant}/api-keys"),
    Route("POST", "/admin/api-keys/{key_id}/revoke"),
    Route("GET", "/health"),
    Route("GET", "/metrics"),
    Route("GET", "/stats"),
    # Encrypted knowledge bases (seed 000): the data plane, then the admin plane.
    Route("GET", "/xtrace/v1/chunk/{org_id}"),
    Route("POST", "/xtrace/v1/chunk/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id, "chunks": [
        {"chunk_content": "c", "index": [Knowledge.CIPHERTEXT], "meta_data": {"n": 9}, "name": "x"}]}),
    Route("PUT", "/xtrace/v1/chunk/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id,
                                                         "chunk_updates": [{"chunk_id": 1, "chunk_content": "c", "index": [Knowledge.CIPHERTEXT]}]}),
    Route("PATCH", "/xtrace/v1/chunk/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id,
                                                           "chunk_patches": [{"chunk_id": 2, "meta_data": {"seen": True}}]}),
    Route("DELETE", "/xtrace/v1/chunk/{org_id}"),
    Route("POST", "/xtrace/v1/compute_hamming/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id,
                                                                    "query": [Knowledge.CIPHERTEXT], "meta_filter": '{"n": {"$gte": 0}}', "range": [1, 5]}),
    Route("POST", "/xtrace/v1/chunk/meta/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id,
                                                               "meta_filter": '{"n": 1}', "projection": ["chunk_id", "tag1"]}),
    Route("POST", "/xtrace/v1/chunk/meta/page/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id,
                                                                    "meta_filter": {"n": {"$lt": 5}}, "limit": 2, "offset": 0, "sort_by": "n"}),
    Route("DELETE", "/xtrace/v1/chunk/by-meta/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id,
                                                                    "meta_filter": {"n": 0}, "dry_run": True}),
    Route("PATCH", "/xtrace/v1/chunk/by-meta/{org_id}", lambda w: {"kb_id": w.a.knowledge.kb_id, "context_id": w.a.knowledge.context_id,
                                                                   "meta_filter": {"n": 0}, "patch": {"seen": True}, "dry_run": False}),
    Route("POST", "/xtrace/v1/exec_context/{org_id}", lambda w: {"data": Knowledge.CONTEXT, "context_id": "ctx-" + secrets.token_hex(3)}),
    Route("GET", "/xtrace/v1/exec_context/{org_id}"),
    Route("GET", "/xtrace/v1/exec_context/{org_id}/{context_id}"),
    Route("DELETE", "/xtrace/v1/exec_context/{org_id}/{context_id}"),
    Route("GET", "/xtrace/v1/exec_context/{org_id}/{kb_id}/context"),
    Route("GET", "/xtrace/v1/exec_context/{org_id}/{context_id}/kb"),
    Route("POST", "/xtrace/v1/exec_context/{org_id}/{kb_id}/bind/{context_id}"),
    Route("GET", "/xtrace/v1/kbs"),
    Route("POST", "/xtrace/v1/kbs", lambda w: {"name": "kb-" + secrets.token_hex(4), "description": "d"}),
    Route("GET", "/xtrace/v1/kbs/{kb_id}"),
    Route("DELETE", "/xtrace/v1/kbs/{kb_id}"),
    Route("GET", "/xtrace/v1/keys"),
    Route("POST", "/xtrace/v1/keys", lambda w: {"name": "k", "description": "d"}),
    Route("GET", "/xtrace/v1/keys/{key_hash}/permissions"),
    Route("PUT", "/xtrace/v1/keys/{key_hash}/permissions/{kb_id}", lambda w: {"permission": 1}),
    Route("PATCH", "/xtrace/v1/keys/{key_hash}/status/revoke"),
    # The agent context store (seed 003).
    Route("GET", "/cxdb/health"),
    Route("GET", "/cxdb/v1/stats"),
    Route("GET", "/cxdb/v1/contexts"),
    Route("GET", "/cxdb/v1/contexts/{context_id}"),
    Route("GET", "/cxdb/v1/contexts/{context_id}/children"),
    Route("POST", "/cxdb/v1/contexts/create", lambda w: {"base_turn_id": "0"}),
    Route("POST", "/cxdb/v1/contexts", lambda w: {"base_turn_id": "0", "tag": "fuzz"}),
    Route("POST", "/cxdb/v1/contexts/fork", lambda w: {"base_turn_id": w.a.contexts.turn_id}),
    Route("GET", "/cxdb/v1/contexts/{context_id}/turns"),
    Route("POST", "/cxdb/v1/contexts/{context_id}/append", lambda w: AgentContexts.turn()),
    Route("POST", "/cxdb/v1/contexts/{context_id}/turns", lambda w: {**AgentContexts.turn(), "idempotency_key": "k" + secrets.token_hex(3)}),
    Route("POST", "/cxdb/v1/contexts/{context_id}/append_batch", lambda w: {"turns": [AgentContexts.turn(), AgentContexts.turn()]}),
    Route("GET", "/cxdb/v1/blobs/{content_hash}"),
    Route("PUT", "/cxdb/v1/registry/bundles/{bundle_id}", lambda w: AgentContexts.bundle(w.a.contexts.bundle_id)),
    Route("GET", "/cxdb/v1/registry/bundles/{bundle_id}"),
    Route("GET", "/cxdb/v1/registry/types/{type_id}/versions/{type_version}"),
    Route("GET", "/cxdb/v1/registry/types"),
]  # fmt: skip
XTRACE_ADMIN = ("/xtrace/v1/kbs", "/xtrace/v1/keys")  # authenticated by x-xtrace-key and x-xtrace-org-id

# The classes of input the adversarial review of issue 12 found 500s with, so that every run draws them.
_ODD_NUMBERS = st.sampled_from([2**53 + 1, -(2**53) - 1, 2**63, -(2**63) - 1, 2**64, 10**30, 1e308, -1e308, 1.7976931348623157e308,
                                5e-324, -0.0, 1e-300])  # fmt: skip
_ODD_TEXT = st.sampled_from(["\ud800", "a\udfffb", "\ud83d", "\u0661", "\u00b2", "\u0663\u0664", "\u202e", "\x00", "\x1b[2J", "\u2028",
                             "\uff11", "\u0967", "\U0001d7e2", "tx_1\n", "my_key_1234567890\n", *_LOOK_ALIKES])  # fmt: skip


def _deep(operator: str, depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {operator: leaf} if operator != "$and" else {"$and": [leaf]}
    return leaf


# Deep and wide shapes: filters, pipelines and id lists past every cap.
_SHAPES = st.sampled_from([
    _deep("$not", 40, {"$gt": 1}), _deep("$not", 300, {"$gt": 1}), _deep("$and", 200, {"age": 1}), {"age": _deep("$not", 300, {"$gt": 1})},
    {"$or": [{"age": {"$in": list(range(1000))}}] * 40}, {"$or": [{"age": n} for n in range(3000)]}, {"age": {"$in": list(range(5000))}},
    {f"f{n}": n for n in range(2000)}, [{"$group": {"_id": None, **{f"a{n}": {"$sum": "$age"} for n in range(2000)}}}],
    [{"$group": {"_id": "$age", "s": {"$sum": "$big"}}}], [f"id{n}" for n in range(70_000)], list(range(10_000)),
])  # fmt: skip

_SCALARS = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40) | _ODD_NUMBERS | _ODD_TEXT
    | st.sampled_from(["", " ", "\x00", "../../etc/passwd", "%00", "'; DROP TABLE records; --", "é" * 300, "x" * 70_000, "$where", "1e999"])
)  # fmt: skip
_JSON = st.one_of(
    st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12) | _ODD_TEXT, inner, max_size=4),
                 max_leaves=12),
    _SHAPES,
    st.sampled_from(_REFERENCES),
)  # fmt: skip

# Query strings carry JSON too (`stream?filter=`, `sort=`): the same classes, as text, parsed by the ledger.
_QUERY_JSON = st.sampled_from([
    '{"age": NaN}', '{"age": Infinity}', '{"age": 1e400}', '{"age": 9007199254740993}', '{"age": -9223372036854775809}',
    '{"name": "\\ud800"}', '{"\\udfff": 1}', '{"age": 1, "age": 2}', '{"$not":' * 5000 + "{}" + "}" * 5000, '[' * 5000 + ']' * 5000,
    json.dumps({"$or": [{"age": {"$in": list(range(1000))}}] * 40}), json.dumps(_deep("$not", 60, {"$gt": 1})), '{"age": -1}', '{"age": 1}',
    "{", "null", '"x"', "1e999",
])  # fmt: skip

_TRAPS = [
    b'{"policy_id": "p", "input": {"x": NaN}, "output": {}}', b'{"a": Infinity}', b'{"a": 1, "a": 2}', b"\xff\xfe\xfd",
    b'{"policy_id": "\\ud800", "input": {}, "output": {}}', b'{"k": 1e999}', b'{"k": -1e999}', b'{"n": 9007199254740993}',
    b"[" * 50_000 + b"]" * 50_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000, b"null", b"[]", b'"string"', b"0", b"{", b"",
    b'{"records": [' + b"{}," * 2_000 + b"{}]}", b'{"filter": {"$where": "sleep(1)"}}', b'{"pipeline": [{"$out": "x"}]}',
    b'{"filter": ' + b'{"$not": ' * 5_000 + b"{}" + b"}" * 5_001, b'{"filter": {"age": ' + b'{"$not": ' * 5_000 + b'{"$gt": 1}' + b"}" * 5_002,
    b'{"filter": ' + b'{"$and": [' * 3_000 + b"{}" + b"]}" * 3_000 + b"}", b'{"records": ["\\ud800"], "operation_type": "TRAIN"}',
    # Byte-heavy: a 1 MiB turn (compressible, deduplicated: cheap to store, costly to answer), a 1 MiB field anywhere.
    b'{"type_id": "note", "type_version": 1, "data": {"text": "' + b"y" * (1 << 20) + b'"}}', b'{"name": "' + b"z" * (1 << 20) + b'"}',
]  # fmt: skip


@dataclass
class Shot:
    """One fuzz request, and whether its path names something of tenant B."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Optional[bytes]
    auth: str
    foreign: bool

    def replay(self) -> str:
        """Everything needed to send it again."""
        return f"{self.method} {self.path} params={self.params!r} headers={self.headers!r} auth={self.auth} body={self.body[:2000] if self.body else None!r}"


def _ids(world: World, template: str) -> dict[str, tuple[list[str], list[str]]]:
    """For each placeholder of `template`: (ids of the caller's world, ids of tenant B)."""
    a, b = world.a, world.b
    if template.startswith(("/cxdb", "/console/contexts")):  # per-tenant decimal ids: B's would be A's own; bundle ids are names A may create
        return {"context_id": ([a.contexts.context_id, "0"], []), "content_hash": ([a.contexts.content_hash], [b.contexts.content_hash]),
                "bundle_id": ([a.contexts.bundle_id], []), "type_id": ([AgentContexts.TYPE_ID], []), "type_version": (["1", "0"], [])}  # fmt: skip
    return {
        "transaction_id": (a.transaction_ids, b.transaction_ids),
        "dataset_ref": ([a.dataset_id, a.dataset_name, world.c_dataset], [b.dataset_id, b.dataset_name]),
        "grant_id": ([a.grant_id], [b.grant_id]),
        "session_id": ([a.session_id], [b.session_id]),
        "record_id": (world.c_record_ids, []),
        "policy_id": (["fuzz_policy", "xase.oversight"], []),
        "filename": (["console.css", "lib/evidence.js", "lib/vendor/noble-hashes/blake3.js", "../../config.py", "%2e%2e/app.py"], []),
        "path": (
            ["cxdb/v1/contexts", f"cxdb/v1/contexts/{a.contexts.context_id}/turns", "api/xase/v1/records", "admin/tenants", "../admin/tenants", "cxdb/health"],
            [f"api/xase/v1/records/{b.transaction_ids[0]}", f"cxdb/v1/blobs/{b.contexts.content_hash}"],
        ),
        "tenant": ([a.tenant], [b.tenant]),
        "key_id": ([], []),  # never a real key: the fuzzer must not revoke its own world
        "block_seq": (["0", "1"], []),
        "tile_path": (["0/000", "0/000.p/1", "1/000.p/1", "0/x001/000", "0/\u0660\u0660\u0660", "63/x999/999.p/255"], []),
        "org_id": ([a.tenant], [b.tenant]),
        "tenant_id": ([a.tenant_id, a.tenant], [b.tenant_id]),
        "kb_id": ([a.knowledge.kb_id], [b.knowledge.kb_id]),
        "context_id": ([a.knowledge.context_id], [b.knowledge.context_id]),
        "key_hash": ([], [b.knowledge.key_hash]),  # never its own: the fuzzer must not revoke its own world
    }


_HEADER_SAFE = st.characters(codec="latin-1", min_codepoint=33, exclude_categories=("Cc", "Zs"))  # what an HTTP client can send
_URL_SAFE = st.characters(exclude_categories=("Cs",))  # a URL is UTF-8: lone surrogates cannot even be sent
_GARBAGE_ID = st.one_of(
    st.text(_URL_SAFE, min_size=1, max_size=60),
    st.sampled_from(["..", "%2e%2e", "0", "-1", "99999999999999999999999", "x" * 1500, "null", "\u202e", "\u0661", "\u00b2", "\u0663\u0664", "\uff15"]),
)
_PARAM_VALUES = st.one_of(
    st.text(_URL_SAFE, max_size=20), _QUERY_JSON,
    st.sampled_from(["-1", "0", "1e9", "99999999999999999999", "NaN", "\u0661", "\u00b2", "\u0664\u0662", "\uff11", "2026-13-45T00:00:00Z",
                     "1024", "both", "100000", "tlog-proof", "json", "html", "true", "false"]),  # the largest pages and answers; a receipt's formats
)  # fmt: skip
_PARAM_NAMES = ["limit", "cursor", "policy_id", "tenant", "batch_size", "from_seq", "x", "filter", "sort", "fields", "since", "session_id", "receipts",
                "kb_id", "chunk_ids", "projection", "view", "type_hint_mode", "as_type_id", "as_type_version", "before_turn_id", "from_turn_id",
                "include_unknown", "bytes_render", "enum_render", "recursive", "tag", "include_lineage", "index", "size", "old", "format",
                "witnessed", "until"]  # fmt: skip


@st.composite
def shots(draw: st.DrawFn, world: World) -> Shot:
    route = draw(st.sampled_from(ROUTES))
    ids, foreign, path = _ids(world, route.template), False, route.template
    for name in re.findall(r"{(\w+)}", route.template):
        own, theirs = ids[name]
        choice = draw(st.sampled_from(["own"] * 3 * bool(own) + ["theirs"] * 2 * bool(theirs) + ["garbage"]))
        value = draw(st.sampled_from(own)) if choice == "own" else draw(st.sampled_from(theirs)) if choice == "theirs" else draw(_GARBAGE_ID)
        foreign = foreign or choice == "theirs"
        path = path.replace("{" + name + "}", quote(value, safe=""))
    params = draw(st.dictionaries(st.sampled_from(_PARAM_NAMES), _PARAM_VALUES, max_size=3))
    body, content_type = _body(draw, route, world)
    headers = {"Content-Type": content_type} if content_type else {}
    if body is not None and draw(st.integers(0, 40)) == 0:  # large within the cap: refused or not, the connection stays usable
        body += b" " * draw(st.integers(64 * 1024, 512 * 1024))
    if body is not None and draw(st.integers(0, 30)) == 0:
        body = draw(st.sampled_from([gzip.compress(body), b"\x1f\x8b garbage"]))
        headers["Content-Encoding"] = "gzip"
    if draw(st.integers(0, 20)) == 0:
        headers["Idempotency-Key"] = draw(st.text(_HEADER_SAFE, max_size=80))
    auth = draw(st.sampled_from(["a"] * 8 + ["none", "garbage", "revoked"]))
    return Shot(route.method, path, params, headers, body, auth, foreign and not path.startswith("/admin"))


def _body(draw: st.DrawFn, route: Route, world: World) -> tuple[Optional[bytes], Optional[str]]:
    if route.method == "GET":
        return None, None
    content_type = draw(st.sampled_from(["application/json"] * 6 + ["text/plain", "application/x-ndjson", None]))
    kind = draw(st.sampled_from(["valid", "broken", "broken", "broken", "random", "bytes", "trap", "trap"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300)), content_type
    if kind == "trap":
        return draw(st.sampled_from(_TRAPS)), content_type
    if kind == "random" or route.body is None:
        return json.dumps(draw(_JSON)).encode(), content_type
    template = route.body(world)
    if kind == "broken":
        template = _break(draw, template)
    return json.dumps(template).encode(), content_type


def _break(draw: st.DrawFn, value: Any) -> Any:
    """The template with one member replaced, removed, or one unknown member added (at any depth)."""
    if isinstance(value, list) and value:
        index = draw(st.integers(0, len(value) - 1))
        return [*value[:index], _break(draw, value[index]), *value[index + 1 :]]
    if not isinstance(value, dict) or not value:
        return draw(_JSON)
    name = draw(st.sampled_from(sorted(value)))
    action = draw(st.sampled_from(["replace", "replace", "deeper", "remove", "add", "cite"]))
    if action == "cite" and "policy_id" in value:  # a decision: hostile references or a look-alike policy
        cited = draw(st.sampled_from(_REFERENCES))
        return {**value, "context": cited} if draw(st.booleans()) else {**value, "policy_id": draw(st.sampled_from(_LOOK_ALIKES))}
    broken = dict(value)
    if action == "remove":
        del broken[name]
    elif action == "add":
        broken[draw(st.text(min_size=1, max_size=12))] = draw(_JSON)
    elif action == "deeper":
        broken[name] = _break(draw, value[name])
    else:
        broken[name] = draw(_JSON)
    return broken


# ---------------------------------------------------------------- the oracle


@dataclass
class FuzzReport:
    seed: int = 0  # fuzz(..., random_seed=this) draws the same requests again
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)  # transaction ids a 2xx answer handed out
    revokes: int = 0  # 2xx revocations (each may append evidence to another tenant's chain)
    b_chain_changed: bool = False
    a_unacknowledged: list[str] = field(default_factory=list)
    chains_verify: bool = False


def _collect_ids(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("transaction_id", "evidence_id") and isinstance(item, str):
                into.add(item)
            _collect_ids(item, into)
    elif isinstance(value, list):
        for item in value:
            _collect_ids(item, into)


def _span_ids(body: Optional[bytes], into: set[str]) -> None:
    """The transaction ids of the spans an OTLP request carried: a 2xx acknowledges each decision span's record."""
    try:
        request = json.loads(gzip.decompress(body) if body and body[:2] == b"\x1f\x8b" else body or b"")
    except (ValueError, OSError, EOFError):
        return
    pending = [request]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if isinstance(value.get("traceId"), str) and isinstance(value.get("spanId"), str):
                into.add(f"otel:{value['traceId'].lower()}:{value['spanId'].lower()}")
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


class Fuzzer:
    def __init__(self, world: World) -> None:
        self.world, self.report = world, FuzzReport()
        self.http = requests.Session()

    def fire(self, shot: Shot) -> None:
        world, report = self.world, self.report
        keys = {"a": world.a.key, "none": None, "garbage": "xase_pk_" + "0" * 40, "revoked": world.revoked_key}
        headers = dict(shot.headers)
        base = world.ledger.base_url
        if shot.path.startswith("/admin"):
            headers["X-Admin-Key"] = world.ledger.admin_key if shot.auth == "a" else "wrong-admin-key"
        elif shot.path.startswith(XTRACE_ADMIN):
            base, keys["a"] = f"http://127.0.0.1:{world.ledger.port}", world.a.knowledge.admin_key
            headers["X-Xtrace-Org-Id"] = world.a.tenant
            if keys[shot.auth]:
                headers["X-Xtrace-Key"] = keys[shot.auth]  # type: ignore[assignment]
        elif shot.path.startswith("/xtrace"):
            base, keys["a"] = f"http://127.0.0.1:{world.ledger.port}", world.a.knowledge.key
        elif shot.path.startswith("/cxdb"):
            base = f"http://127.0.0.1:{world.ledger.port}"
        elif shot.path.startswith("/console"):  # signed in by a session cookie, never a key
            base = f"http://127.0.0.1:{world.ledger.port}"
            cookie = {"a": world.console_cookie, "garbage": "0" * 43}.get(shot.auth)
            if cookie:
                headers["Cookie"] = f"xase_console={cookie}"
        if not shot.path.startswith(("/admin", "/console", *XTRACE_ADMIN)) and keys[shot.auth]:
            headers["X-API-Key"] = keys[shot.auth]  # type: ignore[assignment]
        try:
            response = self.http.request(shot.method, base + shot.path, params=shot.params, data=shot.body, headers=headers, timeout=60)
        except requests.ConnectionError as dropped:
            report.violations.append(f"{shot.replay()}: the server dropped the connection ({dropped})")
            self.http = requests.Session()
            return
        report.requests += 1
        report.statuses[response.status_code] += 1
        where = f"{shot.replay()} -> {response.status_code}"
        if response.status_code >= 500:
            report.server_errors.append(f"{where}: {response.text[:300]}")
        if MARKER in response.text:
            report.violations.append(f"{where}: tenant B's data in the answer")
        if response.status_code >= 400 and not _is_error_body(response) and not shot.path.startswith("/console"):  # pages answer pages
            report.violations.append(f"{where}: not the JSON error body: {response.text[:200]}")
        refused = (400, 401, 404, 405, 413, 414, 431)  # 414/431: refused by the HTTP server before any handler
        if shot.auth == "revoked" and not shot.path.startswith(("/admin", "/console", *PUBLIC)) and response.status_code not in refused:
            report.violations.append(f"{where}: a revoked key was not refused")
        if shot.foreign and shot.auth == "a" and (response.status_code < 400 or response.status_code in (403, 410)):
            report.violations.append(f"{where}: tenant B's id was not simply not found")
        if response.status_code < 300 and "X-Evidence-Id" in response.headers:  # reads (records, knowledge) name their evidence in a header
            report.acknowledged.add(response.headers["X-Evidence-Id"])
        if response.status_code < 300 and shot.path.endswith("/v1/traces"):
            _span_ids(shot.body, report.acknowledged)
        if response.status_code < 300 and response.headers.get("Content-Type", "").startswith("application/json"):
            _collect_ids(response.json(), report.acknowledged)
            report.revokes += shot.path.endswith("/revoke")

    def finish(self, b_chain_before: list[str], a_chain_before: list[str]) -> FuzzReport:
        world, report = self.world, self.report
        report.b_chain_changed = _without_seals(world.chain_ids(world.b.key)) != _without_seals(b_chain_before)
        new_in_a = set(_without_seals(world.chain_ids(world.a.key))) - set(a_chain_before)
        report.a_unacknowledged = sorted(new_in_a - report.acknowledged)
        report.violations += [f"A's chain holds a transaction id the wire rules refuse: {tx!r}" for tx in new_in_a if not wire.is_transaction_id(tx)]
        report.chains_verify = all(world.verifies(key) for key in (world.a.key, world.b.key, world.c_key))
        return report


def _without_seals(transaction_ids: list[str]) -> list[str]:
    """A chain's records but the ledger's periodic seals of the tenant's own context heads (written by no request)."""
    return [transaction_id for transaction_id in transaction_ids if not transaction_id.startswith("cxs_")]


def _is_error_body(response: requests.Response) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and bool(error.get("code")) and str(error.get("request_id", "")).startswith("req_")


def fuzz(world: World, requests_to_send: int, random_seed: Optional[int] = None) -> FuzzReport:
    """Send `requests_to_send` hypothesis-drawn requests; returns what held and what did not. The report names the
    seed (drawn when none is given): the same seed draws the same requests, and each failure holds its whole request."""
    fuzzer = Fuzzer(world)
    fuzzer.report.seed = random_seed if random_seed is not None else secrets.randbits(32)
    b_before, a_before = world.chain_ids(world.b.key), world.chain_ids(world.a.key)

    @seed(fuzzer.report.seed)
    @settings(max_examples=requests_to_send, deadline=None, database=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(shots(world))
    def send(shot: Shot) -> None:
        fuzzer.fire(shot)

    send()
    return fuzzer.finish(b_before, a_before)
