"""MongoDB-style filters compiled to SQL agree with a plain-Python reading of the same rules, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_service.errors import ValidationFailed
from tests.query.json_reference import MISSING, PATIENTS, Documents, get_path, matches


def test_the_seeds_example_filter(documents: Documents) -> None:
    documents.replace(PATIENTS)
    seed_filter = {
        "age": {"$gte": 50},
        "diagnosis": {"$in": ["diabetes", "hypertension"]},
        "$or": [{"lab_results.glucose": {"$gte": 200}}, {"lab_results.bp_systolic": {"$gte": 140}}],
    }
    assert documents.ids(seed_filter) == [0, 1]
    assert documents.ids({}, sort={"age": -1}) != []


@pytest.mark.parametrize(
    "expression, expected",
    [
        ({"age": {"$gt": 50}}, [0, 1]),  # the string "unknown" and null never compare with numbers
        ({"age": {"$gt": "a"}}, [3]),
        ({"age": None}, [4]),
        ({"lab_results.glucose": None}, [1, 3, 4]),  # null matches missing too
        ({"active": {"$exists": False}}, [0, 1, 2]),
        ({"active": True}, [3]),
        ({"active": {"$ne": True}}, [0, 1, 2, 4]),
        ({"symptoms.1": "thirst"}, [0]),
        ({"symptoms": ["fatigue", "thirst"]}, [0]),
        ({"lab_results": {"glucose": 150}}, [2]),
        ({"age": {"$not": {"$gte": 50}}}, [2, 3, 4]),
        ({"$nor": [{"diagnosis": "diabetes"}]}, [1, 3, 4]),
        ({"diagnosis": {"$nin": ["diabetes", "asthma"]}}, [1, 4]),
        ({"$not": {"diagnosis": "diabetes"}}, [1, 3, 4]),
        ({"age": {"$gte": 45, "$lt": 60}}, [0, 2]),
        ({"$and": [{"age": {"$lte": 57}}, {"age": {"$gte": 57}}]}, [0]),
    ],
)
def test_mongodb_semantics(documents: Documents, expression: dict[str, Any], expected: list[int]) -> None:
    documents.replace(PATIENTS)
    assert documents.ids(expression) == expected
    assert [n for n, d in enumerate(PATIENTS) if matches(d, expression)] == expected


@pytest.mark.parametrize(
    "expression, fragment",
    [
        ({"age": {"$regex": "^5"}}, "unknown operator $regex"),
        ({"$where": "1 == 1"}, "unknown operator $where"),
        ({"age": {"$gt": [1]}}, "$gt needs a number or a string"),
        ({"age": {"$in": "diabetes"}}, "$in needs a list"),
        ({"$or": []}, "$or needs a non-empty list"),
        ({"$or": {"a": 1}}, "$or needs a non-empty list"),
        ({"age": {"$exists": "yes"}}, "$exists needs true or false"),
        ({"": 1}, "field path"),
        ({"a..b": 1}, "invalid field path"),
        ({"a": {"$gt": 1, "b": 2}}, "mixes operators and fields"),
        (["age"], "expected an object"),
    ],
)
def test_malformed_filters_are_validation_errors_naming_the_problem(documents: Documents, expression: Any, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        documents.ids(expression)
    assert fragment in caught.value.message and caught.value.status == 400


def test_values_are_bound_never_spliced_into_sql(documents: Documents) -> None:
    documents.replace(PATIENTS)
    assert documents.ids({"diagnosis": "x'); DROP TABLE documents; --"}) == []
    assert documents.ids({"it's": {"$exists": True}}) == []
    assert len(documents.ids({})) == len(PATIENTS)


def test_deep_nesting_is_refused(documents: Documents) -> None:
    expression: dict[str, Any] = {"a": 1}
    for _ in range(40):
        expression = {"$and": [expression]}
    with pytest.raises(ValidationFailed, match="cap max_depth"):
        documents.ids(expression)


# ---------------------------------------------------------------- random documents, random filters

values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, 2.5, -1.5]), st.sampled_from(["a", "b", "B", "é", "ab"]))
nested = st.fixed_dictionaries({}, optional={"z": values})
documents_strategy = st.lists(
    st.fixed_dictionaries({}, optional={"x": values, "y": values, "n": nested, "l": st.lists(values, max_size=3)}),
    max_size=8,
)
paths = st.sampled_from(["x", "y", "n.z", "l.0", "missing"])
comparable = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, "a", "b", "B"]))
conditions = st.one_of(
    values,
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$eq", "$ne"]), values),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), comparable),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$in", "$nin"]), st.lists(values, max_size=3)),
    st.builds(lambda v: {"$exists": v}, st.booleans()),
    st.builds(lambda v: {"$not": {"$gt": v}}, comparable),
)
filters = st.recursive(
    st.dictionaries(paths, conditions, min_size=1, max_size=2),
    lambda inner: (
        st.builds(lambda op, parts: {op: parts}, st.sampled_from(["$and", "$or", "$nor"]), st.lists(inner, min_size=1, max_size=3))
        | st.builds(lambda part: {"$not": part}, inner)
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents_strategy, filters)
def test_sql_agrees_with_the_reference_on_random_filters(documents: Documents, docs: list[dict[str, Any]], expression: dict[str, Any]) -> None:
    documents.replace(docs)
    assert documents.ids(expression) == [n for n, d in enumerate(docs) if matches(d, expression)]


def test_reference_helpers_cover_paths() -> None:
    assert get_path({"a": [{"b": 1}]}, "a.0.b") == 1 and get_path({"a": 1}, "a.b") is MISSING
