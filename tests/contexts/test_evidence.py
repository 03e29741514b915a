"""Tamper-evident agent context: heads sealed into the chain, tampering found by `xase-ledger verify`, and a decision
whose receipt, context and turns verify offline with `xase verify`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api, LedgerProcess
from tests.contexts.conftest import Store, new_store
from xase import XaseClient
from xase.contexts import verify_decision_context, verify_history
from xase.errors import ValidationError
from xase.evidence import VerificationError

MESSAGE = "com.example.Message"


def conversation(store: Store) -> tuple[str, list[Any]]:
    client = store.client()
    context = client.create_context()
    turns = [client.append_turn(context.context_id, {"type_id": MESSAGE, "type_version": 1, "data": {"role": role, "text": text}})
             for role, text in (("user", "Can I get a loan of 5000?"), ("assistant", "Checking your file."), ("tool", "score=712"))]  # fmt: skip
    return context.context_id, turns


def seals(store: Store, head: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The tenant's context-seal records, once one of them seals `head` (an AppendedTurn; the sealer runs every 0.3 s here)."""
    api = Api(store.ledger, store.key)
    wanted = {"context_id": head.context_id, "turn_id": head.turn_id, "depth": head.depth, "turn_hash": head.turn_hash}
    deadline = time.monotonic() + timeout
    while True:
        ids = [record["transaction_id"] for record in api.all_records() if record["record"]["policy_id"] == "xase.cxdb"]
        found = [api.get(f"/records/{transaction_id}").json() for transaction_id in ids]
        if any(wanted in record["context"]["cxdb_heads"] for record in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_heads_are_sealed_into_the_tenants_chain(store: Store) -> None:
    context_id, turns = conversation(store)
    found = seals(store, turns[-1])
    heads = [head for record in found for head in record["context"]["cxdb_heads"]]
    assert {"context_id": context_id, "turn_id": turns[-1].turn_id, "depth": 3, "turn_hash": turns[-1].turn_hash} in heads, "not sealed within 20 s"
    assert all(record["transaction_id"].startswith("cxs_") for record in found)
    # a client cannot write what passes for a seal
    api = Api(store.ledger, store.key)
    forged = api.post("/records", json={"policy": "xase.cxdb", "input": {}, "output": {}, "context": {"cxdb_heads": []}})
    assert forged.status_code == 400
    forged = api.post("/records", json={"policy": "p", "transaction_id": "cxs_1", "input": {}, "output": {}})
    assert forged.status_code == 400


def test_verify_finds_tampering_with_a_blob_or_a_turn(contexts_ledger: LedgerProcess) -> None:
    store = new_store(contexts_ledger)
    tenant = store.tenant_id
    _, turns = conversation(store)
    assert seals(store, turns[-1])
    done = contexts_ledger.cli("verify", "--tenant", tenant)
    assert "contexts OK (3 turns, 3 blobs" in done.stdout, done.stdout

    middle = turns[1]
    original = contexts_ledger.sql("SELECT data FROM cxdb_blobs WHERE tenant_id = :t AND content_hash = :h", t=tenant, h=middle.content_hash)[0]["data"]
    forged = bytes(original).replace(b"Checking", b"Approving")
    contexts_ledger.sql("UPDATE cxdb_blobs SET data = :d WHERE tenant_id = :t AND content_hash = :h", d=forged, t=tenant, h=middle.content_hash)
    broken = contexts_ledger.cli("verify", "--tenant", tenant, check=False)
    assert broken.returncode == 1 and f"contexts BROKEN: turn {middle.turn_id}: blob content_hash_b3" in broken.stdout, broken.stdout

    # a careful forger rewrites the blob under its new hash and recomputes every turn hash: the sealed head still differs
    from xase.contexts import history

    new_hash = history.content_hash(forged)
    contexts_ledger.sql("INSERT INTO cxdb_blobs (tenant_id, content_hash, compression, uncompressed_len, data, created_at) "
                        "VALUES (:t, :h, 0, :n, :d, 'x')", t=tenant, h=new_hash, n=len(forged), d=forged)  # fmt: skip
    parent_hash = None
    for depth, turn in enumerate(turns, start=1):
        content = new_hash if turn is middle else turn.content_hash
        parent_hash = history.turn_hash(parent_hash, depth, MESSAGE, 1, content)
        contexts_ledger.sql("UPDATE cxdb_turns SET content_hash = :c, turn_hash = :h WHERE tenant_id = :t AND turn_id = :id",
                            c=content, h=parent_hash, t=tenant, id=int(turn.turn_id))  # fmt: skip
    contexts_ledger.sql("UPDATE cxdb_contexts SET head_turn_hash = :h WHERE tenant_id = :t", h=parent_hash, t=tenant)
    rewritten = contexts_ledger.cli("verify", "--tenant", tenant, check=False)
    assert rewritten.returncode == 1 and "no longer matches the turns" in rewritten.stdout, rewritten.stdout


def test_verify_finds_a_deleted_turn_and_a_moved_head(contexts_ledger: LedgerProcess) -> None:
    store = new_store(contexts_ledger)
    tenant = store.tenant_id
    context_id, turns = conversation(store)
    contexts_ledger.sql("UPDATE cxdb_contexts SET head_depth = 2 WHERE tenant_id = :t", t=tenant)
    moved = contexts_ledger.cli("verify", "--tenant", tenant, check=False)
    assert moved.returncode == 1 and f"context {context_id}: head turn {turns[-1].turn_id} does not match" in moved.stdout, moved.stdout
    contexts_ledger.sql("UPDATE cxdb_contexts SET head_depth = 3 WHERE tenant_id = :t", t=tenant)
    contexts_ledger.sql("DELETE FROM cxdb_turns WHERE tenant_id = :t AND turn_id = :id", t=tenant, id=int(turns[0].turn_id))
    deleted = contexts_ledger.cli("verify", "--tenant", tenant, check=False)
    assert deleted.returncode == 1 and f"turn {turns[1].turn_id}: parent turn {turns[0].turn_id} is missing" in deleted.stdout, deleted.stdout


def _xase_verify(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xase.cli", "verify", *args], capture_output=True, text=True, timeout=60)


def test_a_decision_on_a_forked_branch_verifies_offline_with_its_history(store: Store, tmp_path: Path) -> None:
    client = store.client()
    _, turns = conversation(store)
    branch = client.fork(turns[1].turn_id)  # the agent reconsiders after "Checking your file."
    decided_on = client.append_turn(branch.context_id, {"type_id": MESSAGE, "type_version": 1, "data": {"role": "tool", "text": "score=540"}})
    with XaseClient(api_key=store.key, base_url=store.ledger.base_url) as xase:
        xase.record({"policy": "credit_policy_v4", "input": {"amount": 5000}, "output": {"decision": "DENIED"}, "transaction_id": "loan-42",
                     "context": decided_on.evidence_context})  # fmt: skip
        xase.flush()
    api = Api(store.ledger, store.key)
    receipt = api.get("/receipts/loan-42").json()
    context = api.get("/records/loan-42").json()["context"]  # as recorded (with the SDK's runtime context)
    history_turns = client.history(branch.context_id, decided_on.turn_id)
    assert [turn["depth"] for turn in history_turns] == [1, 2, 3] and history_turns[-1]["turn_hash"] == decided_on.turn_hash
    assert verify_decision_context(context, history_turns)["turn_id"] == decided_on.turn_id

    files = {name: tmp_path / f"{name}.json" for name in ("receipt", "context", "turns")}
    for name, value in (("receipt", receipt), ("context", context), ("turns", {"turns": history_turns})):
        files[name].write_text(json.dumps(value))
    done = _xase_verify(str(files["receipt"]), "--context", str(files["context"]), "--turns", str(files["turns"]))
    assert done.returncode == 0 and "its whole history verified" in done.stdout, done.stdout + done.stderr

    # the parent branch's history is another history: it does not verify against this decision
    other = client.history(turns[0].context_id)
    with pytest.raises(VerificationError, match=r"turn_hash|head"):
        verify_decision_context(context, other)
    # one changed word in the history the auditor was handed
    history_turns[1]["bytes_b64"] = history_turns[0]["bytes_b64"]
    files["turns"].write_text(json.dumps({"turns": history_turns}))
    tampered = _xase_verify(str(files["receipt"]), "--context", str(files["context"]), "--turns", str(files["turns"]))
    assert tampered.returncode == 1 and "content_hash_b3" in tampered.stderr, tampered.stderr


def test_verify_history_names_each_failure(store: Store) -> None:
    client = store.client()
    context_id, turns = conversation(store)
    good = client.history(context_id)
    assert verify_history(good)["turn_id"] == turns[-1].turn_id

    def broken(change: Any) -> list[dict[str, Any]]:
        copy = [dict(turn) for turn in good]
        change(copy)
        return copy

    cases = {
        "turn_hash": lambda t: t[2].update(turn_hash="0" * 64),
        "depth": lambda t: t[1].update(depth=5),
        "parent": lambda t: t.pop(1),
        "bytes_b64": lambda t: t[0].update(bytes_b64="!!"),
        "format": lambda t: t[0].update(declared_type=None),
    }
    for step, change in cases.items():
        with pytest.raises(VerificationError) as failure:
            verify_history(broken(change))
        assert failure.value.step == step, (step, failure.value)
    retyped = broken(lambda t: t[0]["declared_type"].update(type_version=2))  # shares the nested dict: restore after
    with pytest.raises(VerificationError, match="turn_hash"):
        verify_history(retyped)


def test_record_refuses_a_cxdb_context_without_the_turn_hash() -> None:
    with XaseClient(api_key="xase_pk_x", base_url="http://127.0.0.1:9", capture_runtime_context=False) as xase:
        for ref in ({"context_id": "1", "turn_id": "2"}, {"context_id": "1", "turn_id": "2", "turn_hash": "abc"}, "1/2"):
            with pytest.raises(ValidationError, match=r"context\.cxdb"):
                xase.record({"policy": "p", "input": {}, "output": {}, "context": {"cxdb": ref}})


def test_seal_contexts_seals_now_where_the_server_does_not(tmp_path: Path) -> None:
    from ledger_service import auth, tenants
    from ledger_service.app import create_app
    from ledger_service.db import write_transaction

    url, key_path = f"sqlite:///{tmp_path}/ledger.db", str(tmp_path / "key.pem")
    app = create_app({"database_url": url, "signing_key_path": key_path, "cxdb_seal_interval": 0})
    with write_transaction(app.extensions["xase"].engine) as conn:
        tenant = tenants.create_tenant(conn, "acme")
        key = auth.create_api_key(conn, tenant["id"], "k", ["contexts"])["secret"]
    http = app.test_client()
    assert http.post("/cxdb/v1/contexts/create", json={}, headers={"X-API-Key": key}).status_code == 201
    turn = {"type_id": MESSAGE, "type_version": 1, "data": {"role": "user", "text": "hi"}}
    assert http.post("/cxdb/v1/contexts/1/append", json=turn, headers={"X-API-Key": key}).status_code == 201

    def cli(*args: str) -> str:
        command = [sys.executable, "-m", "ledger_service.cli", "--database-url", url, "--signing-key", key_path, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout

    assert "sealed 1 context head(s)" in cli("seal-contexts")
    assert "sealed 0 context head(s)" in cli("seal-contexts")  # nothing moved since
    assert "contexts OK (1 turns, 1 blobs, 1 contexts, 1 sealed heads)" in cli("verify")
