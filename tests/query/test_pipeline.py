"""Aggregation pipelines run in the database and give the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_service.errors import ValidationFailed
from ledger_service.query import run_pipeline
from tests.query.json_reference import MISSING, PATIENTS, Documents, get_path


def run(documents: Documents, pipeline: Any) -> list[dict[str, Any]]:
    with documents.engine.connect() as conn:
        return run_pipeline(conn, documents.table, documents.table.c.body, pipeline)


def by_id(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {str(row["_id"]): row for row in rows}


def test_group_with_every_accumulator(documents: Documents) -> None:
    documents.replace(PATIENTS)
    rows = run(documents, [
        {"$match": {"diagnosis": {"$in": ["diabetes", "hypertension"]}}},
        {"$group": {"_id": "$diagnosis", "patients": {"$sum": 1}, "n": {"$count": {}}, "ages": {"$sum": "$age"},
                    "mean_age": {"$avg": "$age"}, "youngest": {"$min": "$age"}, "oldest": {"$max": "$age"}, "ids": {"$push": "$patient_id"}}},
        {"$sort": {"patients": -1, "_id": 1}},
    ])  # fmt: skip
    assert rows == [
        {"_id": "diabetes", "patients": 2, "n": 2, "ages": 102, "mean_age": 51, "youngest": 45, "oldest": 57, "ids": ["p1", "p3"]},
        {"_id": "hypertension", "patients": 2, "n": 2, "ages": 72, "mean_age": 72, "youngest": 72, "oldest": 72, "ids": ["p2", "p5"]},
    ]


def test_missing_and_null_ids_form_one_group_and_push_keeps_types(documents: Documents) -> None:
    documents.replace(PATIENTS)
    groups = by_id(run(documents, [{"$group": {"_id": "$active", "count": {"$sum": 1}, "flags": {"$push": "$active"}}}]))
    assert groups["None"]["count"] == 3 and groups["None"]["flags"] == []
    assert groups["True"]["flags"] == [True] and groups["False"]["flags"] == [False]
    labs = run(documents, [{"$match": {"patient_id": "p1"}}, {"$group": {"_id": None, "labs": {"$push": "$lab_results"}}}])
    assert labs == [{"_id": None, "labs": [{"a1c": 8.1, "glucose": 210}]}]


def test_stages_without_group(documents: Documents) -> None:
    documents.replace(PATIENTS)
    assert run(documents, [{"$match": {"age": {"$gte": 45}}}, {"$count": "adults"}]) == [{"adults": 3}]
    page = run(documents, [{"$sort": {"patient_id": -1}}, {"$skip": 1}, {"$limit": 2}, {"$project": ["patient_id"]}])
    assert page == [{"patient_id": "p4"}, {"patient_id": "p3"}]
    assert run(documents, [{"$project": {"patient_id": 1, "age": 1}}, {"$limit": 1}]) == [{"patient_id": "p1", "age": 57}]


@pytest.mark.parametrize(
    "pipeline, fragment",
    [
        ([{"$lookup": {}}], "unknown stage $lookup"),
        ([{"$group": {"_id": "$a", "x": {"$stdDevPop": "$a"}}}], "unknown accumulator $stdDevPop"),
        ([{"$group": {"total": {"$sum": 1}}}], "needs an _id"),
        ([{"$group": {"_id": "age"}}], "field reference"),
        ([{"$match": {}, "$limit": 1}], "exactly one operator"),
        ([{"$limit": -1}], "non-negative integer"),
        ([{"$group": {"_id": None}}, {"$match": {"a": 1}}], "$match is supported before $group"),
        ([], "list of 1 to 16 stages"),
        ([{"$match": {"age": {"$regex": "x"}}}], "unknown operator $regex"),
    ],
)
def test_malformed_pipelines_name_the_problem(documents: Documents, pipeline: Any, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        run(documents, pipeline)
    assert fragment in caught.value.message


values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([0.5, -2.25, "a", "b"]))
docs = st.lists(st.fixed_dictionaries({}, optional={"g": st.sampled_from(["x", "y", 1, None]), "v": values}), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs)
def test_group_accumulators_agree_with_plain_python(documents: Documents, sample: list[dict[str, Any]]) -> None:
    documents.replace(sample)
    rows = run(documents, [{"$group": {"_id": "$g", "n": {"$sum": 1}, "total": {"$sum": "$v"}, "low": {"$min": "$v"}, "mean": {"$avg": "$v"}}}])
    expected: dict[str, list[Any]] = defaultdict(list)
    for document in sample:
        key = get_path(document, "g")
        expected[str(None if key is MISSING else key)].append(get_path(document, "v"))
    got = by_id(rows)
    assert set(got) == set(expected)
    for key, found in expected.items():
        numbers = [v for v in found if isinstance(v, (int, float)) and not isinstance(v, bool)]
        assert got[key]["n"] == len(found)
        assert got[key]["total"] == pytest.approx(sum(numbers))
        assert got[key]["low"] == (min(numbers) if numbers else None)
        assert got[key]["mean"] == (pytest.approx(sum(numbers) / len(numbers)) if numbers else None)
