"""Limits of a session's reads (issue 12): overflowing aggregates are 400s with no evidence; operations cap their record ids."""

from __future__ import annotations

from typing import Any

import pytest

from tests.access.conftest import open_session
from tests.conftest import Api

# Three doubles near the top of the range, and enough integers of 2^53 - 1 to pass 2^63 (SQLite sums integers exactly).
HUGE = [{"record_id": f"h{n}", "big": 1e308} for n in range(3)] + [{"record_id": f"w{n}", "wide": 2**53 - 1} for n in range(1030)]


@pytest.mark.parametrize(
    "pipeline",
    [
        [{"$group": {"_id": None, "total": {"$sum": "$big"}}}],
        [{"$group": {"_id": None, "mean": {"$avg": "$big"}}}],
        [{"$group": {"_id": None, "n": {"$sum": 1e308}}}, {"$project": ["n"]}],
        [{"$group": {"_id": None, "total": {"$sum": "$wide"}}}],
    ],
)
def test_overflowing_aggregates_are_400_and_record_nothing(shared: tuple[Api, Api, str], pipeline: list[dict[str, Any]]) -> None:
    holder, consumer, dataset_id = shared
    assert holder.post(f"/datasets/{dataset_id}/records", json=HUGE).status_code == 201
    session = open_session(consumer, dataset_id)
    before = len(consumer.all_records())
    response = consumer.post(f"/sessions/{session['session_id']}/aggregate", json={"pipeline": pipeline})
    if response.status_code == 200:  # an exact big-integer sum is a fine answer; it must then be evidence
        assert len(consumer.all_records()) == before + 1
        return
    assert response.status_code == 400, response.text
    assert "overflow" in response.json()["error"]["message"]
    assert len(consumer.all_records()) == before


def test_operations_cap_record_ids_and_look_them_up_in_chunks(shared: tuple[Api, Api, str]) -> None:
    _holder, consumer, dataset_id = shared
    session = open_session(consumer, dataset_id)
    path = f"/sessions/{session['session_id']}/operations"
    too_many = consumer.post(path, json={"operation_type": "TRAIN", "records": [f"r{n}" for n in range(70_000)]})
    assert too_many.status_code == 400 and too_many.json()["error"]["details"]["cap"] == "max_record_ids", too_many.text
    unknown = consumer.post(path, json={"operation_type": "TRAIN", "records": [f"r{n}" for n in range(10_000)]})
    assert unknown.status_code == 404 and len(unknown.json()["error"]["details"]["missing"]) == 100
