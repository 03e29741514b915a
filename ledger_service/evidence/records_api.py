"""POST /records, POST /records/batch, GET /records, GET /records/{transaction_id}, POST /records/{transaction_id}/payload/erase."""

from __future__ import annotations

import functools
import re
from typing import Any, Union

from flask import Blueprint, Response, request

from ledger_service.errors import LedgerError, ValidationFailed
from ledger_service.evidence import audit, erasure, ordering
from ledger_service.evidence.intake import RecordInput, check_idempotency_key, parse_record
from ledger_service.evidence.ledger import current_ledger
from ledger_service.web import PREFIX, int_arg, json_body, json_object, json_response, principal, reading, receipt_url_base, state

blueprint = Blueprint("records", __name__, url_prefix=PREFIX)


def _with_url(result: dict[str, Any], base: str) -> dict[str, Any]:
    return {**result, "receipt_url": base + result["transaction_id"]}


@blueprint.post("/records")
def create_record() -> Response:
    caller = principal("records:write")
    key = check_idempotency_key(request.headers.get("Idempotency-Key"), "Idempotency-Key")
    body = json_body()
    if isinstance(body, dict) and body.get("idempotency_key") is not None:
        raise ValidationFailed("idempotency_key: send it as the Idempotency-Key header on POST /records", {"field": "idempotency_key"})
    item = parse_record(body, key)
    (outcome,) = current_ledger().append(caller.tenant_id, [item])
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    result = _with_url(outcome.result, receipt_url_base())
    if outcome.replayed:
        return json_response(result, 200, {"Idempotent-Replayed": "true"})
    return json_response(result, 201)


def _parse_batch_item(item: Any) -> Union[RecordInput, LedgerError]:
    try:
        return parse_record(item)
    except LedgerError as error:
        return error


@blueprint.post("/records/batch")
def create_records() -> Response:
    caller = principal("records:write")
    batch = ordering.place(request.headers.get(ordering.BATCH_HEADER))
    body = json_body()
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise ValidationFailed('body must be {"records": [...]} with at least one record', {"field": "records"})
    limit = state().settings.max_batch_size
    if len(records) > limit:
        raise ValidationFailed(f"records: at most {limit} per batch, got {len(records)}", {"field": "records", "max": limit})
    unknown = sorted(set(body) - {"records"})
    if unknown:
        raise ValidationFailed(f"unknown fields {unknown}", {"fields": unknown})
    items = [_parse_batch_item(item) for item in records]
    after = None
    if batch is not None:
        ordering.wait_turn(state().engine, caller.tenant_id, batch)
        after = functools.partial(ordering.mark_chained, tenant_id=caller.tenant_id, batch=batch) if batch.last_part else None
    outcomes = current_ledger().append(caller.tenant_id, items, after)
    base = receipt_url_base()
    results = []
    for outcome in outcomes:
        if outcome.error is not None:
            results.append({"success": False, "status": outcome.error.status, "error": outcome.error.to_dict()})
        else:
            assert outcome.result is not None
            results.append({**_with_url(outcome.result, base), "status": 200 if outcome.replayed else 201, "replayed": outcome.replayed})
    return json_response({"results": results}, floatless=True)


@blueprint.get("/records")
def list_records() -> Response:
    caller = principal("records:read")
    cursor = request.args.get("cursor")
    if cursor is not None and not re.fullmatch(r"[0-9]{1,18}", cursor):
        raise ValidationFailed("cursor: not a cursor this ledger issued", {"field": "cursor"})
    with reading() as conn:
        page = audit.list_records(
            conn, caller.tenant_id, after_seq=int(cursor) if cursor else -1,
            limit=int_arg("limit", 100, 1, 1000), policy_id=request.args.get("policy_id"),
        )  # fmt: skip
    base = receipt_url_base()
    page["records"] = [_with_url(record, base) for record in page["records"]]
    return json_response(page)


@blueprint.get("/records/<transaction_id>")
def get_record(transaction_id: str) -> Response:
    caller = principal("records:read")
    with reading() as conn:
        return json_response(_with_url(audit.get_record(conn, caller.tenant_id, transaction_id), receipt_url_base()))


@blueprint.post("/records/<transaction_id>/payload/erase")
def erase_payload(transaction_id: str) -> Response:
    """Erase the stored payload of a record (EVIDENCE-FORMAT.md section 7); scope `payloads:erase`.

    Body (optional): `{"reason": "..."}`, kept in the chain with the erasure's own evidence record.
    Erasing again answers the same `erased_at`; the chain, receipts and exports keep verifying.
    """
    caller = principal("payloads:erase")
    body = json_object("reason", required=False)
    erased = erasure.erase_payload(state().engine, current_ledger(), caller.tenant_id, transaction_id, body.get("reason"))
    return json_response({**erased, "receipt_url": receipt_url_base() + transaction_id})
