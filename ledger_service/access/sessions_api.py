"""The consumer's endpoints (seed 002): open a session, then stream, read, filter, aggregate and close."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ledger_service.access import sessions
from ledger_service.errors import ValidationFailed
from ledger_service.evidence import current_ledger, receipt
from ledger_service.web import PREFIX, int_arg, json_body, json_object, json_response, principal, public_base, reading, receipt_url_base, state
from xase import evidence

blueprint = Blueprint("sessions", __name__, url_prefix=PREFIX + "/sessions")
evidence_blueprint = Blueprint("session_evidence", __name__, url_prefix=PREFIX)


def _reader(session_id: str) -> sessions.Reader:
    caller = principal("sessions")
    with reading() as conn:
        session, dataset = sessions.live_session(conn, caller.tenant_id, session_id)
    return sessions.Reader(state().engine, current_ledger(), session, dataset)


def _json_arg(name: str) -> Any:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return evidence.loads(raw)  # as strict as a body: no NaN, no duplicate keys, bounded nesting
    except evidence.InvalidJSONError as exc:
        raise ValidationFailed(f"{name}: must be JSON ({exc})", {"field": name}) from None


@blueprint.post("")
def open_session() -> Response:
    caller = principal("sessions")
    body = json_object("dataset", "purpose", "duration", "holder", required=False)
    opened = sessions.open_session(state().engine, current_ledger(), caller.tenant_id, body.get("dataset"), body.get("purpose"),
                                 body.get("duration", "1h"), body.get("holder"))  # fmt: skip
    state().metrics.sessions.labels("opened").inc()
    return json_response(opened, 201)


@blueprint.get("")
def list_sessions() -> Response:
    """The caller's sessions, newest first: `limit` (1-100, default 100)."""
    caller = principal("sessions")
    with reading() as conn:
        return json_response({"sessions": sessions.list_sessions(conn, caller.tenant_id, int_arg("limit", sessions.MAX_SESSIONS_LISTED, 1,
                                                                                                   sessions.MAX_SESSIONS_LISTED))})  # fmt: skip


@blueprint.get("/<session_id>")
def show(session_id: str) -> Response:
    reader = _reader(session_id)
    return json_response(sessions.session_view(reader.session, reader.dataset))


@blueprint.get("/<session_id>/stream")
def stream(session_id: str) -> Response:
    reader = _reader(session_id)
    sort = _json_arg("sort") if (request.args.get("sort") or "").startswith("{") else (
        {request.args["sort"]: 1} if request.args.get("sort") else None)  # fmt: skip
    page = reader.stream(int_arg("batch_size", 32, 1, sessions.MAX_BATCH), _json_arg("filter"), request.args.get("fields"), sort,
                         request.args.get("cursor"))  # fmt: skip
    return json_response(page)


@blueprint.get("/<session_id>/records/<record_id>")
def record(session_id: str, record_id: str) -> Response:
    body, evidence_id = _reader(session_id).record(record_id)
    response = json_response(body)  # the body is the record itself: its evidence is named in headers
    response.headers["X-Evidence-Id"] = evidence_id
    response.headers["X-Evidence-Url"] = receipt_url_base() + evidence_id
    return response


@blueprint.post("/<session_id>/filter")
def filter_records(session_id: str) -> Response:
    reader = _reader(session_id)
    body = json_object("filter", "fields", "sort", "limit", required=False)
    return json_response(reader.filter(body.get("filter"), body.get("fields"), body.get("sort"), body.get("limit", 100)))


@blueprint.post("/<session_id>/transform")
def transform(session_id: str) -> Response:
    reader = _reader(session_id)
    body = json_object("records", "record_ids", "transformation", "parameters", "metadata", required=False)
    record_ids = body.get("records", body.get("record_ids"))
    result = reader.transform(record_ids, body.get("transformation"), body.get("parameters"), body.get("metadata"))
    return json_response({**result, "evidence_url": f"{public_base()}/evidence/{result['transformation_id']}"})


@blueprint.post("/<session_id>/operations")
def operations(session_id: str) -> Response:
    reader = _reader(session_id)
    body = json_object("operation_type", "records", "metadata", required=False)
    return json_response(reader.operation(body.get("operation_type"), body.get("records"), body.get("metadata")))  # 200, as the seed


@blueprint.post("/<session_id>/aggregate")
def aggregate(session_id: str) -> Response:
    reader = _reader(session_id)
    body = json_body()
    pipeline = body.get("pipeline") if isinstance(body, dict) else body
    return json_response(reader.aggregate(pipeline))


@blueprint.post("/<session_id>/close")
def close(session_id: str) -> Response:
    reader = _reader(session_id)
    closed = reader.close(json_object("reason", required=False).get("reason"))
    state().metrics.sessions.labels("closed").inc()
    return json_response(closed)


@evidence_blueprint.get("/evidence/<transaction_id>")
def get_evidence(transaction_id: str) -> Response:
    """The receipt of an evidence id, a transformation's or an operation's id (seed 002's `evidence_url`)."""
    caller = principal("records:read")
    with reading() as conn:
        return json_response(receipt(conn, caller.tenant_id, sessions.evidence_of(transaction_id)))
