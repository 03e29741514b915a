"""The data holder's side: datasets, uploads, grants and revocations, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from ledger_service.access import datasets
from ledger_service.access.tables import Dataset, DatasetRecord
from ledger_service.auth import now
from ledger_service.db import read_connection, write_transaction
from ledger_service.errors import Conflict, NotFound, QuotaExceeded, ValidationFailed
from tests.access.conftest import Tenants
from xase import evidence


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


def _upload(tenants: Tenants, dataset: Any, records: list[Any], cap: int = 100_000) -> dict[str, Any]:
    return datasets.upload_records(tenants.engine, dataset, datasets.prepare_upload(records, cap))


def _count(tenants: Tenants, dataset: Any) -> int:
    with read_connection(tenants.engine) as conn:
        return int(datasets.dataset_view(datasets.find_dataset(conn, tenants.holder, dataset.id))["record_count"])


def test_upload_keeps_given_ids_generates_the_rest_and_orders_by_upload(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    first = _upload(tenants, dataset, [{"record_id": "p1", "age": 57}, {"age": 72}])
    second = _upload(tenants, dataset, [{"age": n} for n in range(2500)])
    assert first["record_ids"][0] == "p1" and first["record_ids"][1].startswith("rec_")
    assert second["inserted"] == 2500
    with read_connection(tenants.engine) as conn:
        rows = conn.execute(select(DatasetRecord.seq, DatasetRecord.record_id, DatasetRecord.body).order_by(DatasetRecord.seq)).all()
    assert [row.seq for row in rows] == list(range(2502))
    assert rows[0].body == {"age": 57} and "record_id" not in rows[0].body
    assert _count(tenants, dataset) == 2502


@pytest.mark.parametrize(
    "records, error, fragment",
    [
        ([{"record_id": "a"}, {"record_id": "a"}], Conflict, "appears twice"),
        ([*({"record_id": f"r{n}"} for n in range(2500)), {"record_id": "r7"}], Conflict, "'r7' appears twice"),  # across chunks
        (["not an object"], ValidationFailed, "record 0: must be a JSON object"),
        ([{"ok": 1}, {"n": 2**60}], ValidationFailed, "record 1:"),
        ([{"record_id": "bad id"}], ValidationFailed, "record_id"),
        ([], ValidationFailed, "no records"),
        ([{}] * 11, ValidationFailed, "cap max_upload_records"),
    ],
)
def test_a_bad_upload_is_refused_whole(tenants: Tenants, records: list[Any], error: type[Exception], fragment: str) -> None:
    dataset = _dataset(tenants)
    with pytest.raises(error, match=fragment):
        _upload(tenants, dataset, records, cap=10 if len(records) == 11 else 100_000)
    assert _count(tenants, dataset) == 0


def test_an_existing_record_id_with_other_content_is_a_conflict_and_the_failed_upload_leaves_nothing(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    _upload(tenants, dataset, [{"record_id": "p1", "v": 1}])
    with pytest.raises(Conflict, match="'p1' already exists in this dataset with other content"):
        _upload(tenants, dataset, [{"record_id": "p1", "v": 2}])
    with pytest.raises(Conflict, match="other content"):  # found in the third chunk, after two were staged
        _upload(tenants, dataset, [*({"record_id": f"q{n}"} for n in range(2500)), {"record_id": "p1", "v": 3}])
    with read_connection(tenants.engine) as conn:
        assert conn.execute(select(DatasetRecord.record_id)).scalars().all() == ["p1"]
    assert _count(tenants, dataset) == 1
    assert _upload(tenants, dataset, [{"record_id": "q0"}])["inserted"] == 1  # the lease was released


def test_uploading_the_same_records_again_stores_only_the_new_ones(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    first = [{"record_id": f"r{n}", "age": n, "score": n / 3} for n in range(1500)]
    assert _upload(tenants, dataset, first)["inserted"] == 1500
    again = _upload(tenants, dataset, first)  # a retried upload whose answer was lost
    assert (again["inserted"], again["already_stored"]) == (0, 1500)
    resumed = _upload(tenants, dataset, [*first[1000:], {"record_id": "r1500", "age": 1500}])  # resumed on other boundaries
    assert (resumed["inserted"], resumed["already_stored"], resumed["record_ids"]) == (1, 500, ["r1500"])
    assert _count(tenants, dataset) == 1501


def test_staged_rows_are_invisible_and_a_crashed_uploads_leftovers_are_discarded(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    _upload(tenants, dataset, [{"record_id": "kept"}])
    with write_transaction(tenants.engine) as conn:  # what a process killed mid-upload leaves behind
        conn.execute(insert(DatasetRecord).values(dataset_id=dataset.id, seq=1, record_id="staged", body={}, created_at="x"))
        conn.execute(update(Dataset).where(Dataset.id == dataset.id).values(upload_lease="dead", upload_started_at="2000-01-01T00:00:00.000Z"))
    assert _count(tenants, dataset) == 1
    assert _upload(tenants, dataset, [{"record_id": "staged"}, {"record_id": "new"}])["inserted"] == 2  # stale lease taken over
    with read_connection(tenants.engine) as conn:
        rows = conn.execute(select(DatasetRecord.seq, DatasetRecord.record_id).order_by(DatasetRecord.seq)).all()
    assert [tuple(row) for row in rows] == [(0, "kept"), (1, "staged"), (2, "new")] and _count(tenants, dataset) == 3


def test_one_upload_per_dataset_at_a_time(tenants: Tenants) -> None:
    dataset = _dataset(tenants)
    with write_transaction(tenants.engine) as conn:
        conn.execute(update(Dataset).where(Dataset.id == dataset.id).values(upload_lease="live", upload_started_at=now()))
    with pytest.raises(Conflict, match="in progress"):
        _upload(tenants, dataset, [{"record_id": "x"}])


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


def test_an_upload_that_lost_its_lease_publishes_nothing_and_leaves_the_new_owners_rows(tenants: Tenants, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = _dataset(tenants)
    real = datasets.write_transaction

    @contextmanager
    def taken_over_before_each_chunk(engine: Any, *, durable: bool = True) -> Iterator[Any]:
        """Before each staged chunk, a second uploader takes the lease over (as if this one had stalled)."""
        if not durable:
            with real(engine) as conn:
                conn.execute(update(Dataset).where(Dataset.id == dataset.id).values(upload_lease="newcomer"))
        with real(engine, durable=durable) as conn:
            yield conn

    monkeypatch.setattr(datasets, "write_transaction", taken_over_before_each_chunk)
    with pytest.raises(Conflict, match="lost its lease"):
        _upload(tenants, dataset, [{"record_id": "slow"}])
    assert _count(tenants, dataset) == 0
    with read_connection(tenants.engine) as conn:
        assert conn.execute(select(Dataset.upload_lease).where(Dataset.id == dataset.id)).scalar() == "newcomer"
        assert conn.execute(select(DatasetRecord.record_id)).scalars().all() == ["slow"]  # left for the newcomer to discard


def test_the_tenants_datasets_hold_at_most_its_storage_quota_and_an_upload_past_it_stores_nothing(tenants: Tenants) -> None:
    first, second = _dataset(tenants), _dataset(tenants, "claims")
    records = [{"record_id": f"r{n}", "text": "x" * 100} for n in range(10)]
    size = sum(len(evidence.canonicalize({"text": record["text"]})) for record in records)  # the bodies, without their ids
    quota = 2 * size - 1  # room for the first upload, not for the same again in another dataset
    assert datasets.upload_records(tenants.engine, first, datasets.prepare_upload(records, 100), quota)["inserted"] == 10
    with pytest.raises(QuotaExceeded, match="datasets") as refused:
        datasets.upload_records(tenants.engine, second, datasets.prepare_upload(records, 100), quota)
    assert refused.value.details["limit"] == quota and _count(tenants, second) == 0
    # a retry of what is stored takes no room; with the quota off, anything goes
    assert datasets.upload_records(tenants.engine, first, datasets.prepare_upload(records, 100), quota)["already_stored"] == 10
    assert datasets.upload_records(tenants.engine, second, datasets.prepare_upload(records, 100), 0)["inserted"] == 10
    with read_connection(tenants.engine) as conn:
        assert conn.execute(select(Dataset.stored_bytes).where(Dataset.id == second.id)).scalar_one() == size
