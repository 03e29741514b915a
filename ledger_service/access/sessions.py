"""The consumer's side of seed 002: time-boxed, purpose-bound sessions whose every access is evidence.

Each access reads first, then appends a record to the consumer tenant's chain
(policy `xase.sessions`, decision_type `data_access.<action>`) committing to
the request and to the exact record ids served, and only then returns data:
if the evidence cannot be written, nothing is served. The holder sees each
access in its dataset's access log, with the evidence transaction id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger_service.access import transforms
from ledger_service.access.datasets import DATASET_ID_PREFIX
from ledger_service.access.tables import AccessSession, Dataset, DatasetAccess, DatasetGrant, DatasetRecord
from ledger_service.auth import now
from ledger_service.db import bounded_read, read_connection, write_transaction
from ledger_service.errors import AccessRevoked, Conflict, Forbidden, NotFound, SessionClosed, SessionExpired, ValidationFailed, over_cap
from ledger_service.evidence import Ledger
from ledger_service.query import compile_filter, parse_path, run_pipeline, sort_expression
from ledger_service.tables import LedgerMeta, Tenant
from xase import evidence

__all__ = ["parse_duration", "open_session", "live_session", "record_revocations", "Reader"]

EVIDENCE_POLICY = "xase.sessions"
MAX_BATCH = 100
MAX_FILTER_LIMIT = 1000
MAX_OPERATION_IDS = 10_000  # record ids one operation may name
_ID_CHUNK = 1000  # ids per IN (...) lookup: far below PostgreSQL's 65,535 parameters
OPERATION_TYPES = ("TRAIN", "EVALUATE", "ANALYZE", "VALIDATE", "EXPORT")
_DURATION = re.compile(r"(\d{1,7})([smhd])", re.ASCII)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_DURATION = 10 * 366 * 86400
_RECORDS = DatasetRecord.__table__
_BODY = _RECORDS.c.body


def parse_duration(value: Any) -> int:
    """ "30d", "12h", "45m", "90s" or a number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and _DURATION.fullmatch(value):
        number, unit = _DURATION.fullmatch(value).groups()  # type: ignore[union-attr]
        seconds = int(number) * _UNITS[unit]
    else:
        raise ValidationFailed('duration: "30d", "12h", "45m", "90s" or a number of seconds', {"field": "duration"})
    if not 0 < seconds <= _MAX_DURATION:
        raise ValidationFailed("duration: must be positive and at most 10 years", {"field": "duration"})
    return seconds


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------- opening and checking sessions


def session_view(row: Any, dataset: Any) -> dict[str, Any]:
    return {"session_id": row.id, "dataset_id": row.dataset_id, "dataset": dataset.name, "holder_tenant_id": dataset.tenant_id,
            "holder": dataset.holder_name, "purpose": row.purpose, "created_at": row.created_at, "expires_at": row.expires_at,
            "closed_at": row.closed_at, "revoked_at": row.revoked_at,
            "status": "revoked" if row.revoked_at else "closed" if row.closed_at else "active"}  # fmt: skip


# A dataset row with its holder tenant's name, so every answer about a session names whose data it is.
_DATASET = select(*Dataset.__table__.c, Tenant.name.label("holder_name")).join(Tenant, Tenant.id == Dataset.tenant_id)

MAX_SESSIONS_LISTED = 100


def list_sessions(conn: Connection, tenant_id: str, limit: int = MAX_SESSIONS_LISTED) -> list[dict[str, Any]]:
    """The consumer's sessions, newest first (at most `limit`), each naming its dataset and holder: two queries."""
    rows = conn.execute(select(AccessSession).where(AccessSession.tenant_id == tenant_id)
                        .order_by(AccessSession.created_at.desc(), AccessSession.id.desc()).limit(limit)).all()  # fmt: skip
    datasets = {row.id: row for row in conn.execute(_DATASET.where(Dataset.id.in_({row.dataset_id for row in rows})))} if rows else {}
    return [session_view(row, datasets[row.dataset_id]) for row in rows]


