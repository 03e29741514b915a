"""Each class of input the adversarial review turned into a 500 is a 400 naming what is wrong (issue 12, finding 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.access.conftest import open_session
from tests.conftest import Api

DEEP_NOT = '{"age": ' + '{"$not": ' * 5000 + '{"$gt": 1}' + "}" * 5001
DEEP_NOT_SHORT = '{"age": ' + '{"$not": ' * 1500 + '{"$gt": 1}' + "}" * 1501  # fits in a request line once URL-encoded


@pytest.mark.parametrize(
    "query",
    ['{"age": NaN}', '{"age": Infinity}', '{"age": 1e400}', '{"age": 9007199254740993}', '{"age": -9223372036854775809}',
     '{"name": "\\ud800"}', '{"\\udfff": 1}', '{"age": 1, "age": 2}', DEEP_NOT_SHORT, "[" * 5000 + "]" * 5000,
     json.dumps({"$or": [{"age": {"$in": list(range(300))}}] * 20})],
)  # fmt: skip
def test_query_string_json_is_parsed_strictly(shared: tuple[Api, Api, str], query: str) -> None:
    _holder, consumer, dataset_id = shared
    session = open_session(consumer, dataset_id)["session_id"]
    for name in ("filter", "sort"):
        response = consumer.get(f"/sessions/{session}/stream", params={name: query})
        assert response.status_code == 400, (name, query[:40], response.text[:300])


@pytest.mark.parametrize(
    "path, body",
    [
        ("filter", {"filter": {"age": 2**53 + 1}, "limit": 5}),
        ("filter", {"filter": {"age": {"$in": [1, -(2**63) - 1]}}, "limit": 5}),
        ("filter", {"filter": {"name": "\ud800"}, "limit": 5}),
        ("filter", {"filter": {"\udfff": 1}, "limit": 5}),
        ("filter", '{"limit": 5, "filter": ' + DEEP_NOT + "}"),
        ("aggregate", {"pipeline": [{"$group": {"_id": None, **{f"a{n}": {"$sum": "$age"} for n in range(2000)}}}]}),
        ("aggregate", {"pipeline": [{"$skip": 2**70}]}),
        ("aggregate", {"pipeline": [{"$match": {"age": {"$gt": 1}}}, {"$limit": 2**64}]}),
        ("transform", {"records": ["p1"], "transformation": "generalize", "parameters": {"fields": ["age"], "bucket": 5e-324}}),
        ("close", {"reason": "done \ud800"}),
    ],
)
def test_hostile_bodies_are_400s(shared: tuple[Api, Api, str], path: str, body: Any) -> None:
    _holder, consumer, dataset_id = shared
    session = open_session(consumer, dataset_id)["session_id"]
    data = body if isinstance(body, str) else json.dumps(body)
    response = consumer.post(f"/sessions/{session}/{path}", data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]


def test_lone_surrogates_elsewhere_are_400s(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    session = open_session(consumer, dataset_id)["session_id"]
    revoke = holder.post(f"/datasets/{dataset_id}/sessions/{session}/revoke", data=json.dumps({"reason": "x\ud800", "revoked_by": "dpo"}),
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert revoke.status_code == 400, revoke.text
    unknown = consumer.post("/sessions", data=json.dumps({"dataset": dataset_id, "purpose": "model_training", "\ud83d": 1}),
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert unknown.status_code == 400 and unknown.json()["error"]["details"]["fields"] == ["\ud83d"]
    assert consumer.post("/sessions", json={"dataset": "\ud800", "purpose": "model_training"}).status_code in (400, 404)


@pytest.mark.parametrize("value", ["\u0661", "\u00b2", "\uff11", " 7", "1e3", "-", "9" * 30])
def test_integers_in_query_strings_are_ascii_digits(shared: tuple[Api, Api, str], value: str) -> None:
    _holder, consumer, _dataset_id = shared
    assert consumer.get("/records", params={"limit": value}).status_code == 400
    assert consumer.get(f"/blocks/{value}").status_code in (400, 404)


@pytest.mark.parametrize("path", ["v.\u0663", "\u0661", "lab_results.\u00b2", "a.\uff11.b"])
def test_a_filter_path_with_unicode_digits_is_a_name_not_an_index(shared: tuple[Api, Api, str], path: str) -> None:
    _, consumer, dataset_id = shared
    sid = open_session(consumer, dataset_id)["session_id"]
    answer = consumer.post(f"/sessions/{sid}/filter", json={"filter": {path: 1}})
    assert answer.status_code == 200 and answer.json()["records"] == [], answer.text


def test_names_ids_purposes_and_durations_with_a_final_newline_are_400s(shared: tuple[Api, Api, str]) -> None:
    """`^...$` matched before a final newline: a name, a record id, a purpose or a duration could carry one in."""
    holder, consumer, dataset_id = shared
    assert holder.post("/datasets", json={"name": "cardio\n"}).status_code == 400
    assert holder.post(f"/datasets/{dataset_id}/records", json=[{"record_id": "r-1\n", "age": 1}]).status_code == 400
    assert consumer.post("/sessions", json={"dataset": dataset_id, "purpose": "model_training", "duration": "1d\n"}).status_code == 400
    grant = {"tenant": consumer.get("/stats").json()["tenant_id"], "purposes": ["model_training\n"], "max_duration": "30d"}
    assert holder.post(f"/datasets/{dataset_id}/grants", json=grant).status_code == 400
