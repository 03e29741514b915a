"""The data holder's side of seed 002: datasets, their records, grants to other tenants, revocation.

Records are stored as canonical JSON with a stable `record_id` (`rec_...`
unless the uploader gave one) and an upload `seq` that cursors page by.
Stored records are never modified: transformations work on copies.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from ledger_service.access.tables import AccessSession, Dataset, DatasetAccess, DatasetGrant, DatasetRecord
from ledger_service.auth import now
from ledger_service.errors import Conflict, NotFound, ValidationFailed
from ledger_service.tables import Tenant
from xase import evidence

__all__ = ["create_dataset", "find_dataset", "upload_records", "grant_access", "revoke_grant", "list_grants", "list_accesses"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_PURPOSE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
UPLOAD_CHUNK = 1000
MAX_DURATION_SECONDS = 366 * 86400


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _dataset_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "tenant_id": row.tenant_id, "created_at": row.created_at}


def create_dataset(conn: Connection, tenant_id: str, name: Any, description: Any = "") -> dict[str, Any]:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationFailed("name: 1-200 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", {"field": "name"})
    if not isinstance(description, str) or len(description) > 4000:
        raise ValidationFailed("description: a string of at most 4000 characters", {"field": "description"})
    if conn.execute(select(Dataset.id).where(Dataset.tenant_id == tenant_id, Dataset.name == name)).first():
        raise Conflict(f"dataset {name!r} already exists", {"name": name})
    row = {"id": _new_id("ds"), "tenant_id": tenant_id, "name": name, "description": description,
           "hash_key": secrets.token_hex(32), "created_at": now()}  # fmt: skip
    conn.execute(insert(Dataset).values(**row))
    return {key: row[key] for key in ("id", "name", "description", "tenant_id", "created_at")}


def find_dataset(conn: Connection, tenant_id: str, reference: str, *, lock: bool = False) -> Any:
    """The holder's dataset by id or name; another tenant's dataset is simply not found."""
    query = select(Dataset).where(Dataset.tenant_id == tenant_id, (Dataset.id == reference) | (Dataset.name == reference))
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(f"dataset {reference!r} not found")
    return row


def dataset_view(conn: Connection, dataset: Any) -> dict[str, Any]:
    count = conn.execute(select(func.count()).select_from(DatasetRecord).where(DatasetRecord.dataset_id == dataset.id)).scalar_one()
    return {**_dataset_view(dataset), "record_count": count}


def _prepared(record: Any, position: int) -> tuple[str, dict[str, Any]]:
    if not isinstance(record, dict):
        raise ValidationFailed(f"record {position}: must be a JSON object", {"index": position})
    body = dict(record)
    record_id = body.pop("record_id", None)
    if record_id is None:
        record_id = "rec_" + secrets.token_hex(8)
    elif not isinstance(record_id, str) or not _RECORD_ID.match(record_id):
        raise ValidationFailed(f"record {position}: record_id must be 1-128 characters of A-Z a-z 0-9 . _ : -", {"index": position})
    try:
        canonical = evidence.canonicalize(body)
    except evidence.CanonicalizationError as exc:
        raise ValidationFailed(f"record {position}: {exc}", {"index": position}) from None
    return record_id, json.loads(canonical)


def upload_records(conn: Connection, dataset: Any, records: Iterable[Any]) -> dict[str, Any]:
    """Append records in upload order, in batched inserts; all or nothing (the caller's transaction)."""
    find_dataset(conn, dataset.tenant_id, dataset.id, lock=True)  # one uploader per dataset at a time
    next_seq = (conn.execute(select(func.max(DatasetRecord.seq)).where(DatasetRecord.dataset_id == dataset.id)).scalar() or -1) + 1
    created_at = now()
    record_ids: list[str] = []
    for chunk in _chunks(enumerate(records), UPLOAD_CHUNK):
        rows = []
        for position, record in chunk:
            record_id, body = _prepared(record, position)
            rows.append({"dataset_id": dataset.id, "seq": next_seq, "record_id": record_id, "body": body, "created_at": created_at})
            record_ids.append(record_id)
            next_seq += 1
        _refuse_duplicates(conn, dataset.id, [row["record_id"] for row in rows], set(record_ids[: -len(rows)]))
        conn.execute(insert(DatasetRecord), rows)
    if not record_ids:
        raise ValidationFailed("no records in the upload")
    return {"dataset_id": dataset.id, "inserted": len(record_ids), "record_ids": record_ids}


def _chunks(items: Iterable[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _refuse_duplicates(conn: Connection, dataset_id: str, ids: list[str], earlier: set[str]) -> None:
    seen = set(earlier)
    for record_id in ids:
        if record_id in seen:
            raise Conflict(f"record_id {record_id!r} appears twice in the upload", {"record_id": record_id})
        seen.add(record_id)
    stored = conn.execute(select(DatasetRecord.record_id).where(DatasetRecord.dataset_id == dataset_id, DatasetRecord.record_id.in_(ids))).first()
    if stored:
        raise Conflict(f"record_id {stored.record_id!r} already exists in this dataset", {"record_id": stored.record_id})


# ---------------------------------------------------------------- grants


def _grant_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "dataset_id": row.dataset_id, "grantee_tenant_id": row.grantee_tenant_id, "purposes": json.loads(row.purposes),
            "max_duration_seconds": row.max_duration_seconds, "created_at": row.created_at, "revoked_at": row.revoked_at,
            "revoked_by": row.revoked_by, "revoke_reason": row.revoke_reason}  # fmt: skip


def grant_access(conn: Connection, dataset: Any, grantee: Any, purposes: Any, max_duration_seconds: Any) -> dict[str, Any]:
    tenant = conn.execute(select(Tenant.id).where((Tenant.id == grantee) | (Tenant.name == grantee))).first() if isinstance(grantee, str) else None
    if tenant is None:
        raise NotFound(f"tenant {grantee!r} not found", {"field": "tenant"})
    if not isinstance(purposes, list) or not purposes or not all(isinstance(p, str) and _PURPOSE.match(p) for p in purposes):
        raise ValidationFailed("purposes: a non-empty list of purpose names such as \"model_training\"", {"field": "purposes"})
    if isinstance(max_duration_seconds, bool) or not isinstance(max_duration_seconds, int) or not 60 <= max_duration_seconds <= MAX_DURATION_SECONDS:
        raise ValidationFailed(f"max_duration_seconds: an integer within [60, {MAX_DURATION_SECONDS}]", {"field": "max_duration_seconds"})
    row = {"id": _new_id("grant"), "dataset_id": dataset.id, "grantee_tenant_id": tenant.id, "purposes": json.dumps(sorted(set(purposes))),
           "max_duration_seconds": max_duration_seconds, "created_at": now(), "revoked_at": None, "revoked_by": None, "revoke_reason": None}  # fmt: skip
    conn.execute(insert(DatasetGrant).values(**row))
    return _grant_view(conn.execute(select(DatasetGrant).where(DatasetGrant.id == row["id"])).one())


def list_grants(conn: Connection, dataset: Any) -> list[dict[str, Any]]:
    rows = conn.execute(select(DatasetGrant).where(DatasetGrant.dataset_id == dataset.id).order_by(DatasetGrant.created_at))
    return [_grant_view(row) for row in rows]


def _revocation(reason: Any, revoked_by: Any) -> dict[str, Any]:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 1000:
        raise ValidationFailed("reason: a non-empty string of at most 1000 characters", {"field": "reason"})
    if not isinstance(revoked_by, str) or not revoked_by.strip() or len(revoked_by) > 200:
        raise ValidationFailed("revoked_by: who revokes, a non-empty string of at most 200 characters", {"field": "revoked_by"})
    return {"revoked_at": now(), "revoked_by": revoked_by, "revoke_reason": reason}


def revoke_grant(conn: Connection, dataset: Any, grant_id: str, reason: Any, revoked_by: Any) -> dict[str, Any]:
    """Revoke a grant and every live session opened under it."""
    revocation = _revocation(reason, revoked_by)
    grant = conn.execute(select(DatasetGrant).where(DatasetGrant.id == grant_id, DatasetGrant.dataset_id == dataset.id)).first()
    if grant is None:
        raise NotFound(f"grant {grant_id!r} not found")
    live = select(AccessSession.id).where(AccessSession.grant_id == grant_id, AccessSession.revoked_at.is_(None), AccessSession.closed_at.is_(None))
    revoked_sessions = list(conn.execute(live).scalars()) if grant.revoked_at is None else []
    if grant.revoked_at is None:
        conn.execute(update(DatasetGrant).where(DatasetGrant.id == grant_id).values(**revocation))
        conn.execute(update(AccessSession).where(AccessSession.id.in_(revoked_sessions)).values(**revocation))
    view = _grant_view(conn.execute(select(DatasetGrant).where(DatasetGrant.id == grant_id)).one())
    return {**view, "revoked_sessions": revoked_sessions}


def revoke_session(conn: Connection, dataset: Any, session_id: str, reason: Any, revoked_by: Any) -> dict[str, Any]:
    revocation = _revocation(reason, revoked_by)
    session = conn.execute(select(AccessSession).where(AccessSession.id == session_id, AccessSession.dataset_id == dataset.id)).first()
    if session is None:
        raise NotFound(f"session {session_id!r} not found")
    newly = session.revoked_at is None and session.closed_at is None
    if newly:
        conn.execute(update(AccessSession).where(AccessSession.id == session_id).values(**revocation))
    row = conn.execute(select(AccessSession).where(AccessSession.id == session_id)).one()
    return {"session_id": row.id, "revoked_at": row.revoked_at, "revoked_by": row.revoked_by, "reason": row.revoke_reason,
            "revoked_sessions": [row.id] if newly else []}  # fmt: skip


def list_accesses(conn: Connection, dataset: Any, limit: int = 1000) -> list[dict[str, Any]]:
    rows = conn.execute(select(DatasetAccess).where(DatasetAccess.dataset_id == dataset.id).order_by(DatasetAccess.created_at).limit(limit))
    return [{"access_id": r.id, "session_id": r.session_id, "tenant_id": r.tenant_id, "action": r.action, "purpose": r.purpose,
             "record_ids": r.record_ids, "transaction_id": r.transaction_id, "accessed_at": r.created_at} for r in rows]  # fmt: skip
