"""The data holder's side: datasets, uploads, grants and revocations, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from ledger_service.access import datasets
from ledger_service.access.tables import DatasetRecord
from ledger_service.db import read_connection, write_transaction
from ledger_service.errors import Conflict, NotFound, ValidationFailed
from tests.access.conftest import Tenants


def _dataset(tenants: Tenants, name: str = "patients") -> Any:
    with write_transaction(tenants.engine) as conn:
        created = datasets.create_dataset(conn, tenants.holder, name, "de-identified EHR extract")
        return datasets.find_dataset(conn, tenants.holder, created["id"])


def test_create_and_find_by_id_or_name_only_by_its_holder(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    with read_connection(tenants.engine) as conn:
        assert datasets.find_dataset(conn, tenants.holder, "patients").id == dataset.id
        with pytest.raises(NotFound):
            datasets.find_dataset(conn, tenants.consumer, dataset.id)
    with pytest.raises(Conflict), write_transaction(tenants.engine) as conn:
        datasets.create_dataset(conn, tenants.holder, "patients")
    with pytest.raises(ValidationFailed, match="name"), write_transaction(tenants.engine) as conn:
        datasets.create_dataset(conn, tenants.holder, "has spaces")


def test_upload_keeps_given_ids_generates_the_rest_and_orders_by_upload(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    with write_transaction(tenants.engine) as conn:
        first = datasets.upload_records(conn, dataset, [{"record_id": "p1", "age": 57}, {"age": 72}])
        second = datasets.upload_records(conn, dataset, ({"age": n} for n in range(2500)))
    assert first["record_ids"][0] == "p1" and first["record_ids"][1].startswith("rec_")
    assert second["inserted"] == 2500
    with read_connection(tenants.engine) as conn:
        rows = conn.execute(select(DatasetRecord.seq, DatasetRecord.record_id, DatasetRecord.body).order_by(DatasetRecord.seq)).all()
        assert [row.seq for row in rows] == list(range(2502))
        assert rows[0].body == {"age": 57} and "record_id" not in rows[0].body
        assert datasets.dataset_view(conn, dataset)["record_count"] == 2502


@pytest.mark.parametrize(
    "records, error, fragment",
    [
        ([{"record_id": "a"}, {"record_id": "a"}], Conflict, "appears twice"),
        (["not an object"], ValidationFailed, "record 0: must be a JSON object"),
        ([{"ok": 1}, {"n": 2**60}], ValidationFailed, "record 1:"),
        ([{"record_id": "bad id"}], ValidationFailed, "record_id"),
        ([], ValidationFailed, "no records"),
    ],
)
def test_a_bad_upload_is_refused_whole(tenants: Tenants, records: list[Any], error: type[Exception], fragment: str) -> None:
    dataset = _dataset(tenants)
    with pytest.raises(error, match=fragment), write_transaction(tenants.engine) as conn:
        datasets.upload_records(conn, dataset, records)
    with read_connection(tenants.engine) as conn:
        assert datasets.dataset_view(conn, dataset)["record_count"] == 0


def test_an_existing_record_id_is_a_conflict(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    with write_transaction(tenants.engine) as conn:
        datasets.upload_records(conn, dataset, [{"record_id": "p1"}])
    with pytest.raises(Conflict, match="already exists"), write_transaction(tenants.engine) as conn:
        datasets.upload_records(conn, dataset, [{"record_id": "p2"}, {"record_id": "p1"}])


def test_grants_validate_and_revoke(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    with write_transaction(tenants.engine) as conn:
        grant = datasets.grant_access(conn, dataset, "ai-lab", ["model_training", "evaluation"], 30 * 86400)
        assert grant["grantee_tenant_id"] == tenants.consumer and grant["purposes"] == ["evaluation", "model_training"]
        for grantee, purposes, duration, fragment in [("nobody", ["x"], 3600, "not found"), ("ai-lab", [], 3600, "purposes"),
                                                      ("ai-lab", ["x"], 10, "max_duration_seconds")]:  # fmt: skip
            with pytest.raises((NotFound, ValidationFailed), match=fragment):
                datasets.grant_access(conn, dataset, grantee, purposes, duration)
        revoked = datasets.revoke_grant(conn, dataset, grant["id"], "study ended", "dpo@hospital.example")
        assert revoked["revoked_at"] and revoked["revoked_by"] == "dpo@hospital.example"
        with pytest.raises(ValidationFailed, match="reason"):
            datasets.revoke_grant(conn, dataset, grant["id"], "", "dpo")
        assert [g["id"] for g in datasets.list_grants(conn, dataset)] == [grant["id"]]
