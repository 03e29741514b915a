"""The data holder's endpoints: datasets, record uploads, grants, revocations and the access log."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Optional

from flask import Blueprint, Response, request

from ledger_service.access import datasets, indexes
from ledger_service.access.sessions import parse_duration, record_revocations
from ledger_service.db import write_transaction
from ledger_service.errors import ValidationFailed, over_cap
from ledger_service.evidence import current_ledger, receipt
from ledger_service.web import PREFIX, body_bytes, int_arg, json_body, json_object, json_response, principal, reading, state
from xase import evidence

blueprint = Blueprint("datasets", __name__, url_prefix=PREFIX + "/datasets")


@blueprint.post("")
def create() -> Response:
    caller = principal("sessions")
    body = json_object("name", "description")
    with write_transaction(state().engine) as conn:
        return json_response(datasets.create_dataset(conn, caller.tenant_id, body.get("name"), body.get("description", "")), 201)


@blueprint.get("/<dataset_ref>")
def show(dataset_ref: str) -> Response:
    caller = principal("sessions")
    with reading() as conn:
        return json_response(datasets.dataset_view(datasets.find_dataset(conn, caller.tenant_id, dataset_ref)))


def _uploaded_records() -> list[Any]:
    """A JSON array, {"records": [...]}, or JSON Lines (Content-Type application/x-ndjson or application/jsonl)."""
    if request.mimetype in ("application/x-ndjson", "application/jsonl", "application/json-lines"):
        lines = [line for line in body_bytes().splitlines() if line.strip()]
        cap = state().settings.max_upload_records
        if len(lines) > cap:  # before parsing a single line
            raise over_cap("records per upload", "max_upload_records", cap)
        try:
            return [evidence.loads(line) for line in lines]
        except evidence.InvalidJSONError as exc:
            raise ValidationFailed(f"JSON Lines: {exc}") from None
    body = json_body()
    records = body.get("records") if isinstance(body, dict) else body
    if not isinstance(records, list):
        raise ValidationFailed('body must be a JSON array of records, {"records": [...]}, or JSON Lines')
    return records


@blueprint.post("/<dataset_ref>/records")
def upload(dataset_ref: str) -> Response:
    """All or nothing; at most XASE_MAX_UPLOAD_RECORDS records; other writers are never held up for the whole upload.

    Idempotent per record: records the dataset already holds with the same id and content are skipped
    (`already_stored`), so a retried or resumed upload is safe; 201 when it stored any record, else 200.
    """
    caller = principal("sessions")
    with reading() as conn:
        dataset = datasets.find_dataset(conn, caller.tenant_id, dataset_ref)
    prepared = datasets.prepare_upload(_uploaded_records(), state().settings.max_upload_records)
    uploaded = datasets.upload_records(state().engine, dataset, prepared, state().settings.tenant_storage_bytes)
    return json_response(uploaded, 201 if uploaded["inserted"] else 200)


@blueprint.post("/<dataset_ref>/indexes")
def index(dataset_ref: str) -> Response:
    """Index fields of this dataset (`{"fields": ["age", "lab_results.glucose"]}`, at most 8 a call), so that
    filters selecting or sorting by them read an index instead of every record. Idempotent."""
    caller = principal("sessions")
    body = json_object("fields")
    with reading() as conn:
        datasets.find_dataset(conn, caller.tenant_id, dataset_ref)  # the holder's own dataset, or 404
    report = indexes.index_fields(state().engine, body.get("fields"))
    return json_response({"indexes": report}, 201 if any(entry["created"] for entry in report) else 200)


@blueprint.post("/<dataset_ref>/grants")
def grant(dataset_ref: str) -> Response:
    caller = principal("sessions")
    body = json_object("tenant", "purposes", "max_duration")
    with write_transaction(state().engine) as conn:
        dataset = datasets.find_dataset(conn, caller.tenant_id, dataset_ref)
        seconds = parse_duration(body.get("max_duration", "30d"))
        return json_response(datasets.grant_access(conn, dataset, body.get("tenant"), body.get("purposes"), seconds), 201)


@blueprint.get("/<dataset_ref>/grants")
def grants(dataset_ref: str) -> Response:
    caller = principal("sessions")
    with reading() as conn:
        return json_response({"grants": datasets.list_grants(conn, datasets.find_dataset(conn, caller.tenant_id, dataset_ref))})


@blueprint.post("/<dataset_ref>/grants/<grant_id>/revoke")
def revoke_grant(dataset_ref: str, grant_id: str) -> Response:
    return _revoke(dataset_ref, datasets.revoke_grant, grant_id)


@blueprint.post("/<dataset_ref>/sessions/<session_id>/revoke")
def revoke_session(dataset_ref: str, session_id: str) -> Response:
    return _revoke(dataset_ref, datasets.revoke_session, session_id)


def _revoke(dataset_ref: str, revoke: Callable[..., dict[str, Any]], target: str) -> Response:
    """Revoke, and give each newly revoked session its evidence record in the consumer's chain, in one transaction."""
    caller = principal("sessions")
    body = json_object("reason", "revoked_by")
    with write_transaction(state().engine) as conn:
        dataset = datasets.find_dataset(conn, caller.tenant_id, dataset_ref)
        revoked = revoke(conn, dataset, target, body.get("reason"), body.get("revoked_by"))
        record_revocations(conn, current_ledger(), revoked["revoked_sessions"])
    state().metrics.sessions.labels("revoked").inc(len(revoked["revoked_sessions"]))
    return json_response(revoked)


@blueprint.get("/<dataset_ref>/accesses")
def accesses(dataset_ref: str) -> Response:
    """Every access to the dataset, newest first, page by page: which tenant, purpose, records, when, and its evidence.

    Query: `limit` (1-1000, default 100), `cursor` (the previous page's `next_cursor`), `since` (an ISO 8601
    UTC time: only accesses at or after it), `session_id`, `receipts=false` to leave out each entry's receipt.
    """
    caller = principal("sessions")
    limit = int_arg("limit", 100, 1, datasets.ACCESS_LOG_PAGE)
    since = _since(request.args.get("since"))
    with reading() as conn:
        page = datasets.list_accesses(conn, datasets.find_dataset(conn, caller.tenant_id, dataset_ref), limit, request.args.get("cursor"),
                                      since, request.args.get("session_id"))  # fmt: skip
        if request.args.get("receipts", "true").lower() != "false":
            # The evidence lives in the consumer's chain; its receipt is self-contained and verifies offline.
            for entry in page["accesses"]:
                entry["receipt"] = receipt(conn, entry["tenant_id"], entry["transaction_id"])
    return json_response(page)


def _since(value: Optional[str]) -> Optional[str]:
    """An ISO 8601 time as the ledger's own timestamps spell it, so they compare as text."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed("since: an ISO 8601 time such as 2026-12-01T00:00:00Z", {"field": "since"}) from None
    if moment.tzinfo is None:
        raise ValidationFailed("since: give a time zone (Z or +hh:mm)", {"field": "since"})
    return evidence.format_timestamp(moment.astimezone(timezone.utc))
