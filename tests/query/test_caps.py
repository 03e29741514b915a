"""The cost of a filter is capped, each cap named in its 400 (issue 12), and $in is one IN per type."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, Column, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite

from ledger_service.errors import ValidationFailed
from ledger_service.query import compile_filter
from ledger_service.query.filters import MAX_DEPTH, MAX_IN, MAX_PREDICATES, MAX_VALUES
from tests.query.json_reference import PATIENTS, Documents

BODY = Table("docs", MetaData(), Column("body", JSON)).c.body


def _nested_not(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"$gt": 1}
    for _ in range(depth):
        condition = {"$not": condition}
    return {"age": condition}


def _nested_and(depth: int) -> dict[str, Any]:
    expression: dict[str, Any] = {"age": 1}
    for _ in range(depth):
        expression = {"$and": [expression]}
    return expression


@pytest.mark.parametrize(
    "expression, cap",
    [
        ({"$or": [{"age": {"$in": list(range(1000))}}] * 40}, "max_values"),  # the review's 196 KB filter
        ({"age": {"$in": list(range(MAX_IN + 1))}}, "max_in"),
        ({"age": {"$nin": ["x"] * (MAX_IN + 1)}}, "max_in"),
        ({"$or": [{"age": n} for n in range(MAX_PREDICATES + 1)]}, "max_predicates"),
        ({f"field{n}": {"$gt": n, "$lt": n + 1} for n in range(MAX_PREDICATES)}, "max_predicates"),
        ({"$and": [{"$or": [{"tag": {"$in": list(range(900))}}] * 2}] * 3}, "max_values"),
        (_nested_not(MAX_DEPTH + 1), "max_depth"),
        (_nested_not(5000), "max_depth"),
        (_nested_and(5000), "max_depth"),
    ],
)
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_each_cap_is_a_400_naming_it(expression: dict[str, Any], cap: str, dialect: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        compile_filter(expression, BODY, dialect)
    assert caught.value.details["cap"] == cap and cap in caught.value.message


def test_filters_within_the_caps_compile() -> None:
    assert compile_filter({"age": {"$in": list(range(MAX_IN))}}, BODY, "sqlite") is not None
    assert compile_filter({"$or": [{"a": {"$in": list(range(1000))}}] * (MAX_VALUES // 1000)}, BODY, "postgresql") is not None
    assert compile_filter(_nested_not(MAX_DEPTH), BODY, "sqlite") is not None


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_in_extracts_the_value_once_per_type(dialect: Any) -> None:
    sql = str(compile_filter({"age": {"$in": [*range(600), *(str(n) for n in range(399))]}}, BODY, dialect.name).compile(dialect=dialect))
    assert sql.count(" IN (") + sql.count("ANY (") == 4  # per type: its kind check and its values, not one predicate per value
    assert len(sql) < 20_000


def test_in_across_types_matches_like_equality(documents: Documents) -> None:
    documents.replace(PATIENTS)
    values = [58, "unknown", None, True, "diabetes", ["fatigue", "thirst"], {"glucose": 150}, 3.5]
    for field in ("age", "diagnosis", "active", "symptoms", "lab_results"):
        expected = sorted({i for value in values for i in documents.ids({field: value})})
        assert documents.ids({field: {"$in": values}}) == expected, field
        assert documents.ids({field: {"$nin": values}}) == [i for i in range(len(PATIENTS)) if i not in expected], field


@pytest.mark.parametrize(
    "pipeline, cap",
    [
        ([{"$group": {"_id": None, **{f"a{n}": {"$sum": 1} for n in range(2000)}}}], "max_accumulators"),
        ([{"$group": {"_id": "$age", "n": {"$sum": 1}}}, {"$project": [f"f{n}" for n in range(100)]}], "max_fields"),
        ([{"$match": {"$or": [{"age": {"$in": list(range(1000))}}] * 40}}], "max_values"),
    ],
)
def test_pipeline_caps_are_400s_naming_them(documents: Documents, pipeline: list[Any], cap: str) -> None:
    from ledger_service.query import run_pipeline

    with pytest.raises(ValidationFailed) as caught, documents.engine.connect() as conn:
        run_pipeline(conn, documents.table, documents.table.c.body, pipeline)
    assert caught.value.details["cap"] == cap
