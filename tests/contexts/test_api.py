"""The /cxdb API of seed 003 through a real ledger process, on SQLite and PostgreSQL: every endpoint, every error."""

from __future__ import annotations

import base64
import secrets
from typing import Any
from urllib.parse import quote

import msgpack
import pytest
from blake3 import blake3

from tests.contexts.conftest import Store, new_store

MESSAGE = "com.example.Message"

# The seed's "Publish Type Registry" example, verbatim.
SEED_BUNDLE = {"registry_version": 1, "bundle_id": "2025-01-30T10:00:00Z", "types": {MESSAGE: {"versions": {"1": {"fields": {
    "1": {"name": "role", "type": "string"}, "2": {"name": "text", "type": "string"}}}}}}}  # fmt: skip


def two_version_bundle(bundle_id: str = "2025-01-30T10:00:00Z#abc123") -> dict[str, Any]:
    """The seed's bundle with two versions and an enum (role as an enum, a unix_ms timestamp, bytes attachments)."""
    v1 = {"1": {"name": "role", "type": "u8", "enum": "com.example.Role"}, "2": {"name": "text", "type": "string", "optional": True},
          "3": {"name": "timestamp", "type": "u64", "semantic": "unix_ms"}}  # fmt: skip
    v2 = {**v1, "4": {"name": "attachments", "type": "array", "items": "bytes", "optional": True},
          "5": {"name": "tokens", "type": "u64", "optional": True}}  # fmt: skip
    return {"registry_version": 1, "bundle_id": bundle_id, "types": {MESSAGE: {"versions": {"1": {"fields": v1}, "2": {"fields": v2}}}},
            "enums": {"com.example.Role": {"1": "system", "2": "user", "3": "assistant", "4": "tool"}}}  # fmt: skip


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    return dict(error)