def _granted_dataset(conn: Connection, tenant_id: str, reference: Any, holder: Any = None) -> Any:
    """The dataset an active grant shares with `tenant_id`: by id (`ds_...`, always exact), or by name,
    pinned to a holder with `holder/name` or `holder`. Revoked and declined grants never match."""
    if not isinstance(reference, str) or not reference:
        raise ValidationFailed("dataset: the dataset id (ds_...), a name, or holder/name", {"field": "dataset"})
    if holder is None and "/" in reference:
        holder, reference = reference.split("/", 1)
    if holder is not None and (not isinstance(holder, str) or not holder):
        raise ValidationFailed("holder: the holder tenant's id or name", {"field": "holder"})
    query = _DATASET.join(DatasetGrant, DatasetGrant.dataset_id == Dataset.id).where(
        DatasetGrant.grantee_tenant_id == tenant_id, DatasetGrant.revoked_at.is_(None), DatasetGrant.declined_at.is_(None),
        Dataset.id == reference if reference.lower().startswith(DATASET_ID_PREFIX) else Dataset.name == reference,
    )  # fmt: skip
    if holder is not None:
        query = query.where((Tenant.id == holder) | (Tenant.name == holder))
    rows = {row.id: row for row in conn.execute(query)}
    if not rows:
        raise NotFound(f"no dataset {reference!r} is shared with this tenant by an active grant")
    if len(rows) > 1:
        holders = sorted(row.holder_name for row in rows.values())
        raise Conflict(f"several holders share a dataset named {reference!r}: name one as holder/name, or use the id", {"holders": holders})
    return next(iter(rows.values()))


def open_session(engine: Engine, ledger: Ledger, tenant_id: str, dataset_ref: Any, purpose: Any, duration: Any,
                 holder: Any = None) -> dict[str, Any]:  # fmt: skip
    seconds = parse_duration(duration)
    if not isinstance(purpose, str) or not purpose:
        raise ValidationFailed('purpose: required, e.g. "model_training"', {"field": "purpose"})
    with write_transaction(engine) as conn:
        dataset = _granted_dataset(conn, tenant_id, dataset_ref, holder)
        grants = conn.execute(select(DatasetGrant).where(DatasetGrant.dataset_id == dataset.id, DatasetGrant.grantee_tenant_id == tenant_id,
                                                         DatasetGrant.revoked_at.is_(None), DatasetGrant.declined_at.is_(None))).all()  # fmt: skip
        covering = [g for g in grants if purpose in json.loads(g.purposes)]
        if not covering:
            raise Forbidden(f"no active grant covers the purpose {purpose!r} on this dataset", {"purpose": purpose})
        grant = max(covering, key=lambda g: g.max_duration_seconds)
        if seconds > grant.max_duration_seconds:
            raise Forbidden(f"duration exceeds the grant's maximum of {grant.max_duration_seconds} s",
                            {"max_duration_seconds": grant.max_duration_seconds})  # fmt: skip
        created = datetime.now(timezone.utc)
        row = {"id": "sess_" + secrets.token_hex(8), "dataset_id": dataset.id, "tenant_id": tenant_id, "grant_id": grant.id,
               "purpose": purpose, "created_at": evidence.format_timestamp(created),
               "expires_at": evidence.format_timestamp(created + timedelta(seconds=seconds))}  # fmt: skip
        conn.execute(insert(AccessSession).values(**row))
        session = conn.execute(select(AccessSession).where(AccessSession.id == row["id"])).one()
        reader = Reader(engine, ledger, session, dataset)
        evidence_id = reader.record_evidence("session_open", {"duration_seconds": seconds, "grant_id": grant.id}, [], within=conn)
    return {**session_view(session, dataset), "evidence_id": evidence_id}


def record_revocations(conn: Connection, ledger: Ledger, session_ids: list[str]) -> None:
    """Each revoked session gets a `data_access.revoke` record in its consumer's chain, in the revocation's transaction.
    Chains are taken in the order of their tenants, so two revocations never wait for each other's."""
    sessions = conn.execute(select(AccessSession).where(AccessSession.id.in_(session_ids))).all()
    for session in sorted(sessions, key=lambda session: (session.tenant_id, session.id)):
        dataset = conn.execute(_DATASET.where(Dataset.id == session.dataset_id)).one()
        request = {"revoked_at": session.revoked_at, "revoked_by": session.revoked_by, "reason": session.revoke_reason}
        Reader(conn.engine, ledger, session, dataset).record_evidence("revoke", request, [], within=conn)


