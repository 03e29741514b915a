"""Declared field indexes: the database serves selective and sorted filters from them, and answers do not change."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select, text

from ledger_service.access import datasets
from ledger_service.access.indexes import MAX_INDEXED_FIELDS, index_fields
from ledger_service.access.tables import DatasetRecord
from ledger_service.db import read_connection, write_transaction
from ledger_service.errors import ValidationFailed
from ledger_service.query import compile_filter, sort_expression
from tests.access.conftest import Tenants, open_session
from tests.conftest import BACKENDS, Api


def _dataset(tenants: Tenants, count: int = 2000) -> Any:
    with write_transaction(tenants.engine) as conn:
        created = datasets.create_dataset(conn, tenants.holder, "cohort")
    with read_connection(tenants.engine) as conn:
        dataset = datasets.find_dataset(conn, tenants.holder, created["id"])
    records = [{"record_id": f"r{n}", "patient_id": f"p{n:05d}", "age": 18 + n % 80} for n in range(count)]
    datasets.upload_records(tenants.engine, dataset, datasets.prepare_upload(records, 100_000))
    return dataset


def _plan(tenants: Tenants, dataset_id: str, filter_: Any, sort: Any = None) -> str:
    """The database's plan for the query a session's filter runs."""
    dialect = tenants.engine.dialect.name
    query = select(DatasetRecord.record_id).where(DatasetRecord.dataset_id == dataset_id, compile_filter(filter_, DatasetRecord.body, dialect))
    query = query.order_by(*sort_expression(sort, DatasetRecord.body, dialect, DatasetRecord.seq.expression)).limit(100)
    sql = str(query.compile(dialect=tenants.engine.dialect, compile_kwargs={"literal_binds": True}))
    with read_connection(tenants.engine) as conn:
        if dialect == "sqlite":
            return " | ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a 2,000-row table: show the index can serve, not the cost model
        return " | ".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))


def test_an_indexed_field_serves_equality_and_sorted_filters(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    assert "ix_dsr_field_" not in _plan(tenants, dataset.id, {"patient_id": "p01234"})
    report = index_fields(tenants.engine, ["patient_id", "age"])
    assert [(entry["field"], entry["created"]) for entry in report] == [("patient_id", True), ("age", True)]
    by_patient, by_age = (entry["index"] for entry in report)
    assert by_patient in _plan(tenants, dataset.id, {"patient_id": "p01234"})
    sorted_plan = _plan(tenants, dataset.id, {"age": {"$gte": 50}}, {"age": -1})
    assert by_age in sorted_plan
    if tenants.engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in sorted_plan  # the index gives the order: the first 100 are read, not sorted
    assert [entry["created"] for entry in index_fields(tenants.engine, ["age", "patient_id"])] == [False, False]


@pytest.mark.parametrize("fields", [[], "age", [7], ["a" * 300], ["$where"], [f"f{n}" for n in range(9)]])
def test_bad_field_lists_are_refused(tenants: Tenants, fields: Any) -> None:
    with pytest.raises(ValidationFailed):
        index_fields(tenants.engine, fields)


def test_the_number_of_indexed_fields_is_capped(tenants: Tenants) -> None:
    for start in range(0, MAX_INDEXED_FIELDS, 8):
        index_fields(tenants.engine, [f"field_{n}" for n in range(start, start + 8)])
    with pytest.raises(ValidationFailed, match="max_indexed_fields"):
        index_fields(tenants.engine, ["one_too_many"])
    assert [entry["created"] for entry in index_fields(tenants.engine, ["field_3"])] == [False]  # existing ones stay usable


def test_the_endpoint_indexes_only_the_holders_dataset_and_answers_do_not_change(shared: tuple[Api, Api, str]) -> None:
    holder, consumer, dataset_id = shared
    session = open_session(consumer, dataset_id)["session_id"]
    queries = [{"filter": {"patient_id": "p7"}}, {"filter": {"age": {"$gte": 40}}, "sort": {"age": -1}, "limit": 3}]
    before = [consumer.post(f"/sessions/{session}/filter", json=query).json()["records"] for query in queries]
    created = holder.post(f"/datasets/{dataset_id}/indexes", json={"fields": ["patient_id", "age"]})
    assert created.status_code in (200, 201) and [entry["field"] for entry in created.json()["indexes"]] == ["patient_id", "age"]
    assert holder.post(f"/datasets/{dataset_id}/indexes", json={"fields": ["age"]}).status_code == 200
    assert consumer.post(f"/datasets/{dataset_id}/indexes", json={"fields": ["age"]}).status_code == 404  # not the consumer's
    assert holder.post(f"/datasets/{dataset_id}/indexes", json={"fields": "age"}).status_code == 400
    after = [consumer.post(f"/sessions/{session}/filter", json=query).json()["records"] for query in queries]
    assert after == before and [record["record_id"] for record in after[1]] == ["p9", "p8", "p7"]


def test_concurrent_requests_build_an_index_once(tenants: Tenants) -> None:
    _dataset(tenants, count=200)
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda _: index_fields(tenants.engine, ["age"]), range(4)))
    assert sorted(report[0]["created"] for report in reports) == [False, False, False, True]


@pytest.mark.parametrize("tenants", BACKENDS[1:], indirect=True)  # PostgreSQL (skipped, saying why, where it is not reachable)
def test_an_invalid_leftover_of_a_failed_build_is_rebuilt(tenants: Tenants) -> None:
    """Only PostgreSQL's CONCURRENTLY builds can leave an invalid index behind."""
    _dataset(tenants, count=200)
    (entry,) = index_fields(tenants.engine, ["age"])
    with write_transaction(tenants.engine) as conn:  # what a build that failed half-way leaves
        conn.execute(text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = CAST(:name AS regclass)"), {"name": entry["index"]})
    assert index_fields(tenants.engine, ["age"])[0]["created"] is True
    with read_connection(tenants.engine) as conn:
        assert conn.execute(text("SELECT indisvalid FROM pg_index WHERE indexrelid = CAST(:name AS regclass)"), {"name": entry["index"]}).scalar()


def test_a_value_too_large_for_an_index_is_a_400_not_a_500(shared: tuple[Api, Api, str]) -> None:
    """PostgreSQL cannot index a value of more than about 2.7 KB (program_limit_exceeded): an upload that carries one
    in an indexed field, or an index over a field that holds one, is refused with a 400 (the fuzzer found the 500)."""
    holder, _consumer, dataset_id = shared
    assert holder.post(f"/datasets/{dataset_id}/indexes", json={"fields": ["summary"]}).status_code in (200, 201)
    upload = holder.post(f"/datasets/{dataset_id}/records", json=[{"record_id": "long-1", "summary": "x" * 20_000 + "".join(map(str, range(3000)))}])
    if holder.ledger.backend == "postgresql":
        assert upload.status_code == 400 and "too large to index" in upload.json()["error"]["message"], upload.text
    else:  # SQLite indexes any length
        assert upload.status_code in (200, 201), upload.text
    assert holder.post(f"/datasets/{dataset_id}/records", json=[{"record_id": "short-1", "summary": "fine"}]).status_code in (200, 201)
