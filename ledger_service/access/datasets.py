"""The data holder's side of seed 002: datasets, their records, grants to other tenants, revocation.

Records are stored as canonical JSON with a stable `record_id` (`rec_...`
unless the uploader gave one) and an upload `seq` that cursors page by.
Stored records are never modified: transformations work on copies.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from ledger_service.access.tables import AccessSession, Dataset, DatasetAccess, DatasetGrant, DatasetRecord
from ledger_service.auth import now
from ledger_service.db import read_connection, write_transaction
from ledger_service.errors import Conflict, NotFound, ValidationFailed, check_quota, over_cap
from ledger_service.tables import Tenant
from xase import evidence

__all__ = ["create_dataset", "find_dataset", "upload_records", "grant_access", "revoke_grant", "list_grants", "list_accesses"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", re.ASCII)  # as the ledger writes them
_PURPOSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
DATASET_ID_PREFIX = "ds_"  # ids only: no dataset name may start with it
ACCESS_LOG_PAGE = 1000  # entries per page of the access log, at most
UPLOAD_CHUNK = 1000  # rows per staging transaction (~20 ms): the longest another writer waits on an upload
MAX_INDEXED_VALUE_BYTES = 2700  # a btree entry holds at most a third of an 8 KiB page (PostgreSQL)
# The DBAPI's executemany straight from tuples: no per-row parameter building, bodies already canonical JSON text.
_INSERT_CANONICAL = {
    "sqlite": "INSERT INTO dataset_records (dataset_id, seq, record_id, body, created_at) VALUES (?, ?, ?, ?, ?)",
    "postgresql": "INSERT INTO dataset_records (dataset_id, seq, record_id, body, created_at) VALUES (%s, %s, %s, %s::jsonb, %s)",
}
UPLOAD_LEASE_SECONDS = 600  # an upload lease older than this belongs to a crashed uploader
MAX_DURATION_SECONDS = 366 * 86400


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _dataset_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description, "tenant_id": row.tenant_id, "created_at": row.created_at}


def create_dataset(conn: Connection, tenant_id: str, name: Any, description: Any = "") -> dict[str, Any]:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationFailed("name: 1-200 characters of A-Z a-z 0-9 . _ - starting with a letter or digit", {"field": "name"})
    if name.lower().startswith(DATASET_ID_PREFIX):
        raise ValidationFailed(f"name: the prefix {DATASET_ID_PREFIX!r} is reserved for dataset ids", {"field": "name"})
    if not isinstance(description, str) or len(description) > 4000:
        raise ValidationFailed("description: a string of at most 4000 characters", {"field": "description"})
    if conn.execute(select(Dataset.id).where(Dataset.tenant_id == tenant_id, Dataset.name == name)).first():
        raise Conflict(f"dataset {name!r} already exists", {"name": name})
    row = {"id": DATASET_ID_PREFIX + secrets.token_hex(8), "tenant_id": tenant_id, "name": name, "description": description,
           "hash_key": secrets.token_hex(32), "created_at": now()}  # fmt: skip
    conn.execute(insert(Dataset).values(**row))
    return {key: row[key] for key in ("id", "name", "description", "tenant_id", "created_at")}


def find_dataset(conn: Connection, tenant_id: str, reference: str) -> Any:
    """The holder's dataset by id or name; another tenant's dataset is simply not found."""
    row = conn.execute(select(Dataset).where(Dataset.tenant_id == tenant_id, (Dataset.id == reference) | (Dataset.name == reference))).first()
    if row is None:
        raise NotFound(f"dataset {reference!r} not found")
    return row


def overview(conn: Connection, tenant_id: str, limit: int) -> dict[str, Any]:
    """What the console shows: the tenant's datasets as holder (at most `limit`, by name, each with its grants and
    its accesses' count) and the grants made to it as consumer (at most `limit`, newest first); its sessions come
    from `sessions.list_sessions`."""
    rows = conn.execute(select(Dataset).where(Dataset.tenant_id == tenant_id).order_by(Dataset.name).limit(limit)).all()
    ids = [row.id for row in rows]
    grants: dict[str, list[dict[str, Any]]] = {}
    accesses: dict[str, int] = {}
    if ids:
        for grant in conn.execute(select(DatasetGrant).where(DatasetGrant.dataset_id.in_(ids)).order_by(DatasetGrant.created_at).limit(limit * 20)):
            grants.setdefault(grant.dataset_id, []).append(_grant_view(grant))
        query = select(DatasetAccess.dataset_id, func.count()).where(DatasetAccess.dataset_id.in_(ids)).group_by(DatasetAccess.dataset_id)
        accesses = {dataset_id: int(count) for dataset_id, count in conn.execute(query)}
    held = [{**dataset_view(row), "grants": grants.get(row.id, []), "accesses": accesses.get(row.id, 0)} for row in rows]
    return {"datasets": held, "granted_to_us": grants_to(conn, tenant_id)[:limit]}


def dataset_view(dataset: Any) -> dict[str, Any]:
    return {**_dataset_view(dataset), "record_count": dataset.committed_seq + 1}  # seqs are contiguous from 0


def _prepared(record: Any, position: int) -> tuple[str, str]:
    if not isinstance(record, dict):
        raise ValidationFailed(f"record {position}: must be a JSON object", {"index": position})
    body = dict(record)
    record_id = body.pop("record_id", None)
    if record_id is None:
        record_id = "rec_" + secrets.token_hex(8)
    elif not isinstance(record_id, str) or not _RECORD_ID.fullmatch(record_id):
        raise ValidationFailed(f"record {position}: record_id must be 1-128 characters of A-Z a-z 0-9 . _ : -", {"index": position})
    try:
        canonical = evidence.canonicalize(body)
    except evidence.CanonicalizationError as exc:
        raise ValidationFailed(f"record {position}: {exc}", {"index": position}) from None
    return record_id, canonical.decode("utf-8")


def prepare_upload(records: list[Any], max_records: int) -> list[tuple[str, str]]:
    """Validate and canonicalize an upload before touching the database: (record_id, canonical body) in upload order."""
    if not records:
        raise ValidationFailed("no records in the upload")
    if len(records) > max_records:
        raise over_cap("records per upload", "max_upload_records", max_records)
    prepared, seen = [], set()
    for position, record in enumerate(records):
        record_id, body = _prepared(record, position)
        if record_id in seen:
            raise Conflict(f"record_id {record_id!r} appears twice in the upload", {"record_id": record_id})
        seen.add(record_id)
        prepared.append((record_id, body))
    return prepared


def upload_records(engine: Engine, dataset: Any, prepared: list[tuple[str, str]], quota: int = 0) -> dict[str, Any]:
    """Append prepared records, all or nothing, without holding the write lock for the whole upload.

    Rows are staged beyond the dataset's `committed_seq` in short transactions of UPLOAD_CHUNK rows
    (other tenants' appends run in between), then published at once by moving `committed_seq`;
    a failed upload removes what it staged. One upload per dataset at a time (its lease).

    Uploads are idempotent per record: a record whose id the dataset holds with the same content is
    skipped (a retried or resumed upload stores nothing twice); the same id with other content is a 409.
    """
    lease = _take_upload_lease(engine, dataset.id)
    try:
        skipped = 0
        try:
            next_seq = _stage(engine, dataset.id, lease, prepared)
        except IntegrityError:  # the unique (dataset_id, record_id): ids the dataset already holds
            fresh = _without_stored(engine, dataset.id, prepared)
            skipped, prepared = len(prepared) - len(fresh), fresh
            next_seq = _stage(engine, dataset.id, lease, prepared)
        _publish(engine, dataset, lease, next_seq + len(prepared) - 1, _size(prepared), quota)
    except BaseException:
        _discard_staged(engine, dataset.id, lease)
        with write_transaction(engine) as conn:
            conn.execute(update(Dataset).where(Dataset.id == dataset.id, Dataset.upload_lease == lease).values(upload_lease=None, upload_started_at=None))
        raise
    return {"dataset_id": dataset.id, "inserted": len(prepared), "already_stored": skipped,
            "record_ids": [record_id for record_id, _body in prepared]}  # fmt: skip


def _stage(engine: Engine, dataset_id: str, lease: str, prepared: list[tuple[str, str]]) -> int:
    """Write `prepared` past the committed records, UPLOAD_CHUNK rows a transaction; the first seq used."""
    next_seq = _discard_staged(engine, dataset_id, lease) + 1
    created_at = now()
    for start in range(0, len(prepared), UPLOAD_CHUNK):
        chunk = prepared[start : start + UPLOAD_CHUNK]
        rows = [(dataset_id, next_seq + start + offset, record_id, body, created_at) for offset, (record_id, body) in enumerate(chunk)]
        try:
            with write_transaction(engine, durable=False) as conn:  # nothing acknowledged until published
                conn.exec_driver_sql(_INSERT_CANONICAL[conn.dialect.name], rows)
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "54000":  # PostgreSQL's program_limit_exceeded
                raise
            raise ValidationFailed(
                f"records {start}..{start + len(chunk) - 1}: a value of an indexed field is too large to index: PostgreSQL indexes at most "
                f"about {MAX_INDEXED_VALUE_BYTES} bytes a value (POST /datasets/{{id}}/indexes names the indexed fields)",
                {"max_indexed_value_bytes": MAX_INDEXED_VALUE_BYTES},
            ) from None
    return next_seq


def _size(prepared: list[tuple[str, str]]) -> int:
    return sum(len(body.encode("utf-8")) for _record_id, body in prepared)


def _tenant_stored(conn: Connection, tenant_id: str) -> int:
    return int(conn.execute(select(func.coalesce(func.sum(Dataset.stored_bytes), 0)).where(Dataset.tenant_id == tenant_id)).scalar_one())


def _publish(engine: Engine, dataset: Any, lease: str, committed_seq: int, size: int, quota: int) -> None:
    with write_transaction(engine) as conn:
        check_quota(_tenant_stored(conn, dataset.tenant_id) + size, quota, "datasets")
        published = conn.execute(update(Dataset).where(Dataset.id == dataset.id, Dataset.upload_lease == lease)
                                 .values(committed_seq=committed_seq, upload_lease=None, upload_started_at=None,
                                         stored_bytes=Dataset.stored_bytes + size))  # fmt: skip
        if published.rowcount != 1:  # taken over as stale: another uploader owns the staging area now
            raise Conflict("the upload took too long and lost its lease; nothing was stored", {"dataset_id": dataset.id})
        if conn.dialect.name == "postgresql":  # fresh statistics, so lookups by id keep using the index
            conn.exec_driver_sql("ANALYZE dataset_records")


def _take_upload_lease(engine: Engine, dataset_id: str) -> str:
    lease, current = secrets.token_hex(16), now()
    stale = evidence.format_timestamp(datetime.now(timezone.utc) - timedelta(seconds=UPLOAD_LEASE_SECONDS))
    with write_transaction(engine) as conn:
        taken = conn.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id, or_(Dataset.upload_lease.is_(None), Dataset.upload_started_at < stale))
            .values(upload_lease=lease, upload_started_at=current)
        ).rowcount
    if taken != 1:
        raise Conflict("another upload to this dataset is in progress; retry when it ends", {"dataset_id": dataset_id})
    return lease


def _discard_staged(engine: Engine, dataset_id: str, lease: str) -> int:
    """While holding `lease`, remove rows an unfinished upload staged (this one's, or a crashed one's); the committed_seq."""
    with write_transaction(engine) as conn:
        row = conn.execute(select(Dataset.committed_seq, Dataset.upload_lease).where(Dataset.id == dataset_id)).one()
        if row.upload_lease == lease:
            conn.execute(delete(DatasetRecord).where(DatasetRecord.dataset_id == dataset_id, DatasetRecord.seq > row.committed_seq))
    return int(row.committed_seq)


def _canonical_text(document: Any) -> str:
    return evidence.canonicalize(document).decode("utf-8")


def _without_stored(engine: Engine, dataset_id: str, prepared: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`prepared` minus the records the dataset already holds identically; a 409 naming an id it holds with other content."""
    committed = select(Dataset.committed_seq).where(Dataset.id == dataset_id).scalar_subquery()
    stored: dict[str, str] = {}
    with read_connection(engine) as conn:
        for start in range(0, len(prepared), 500):
            ids = [record_id for record_id, _body in prepared[start : start + 500]]
            query = select(DatasetRecord.record_id, DatasetRecord.body).where(
                DatasetRecord.dataset_id == dataset_id, DatasetRecord.seq <= committed, DatasetRecord.record_id.in_(ids)
            )
            stored.update((row.record_id, _canonical_text(row.body)) for row in conn.execute(query))
    for record_id, body in prepared:
        if record_id in stored and stored[record_id] != body:
            raise Conflict(f"record_id {record_id!r} already exists in this dataset with other content", {"record_id": record_id})
    return [(record_id, body) for record_id, body in prepared if record_id not in stored]


# ---------------------------------------------------------------- grants


def _grant_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "dataset_id": row.dataset_id, "grantee_tenant_id": row.grantee_tenant_id, "purposes": json.loads(row.purposes),
            "max_duration_seconds": row.max_duration_seconds, "created_at": row.created_at, "revoked_at": row.revoked_at,
            "revoked_by": row.revoked_by, "revoke_reason": row.revoke_reason, "declined_at": row.declined_at}  # fmt: skip