def live_session(conn: Connection, tenant_id: str, session_id: str) -> tuple[Any, Any]:
    """The caller's session and its dataset, or the seed's error for why it can no longer be used."""
    session = conn.execute(select(AccessSession).where(AccessSession.id == session_id, AccessSession.tenant_id == tenant_id)).first()
    if session is None:
        raise NotFound(f"session {session_id!r} not found")
    if session.revoked_at:
        raise AccessRevoked("Access to this dataset has been revoked", {"session_id": session.id, "revoked_at": session.revoked_at,
                                                                       "reason": session.revoke_reason, "revoked_by": session.revoked_by})  # fmt: skip
    if session.closed_at:
        raise SessionClosed("This session was closed", {"session_id": session.id, "closed_at": session.closed_at, "reason": session.close_reason})
    current = now()
    if current >= session.expires_at:
        raise SessionExpired("This session has expired", {"session_id": session.id, "expired_at": session.expires_at, "current_time": current})
    dataset = conn.execute(_DATASET.where(Dataset.id == session.dataset_id)).one()
    return session, dataset


# ---------------------------------------------------------------- cursors


def _cursor_secret(engine: Engine) -> bytes:
    with read_connection(engine) as conn:
        stored = conn.execute(select(LedgerMeta.value).where(LedgerMeta.key == "cursor_secret")).scalar()
    if stored is None:
        try:
            with write_transaction(engine) as conn:
                conn.execute(insert(LedgerMeta).values(key="cursor_secret", value=secrets.token_hex(32)))
        except IntegrityError:  # another process created it first
            pass
        with read_connection(engine) as conn:
            stored = conn.execute(select(LedgerMeta.value).where(LedgerMeta.key == "cursor_secret")).scalar_one()
    return bytes.fromhex(stored)


def _encode(secret: bytes, payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(evidence.canonicalize(payload)).rstrip(b"=")
    tag = base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha256).digest()[:16]).rstrip(b"=")
    return "cur_" + body.decode() + "." + tag.decode()


def _decode(secret: bytes, cursor: str) -> dict[str, Any]:
    try:
        body, tag = cursor.removeprefix("cur_").split(".")
        expected = base64.urlsafe_b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]).rstrip(b"=").decode()
        if not hmac.compare_digest(tag, expected):
            raise ValueError("bad tag")
        payload: dict[str, Any] = evidence.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return payload
    except (ValueError, TypeError, evidence.InvalidJSONError):
        raise ValidationFailed("cursor: not a cursor this ledger issued for this query", {"field": "cursor"}) from None


# ---------------------------------------------------------------- reading, with evidence


def _metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationFailed("metadata: must be an object", {"field": "metadata"})
    return metadata


def _fields(fields: Any) -> Optional[list[str]]:
    if fields is None:
        return None
    names = fields.split(",") if isinstance(fields, str) else fields
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ValidationFailed("fields: a list (or comma-separated string) of field names", {"field": "fields"})
    for name in names:
        parse_path(name)
    return [name.strip() for name in names]


def _shaped(record_id: str, body: dict[str, Any], fields: Optional[list[str]]) -> dict[str, Any]:
    if fields is None:
        return {"record_id": record_id, **body}
    return {"record_id": record_id, **{name: body[name] for name in fields if name in body}}


