"""xase.contexts.Client against a real ledger: the seed's Python example, every method, errors as XaseError codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from blake3 import blake3
from responses.registries import OrderedRegistry

from tests.contexts.conftest import Store
from tests.contexts.test_api import SEED_BUNDLE, two_version_bundle
from xase.contexts import Client, verify_history
from xase.errors import XaseError

MESSAGE = "com.example.Message"

# The client and the example add nothing per backend: the API tests run both.
pytestmark = pytest.mark.parametrize("contexts_ledger", ["sqlite"], indirect=True)


def test_the_seeds_python_example(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XASE_API_KEY", store.key)
    client = Client(store.url)
    ctx = client.create_context()
    turn = client.append_turn(ctx.context_id, {"type_id": MESSAGE, "type_version": 1, "data": {"role": "user", "text": "Hello!"}})
    turns = client.get_turns(ctx.context_id, limit=10)
    assert ctx.head_turn_id == "0" and turn.depth == 1 and turn.context_id == ctx.context_id
    assert [item["data"] for item in turns] == [{"role": "user", "text": "Hello!"}] and len(turns) == 1
    assert turns.meta["head_turn_id"] == turn.turn_id and turns.next_before_turn_id == turn.turn_id
    assert turn.evidence_context == {"cxdb": {"context_id": ctx.context_id, "turn_id": turn.turn_id, "turn_hash": turn.turn_hash, "depth": 1}}


def test_every_method(store: Store) -> None:
    client = store.client()
    root = client.create_context(tag="support-bot")
    appended = client.append_turns(root.context_id, [{"type_id": "com.example.Note", "type_version": 1, "data": {"n": n}} for n in range(2500)])
    assert [turn.depth for turn in appended] == list(range(1, 2501))  # three requests of at most 1000
    fork = client.fork(appended[9].turn_id, tag="support-bot")
    assert (fork.head_turn_id, fork.head_depth) == (appended[9].turn_id, 10)
    assert client.get_context(fork.context_id).lineage["parent_context_id"] == root.context_id  # type: ignore[index]
    assert [c.context_id for c in client.children(root.context_id)] == [fork.context_id]
    assert [c.context_id for c in client.list_contexts(tag="support-bot")] == [fork.context_id, root.context_id]
    page = client.get_turns(root.context_id, limit=5, before_turn_id=appended[100].turn_id, view="raw")
    assert [turn["depth"] for turn in page] == [96, 97, 98, 99, 100] and page.next_before_turn_id == appended[95].turn_id
    history = client.history(fork.context_id)
    assert len(history) == 10 and verify_history(history)["turn_hash"] == fork.head_turn_hash
    assert len(client.history(root.context_id, appended[1499].turn_id, page_size=700)) == 1500
    assert blake3(client.get_blob(appended[0].content_hash)).hexdigest() == appended[0].content_hash  # raw, uncompressed bytes
    assert client.publish_registry(two_version_bundle("cb")) is True and client.publish_registry(two_version_bundle("cb")) is False
    bundle = client.get_registry_bundle("cb")
    assert bundle is not None and bundle.body["bundle_id"] == "cb" and client.get_registry_bundle("cb", etag=bundle.etag) is None
    assert client.get_type(MESSAGE, 2)["fields"]["4"]["name"] == "attachments"
    assert client.list_types() == [{"type_id": MESSAGE, "latest_version": 2, "bundle_id": "cb"}]
    stats = client.stats()
    assert stats["turns"] == 2500 and stats["contexts"] == 2
    assert client.health()["status"] == "ok"
    client.close()


@pytest.mark.parametrize(("call", "code", "status"), [
    (lambda c, ctx: c.get_context("999999"), "NOT_FOUND", 404),
    (lambda c, ctx: c.append_turn(ctx, {"type_id": MESSAGE, "type_version": 1, "data": {}, "parent_turn_id": "77"}), "CONFLICT", 409),
    (lambda c, ctx: c.append_turn(ctx, {"type_id": MESSAGE, "type_version": 1, "data": []}), "UNPROCESSABLE_ENTITY", 422),
    (lambda c, ctx: c.get_turns(ctx, type_hint_mode="latest"), "PRECONDITION_FAILED", 412),
    (lambda c, ctx: c.get_turns(ctx, view="html"), "BAD_REQUEST", 400),
    (lambda c, ctx: c.publish_registry({"registry_version": 7}, "x"), "UNPROCESSABLE_ENTITY", 422),
    (lambda c, ctx: c.get_blob("0" * 64), "NOT_FOUND", 404),
])  # fmt: skip
def test_errors_are_xase_errors_with_the_seeds_codes(store: Store, call: Any, code: str, status: int) -> None:
    client = store.client()
    context = client.create_context().context_id
    with pytest.raises(XaseError) as failure:
        call(client, context)
    assert (failure.value.code, failure.value.status_code) == (code, status)


def test_a_retried_append_adds_its_turn_once(store: Store) -> None:
    client = Client(store.url, api_key=store.key, max_retries=2)
    context = client.create_context().context_id
    append = f"{store.url}/v1/contexts/{context}/append"
    with responses.RequestsMock(registry=OrderedRegistry) as mock:  # a gateway failure, then the real ledger
        mock.add(responses.POST, append, status=503, json={"error": {"code": "SERVER_ERROR", "message": "upstream"}})
        mock.add(responses.PassthroughResponse(responses.POST, append))
        mock.add(responses.PassthroughResponse(responses.POST, append))
        turn = client.append_turn(context, {"type_id": "com.example.Note", "type_version": 1, "data": {"n": 1}})
        again = client.append_turn(context, {"type_id": "com.example.Note", "type_version": 1, "data": {"n": 1},
                                             "idempotency_key": json.loads(mock.calls[1].request.body)["idempotency_key"]})  # fmt: skip
        sent = [json.loads(call.request.body)["idempotency_key"] for call in mock.calls]
    assert sent[0] == sent[1] == sent[2]  # the retry carried the first attempt's key
    assert again == turn and client.get_context(context).head_depth == 1


def test_the_seeds_registry_through_the_client(store: Store) -> None:
    client = store.client()
    assert client.publish_registry(SEED_BUNDLE) is True
    assert client.get_type(MESSAGE, 1)["fields"]["2"] == {"name": "text", "type": "string"}
    with pytest.raises(XaseError) as failure:
        client.get_type(MESSAGE, 3)
    assert failure.value.code == "NOT_FOUND"