def grant_access(conn: Connection, dataset: Any, grantee: Any, purposes: Any, max_duration_seconds: Any) -> dict[str, Any]:
    tenant = conn.execute(select(Tenant.id).where((Tenant.id == grantee) | (Tenant.name == grantee))).first() if isinstance(grantee, str) else None
    if tenant is None:
        raise NotFound(f"tenant {grantee!r} not found", {"field": "tenant"})
    if not isinstance(purposes, list) or not purposes or not all(isinstance(p, str) and _PURPOSE.fullmatch(p) for p in purposes):
        raise ValidationFailed('purposes: a non-empty list of purpose names such as "model_training"', {"field": "purposes"})
    if isinstance(max_duration_seconds, bool) or not isinstance(max_duration_seconds, int) or not 60 <= max_duration_seconds <= MAX_DURATION_SECONDS:
        raise ValidationFailed(f"max_duration_seconds: an integer within [60, {MAX_DURATION_SECONDS}]", {"field": "max_duration_seconds"})
    row = {"id": _new_id("grant"), "dataset_id": dataset.id, "grantee_tenant_id": tenant.id, "purposes": json.dumps(sorted(set(purposes))),
           "max_duration_seconds": max_duration_seconds, "created_at": now()}  # fmt: skip
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


MAX_GRANTS_LISTED = 1_000