@dataclass
class Reader:
    """Reads of one live session, each committed to the consumer's chain before it is served."""

    engine: Engine
    ledger: Ledger
    session: Any
    dataset: Any

    def record_evidence(self, action: str, request: dict[str, Any], record_ids: list[str], *, within: Optional[Connection] = None,
                        suffix: Optional[str] = None) -> str:  # fmt: skip
        """The consumer's evidence of `action` and the holder's access log line, in one transaction: `within` (the
        change it evidences) or one of their own. `suffix`: the 24 hex digits its id shares with the id of what it evidences."""
        if within is None:
            with write_transaction(self.engine) as conn:
                return self.record_evidence(action, request, record_ids, within=conn, suffix=suffix)
        transaction_id = f"acc_{suffix or secrets.token_hex(12)}"
        self.ledger.record(self.session.tenant_id, {
            "policy_id": EVIDENCE_POLICY, "decision_type": f"data_access.{action}", "transaction_id": transaction_id,
            "input": {"session_id": self.session.id, "dataset_id": self.dataset.id, "action": action, "request": request},
            "output": {"record_ids": record_ids, "record_count": len(record_ids)},
            "context": {"purpose": self.session.purpose, "holder_tenant_id": self.dataset.tenant_id}, "store_payload": True,
        }, within=within)  # fmt: skip
        within.execute(insert(DatasetAccess).values(
            id="access_" + secrets.token_hex(8), dataset_id=self.dataset.id, session_id=self.session.id, tenant_id=self.session.tenant_id,
            action=action, purpose=self.session.purpose, record_ids=record_ids, transaction_id=transaction_id, created_at=now(),
        ))  # fmt: skip
        return transaction_id

    def _published(self) -> Any:
        """This dataset's records as of the session's request: nothing an upload still stages."""
        return (DatasetRecord.dataset_id == self.dataset.id) & (DatasetRecord.seq <= self.dataset.committed_seq)

    def _base(self) -> Any:
        return select(DatasetRecord.seq, DatasetRecord.record_id, DatasetRecord.body).where(self._published())

    def stream(self, batch_size: int, filter_: Any, fields: Any, sort: Any, cursor: Optional[str]) -> dict[str, Any]:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValidationFailed(f"batch_size: within [1, {MAX_BATCH}]", {"field": "batch_size"})
        names = _fields(fields)
        secret = _cursor_secret(self.engine)
        try:
            query_hash = evidence.sha256_hex(evidence.canonicalize({"filter": filter_, "sort": sort, "fields": names}))[:16]
        except evidence.CanonicalizationError as exc:  # a value JSON cannot carry exactly (2^53 + 1, a lone surrogate)
            raise ValidationFailed(f"filter/sort: {exc}", {"field": "filter"}) from None
        with bounded_read(self.engine) as conn:
            dialect = conn.dialect.name
            position = _decode(secret, cursor) if cursor else None
            if position is not None and (position.get("s"), position.get("q")) != (self.session.id, query_hash):
                raise ValidationFailed("cursor: belongs to another session or query", {"field": "cursor"})
            snapshot = int(position["m"]) if position else self.dataset.committed_seq
            query = self._base().where(DatasetRecord.seq <= snapshot)
            query = query.where(compile_filter(filter_, _BODY, dialect))
            if sort:
                offset = int(position["o"]) if position else 0
                query = query.order_by(*sort_expression(sort, _BODY, dialect, DatasetRecord.seq.expression)).offset(offset)
            else:
                query = query.where(DatasetRecord.seq > (int(position["a"]) if position else -1)).order_by(DatasetRecord.seq)
            rows = conn.execute(query.limit(batch_size + 1)).all()
        page, has_more = rows[:batch_size], len(rows) > batch_size
        next_position = {"s": self.session.id, "q": query_hash, "m": snapshot}
        next_position.update({"o": (int(position["o"]) if position else 0) + len(page)} if sort else {"a": page[-1].seq if page else -1})
        batch_id = "batch_" + secrets.token_hex(8)
        record_ids = [row.record_id for row in page]
        evidence_id = self.record_evidence("stream", {"batch_id": batch_id, "batch_size": batch_size, "filter": filter_, "sort": sort,
                                                      "fields": names, "cursor": cursor}, record_ids)  # fmt: skip
        return {"batch": [_shaped(row.record_id, row.body, names) for row in page], "batch_id": batch_id, "record_count": len(page),
                "has_more": has_more, "next_cursor": _encode(secret, next_position) if has_more else None, "evidence_id": evidence_id}  # fmt: skip

    def record(self, record_id: str) -> tuple[dict[str, Any], str]:
        """The record as stored, and the id of the evidence of this read."""
        with bounded_read(self.engine) as conn:
            row = conn.execute(self._base().where(DatasetRecord.record_id == record_id)).first()
        if row is None:
            raise NotFound(f"record {record_id!r} not found in this dataset")
        evidence_id = self.record_evidence("record", {"record_id": record_id}, [record_id])
        return _shaped(row.record_id, row.body, None), evidence_id

    def filter(self, filter_: Any, fields: Any, sort: Any, limit: Any) -> dict[str, Any]:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FILTER_LIMIT:
            raise ValidationFailed(f"limit: an integer within [1, {MAX_FILTER_LIMIT}]", {"field": "limit"})
        names = _fields(fields)
        with bounded_read(self.engine) as conn:
            dialect = conn.dialect.name
            query = self._base().where(compile_filter(filter_, _BODY, dialect))
            query = query.order_by(*sort_expression(sort, _BODY, dialect, DatasetRecord.seq.expression))
            rows = conn.execute(query.limit(limit + 1)).all()
        page = rows[:limit]
        record_ids = [row.record_id for row in page]
        evidence_id = self.record_evidence("filter", {"filter": filter_, "fields": names, "sort": sort, "limit": limit}, record_ids)
        return {"records": [_shaped(row.record_id, row.body, names) for row in page], "record_count": len(page),
                "has_more": len(rows) > limit, "evidence_id": evidence_id}  # fmt: skip

    def aggregate(self, pipeline: Any) -> dict[str, Any]:
        with bounded_read(self.engine) as conn:
            results = run_pipeline(conn, _RECORDS, _BODY, pipeline, self._published())
        evidence_id = self.record_evidence("aggregate", {"pipeline": pipeline}, [])
        return {"results": results, "result_count": len(results), "evidence_id": evidence_id}

    def _records_by_id(self, record_ids: Any, limit: int) -> list[dict[str, Any]]:
        if not isinstance(record_ids, list) or not record_ids or not all(isinstance(r, str) for r in record_ids):
            raise ValidationFailed(f"records: a non-empty list of at most {limit} record ids", {"field": "records"})
        if len(record_ids) > limit:
            raise over_cap("records: record ids", "max_record_ids", limit)
        wanted = sorted(set(record_ids))
        rows: dict[str, Any] = {}
        with bounded_read(self.engine) as conn:
            for start in range(0, len(wanted), _ID_CHUNK):
                chunk = wanted[start : start + _ID_CHUNK]
                rows.update((row.record_id, row) for row in conn.execute(self._base().where(DatasetRecord.record_id.in_(chunk))))
        missing = [record_id for record_id in record_ids if record_id not in rows]
        if missing:
            raise NotFound(f"records not in this dataset: {missing[:10]}", {"missing": missing[:100]})
        return [_shaped(record_id, rows[record_id].body, None) for record_id in record_ids]

    def transform(self, record_ids: Any, transformation: Any, parameters: Any, metadata: Any) -> dict[str, Any]:
        records = self._records_by_id(record_ids, MAX_FILTER_LIMIT)
        transformed = transforms.transform(records, transformation, parameters, bytes.fromhex(self.dataset.hash_key))
        suffix = secrets.token_hex(12)
        transformation_id = "transform_" + suffix
        evidence_id = self.record_evidence("transform", {"transformation_id": transformation_id, "transformation": transformation,
                                                         "parameters": parameters, "metadata": _metadata(metadata)}, list(record_ids),
                                           suffix=suffix)  # fmt: skip
        return {"transformed_records": transformed, "transformation_id": transformation_id, "evidence_id": evidence_id}

    def operation(self, operation_type: Any, record_ids: Any, metadata: Any) -> dict[str, Any]:
        if operation_type not in OPERATION_TYPES:
            raise ValidationFailed(f"operation_type: one of {list(OPERATION_TYPES)}", {"field": "operation_type"})
        self._records_by_id(record_ids, MAX_OPERATION_IDS)  # only records of this dataset
        suffix = secrets.token_hex(12)
        operation_id = "op_" + suffix
        evidence_id = self.record_evidence(f"operation.{operation_type.lower()}",
                                           {"operation_id": operation_id, "operation_type": operation_type, "metadata": _metadata(metadata)},
                                           list(record_ids), suffix=suffix)  # fmt: skip
        return {"operation_id": operation_id, "created_at": now(), "status": "RECORDED", "evidence_id": evidence_id}

    def close(self, reason: Any) -> dict[str, Any]:
        if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
            raise ValidationFailed("reason: a string of at most 1000 characters", {"field": "reason"})
        with write_transaction(self.engine) as conn:
            conn.execute(update(AccessSession).where(AccessSession.id == self.session.id).values(closed_at=now(), close_reason=reason))
            closed = conn.execute(select(AccessSession).where(AccessSession.id == self.session.id)).one()
            evidence_id = self.record_evidence("close", {"reason": reason}, [], within=conn)
        return {**session_view(closed, self.dataset), "evidence_id": evidence_id}


def evidence_of(evidence_id: str) -> str:
    """The transaction id of the evidence `evidence_id` names: a transformation's or an operation's id shares its
    24 hex digits with its `acc_` record (the seed's `/v1/evidence/{transformation_id}`); any other id is its own."""
    kind, _, suffix = evidence_id.partition("_")
    return f"acc_{suffix}" if kind in ("transform", "op") and suffix else evidence_id
