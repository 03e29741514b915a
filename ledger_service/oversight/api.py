"""POST/GET /records/{transaction_id}/oversight, PUT /oversight/rules/{policy_id}, GET /oversight/rules."""

from __future__ import annotations

from flask import Blueprint, Response, request

from ledger_service import evidence
from ledger_service.oversight import events
from ledger_service.web import PREFIX, json_object, json_response, principal, reading, receipt_url_base, state

blueprint = Blueprint("oversight", __name__, url_prefix=PREFIX)


@blueprint.post("/records/<transaction_id>/oversight")
def record_oversight(transaction_id: str) -> Response:
    """A person's override, confirmation, stop or escalation of a decision: 201 with the event (200 when replayed
    under its Idempotency-Key); 404 for a decision the organisation does not have; 409 for a confirmation the
    two-person rule refuses."""
    caller = principal("records:write")
    key = evidence.check_idempotency_key(request.headers.get("Idempotency-Key"), "Idempotency-Key")
    body = json_object("action", "actor", "reason", "confirms", "details")
    event, replayed = events.record_event(state().engine, caller.tenant_id, transaction_id, body, key)
    answer = {**event, "receipt_url": receipt_url_base() + event["event_id"]}
    return json_response(answer, 200 if replayed else 201, {"Idempotent-Replayed": "true"} if replayed else None)


@blueprint.get("/records/<transaction_id>/oversight")
def list_oversight(transaction_id: str) -> Response:
    caller = principal("records:read")
    with reading() as conn:
        evidence.get_record(conn, caller.tenant_id, transaction_id)  # 404 for a decision the organisation does not have
        return json_response({"decision_id": transaction_id, "events": events.events_for(conn, caller.tenant_id, transaction_id)})


@blueprint.put("/oversight/rules/<policy_id>")
def set_rule(policy_id: str) -> Response:
    """`{"two_person": true}`: overrides and stops of this policy's decisions await a second person's confirmation."""
    caller = principal("records:write")
    body = json_object("two_person")
    return json_response(events.set_rule(state().engine, caller.tenant_id, policy_id, body.get("two_person")))


@blueprint.get("/oversight/rules")
def list_rules() -> Response:
    caller = principal("records:read")
    with reading() as conn:
        return json_response({"rules": events.rules(conn, caller.tenant_id)})