def new_context(store: Store, **body: Any) -> str:
    response = store.call("POST", "/v1/contexts/create", json={"base_turn_id": "0", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["context_id"])


# ---------------------------------------------------------------- the seed's examples


def test_the_seeds_complete_flow(store: Store) -> None:
    created = store.call("POST", "/v1/contexts/create", json={"base_turn_id": "0"})
    assert created.status_code == 201
    context = created.json()
    assert {key: context[key] for key in ("head_turn_id", "head_depth")} == {"head_turn_id": "0", "head_depth": 0}
    assert context["context_id"].isdigit()
    user = store.append(context["context_id"], "What is the weather?")
    assert user["context_id"] == context["context_id"] and user["depth"] == 1 and user["parent_turn_id"] == "0"
    assert len(user["content_hash"]) == 64 and len(user["turn_hash"]) == 64
    assistant = store.append(context["context_id"], "I need your location to check the weather.", role="assistant")
    assert assistant["depth"] == 2 and assistant["parent_turn_id"] == user["turn_id"]

    page = store.call("GET", f"/v1/contexts/{context['context_id']}/turns", params={"limit": 10}).json()
    assert page["meta"] == {"context_id": context["context_id"], "head_turn_id": assistant["turn_id"], "head_depth": 2,
                            "head_turn_hash": assistant["turn_hash"], "registry_bundle_id": None}  # fmt: skip
    assert [turn["data"] for turn in page["turns"]] == [{"role": "user", "text": "What is the weather?"},
                                                        {"role": "assistant", "text": "I need your location to check the weather."}]  # fmt: skip
    first = page["turns"][0]
    assert first["turn_id"] == user["turn_id"] and first["parent_turn_id"] == "0" and first["depth"] == 1
    assert first["declared_type"] == {"type_id": MESSAGE, "type_version": 1}
    assert first["decoded_as"] is None  # no descriptor: the JSON as it was sent
    assert page["next_before_turn_id"] == user["turn_id"]  # as the seed: the page's oldest turn
    assert store.call("GET", f"/v1/contexts/{context['context_id']}/turns", params={"before_turn_id": user["turn_id"]}).json()["turns"] == []

    # The seed's order: the registry is published after the turns were appended; they still read back typed.
    bundle_path = "/v1/registry/bundles/" + quote(SEED_BUNDLE["bundle_id"], safe="")
    assert store.call("PUT", bundle_path, json=SEED_BUNDLE).status_code == 201
    typed = store.call("GET", f"/v1/contexts/{context['context_id']}/turns", params={"limit": 10}).json()
    assert [turn["decoded_as"] for turn in typed["turns"]] == [{"type_id": MESSAGE, "type_version": 1}] * 2
    assert [turn["data"] for turn in typed["turns"]] == [turn["data"] for turn in page["turns"]]


def test_the_seeds_branching_example_and_fork_isolation(store: Store) -> None:
    context = new_context(store)
    first = store.append(context, "What is the weather?")
    second = store.append(context, "I need your location.", role="assistant")
    fork = store.call("POST", "/v1/contexts/fork", json={"base_turn_id": first["turn_id"]})
    assert fork.status_code == 201
    forked = fork.json()
    assert forked["head_turn_id"] == first["turn_id"] and forked["head_depth"] == 1 and forked["context_id"] != context
    alternate = store.append(forked["context_id"], "The weather is sunny and 72°F.", role="assistant")
    assert alternate["parent_turn_id"] == first["turn_id"] and alternate["depth"] == 2

    parent = store.call("GET", f"/v1/contexts/{context}/turns").json()
    assert [turn["turn_id"] for turn in parent["turns"]] == [first["turn_id"], second["turn_id"]]  # the fork changed nothing here
    assert parent["meta"]["head_turn_id"] == second["turn_id"]
    branch = store.call("GET", f"/v1/contexts/{forked['context_id']}/turns").json()
    assert [turn["turn_id"] for turn in branch["turns"]] == [first["turn_id"], alternate["turn_id"]]
    assert branch["turns"][1]["data"]["text"] == "The weather is sunny and 72°F."
    # the shared turn has one hash in both histories; the branches' heads differ
    assert branch["turns"][0]["turn_hash"] == parent["turns"][0]["turn_hash"] and alternate["turn_hash"] != second["turn_hash"]


def test_the_seeds_registry_example(store: Store) -> None:
    path = "/v1/registry/bundles/2025-01-30T10:00:00Z"
    assert store.call("PUT", path, json=SEED_BUNDLE).status_code == 201
    assert store.call("PUT", path, json=SEED_BUNDLE).status_code == 204  # identical
    got = store.call("GET", path)
    assert got.status_code == 200 and got.json() == SEED_BUNDLE
    assert got.headers["Cache-Control"] == "public, max-age=31536000" and got.headers["ETag"].startswith('"')
    again = store.call("GET", path, headers={"If-None-Match": got.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert store.call("GET", path, headers={"If-None-Match": '"stale"'}).status_code == 200
    descriptor = store.call("GET", f"/v1/registry/types/{MESSAGE}/versions/1").json()
    assert descriptor == {"type_id": MESSAGE, "type_version": 1, "fields": SEED_BUNDLE["types"][MESSAGE]["versions"]["1"]["fields"]}
    assert store.call("GET", "/v1/registry/types").json() == {"types": [{"type_id": MESSAGE, "latest_version": 1, "bundle_id": "2025-01-30T10:00:00Z"}]}
    error_of(store.call("GET", f"/v1/registry/types/{MESSAGE}/versions/9"), 404, "NOT_FOUND")
    error_of(store.call("GET", "/v1/registry/types/com.example.Nope/versions/1"), 404, "NOT_FOUND")
    error_of(store.call("GET", "/v1/registry/bundles/nope"), 404, "NOT_FOUND")
    # with the descriptor, the same JSON is stored with numeric tags
    context = new_context(store)
    store.append(context, "tagged")
    raw = store.call("GET", f"/v1/contexts/{context}/turns", params={"view": "raw"}).json()["turns"][0]
    assert msgpack.unpackb(base64.b64decode(raw["bytes_b64"]), strict_map_key=False) == {1: "user", 2: "tagged"}
    assert raw["encoding"] == 1 and raw["compression"] == 0 and raw["uncompressed_len"] == len(base64.b64decode(raw["bytes_b64"]))


# ---------------------------------------------------------------- registry: evolution and malformed bundles


def test_registry_refuses_invalid_evolution_with_409(store: Store) -> None:
    bundle = two_version_bundle("b1")
    assert store.call("PUT", "/v1/registry/bundles/b1", json=bundle).status_code == 201
    reused = two_version_bundle("b2")
    reused["types"][MESSAGE]["versions"]["3"] = {"fields": {"1": {"name": "speaker", "type": "string"}}}  # tag 1 was role
    error_of(store.call("PUT", "/v1/registry/bundles/b2", json=reused), 409, "CONFLICT")
    changed = two_version_bundle("b3")
    changed["types"][MESSAGE]["versions"]["1"]["fields"]["2"]["optional"] = False
    error_of(store.call("PUT", "/v1/registry/bundles/b3", json=changed), 409, "CONFLICT")
    other = "com.example.Other"
    assert store.call("PUT", "/v1/registry/bundles/b4", json={"registry_version": 1, "types": {other: {"versions": {"5": {"fields": {}}}}}}).status_code == 201
    regression = {"registry_version": 1, "bundle_id": "b4b", "types": {other: {"versions": {"4": {"fields": {}}}}}}
    error_of(store.call("PUT", "/v1/registry/bundles/b4b", json=regression), 409, "CONFLICT")
    relabelled = {"registry_version": 1, "bundle_id": "b5", "enums": {"com.example.Role": {"1": "root"}}}
    error_of(store.call("PUT", "/v1/registry/bundles/b5", json=relabelled), 409, "CONFLICT")
    same_id = {**two_version_bundle("b1"), "enums": {"com.example.Role": {"1": "system", "2": "user", "3": "assistant", "4": "tool", "5": "x"}}}
    error_of(store.call("PUT", "/v1/registry/bundles/b1", json=same_id), 409, "CONFLICT")  # same id, other content
    moved = {"registry_version": 1, "bundle_id": "b6", "types": {MESSAGE: {"versions": {"3": {"fields": {"9": {"name": "role", "type": "u8"}}}}}}}
    error_of(store.call("PUT", "/v1/registry/bundles/b6", json=moved), 409, "CONFLICT")  # a name under a new tag
    evolved = {"registry_version": 1, "bundle_id": "b7", "types": {MESSAGE: {"versions": {"3": {"fields": {
        "1": {"name": "role", "type": "u8", "enum": "com.example.Role"}, "6": {"name": "model", "type": "string"}}}}}}}  # fmt: skip
    assert store.call("PUT", "/v1/registry/bundles/b7", json=evolved).status_code == 201
    assert store.call("GET", "/v1/registry/types").json()["types"] == [{"type_id": MESSAGE, "latest_version": 3, "bundle_id": "b7"},
                                                                        {"type_id": other, "latest_version": 5, "bundle_id": "b4"}]  # fmt: skip


@pytest.mark.parametrize("mutate", [
    lambda b: b.update(registry_version=2),
    lambda b: b.update(bundle_id="another"),
    lambda b: b.update(extra=1),
    lambda b: b["types"][MESSAGE]["versions"]["1"]["fields"]["1"].update(type="uuid"),
    lambda b: b["types"][MESSAGE]["versions"]["1"]["fields"].update({"x": {"name": "n", "type": "string"}}),
    lambda b: b["types"][MESSAGE]["versions"]["1"]["fields"].update({"0": {"name": "n", "type": "string"}}),
    lambda b: b["types"][MESSAGE]["versions"]["1"]["fields"]["1"].update(enum="com.example.Unknown"),
    lambda b: b["types"][MESSAGE]["versions"]["1"]["fields"]["2"].update(name="role"),
    lambda b: b["types"][MESSAGE]["versions"]["1"]["fields"]["2"].update(optional="yes"),
    lambda b: b["types"][MESSAGE]["versions"]["1"]["fields"]["3"].update(semantic="unix_s"),
    lambda b: b["types"][MESSAGE]["versions"].clear(),
    lambda b: b["enums"]["com.example.Role"].update({"x": "bad"}),
    lambda b: b.update(types=[]),
])  # fmt: skip
def test_registry_refuses_malformed_bundles_with_422(store: Store, mutate: Any) -> None:
    bundle = two_version_bundle("m")
    mutate(bundle)
    error_of(store.call("PUT", "/v1/registry/bundles/m", json=bundle), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("GET", "/v1/registry/bundles/m"), 404, "NOT_FOUND")  # nothing stored


def test_registry_refuses_what_is_not_json_with_400(store: Store) -> None:
    error_of(store.call("PUT", "/v1/registry/bundles/x", data=b"{not json", headers={"Content-Type": "application/json"}), 400, "BAD_REQUEST")
    error_of(store.call("PUT", "/v1/registry/bundles/" + "x" * 201, json={"registry_version": 1}), 422, "UNPROCESSABLE_ENTITY")


# ---------------------------------------------------------------- typed projection


def test_typed_projection_across_two_versions_and_enums(store: Store) -> None:
    assert store.call("PUT", "/v1/registry/bundles/two", json=two_version_bundle("two")).status_code == 201
    context = new_context(store)
    old = {"type_id": MESSAGE, "type_version": 1, "data": {"role": "user", "text": "hi", "timestamp": 1706615000000}}
    new = {"type_id": MESSAGE, "type_version": 2, "data": {"role": 3, "timestamp": "2025-01-30T10:10:00.000Z", "attachments": ["aGVsbG8="],
                                                           "tokens": "18446744073709551615"}}  # fmt: skip
    for body in (old, new):
        assert store.call("POST", f"/v1/contexts/{context}/append", json=body).status_code == 201

    def turns(**params: Any) -> list[dict[str, Any]]:
        response = store.call("GET", f"/v1/contexts/{context}/turns", params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["turns"])

    inherit = turns()
    assert [turn["decoded_as"] for turn in inherit] == [{"type_id": MESSAGE, "type_version": 1}, {"type_id": MESSAGE, "type_version": 2}]
    assert inherit[0]["data"] == {"role": "user", "text": "hi", "timestamp": "2024-01-30T11:43:20.000Z"}
    assert inherit[1]["data"] == {"role": "assistant", "timestamp": "2025-01-30T10:10:00.000Z", "attachments": ["aGVsbG8="],
                                  "tokens": "18446744073709551615"}  # fmt: skip
    latest = turns(type_hint_mode="latest")
    assert [turn["decoded_as"]["type_version"] for turn in latest] == [2, 2] and latest[0]["data"] == inherit[0]["data"]
    as_v1 = turns(type_hint_mode="explicit", as_type_id=MESSAGE, as_type_version=1)
    assert "attachments" not in as_v1[1]["data"] and "unknown" not in as_v1[1]["data"]
    with_unknown = turns(type_hint_mode="explicit", as_type_id=MESSAGE, as_type_version=1, include_unknown="true", bytes_render="hex")
    assert with_unknown[1]["data"]["unknown"] == {"4": ["68656c6c6f"], "5": 18446744073709551615}
    rendered = turns(enum_render="both", time_render="unix_ms", u64_format="number", bytes_render="len_only")[1]["data"]
    assert rendered == {"role": {"value": 3, "label": "assistant"}, "timestamp": 1738231800000, "attachments": ["<5 bytes>"], "tokens": 18446744073709551615}
    assert turns(enum_render="number")[0]["data"]["role"] == 2
    both = turns(view="both")[0]
    assert both["data"]["role"] == "user" and msgpack.unpackb(base64.b64decode(both["bytes_b64"]), strict_map_key=False)[1] == 2
    raw = turns(view="raw")[0]
    assert "data" not in raw and "decoded_as" not in raw and raw["content_hash_b3"] == blake3(base64.b64decode(raw["bytes_b64"])).hexdigest()


def test_projection_errors(store: Store) -> None:
    context = new_context(store)
    store.append(context, "no registry yet")
    path = f"/v1/contexts/{context}/turns"
    error_of(store.call("GET", path, params={"type_hint_mode": "latest"}), 412, "PRECONDITION_FAILED")
    error_of(store.call("GET", path, params={"type_hint_mode": "explicit", "as_type_id": MESSAGE, "as_type_version": 1}), 412, "PRECONDITION_FAILED")
    assert store.call("PUT", "/v1/registry/bundles/p", json=two_version_bundle("p")).status_code == 201
    error_of(store.call("GET", path, params={"type_hint_mode": "explicit", "as_type_id": "com.example.Nope", "as_type_version": 1}), 424, "FAILED_DEPENDENCY")
    error_of(store.call("GET", path, params={"type_hint_mode": "explicit"}), 400, "BAD_REQUEST")
    error_of(store.call("GET", path, params={"as_type_id": MESSAGE, "as_type_version": 1}), 400, "BAD_REQUEST")
    for name, value in [("view", "html"), ("type_hint_mode", "guess"), ("bytes_render", "b32"), ("u64_format", "hex"), ("enum_render", "x"),
                        ("time_render", "rfc"), ("include_unknown", "maybe"), ("limit", "0"), ("limit", "1025"), ("before_turn_id", "x")]:  # fmt: skip
        error_of(store.call("GET", path, params={name: value}), 400, "BAD_REQUEST")
    error_of(store.call("GET", path, params={"before_turn_id": "999999"}), 404, "NOT_FOUND")
    # the untyped turn still reads: no descriptor for its declared version... it is v1 of a described type now
    assert store.call("GET", path).status_code == 200


# ---------------------------------------------------------------- appends


def test_append_errors_and_aliases(store: Store) -> None:
    context = new_context(store)
    path = f"/v1/contexts/{context}/append"
    turn = {"type_id": "com.example.Note", "type_version": 1, "data": {"text": "a"}}
    error_of(store.call("POST", "/v1/contexts/999999/append", json=turn), 404, "NOT_FOUND")
    error_of(store.call("POST", "/v1/contexts/abc/append", json=turn), 400, "BAD_REQUEST")
    error_of(store.call("POST", path, json={"type_version": 1, "data": {}}), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("POST", path, json={"type_id": "t", "data": {}}), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("POST", path, json={"type_id": "t", "type_version": 1}), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("POST", path, json={"type_id": "t", "type_version": 1, "data": [1]}), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("POST", path, json={**turn, "payload": {"text": "b"}}), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("POST", path, json={**turn, "surprise": 1}), 400, "BAD_REQUEST")
    error_of(store.call("POST", path, json={**turn, "data": {"n": 2**70}}), 422, "UNPROCESSABLE_ENTITY")  # JSON allows it, msgpack cannot
    deep: dict[str, Any] = {}
    for _ in range(70):
        deep = {"d": deep}
    error_of(store.call("POST", path, json={**turn, "data": deep}), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("POST", path, json={**turn, "parent_turn_id": "99"}), 409, "CONFLICT")
    first = store.call("POST", path, json={"type_id": "com.example.Note", "type_version": 1, "payload": {"text": "a"}})  # the alias
    assert first.status_code == 201
    error_of(store.call("POST", path, json={**turn, "parent_turn_id": "0"}), 409, "CONFLICT")  # no longer the head
    second = store.call("POST", f"/v1/contexts/{context}/turns", json={**turn, "parent_turn_id": first.json()["turn_id"]})  # the alias route
    assert second.status_code == 201 and second.json()["parent_turn_id"] == first.json()["turn_id"]
    assert first.json()["content_hash"] == second.json()["content_hash"]  # same payload, same bytes


def test_idempotent_appends(store: Store) -> None:
    context = new_context(store)
    body = {"type_id": "com.example.Note", "type_version": 1, "data": {"text": "once"}, "idempotency_key": "client-123-1706615000-001"}
    first = store.call("POST", f"/v1/contexts/{context}/append", json=body)
    again = store.call("POST", f"/v1/contexts/{context}/append", json=body)
    assert (first.status_code, again.status_code) == (201, 200) and first.json() == again.json()
    error_of(store.call("POST", f"/v1/contexts/{context}/append", json={**body, "data": {"text": "twice"}}), 409, "CONFLICT")
    page = store.call("GET", f"/v1/contexts/{context}/turns").json()
    assert len(page["turns"]) == 1
    error_of(store.call("POST", f"/v1/contexts/{context}/append", json={**body, "idempotency_key": "x" * 129}), 400, "BAD_REQUEST")


def test_typed_appends_are_checked_against_the_descriptor(store: Store) -> None:
    assert store.call("PUT", "/v1/registry/bundles/t", json=two_version_bundle("t")).status_code == 201
    context = new_context(store)
    good = {"role": "user", "timestamp": 1}
    for data in ({"role": "user"}, {"role": "owner", "timestamp": 1}, {"role": 9, "timestamp": 1}, {**good, "text": 5}, {**good, "extra": 1},
                 {**good, "timestamp": -1}, {**good, "timestamp": "yesterday"}, {**good, "timestamp": 2**64 - 1},
                 {**good, "timestamp": 253_402_300_800_000}):  # past 9999-12-31: no ISO-8601 time can show it  # fmt: skip
        body = {"type_id": MESSAGE, "type_version": 1, "data": data}
        error_of(store.call("POST", f"/v1/contexts/{context}/append", json=body), 422, "UNPROCESSABLE_ENTITY")
    bad_bytes = {"type_id": MESSAGE, "type_version": 2, "data": {**good, "attachments": ["not base64!"]}}
    error_of(store.call("POST", f"/v1/contexts/{context}/append", json=bad_bytes), 422, "UNPROCESSABLE_ENTITY")
    assert store.call("POST", f"/v1/contexts/{context}/append", json={"type_id": MESSAGE, "type_version": 1, "data": good}).status_code == 201


def test_batch_append_is_all_or_nothing(store: Store) -> None:
    context = new_context(store)
    turns = [{"type_id": "com.example.Note", "type_version": 1, "data": {"n": index}} for index in range(5)]
    bad = [*turns[:3], {"type_id": "com.example.Note", "type_version": 1, "data": "x"}]
    error_of(store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": bad}), 422, "UNPROCESSABLE_ENTITY")
    assert store.call("GET", f"/v1/contexts/{context}").json()["head_depth"] == 0
    error_of(store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": []}), 400, "BAD_REQUEST")
    error_of(store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": turns * 201}), 400, "BAD_REQUEST")
    answer = store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": turns})
    assert answer.status_code == 201
    depths = [turn["depth"] for turn in answer.json()["turns"]]
    assert depths == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------- paging, dedup, blobs, stats


def test_paging_a_long_history(store: Store) -> None:
    context = new_context(store)
    turns = [{"type_id": "com.example.Note", "type_version": 1, "data": {"n": index}} for index in range(1, 301)]
    for start in range(0, 300, 100):
        assert store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": turns[start : start + 100]}).status_code == 201
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 64}
    pages = 0
    while True:
        page = store.call("GET", f"/v1/contexts/{context}/turns", params=params).json()
        pages += 1
        seen[:0] = [turn["data"]["n"] for turn in page["turns"]]
        if page["next_before_turn_id"] is None:
            break
        params["before_turn_id"] = page["next_before_turn_id"]
    assert seen == list(range(1, 301)) and pages == 6  # the last page below the root is empty, as the seed pages
    default = store.call("GET", f"/v1/contexts/{context}/turns").json()
    assert len(default["turns"]) == 64 and default["turns"][-1]["depth"] == 300  # limit defaults to 64, newest page


def test_dedup_blobs_and_stats(contexts_ledger: Any) -> None:
    store = new_store(contexts_ledger)
    assert store.call("GET", "/v1/stats").json() == {"contexts": 0, "turns": 0, "blobs": 0, "storage_bytes": 0, "dedup_hit_rate": 0.0}
    contexts = [new_context(store), new_context(store)]
    big = "lorem ipsum " * 400  # compressible, above the 1 KiB threshold
    answers = [store.append(contexts[index % 2], big if index % 2 else "same") for index in range(10)]
    assert len({answer["content_hash"] for answer in answers}) == 2
    stats = store.call("GET", "/v1/stats").json()
    assert stats["contexts"] == 2 and stats["turns"] == 10 and stats["blobs"] == 2 and stats["dedup_hit_rate"] == 0.8
    assert 0 < stats["storage_bytes"] < len(big)  # stored once, compressed
    blob = store.call("GET", f"/v1/blobs/{answers[1]['content_hash']}")
    assert blob.status_code == 200 and blob.headers["Content-Type"] == "application/octet-stream"
    assert blake3(blob.content).hexdigest() == answers[1]["content_hash"] and msgpack.unpackb(blob.content) == {"role": "user", "text": big}
    raw = store.call("GET", f"/v1/contexts/{contexts[1]}/turns", params={"view": "raw", "limit": 1}).json()["turns"][0]
    assert raw["compression"] == 1 and raw["uncompressed_len"] == len(blob.content) and base64.b64decode(raw["bytes_b64"]) == blob.content
    error_of(store.call("GET", "/v1/blobs/" + "0" * 64), 404, "NOT_FOUND")
    error_of(store.call("GET", "/v1/blobs/XYZ"), 400, "BAD_REQUEST")


# ---------------------------------------------------------------- contexts: list, get, children, lineage


def test_listing_contexts_children_and_lineage(store: Store) -> None:
    tag = "agent-" + secrets.token_hex(3)
    root = new_context(store, tag=tag)
    turn = store.append(root, "hello")
    child = store.call("POST", "/v1/contexts/fork", json={"base_turn_id": turn["turn_id"], "tag": tag}).json()["context_id"]
    grandchild_turn = store.append(child, "again")
    grandchild = store.call("POST", "/v1/contexts", json={"base_turn_id": grandchild_turn["turn_id"]}).json()["context_id"]  # the alias

    listed = store.call("GET", "/v1/contexts", params={"tag": tag}).json()
    assert listed["total"] == 2 and [item["context_id"] for item in listed["contexts"]] == [child, root]
    assert "provenance" not in listed["contexts"][0] and "lineage" not in listed["contexts"][0]
    assert store.call("GET", "/v1/contexts", params={"limit": 1}).json()["contexts"][0]["context_id"] == grandchild
    detailed = store.call("GET", "/v1/contexts", params={"tag": tag, "include_provenance": "true", "include_lineage": "true"}).json()["contexts"]
    assert detailed[0]["provenance"]["client_tag"] == tag and detailed[1]["lineage"]["children"] == [child]

    got = store.call("GET", f"/v1/contexts/{child}").json()
    assert got["lineage"] == {"parent_context_id": root, "root_context_id": root, "forked_from_turn_id": turn["turn_id"], "children": [grandchild],
                              "child_count": 1}  # fmt: skip
    assert got["provenance"]["base_turn_id"] == turn["turn_id"] and got["head_depth"] == 2
    bare = store.call("GET", f"/v1/contexts/{child}", params={"include_provenance": "false", "include_lineage": "false"}).json()
    assert set(bare) == {"context_id", "head_turn_id", "head_depth", "head_turn_hash", "created_at"}

    direct = store.call("GET", f"/v1/contexts/{root}/children").json()["children"]
    assert [item["context_id"] for item in direct] == [child] and "lineage" in direct[0]
    every = store.call("GET", f"/v1/contexts/{root}/children", params={"recursive": "true"}).json()["children"]
    assert [item["context_id"] for item in every] == [child, grandchild]
    assert len(store.call("GET", f"/v1/contexts/{root}/children", params={"recursive": "true", "limit": 1}).json()["children"]) == 1
    error_of(store.call("GET", "/v1/contexts/999999/children"), 404, "NOT_FOUND")
    error_of(store.call("GET", "/v1/contexts/999999"), 404, "NOT_FOUND")
    error_of(store.call("GET", "/v1/contexts/0"), 404, "NOT_FOUND")
    error_of(store.call("POST", "/v1/contexts/fork", json={}), 400, "BAD_REQUEST")
    error_of(store.call("POST", "/v1/contexts/fork", json={"base_turn_id": "999999"}), 404, "NOT_FOUND")
    error_of(store.call("POST", "/v1/contexts/create", json={"base_turn_id": "-1"}), 400, "BAD_REQUEST")
    error_of(store.call("POST", "/v1/contexts/create", json={"tag": "\u0007"}), 400, "BAD_REQUEST")
    assert store.call("POST", "/v1/contexts/create").status_code == 201  # no body: an empty context


# ---------------------------------------------------------------- tenants, auth, health


def test_tenants_are_isolated_and_keys_need_the_contexts_scope(contexts_ledger: Any) -> None:
    mine, theirs = new_store(contexts_ledger), new_store(contexts_ledger)
    context = new_context(mine)
    turn = mine.append(context, "private")
    assert mine.call("PUT", "/v1/registry/bundles/mine", json={**SEED_BUNDLE, "bundle_id": "mine"}).status_code == 201
    error_of(theirs.call("GET", f"/v1/contexts/{context}"), 404, "NOT_FOUND")
    error_of(theirs.call("GET", f"/v1/contexts/{context}/turns"), 404, "NOT_FOUND")
    error_of(theirs.call("POST", f"/v1/contexts/{context}/append", json={"type_id": "t", "type_version": 1, "data": {}}), 404, "NOT_FOUND")
    error_of(theirs.call("POST", "/v1/contexts/fork", json={"base_turn_id": turn["turn_id"]}), 404, "NOT_FOUND")
    error_of(theirs.call("GET", f"/v1/blobs/{turn['content_hash']}"), 404, "NOT_FOUND")
    error_of(theirs.call("GET", "/v1/registry/bundles/mine"), 404, "NOT_FOUND")
    assert theirs.call("GET", "/v1/registry/types").json() == {"types": []}
    assert theirs.call("GET", "/v1/contexts").json()["total"] == 0
    records_only = new_store(contexts_ledger, scopes=["records:write"])
    error_of(records_only.call("GET", "/v1/contexts"), 403, "FORBIDDEN")
    error_of(Store(contexts_ledger, "xase_pk_" + "0" * 40).call("GET", "/v1/stats"), 401, "UNAUTHORIZED")
    health = Store(contexts_ledger, "").call("GET", "/health").json()
    assert health["status"] == "ok" and health["version"] and health["uptime_seconds"] >= 0


def test_nested_types_and_arrays_encode_and_project_recursively(store: Store) -> None:
    tool_call = {"1": {"name": "name", "type": "string"}, "2": {"name": "arguments", "type": "map"}}
    message = {"1": {"name": "role", "type": "string"}, "2": {"name": "text", "type": "string"},
               "3": {"name": "tool_call", "type": "nested", "nested": "com.example.ToolCall", "optional": True},
               "4": {"name": "scores", "type": "array", "items": "f64", "optional": True}}  # fmt: skip
    bundle = {"registry_version": 1, "types": {"com.example.ToolCall": {"versions": {"1": {"fields": tool_call}}},
                                               "com.example.Call": {"versions": {"1": {"fields": message}}}}}  # fmt: skip
    assert store.call("PUT", "/v1/registry/bundles/nested", json=bundle).status_code == 201
    context = new_context(store)
    data = {"role": "user", "text": "Call weather", "tool_call": {"name": "get_weather", "arguments": {"location": "Paris"}}, "scores": [0.5, 1]}
    assert store.call("POST", f"/v1/contexts/{context}/append", json={"type_id": "com.example.Call", "type_version": 1, "data": data}).status_code == 201
    turn = store.call("GET", f"/v1/contexts/{context}/turns", params={"view": "both"}).json()["turns"][0]
    assert turn["data"] == {**data, "scores": [0.5, 1.0]}
    stored = msgpack.unpackb(base64.b64decode(turn["bytes_b64"]), strict_map_key=False)
    assert stored == {1: "user", 2: "Call weather", 3: {1: "get_weather", 2: {"location": "Paris"}}, 4: [0.5, 1.0]}  # the seed's nested example
    bad = {**data, "tool_call": {"name": "x", "arguments": {}, "extra": 1}}
    error_of(store.call("POST", f"/v1/contexts/{context}/append", json={"type_id": "com.example.Call", "type_version": 1, "data": bad}),
             422, "UNPROCESSABLE_ENTITY")  # fmt: skip
    dangling = {"registry_version": 1, "types": {"com.example.Dangling": {"versions": {"1": {"fields": {
        "1": {"name": "inner", "type": "nested", "nested": "com.example.Missing"}}}}}}}  # fmt: skip
    assert store.call("PUT", "/v1/registry/bundles/dangling", json=dangling).status_code == 201
    body = {"type_id": "com.example.Dangling", "type_version": 1, "data": {"inner": {"a": 1}}}
    error_of(store.call("POST", f"/v1/contexts/{context}/append", json=body), 424, "FAILED_DEPENDENCY")


def test_a_page_of_turns_ends_early_at_its_byte_budget(store: Store) -> None:
    """Deduplicated, compressible 1 MiB payloads cost almost nothing to store: a page holds at most 8 MiB of them."""
    context = new_context(store)
    big = "x" * (1024 * 1024 - 64)
    for _ in range(10):
        assert store.call("POST", f"/v1/contexts/{context}/append", json={"type_id": "com.example.Note", "type_version": 1,
                                                                          "data": {"text": big}}).status_code == 201  # fmt: skip
    first = store.call("GET", f"/v1/contexts/{context}/turns", params={"limit": 64, "view": "both"}).json()
    assert len(first["turns"]) == 8 and first["turns"][-1]["turn_id"] == first["meta"]["head_turn_id"]
    assert sum(turn["uncompressed_len"] for turn in first["turns"]) <= 8 * 1024 * 1024
    rest = store.call("GET", f"/v1/contexts/{context}/turns", params={"limit": 64, "view": "raw", "before_turn_id": first["next_before_turn_id"]})
    assert [turn["depth"] for turn in rest.json()["turns"]] == [1, 2]


def test_a_large_append_is_checked_as_a_small_one(store: Store) -> None:
    """Past 256 KiB an append is parsed and encoded by a worker process: its refusals are the same."""
    context = new_context(store)
    note = {"type_id": "com.example.Note", "type_version": 1, "data": {"text": "n" * 1000}}
    bad = [*([note] * 300), {"type_id": "com.example.Note", "type_version": 1, "data": "not an object"}]
    error_of(store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": bad}), 422, "UNPROCESSABLE_ENTITY")
    error_of(store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": [note] * 300, "extra": 1}), 400, "BAD_REQUEST")
    assert store.call("GET", f"/v1/contexts/{context}").json()["head_depth"] == 0
    answer = store.call("POST", f"/v1/contexts/{context}/append_batch", json={"turns": [note] * 300})
    assert answer.status_code == 201 and [turn["depth"] for turn in answer.json()["turns"]] == list(range(1, 301))
    page = store.call("GET", f"/v1/contexts/{context}/turns", params={"limit": 300, "view": "both"}).json()  # rendered by a worker
    assert len(page["turns"]) == 300 and page["turns"][-1]["data"] == note["data"] and page["next_before_turn_id"] == page["turns"][0]["turn_id"]