def grants_to(conn: Connection, consumer_tenant_id: str) -> list[dict[str, Any]]:
    """The grants made to a consumer, newest first (at most MAX_GRANTS_LISTED), naming the dataset and its holder."""
    query = (
        select(DatasetGrant, Dataset.name.label("dataset_name"), Dataset.tenant_id.label("holder_tenant_id"), Tenant.name.label("holder"))
        .join(Dataset, Dataset.id == DatasetGrant.dataset_id).join(Tenant, Tenant.id == Dataset.tenant_id)
        .where(DatasetGrant.grantee_tenant_id == consumer_tenant_id).order_by(DatasetGrant.created_at.desc(), DatasetGrant.id.desc())
        .limit(MAX_GRANTS_LISTED)
    )  # fmt: skip
    return [{**_grant_view(row), "dataset": row.dataset_name, "holder_tenant_id": row.holder_tenant_id, "holder": row.holder} for row in conn.execute(query)]


def decline_grant(conn: Connection, consumer_tenant_id: str, grant_id: str) -> dict[str, Any]:
    """The consumer refuses a grant: it can no longer open sessions under it (sessions already open run on)."""
    mine = (DatasetGrant.id == grant_id) & (DatasetGrant.grantee_tenant_id == consumer_tenant_id)
    if conn.execute(select(DatasetGrant.id).where(mine)).first() is None:
        raise NotFound(f"grant {grant_id!r} not found")
    conn.execute(update(DatasetGrant).where(mine, DatasetGrant.declined_at.is_(None)).values(declined_at=now()))
    return _grant_view(conn.execute(select(DatasetGrant).where(mine)).one())


def list_accesses(conn: Connection, dataset: Any, limit: int, cursor: Optional[str] = None, since: Optional[str] = None,
                  session_id: Optional[str] = None) -> dict[str, Any]:  # fmt: skip
    """One page of the dataset's access log, newest first; `next_cursor` pages on until every access was seen."""
    query = select(DatasetAccess).where(DatasetAccess.dataset_id == dataset.id)
    if cursor is not None:
        created_at, access_id = _access_position(cursor)
        query = query.where(or_(DatasetAccess.created_at < created_at, (DatasetAccess.created_at == created_at) & (DatasetAccess.id < access_id)))
    if since is not None:
        query = query.where(DatasetAccess.created_at >= since)
    if session_id is not None:
        query = query.where(DatasetAccess.session_id == session_id)
    rows = conn.execute(query.order_by(DatasetAccess.created_at.desc(), DatasetAccess.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    entries = [{"access_id": r.id, "session_id": r.session_id, "tenant_id": r.tenant_id, "action": r.action, "purpose": r.purpose,
                "record_ids": r.record_ids, "transaction_id": r.transaction_id, "accessed_at": r.created_at} for r in page]  # fmt: skip
    more = len(rows) > limit
    return {"accesses": entries, "has_more": more, "next_cursor": _access_cursor(page[-1]) if more else None}


def _access_cursor(row: Any) -> str:
    return "acur_" + base64.urlsafe_b64encode(f"{row.created_at}|{row.id}".encode()).decode().rstrip("=")


def _access_position(cursor: str) -> tuple[str, str]:
    try:
        body = cursor.removeprefix("acur_")
        created_at, access_id = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii").split("|")
        if _TIMESTAMP.fullmatch(created_at) and access_id.isascii():
            return created_at, access_id
    except (ValueError, UnicodeDecodeError):
        pass
    raise ValidationFailed("cursor: not a cursor of this access log", {"field": "cursor"})
